"""What every model of the zoo shares: inputs, heads and compilation.

A builder receives its options as typed, frozen objects read as
attributes (`keras_gmsa.models.registry` makes them from the flat
keyword arguments of `keras_gmsa.build_model`): its family's own options
and a `Shared` of the options every model has, in three groups:

- the inputs: `FrameInputs` (``rgb`` / ``audio`` frames, uint8 by
  default, and ``num_frames``) or `VideoInputs` (the float32 video
  features);
- the `Head`, chosen with ``head=``:

  =================  ======================================================
  ``"logistic"``     Dense(C, sigmoid)
  ``"moe"``          `MixtureOfExperts` (``num_mixtures`` experts + dummy)
  ``"cg_logistic"``  `ContextGating` on the representation, then logistic
  ``"cg_moe"``       `ContextGating`, then MoE (Kakao Brain's "CG-MoE")
  ``"conditional"``  `ConditionalInference` (adds a ``given_labels`` input)
  =================  ======================================================

- the `Training`: optimizer settings and compilation.

A family registers its defaults for these groups (Kakao Brain's BLSTM: a
MoE head, learning rate 1e-3, ...); the user's options replace them.
"""

import dataclasses

import keras

from keras_gmsa import constants
from keras_gmsa import names
from keras_gmsa.layers import ConditionalInference
from keras_gmsa.layers import ContextGating
from keras_gmsa.layers import Dequantize
from keras_gmsa.layers import FrameMask
from keras_gmsa.layers import MixtureOfExperts
from keras_gmsa.layers._checks import positive_int

CLIPPINGS = ("global", "per_tensor")

HEADS = ("logistic", "moe", "cg_logistic", "cg_moe", "conditional")

FRAME_DTYPES = ("uint8", "float32", "float16", "bfloat16")


def _check_features(features):
    features = dict(features)
    if not features or any(
        not isinstance(d, int) or d < 1 for d in features.values()
    ):
        raise ValueError(
            f"`features` must map names to positive sizes; got {features!r}."
        )
    return features


def _features(default):
    return dataclasses.field(default_factory=lambda: dict(default))


@dataclasses.dataclass(frozen=True)
class FrameInputs:
    """The inputs of a frame-level model.

    Attributes:
        features: ``{name: width}`` of the frame features, an input each.
        max_frames: frames per video (T), padded or cut by the readers.
        frame_dtype: ``"uint8"`` (quantized records, dequantized in the
            model) or a float dtype (frames already dequantized).
    """

    features: dict = _features(constants.FRAME_FEATURES)
    max_frames: int = constants.MAX_FRAMES
    frame_dtype: str = "uint8"

    def __post_init__(self):
        object.__setattr__(self, "features", _check_features(self.features))
        positive_int("max_frames", self.max_frames)
        if self.frame_dtype not in FRAME_DTYPES:
            raise ValueError(
                "frame_dtype must be 'uint8' (quantized records) or a float "
                f"dtype. Received {self.frame_dtype!r}."
            )


@dataclasses.dataclass(frozen=True)
class VideoInputs:
    """The inputs of a video-level model.

    Attributes:
        features: ``{name: width}`` of the float32 video features.
    """

    features: dict = _features(constants.VIDEO_FEATURES)

    def __post_init__(self):
        object.__setattr__(self, "features", _check_features(self.features))


@dataclasses.dataclass(frozen=True)
class Head:
    """The classifier on the ``(B, D)`` video representation.

    Attributes:
        head: one of `HEADS` (see the module docstring).
        num_classes: C, the sigmoid outputs.
        num_mixtures: experts of a MoE head (plus the dummy expert).
        l2: L2 weight penalty of the head's kernels.
        conditional_steps: label-chain steps of a conditional head.
        conditional_rank: rank of a conditional head's label interactions.
    """

    head: str = "logistic"
    num_classes: int = constants.NUM_CLASSES
    num_mixtures: int = 2
    l2: float = 1e-8
    conditional_steps: int = 4
    conditional_rank: int = 1024

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(
                f"`head` must be one of {HEADS}; got {self.head!r}."
            )
        for key in (
            "num_classes",
            "num_mixtures",
            "conditional_steps",
            "conditional_rank",
        ):
            positive_int(key, getattr(self, key))
        if self.l2 < 0:
            raise ValueError(f"`l2` must be >= 0; got {self.l2!r}.")


@dataclasses.dataclass(frozen=True)
class Training:
    """How the model is compiled.

    Attributes:
        compile: compile with the family's optimizer (Adam unless it says
            otherwise) and binary cross-entropy; False: uncompiled.
        learning_rate: a float or a
            `keras.optimizers.schedules.LearningRateSchedule`.
        clipnorm: clip the gradients to this norm (None: no clipping).
        clipping: ``"global"``: their global norm (Keras'
            ``global_clipnorm``); ``"per_tensor"``: each tensor's own norm
            (Keras' ``clipnorm``, the starter code's
            ``clip_gradient_norms``).
    """

    compile: bool = True
    learning_rate: object = 0.01
    clipnorm: float | None = None
    clipping: str = "global"

    def __post_init__(self):
        if self.clipping not in CLIPPINGS:
            raise ValueError(
                f"`clipping` must be one of {CLIPPINGS}; got {self.clipping!r}."
            )


# The option groups of `Shared`, in the order of a model's option list.
GROUPS = ("inputs", "head", "training")


