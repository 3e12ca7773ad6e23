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

import dataclasses

import keras

from keras_gmsa import names
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import SampleFrames
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model

# The video-level models: every option shared, the head by name.
VIDEO_SHARED = common.Shared(inputs=common.VideoInputs())


def _video_model(name, shared):
    inputs = common.video_inputs(shared)
    x = common.concat(inputs.values(), "concat_features", shared.dtype_policy)
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, name, shared)


@register_model(
    "video_logistic",
    "Starter baseline: logistic regression on video-level features",
    VIDEO_SHARED,
)
def video_logistic(options, shared):
    return _video_model("video_logistic", shared)


@register_model(
    "video_moe",
    "Starter baseline: mixture of experts on video-level features",
    VIDEO_SHARED.replace(head="moe"),
)
def video_moe(options, shared):
    return _video_model("video_moe", shared)


@register_model(
    "video_conditional",
    "Kakao Brain: conditional inference (k-step label chain) on "
    "video-level features",
    VIDEO_SHARED.replace(head="conditional"),
)
def video_conditional(options, shared):
    return _video_model("video_conditional", shared)


@register_model(
    "frame_logistic",
    "Starter baseline: mean over real frames, then logistic regression",
    common.Shared(),
)
def frame_logistic(options, shared):
    """Masked mean over real frames, then the head (every option shared:
    frame inputs, head, training)."""
    dtype = shared.dtype_policy
    inputs, frame_mask, frames = common.frame_inputs(shared)
    pooled = [
        MaskedMeanPooling(dtype=dtype, name=f"{key}_mean")(
            x, frame_mask=frame_mask
        )
        for key, x in frames.items()
    ]
    x = common.concat(pooled, "concat_modalities", dtype)
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, "frame_logistic", shared)


def _relu6_block(x, units, name, dtype, use_bias=False):
    x = keras.layers.Dense(units, use_bias=use_bias, dtype=dtype, name=name)(x)
    x = keras.layers.BatchNormalization(dtype=dtype, name=f"{name}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, dtype=dtype, name=f"{name}_relu6")(
        x
    )


@dataclasses.dataclass(frozen=True)
class DbofOptions:
    """The deep bag of frames' own options.

    Attributes:
        num_samples: frames sampled per video.
        cluster_size: width of the per-frame projection ("clusters").
        hidden_dim: width of the hidden layer after max pooling.
        seed: seed of the training-time frame sampling.
    """

    num_samples: int = 30
    cluster_size: int = 8192
    hidden_dim: int = 1024
    seed: int | None = None

    def __post_init__(self):
        common.check_positive(self, "num_samples", "cluster_size", "hidden_dim")


@register_model(
    "dbof",
    "Starter baseline: deep bag of 30 sampled frames, max pool, MoE",
    common.Shared(head=common.Head(head="moe")),
    DbofOptions(),
)
def dbof(options, shared):
    """The starter's deep bag of frames; see the module docstring.

    Frames are drawn at random (with replacement) in training and evenly
    spaced otherwise (`SampleFrames`), so predictions are deterministic.
    """
    dtype = shared.dtype_policy
    inputs, _, frames = common.frame_inputs(shared)
    x = common.concat(frames.values(), "concat_modalities", dtype)
    x = SampleFrames(
        options.num_samples, seed=options.seed, dtype=dtype, name="sample"
    )(x, inputs[names.NUM_FRAMES])
    x = keras.layers.BatchNormalization(dtype=dtype, name="input_bn")(x)
    x = _relu6_block(x, options.cluster_size, "clusters", dtype)
    x = keras.layers.GlobalMaxPooling1D(dtype=dtype, name="max_pool")(x)
    x = _relu6_block(x, options.hidden_dim, "hidden", dtype)
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, "dbof", shared)


@dataclasses.dataclass(frozen=True)
class LstmOptions:
    """The starter LSTM's own options.

    Attributes:
        lstm_units: units of each LSTM.
        lstm_layers: stacked LSTMs.
    """

    lstm_units: int = 1024
    lstm_layers: int = 2

    def __post_init__(self):
        common.check_positive(self, "lstm_units", "lstm_layers")


@register_model(
    "frame_lstm",
    "Starter baseline: two stacked LSTMs, last real frame, MoE",
    common.Shared(head=common.Head(head="moe")),
    LstmOptions(),
)
def frame_lstm(options, shared):
    """Stacked LSTMs, output at the last real frame."""
    dtype = shared.dtype_policy
    inputs, frame_mask, frames = common.frame_inputs(shared)
    x = common.concat(frames.values(), "concat_modalities", dtype)
    layers = options.lstm_layers
    for index in range(layers):
        # With a mask, Keras carries the state over padded steps, so the
        # last output is the last real frame's.
        x = keras.layers.LSTM(
            options.lstm_units,
            return_sequences=index < layers - 1,
            dtype=dtype,
            name=f"lstm_{index}",
        )(x, mask=frame_mask)
    outputs = common.apply_head(x, inputs, shared)
    return common.finish(inputs, outputs, "frame_lstm", shared)
