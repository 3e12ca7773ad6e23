"""What every model of the zoo shares: inputs, heads and compilation.

Frame-level models take ``rgb`` / ``audio`` frames (uint8 by default) and
``num_frames``; video-level models take the float32 video features. Every
model ends in a head chosen with ``head=``:

=================  ========================================================
``"logistic"``     Dense(C, sigmoid)
``"moe"``          `MixtureOfExperts` (``num_mixtures`` experts + dummy)
``"cg_logistic"``  `ContextGating` on the representation, then logistic
``"cg_moe"``       `ContextGating`, then MoE (Kakao Brain's "CG-MoE")
``"conditional"``  `ConditionalInference` (adds a ``given_labels`` input)
=================  ========================================================
"""

import keras

from keras_gmsa import constants
from keras_gmsa.layers import ConditionalInference
from keras_gmsa.layers import ContextGating
from keras_gmsa.layers import Dequantize
from keras_gmsa.layers import FrameMask
from keras_gmsa.layers import MixtureOfExperts
from keras_gmsa.layers._checks import positive_int

CLIPPINGS = ("global", "per_tensor")

HEADS = ("logistic", "moe", "cg_logistic", "cg_moe", "conditional")

GIVEN_LABELS = "given_labels"

HEAD_OPTIONS = dict(
    head="logistic",
    num_mixtures=2,
    l2=1e-8,
    conditional_steps=4,
    conditional_rank=1024,
)

TRAINING_OPTIONS = dict(
    compile=True,
    learning_rate=0.01,
    clipnorm=None,
    clipping="global",
    name=None,
)

FRAME_FEATURES = constants.FRAME_FEATURES

FRAME_OPTIONS = dict(
    num_classes=constants.NUM_CLASSES,
    features=FRAME_FEATURES,
    max_frames=constants.MAX_FRAMES,
    frame_dtype="uint8",
    **HEAD_OPTIONS,
    **TRAINING_OPTIONS,
)


def builder_options(shared_defaults, local):
    """The options of one build: the shared table, the caller's shared
    options and the builder's own keyword arguments.

    Call it first thing in a builder, as ``builder_options(TABLE,
    locals())``: `local` then holds the builder's arguments only.
    """
    own = {
        k: v
        for k, v in local.items()
        if k not in ("name", "mask", "W", "L", "shared")
    }
    return {**shared_defaults, **local.get("shared", {}), **own}


def check_positive(opts, *keys):
    for key in keys:
        positive_int(key, opts[key])


def check_features(features):
    features = dict(features)
    if not features or any(
        not isinstance(d, int) or d < 1 for d in features.values()
    ):
        raise ValueError(
            f"`features` must map names to positive sizes; got {features!r}."
        )
    return features


def check_head(opts):
    if opts["head"] not in HEADS:
        raise ValueError(
            f"`head` must be one of {HEADS}; got {opts['head']!r}."
        )
    check_positive(
        opts,
        "num_classes",
        "num_mixtures",
        "conditional_steps",
        "conditional_rank",
    )
    if opts["l2"] < 0:
        raise ValueError(f"`l2` must be >= 0; got {opts['l2']!r}.")


def frame_inputs(opts):
    """Inputs, padding mask and dequantized frames of a frame-level model.

    Returns:
        ``(inputs, frame_mask, frames)``: the dict of `keras.Input`, the
        bool ``(B, T)`` mask and ``{name: float frames}``.
    """
    features = check_features(opts["features"])
    check_positive(opts, "max_frames")
    if opts["frame_dtype"] not in ("uint8", "float32", "float16", "bfloat16"):
        raise ValueError(
            "frame_dtype must be 'uint8' (quantized records) or a float "
            f"dtype. Received {opts['frame_dtype']!r}."
        )
    max_frames = opts["max_frames"]
    inputs = {
        key: keras.Input((max_frames, dim), dtype=opts["frame_dtype"], name=key)
        for key, dim in features.items()
    }
    inputs["num_frames"] = keras.Input((), dtype="int32", name="num_frames")
    first = next(iter(features))
    frame_mask = FrameMask(dtype=opts.get("dtype_policy"), name="frame_mask")(
        inputs[first], inputs["num_frames"]
    )
    frames = {
        key: Dequantize(
            dtype=opts.get("dtype_policy"), name=f"{key}_dequantize"
        )(inputs[key])
        for key in features
    }
    return inputs, frame_mask, frames


def concat(tensors, name, dtype=None):
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return keras.layers.Concatenate(axis=-1, dtype=dtype, name=name)(tensors)


def apply_head(x, inputs, opts):
    """Classifies the ``(B, D)`` representation `x` with ``opts["head"]``.

    A ``"conditional"`` head adds the ``given_labels`` input to `inputs`.
    """
    check_head(opts)
    head = opts["head"]
    num_classes = opts["num_classes"]
    l2 = opts["l2"]
    regularizer = keras.regularizers.L2(l2) if l2 else None
    if head.startswith("cg_"):
        x = ContextGating(
            l2=l2, dtype=opts.get("dtype_policy"), name="context_gating"
        )(x)
        head = head[3:]
    if head == "moe":
        return MixtureOfExperts(
            num_classes,
            num_mixtures=opts["num_mixtures"],
            l2=l2,
            dtype="float32",
            name="predictions",
        )(x)
    if head == "conditional":
        given = keras.Input((num_classes,), dtype="float32", name=GIVEN_LABELS)
        inputs[GIVEN_LABELS] = given
        return ConditionalInference(
            num_classes,
            steps=opts["conditional_steps"],
            rank=opts["conditional_rank"],
            l2=l2,
            dtype="float32",
            name="predictions",
        )(x, given)
    return keras.layers.Dense(
        num_classes,
        activation="sigmoid",
        kernel_regularizer=regularizer,
        dtype="float32",
        name="predictions",
    )(x)


def finish(inputs, outputs, name, opts, optimizer=None):
    """The Functional model, compiled with binary cross-entropy and
    `optimizer` (a `keras.optimizers` class, Adam by default) at
    ``opts["learning_rate"]`` (a float or a
    `keras.optimizers.schedules.LearningRateSchedule`); gradients clipped
    to the norm ``opts["clipnorm"]`` when set: their global norm with
    ``clipping="global"`` (Keras' ``global_clipnorm``), each tensor's own
    norm with ``clipping="per_tensor"`` (Keras' ``clipnorm``, the starter
    code's ``clip_gradient_norms``); uncompiled with ``compile=False``.
    A builder with an ``adam_epsilon`` option passes it as the optimizer's
    ``epsilon``."""
    model = keras.Model(inputs, outputs, name=opts["name"] or name)
    if opts["compile"]:
        clip = {}
        clipping = opts.get("clipping", "global")
        if clipping not in CLIPPINGS:
            raise ValueError(
                f"`clipping` must be one of {CLIPPINGS}; got {clipping!r}."
            )
        if opts.get("clipnorm"):
            key = "global_clipnorm" if clipping == "global" else "clipnorm"
            clip[key] = float(opts["clipnorm"])
        if opts.get("adam_epsilon") is not None:
            clip["epsilon"] = float(opts["adam_epsilon"])
        optimizer = (optimizer or keras.optimizers.Adam)(
            opts["learning_rate"], **clip
        )
        policy = opts.get("dtype_policy")
        if policy is not None and policy.name == "mixed_float16":
            # Keras wraps the optimizer for the model's own policy only; a
            # Functional model's is the global one, so wrap it here.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(),
            jit_compile=opts.get("jit_compile", "auto"),
        )
    return model