@dataclasses.dataclass(frozen=True)
class Shared:
    """The options every model has, in groups, and the build's own two.

    Attributes:
        inputs: `FrameInputs` or `VideoInputs`.
        head: the `Head`.
        training: the `Training`.
        name: the model's name (None: the registered name).
        dtype_policy: a `keras.DTypePolicy` passed to every layer (None:
            the global policy).
        jit_compile: Keras' ``jit_compile`` of ``compile``.
    """

    inputs: FrameInputs | VideoInputs = dataclasses.field(
        default_factory=FrameInputs
    )
    head: Head = Head()
    training: Training = Training()
    name: str | None = None
    dtype_policy: object = None
    jit_compile: bool | str = "auto"

    def options(self):
        """``{option: value}`` of the three groups and ``name``."""
        flat = {}
        for group in GROUPS:
            flat.update(fields_of(getattr(self, group)))
        flat["name"] = self.name
        return flat

    def replace(self, **options):
        """A copy with `options` (flat, by name) in their groups; each
        group checks its values. Unknown names are a `TypeError`."""
        groups = {}
        for group in GROUPS:
            current = getattr(self, group)
            mine = {
                k: options.pop(k) for k in fields_of(current) if k in options
            }
            groups[group] = dataclasses.replace(current, **mine)
        return dataclasses.replace(self, **groups, **options)


def fields_of(options):
    """``{field: value}`` of a dataclass instance (shallow; None: {})."""
    if options is None:
        return {}
    return {
        f.name: getattr(options, f.name) for f in dataclasses.fields(options)
    }


def check_positive(options, *keys):
    """Raises ValueError unless each attribute in `keys` of `options` is a
    positive integer."""
    for key in keys:
        positive_int(key, getattr(options, key))


def frame_inputs(shared):
    """Inputs, padding mask and dequantized frames of a frame-level model.

    Returns:
        ``(inputs, frame_mask, frames)``: the dict of `keras.Input`, the
        bool ``(B, T)`` mask and ``{name: float frames}``.
    """
    spec = shared.inputs
    dtype = shared.dtype_policy
    inputs = {
        key: keras.Input(
            (spec.max_frames, dim), dtype=spec.frame_dtype, name=key
        )
        for key, dim in spec.features.items()
    }
    inputs[names.NUM_FRAMES] = keras.Input(
        (), dtype="int32", name=names.NUM_FRAMES
    )
    first = next(iter(spec.features))
    frame_mask = FrameMask(dtype=dtype, name=names.FRAME_MASK)(
        inputs[first], inputs[names.NUM_FRAMES]
    )
    frames = {
        key: Dequantize(dtype=dtype, name=names.dequantize_layer_name(key))(
            inputs[key]
        )
        for key in spec.features
    }
    return inputs, frame_mask, frames


def video_inputs(shared):
    """``{name: keras.Input}`` of the float32 video features."""
    return {
        key: keras.Input((dim,), dtype="float32", name=key)
        for key, dim in shared.inputs.features.items()
    }


def concat(tensors, name, dtype=None):
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return keras.layers.Concatenate(axis=-1, dtype=dtype, name=name)(tensors)


def apply_head(x, inputs, shared):
    """Classifies the ``(B, D)`` representation `x` with ``shared.head``.

    A ``"conditional"`` head adds the ``given_labels`` input to `inputs`.
    """
    spec = shared.head
    head = spec.head
    regularizer = keras.regularizers.L2(spec.l2) if spec.l2 else None
    if head.startswith("cg_"):
        x = ContextGating(
            l2=spec.l2, dtype=shared.dtype_policy, name=names.CONTEXT_GATING
        )(x)
        head = head[3:]
    if head == "moe":
        return MixtureOfExperts(
            spec.num_classes,
            num_mixtures=spec.num_mixtures,
            l2=spec.l2,
            dtype="float32",
            name=names.PREDICTIONS,
        )(x)
    if head == "conditional":
        given = keras.Input(
            (spec.num_classes,), dtype="float32", name=names.GIVEN_LABELS
        )
        inputs[names.GIVEN_LABELS] = given
        return ConditionalInference(
            spec.num_classes,
            steps=spec.conditional_steps,
            rank=spec.conditional_rank,
            l2=spec.l2,
            dtype="float32",
            name=names.PREDICTIONS,
        )(x, given)
    return keras.layers.Dense(
        spec.num_classes,
        activation="sigmoid",
        kernel_regularizer=regularizer,
        dtype="float32",
        name=names.PREDICTIONS,
    )(x)


def finish(inputs, outputs, name, shared, optimizer=None, **optimizer_options):
    """The Functional model named ``shared.name`` (or `name`), compiled
    as ``shared.training`` says with binary cross-entropy and `optimizer`
    (a `keras.optimizers` class, Adam by default) at its learning rate,
    with `optimizer_options` (e.g. Adam's ``epsilon``); uncompiled with
    ``compile=False``."""
    model = keras.Model(inputs, outputs, name=shared.name or name)
    training = shared.training
    if training.compile:
        options = dict(optimizer_options)
        if training.clipnorm:
            key = (
                "global_clipnorm"
                if training.clipping == "global"
                else "clipnorm"
            )
            options[key] = float(training.clipnorm)
        optimizer = (optimizer or keras.optimizers.Adam)(
            training.learning_rate, **options
        )
        policy = shared.dtype_policy
        if policy is not None and policy.name == "mixed_float16":
            # Keras wraps the optimizer for the model's own policy only; a
            # Functional model's is the global one, so wrap it here.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(),
            jit_compile=shared.jit_compile,
        )
    return model
