"""The YouTube-8M starter code's baselines as Functional models.

- ``video_logistic``: logistic regression on the video-level features
  (``mean_rgb``, ``mean_audio`` concatenated), L2 1e-8.
- ``video_moe``: the starter's MoeModel on the same features.
- ``frame_logistic``: the starter's FrameLevelLogisticModel: the mean over
  the real frames (padding excluded), then logistic regression.

Video-level models take the float32 features of the video-level records
(`keras_gmsa.data.video_dataset`); frame-level ones take the same inputs as
the GMSA models (``rgb``, ``audio`` uint8 frames and ``num_frames``).
Compiled with Adam at the starter's learning rate 0.01 and binary
cross-entropy unless ``compile=False``.
"""

import keras

from keras_gmsa.layers import Dequantize
from keras_gmsa.layers import FrameMask
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import MixtureOfExperts

VIDEO_FEATURES = {"mean_rgb": 1024, "mean_audio": 128}
FRAME_FEATURES = {"rgb": 1024, "audio": 128}

VIDEO_OPTIONS = dict(
    num_classes=3862,
    features=VIDEO_FEATURES,
    num_mixtures=2,
    l2=1e-8,
    compile=True,
    learning_rate=0.01,
    name=None,
)
FRAME_OPTIONS = dict(
    VIDEO_OPTIONS,
    features=FRAME_FEATURES,
    max_frames=300,
    frame_dtype="uint8",
)


def _no_mask(name, mask, W, L):
    if mask is not None or W is not None or L is not None:
        raise ValueError(
            f"{name} has no attention mask: mask, W and L must be None. "
            f"Received mask={mask!r}, W={W!r}, L={L!r}."
        )


def _check(opts):
    for key in ("num_classes", "num_mixtures"):
        if not isinstance(opts[key], int) or opts[key] < 1:
            raise ValueError(f"`{key}` must be a positive integer.")
    features = dict(opts["features"])
    if not features or any(
        not isinstance(d, int) or d < 1 for d in features.values()
    ):
        raise ValueError(
            f"`features` must map names to positive sizes; got {features!r}."
        )
    return features


def _head(name, x, opts):
    if name.endswith("moe"):
        return MixtureOfExperts(
            opts["num_classes"],
            num_mixtures=opts["num_mixtures"],
            l2=opts["l2"],
            dtype="float32",
            name="predictions",
        )(x)
    regularizer = keras.regularizers.L2(opts["l2"]) if opts["l2"] else None
    return keras.layers.Dense(
        opts["num_classes"],
        activation="sigmoid",
        kernel_regularizer=regularizer,
        dtype="float32",
        name="predictions",
    )(x)


def _finish(inputs, outputs, name, opts):
    model = keras.Model(inputs, outputs, name=opts["name"] or name)
    if opts["compile"]:
        model.compile(
            optimizer=keras.optimizers.Adam(opts["learning_rate"]),
            loss=keras.losses.BinaryCrossentropy(),
        )
    return model


def build_video_model(name, mask=None, W=None, L=None, **options):
    """``video_logistic`` or ``video_moe``; see the module docstring."""
    _no_mask(name, mask, W, L)
    opts = dict(VIDEO_OPTIONS, **options)
    features = _check(opts)
    inputs = {
        key: keras.Input((dim,), dtype="float32", name=key)
        for key, dim in features.items()
    }
    x = (
        keras.layers.Concatenate(name="concat_features")(list(inputs.values()))
        if len(inputs) > 1
        else next(iter(inputs.values()))
    )
    return _finish(inputs, _head(name, x, opts), name, opts)


def build_frame_logistic(name, mask=None, W=None, L=None, **options):
    """``frame_logistic``: masked mean over real frames, then logistic."""
    _no_mask(name, mask, W, L)
    opts = dict(FRAME_OPTIONS, **options)
    features = _check(opts)
    max_frames = opts["max_frames"]
    inputs = {
        key: keras.Input((max_frames, dim), dtype=opts["frame_dtype"], name=key)
        for key, dim in features.items()
    }
    inputs["num_frames"] = keras.Input((), dtype="int32", name="num_frames")
    first = next(iter(features))
    frame_mask = FrameMask(name="frame_mask")(
        inputs[first], inputs["num_frames"]
    )
    pooled = [
        MaskedMeanPooling(name=f"{key}_mean")(
            Dequantize(name=f"{key}_dequantize")(inputs[key]),
            frame_mask=frame_mask,
        )
        for key in features
    ]
    x = (
        keras.layers.Concatenate(name="concat_modalities")(pooled)
        if len(pooled) > 1
        else pooled[0]
    )
    return _finish(inputs, _head(name, x, opts), name, opts)
