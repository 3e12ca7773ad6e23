"""Kakao Brain's YouTube-8M 2018 systems (Kim et al., ECCV-W 2018).

- ``kakao_blstm``: a multimodal fusion (`MultimodalFusion`: ``concat``,
  ``sum``, ``image_guided`` or ``audio_guided`` with a window of w frames),
  a one-layer bidirectional LSTM over the real frames, the average of its
  outputs over the real frames, the head (MoE with 2 experts: the
  "MC/MA-BLSTM-MoE2" ensemble members).
- ``kakao_netvlad``: a fusion, optional differential features
  (`DifferentialFeatures`, "diff"), `NetVLAD` with 64 clusters, a hidden
  layer, the head (MoE with 4 experts: "MC-NetVLAD-diff-C64-MoE4").

Both take the GMSA inputs (rgb, audio uint8 frames, num_frames). Choices
the paper leaves open, documented here:

- BLSTM width: 512 units per direction (a 1024-wide output, the starter
  LSTM's width); the paper says only "one layer".
- NetVLAD is followed by a 1024-unit ReLU layer before the head, as in
  Miech et al.'s NetVLAD model the paper builds on.
- Training: Adam with lr 1e-3 (the paper's), the global gradient norm
  clipped to 5 (BLSTM) or 1 (NetVLAD), the paper's "clipping value"
  (``clipping="per_tensor"`` clips each tensor, as the starter code does;
  the paper-size presets of `keras_gmsa.models.presets` do). Its 0.95
  learning-rate decay is `keras_gmsa.training.decay_schedule`
  (``keras-gmsa train --schedule decay``; the presets' training recipe,
  `keras_gmsa.models.presets.KAKAO_RECIPE`, sets it, so ``keras-gmsa
  train --model kakao_mc_blstm_moe2`` trains with it).
- The family defaults are not the paper's sizes; the presets
  ``kakao_mc_blstm_moe2`` ... ``kakao_mc_netvlad_c128_moe4`` are.
- The default fusion is image-guided attention with w = 5, the window the
  paper chose for its ensemble; ``window=None`` is its "all".

Every choice here that can change a result, with the paper's words and
ours, is listed in docs/faithfulness.md.
"""

import keras

from keras_gmsa.layers import DifferentialFeatures
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import MultimodalFusion
from keras_gmsa.layers import NetVLAD
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model


def _fuse(inputs, frame_mask, frames, opts):
    if set(frames) != {"rgb", "audio"}:
        raise ValueError(
            "Kakao Brain's fusions join a visual and an audio stream: "
            f"`features` must have 'rgb' and 'audio'; got {sorted(frames)}."
        )
    return MultimodalFusion(
        opts["fusion"],
        opts["window"],
        dtype=opts.get("dtype_policy"),
        name="fusion",
    )(frames["rgb"], frames["audio"], frame_mask=frame_mask)


@register_model(
    "kakao_blstm",
    "Kakao Brain: guided temporal attention fusion, BLSTM, MoE",
    shared=common.FRAME_OPTIONS,
)
def build_blstm(
    name,
    /,
    *,
    fusion="image_guided",
    window=5,
    lstm_units=512,
    head="moe",
    num_mixtures=2,
    learning_rate=1e-3,
    clipnorm=5.0,
    **shared,
):
    """``kakao_blstm``; see the module docstring."""
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    common.check_positive(opts, "lstm_units")
    inputs, frame_mask, frames = common.frame_inputs(opts)
    x = _fuse(inputs, frame_mask, frames, opts)
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(
            opts["lstm_units"],
            return_sequences=True,
            dtype=opts.get("dtype_policy"),
        ),
        dtype=opts.get("dtype_policy"),
        name="blstm",
    )(x, mask=frame_mask)
    x = MaskedMeanPooling(dtype=opts.get("dtype_policy"), name="temporal_mean")(
        x, frame_mask=frame_mask
    )
    return common.finish(inputs, common.apply_head(x, inputs, opts), name, opts)


@register_model(
    "kakao_netvlad",
    "Kakao Brain: fusion, optional differential features, NetVLAD, MoE",
    shared=common.FRAME_OPTIONS,
)
def build_netvlad(
    name,
    /,
    *,
    fusion="concat",
    window=5,
    differential=False,
    num_clusters=64,
    hidden_dim=1024,
    head="moe",
    num_mixtures=4,
    learning_rate=1e-3,
    clipnorm=1.0,
    **shared,
):
    """``kakao_netvlad``; see the module docstring."""
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    common.check_positive(opts, "num_clusters", "hidden_dim")
    inputs, frame_mask, frames = common.frame_inputs(opts)
    x = _fuse(inputs, frame_mask, frames, opts)
    if opts["differential"]:
        x = DifferentialFeatures(
            dtype=opts.get("dtype_policy"), name="differential"
        )(x, frame_mask=frame_mask)
    x = NetVLAD(
        opts["num_clusters"], dtype=opts.get("dtype_policy"), name="netvlad"
    )(x, frame_mask=frame_mask)
    x = keras.layers.Dense(
        opts["hidden_dim"],
        activation="relu",
        dtype=opts.get("dtype_policy"),
        name="hidden",
    )(x)
    return common.finish(inputs, common.apply_head(x, inputs, opts), name, opts)
