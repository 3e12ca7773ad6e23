"""The YouTube-8M starter code's baselines as Functional models.

- ``video_logistic``: logistic regression on the video-level features
  (``mean_rgb``, ``mean_audio`` concatenated), L2 1e-8.
- ``video_moe``: the starter's MoeModel on the same features.
- ``video_conditional``: Kakao Brain's conditional-inference head on the
  same features (their Table 2 compares it with the two above).
- ``frame_logistic``: the starter's FrameLevelLogisticModel: the mean over
  the real frames (padding excluded), then logistic regression.
- ``dbof``: the starter's DbofModel: 30 sampled frames, each projected to
  8192 "clusters" (batch norm, ReLU6), max-pooled over frames, a 1024-unit
  hidden layer (batch norm, ReLU6), MoE.
- ``frame_lstm``: the starter's LstmModel: two stacked 1024-unit LSTMs over
  the real frames, the last real frame's output, MoE.

Video-level models take the float32 features of the video-level records
(`keras_gmsa.data.video_dataset`); frame-level ones take the same inputs as
the GMSA models (``rgb``, ``audio`` uint8 frames and ``num_frames``). Every
model takes ``head=`` (see `keras_gmsa.models.common`). Compiled with Adam
at the starter's learning rate 0.01 and binary cross-entropy unless
``compile=False``.

Every choice here that can change a result, with the paper's words and
ours, is listed in docs/faithfulness.md.
"""

import keras

from keras_gmsa import constants
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import SampleFrames
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model

VIDEO_FEATURES = constants.VIDEO_FEATURES

VIDEO_OPTIONS = dict(
    num_classes=constants.NUM_CLASSES,
    features=VIDEO_FEATURES,
    **common.HEAD_OPTIONS,
    **common.TRAINING_OPTIONS,
)
# The head each name implies; ``head=`` overrides it.
_DEFAULT_HEADS = {
    "video_logistic": "logistic",
    "video_moe": "moe",
    "video_conditional": "conditional",
}


@register_model(
    "video_logistic",
    "Starter baseline: logistic regression on video-level features",
    shared=dict(VIDEO_OPTIONS, head="logistic"),
)
@register_model(
    "video_moe",
    "Starter baseline: mixture of experts on video-level features",
    shared=dict(VIDEO_OPTIONS, head="moe"),
)
@register_model(
    "video_conditional",
    "Kakao Brain: conditional inference (k-step label chain) on "
    "video-level features",
    shared=dict(VIDEO_OPTIONS, head="conditional"),
)
def build_video_model(name, /, **shared):
    """``video_logistic``, ``video_moe`` or ``video_conditional``: its
    options are all shared (features, head, training), the head by name."""
    opts = common.builder_options(
        dict(VIDEO_OPTIONS, head=_DEFAULT_HEADS[name]), locals()
    )
    features = common.check_features(opts["features"])
    inputs = {
        key: keras.Input((dim,), dtype="float32", name=key)
        for key, dim in features.items()
    }
    x = common.concat(
        inputs.values(), "concat_features", opts.get("dtype_policy")
    )
    outputs = common.apply_head(x, inputs, opts)
    return common.finish(inputs, outputs, name, opts)


@register_model(
    "frame_logistic",
    "Starter baseline: mean over real frames, then logistic regression",
    shared=common.FRAME_OPTIONS,
)
def build_frame_logistic(name, /, **shared):
    """``frame_logistic``: masked mean over real frames, then the head
    (every option shared: frame inputs, head, training)."""
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    inputs, frame_mask, frames = common.frame_inputs(opts)
    pooled = [
        MaskedMeanPooling(dtype=opts.get("dtype_policy"), name=f"{key}_mean")(
            x, frame_mask=frame_mask
        )
        for key, x in frames.items()
    ]
    x = common.concat(pooled, "concat_modalities", opts.get("dtype_policy"))
    return common.finish(inputs, common.apply_head(x, inputs, opts), name, opts)


def _relu6_block(x, units, name, dtype, use_bias=False):
    x = keras.layers.Dense(units, use_bias=use_bias, dtype=dtype, name=name)(x)
    x = keras.layers.BatchNormalization(dtype=dtype, name=f"{name}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, dtype=dtype, name=f"{name}_relu6")(
        x
    )


@register_model(
    "dbof",
    "Starter baseline: deep bag of 30 sampled frames, max pool, MoE",
    shared=common.FRAME_OPTIONS,
)
def build_dbof(
    name,
    /,
    *,
    head="moe",
    num_samples=30,
    cluster_size=8192,
    hidden_dim=1024,
    seed=None,
    **shared,
):
    """``dbof``: the starter's deep bag of frames; see the module docstring.

    Frames are drawn at random (with replacement) in training and evenly
    spaced otherwise (`SampleFrames`), so predictions are deterministic.
    """
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    common.check_positive(opts, "num_samples", "cluster_size", "hidden_dim")
    inputs, _, frames = common.frame_inputs(opts)
    x = common.concat(
        frames.values(), "concat_modalities", opts.get("dtype_policy")
    )
    x = SampleFrames(
        opts["num_samples"],
        seed=opts["seed"],
        dtype=opts.get("dtype_policy"),
        name="sample",
    )(x, inputs["num_frames"])
    x = keras.layers.BatchNormalization(
        dtype=opts.get("dtype_policy"), name="input_bn"
    )(x)
    x = _relu6_block(
        x, opts["cluster_size"], "clusters", opts.get("dtype_policy")
    )
    x = keras.layers.GlobalMaxPooling1D(
        dtype=opts.get("dtype_policy"), name="max_pool"
    )(x)
    x = _relu6_block(x, opts["hidden_dim"], "hidden", opts.get("dtype_policy"))
    return common.finish(inputs, common.apply_head(x, inputs, opts), name, opts)


@register_model(
    "frame_lstm",
    "Starter baseline: two stacked LSTMs, last real frame, MoE",
    shared=common.FRAME_OPTIONS,
)
def build_frame_lstm(
    name, /, *, head="moe", lstm_units=1024, lstm_layers=2, **shared
):
    """``frame_lstm``: stacked LSTMs, output at the last real frame."""
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    common.check_positive(opts, "lstm_units", "lstm_layers")
    inputs, frame_mask, frames = common.frame_inputs(opts)
    x = common.concat(
        frames.values(), "concat_modalities", opts.get("dtype_policy")
    )
    layers = opts["lstm_layers"]
    for index in range(layers):
        # With a mask, Keras carries the state over padded steps, so the
        # last output is the last real frame's.
        x = keras.layers.LSTM(
            opts["lstm_units"],
            return_sequences=index < layers - 1,
            dtype=opts.get("dtype_policy"),
            name=f"lstm_{index}",
        )(x, mask=frame_mask)
    return common.finish(inputs, common.apply_head(x, inputs, opts), name, opts)
