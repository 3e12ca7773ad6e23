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

import dataclasses

import keras

from keras_gmsa import names
from keras_gmsa.layers import DifferentialFeatures
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import MultimodalFusion
from keras_gmsa.layers import NetVLAD
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model


def _fuse(frame_mask, frames, options, dtype):
    if set(frames) != {"rgb", "audio"}:
        raise ValueError(
            "Kakao Brain's fusions join a visual and an audio stream: "
            f"`features` must have 'rgb' and 'audio'; got {sorted(frames)}."
        )
    return MultimodalFusion(
        options.fusion, options.window, dtype=dtype, name="fusion"
    )(frames["rgb"], frames["audio"], frame_mask=frame_mask)


@dataclasses.dataclass(frozen=True)
class BlstmOptions:
    """``kakao_blstm``'s own options.

    Attributes:
        fusion: ``"concat"``, ``"sum"``, ``"image_guided"`` or
            ``"audio_guided"`` (`MultimodalFusion`).
        window: the guided fusions' window w (None: every frame).
        lstm_units: units per direction of the bidirectional LSTM.
    """

    fusion: str = "image_guided"
    window: int | None = 5
    lstm_units: int = 512

    def __post_init__(self):
        common.check_positive(self, "lstm_units")


@register_model(
    "kakao_blstm",
    "Kakao Brain: guided temporal attention fusion, BLSTM, MoE",
    common.Shared(
        head=common.Head(head="moe", num_mixtures=2),
        training=common.Training(learning_rate=1e-3, clipnorm=5.0),
    ),
    BlstmOptions(),
)
def kakao_blstm(options, shared):
    """Fusion, BLSTM, mean over the real frames, head; see the module
    docstring."""
    dtype = shared.dtype_policy
    inputs, frame_mask, frames = common.frame_inputs(shared)
    x = _fuse(frame_mask, frames, options, dtype)
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(
            options.lstm_units, return_sequences=True, dtype=dtype
        ),
        dtype=dtype,
        name="blstm",
    )(x, mask=frame_mask)
    x = MaskedMeanPooling(dtype=dtype, name=names.TEMPORAL_MEAN)(
        x, frame_mask=frame_mask
    )
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, "kakao_blstm", shared)


@dataclasses.dataclass(frozen=True)
class NetvladOptions:
    """``kakao_netvlad``'s own options.

    Attributes:
        fusion: as `BlstmOptions.fusion`.
        window: as `BlstmOptions.window`.
        differential: add the differential features ("diff").
        num_clusters: NetVLAD's clusters.
        hidden_dim: width of the hidden layer after NetVLAD.
    """

    fusion: str = "concat"
    window: int | None = 5
    differential: bool = False
    num_clusters: int = 64
    hidden_dim: int = 1024

    def __post_init__(self):
        common.check_positive(self, "num_clusters", "hidden_dim")


@register_model(
    "kakao_netvlad",
    "Kakao Brain: fusion, optional differential features, NetVLAD, MoE",
    common.Shared(
        head=common.Head(head="moe", num_mixtures=4),
        training=common.Training(learning_rate=1e-3, clipnorm=1.0),
    ),
    NetvladOptions(),
)
def kakao_netvlad(options, shared):
    """Fusion, differential features, NetVLAD, hidden layer, head; see
    the module docstring."""
    dtype = shared.dtype_policy
    inputs, frame_mask, frames = common.frame_inputs(shared)
    x = _fuse(frame_mask, frames, options, dtype)
    if options.differential:
        x = DifferentialFeatures(dtype=dtype, name="differential")(
            x, frame_mask=frame_mask
        )
    x = NetVLAD(options.num_clusters, dtype=dtype, name="netvlad")(
        x, frame_mask=frame_mask
    )
    x = keras.layers.Dense(
        options.hidden_dim, activation="relu", dtype=dtype, name="hidden"
    )(x)
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, "kakao_netvlad", shared)
