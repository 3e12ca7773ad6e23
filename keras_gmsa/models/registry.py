"""One registry maps model names to builders; users ask for a name.

Each model has one entry point, registered where it is defined
(``@register_model``, as timm does) with its family's own options (a
frozen dataclass, read as attributes) and its defaults for the options
every model shares (`keras_gmsa.models.common.Shared`). The papers'
configurations are presets (`keras_gmsa.models.presets`). Only the GMSA
entry points take ``mask``, ``W`` and ``L``.

This module imports no model family: `keras_gmsa.models` imports them,
and each registers its entry points as it is imported.
"""

import dataclasses

import keras

from keras_gmsa.models import common
from keras_gmsa.models import presets as presets_lib


@dataclasses.dataclass(frozen=True)
class _Entry:
    builder: object
    description: str
    shared: object  # common.Shared: the model's defaults for them
    options: object  # its family's own options (a dataclass), or None
    takes_masks: bool


# name -> _Entry
_REGISTRY = {}


def register_model(name, description, shared, options=None, takes_masks=False):
    """Registers the decorated entry point under `name`.

    Args:
        name: what `build_model` is asked for.
        description: one line for `list_models` and ``keras-gmsa models``.
        shared: a `keras_gmsa.models.common.Shared`: the model's defaults
            for the options every model has.
        options: an instance of its family's options dataclass, with the
            model's defaults (None: the model has none of its own).
        takes_masks: the entry point takes ``mask``, ``W`` and ``L`` (GMSA).

    The entry point is called as ``builder(options, shared)`` (with
    ``mask=``, ``W=``, ``L=`` when `takes_masks`), both replaced by the
    caller's options. Option names are flat and unique: an option of the
    family must not also be a shared one.
    """
    clash = set(common.fields_of(options)) & set(shared.options())
    if clash:
        raise ValueError(
            f"Model {name!r}: own options {sorted(clash)} are shared ones; "
            "give their defaults in `shared`."
        )

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"Model {name!r} is already registered.")
        _REGISTRY[name] = _Entry(
            builder, description, shared, options, takes_masks
        )
        return builder

    return decorator


# Options of `build_model` itself, taken by every model.
BUILD_OPTIONS = frozenset({"dtype_policy", "jit_compile"})


def _entry(name):
    """The registry entry of a name or preset, and the preset (or None)."""
    preset = presets_lib.get_preset(name)
    model = preset.model if preset is not None else name
    if model not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}. Allowed: {', '.join(list_models())}, "
            f"or a preset: {', '.join(presets_lib.list_presets())}."
        )
    return _REGISTRY[model], preset


def _defaults(entry):
    return dict(entry.shared.options(), **common.fields_of(entry.options))


def model_options(name):
    """The options `build_model(name, ...)` accepts, as a frozenset."""
    return frozenset(_defaults(_entry(name)[0])) | BUILD_OPTIONS


def model_defaults(name):
    """``{option: default}`` of what `build_model(name)` builds (a
    preset's options over its family's defaults)."""
    entry, preset = _entry(name)
    defaults = _defaults(entry)
    if preset is not None:
        defaults.update(preset.options)
    return defaults


def list_models(with_descriptions=False):
    """Names of every model `build_model` can build, sorted.

    Args:
        with_descriptions: return ``{name: description}`` instead.
    """
    names = sorted(_REGISTRY)
    if with_descriptions:
        return {n: _REGISTRY[n].description for n in names}
    return names


def build_model(name, /, mask=None, W=None, L=None, **options):
    """Builds a registered model as a Functional `keras.Model`.

    Args:
        name: one of `list_models()`, e.g. ``"gateop"``, or a preset of
            `keras_gmsa.models.presets` (a paper's configuration, e.g.
            ``"kakao_mc_blstm_moe2"``; options given here win; the model
            is named after the preset unless ``name=`` is given).
        mask: local mask kind ``"bd"``, ``"tp"`` or ``"td"`` (default
            ``"tp"`` for GMSA models), a full spec such as ``"td60/4"``, or a
            list of per-head specs; see `keras_gmsa.masks`.
        W: neighbourhood width of the local mask.
        L: dilation of a ``"td"`` mask.
        **options: model options, e.g. ``num_classes`` (3862),
            ``max_frames`` (300), ``features`` ({"rgb": 1024, "audio":
            128}), ``frame_dtype`` ("uint8"), ``num_heads`` (8),
            ``num_blocks`` (1), ``ff_multiplier`` (1), ``projection_dim``
            (None: attend at the feature width, as the paper; an integer
            adds a Dense projection per modality first), ``hidden_dim``
            (1280), ``dropout``, ``hidden_dropout``, ``compile`` (True:
            Adam 2e-4 and binary cross-entropy). Two options every model
            takes: ``dtype_policy`` (None: the global policy; e.g.
            ``"mixed_bfloat16"`` computes in bfloat16 with float32 weights,
            softmaxes and outputs) and ``jit_compile`` (``"auto"``: Keras'
            choice; True compiles the train step with XLA on TensorFlow
            and JAX and with ``torch.compile`` on PyTorch, see
            ``benchmarks/models.py`` for when that pays).

    Returns:
        A `keras.Model` with inputs named after the features plus
        ``"num_frames"``, and ``num_classes`` sigmoid outputs.

    Example:
    >>> model = build_model("gateop", mask="tp", W=30)  # doctest: +SKIP
    """
    entry, preset = _entry(name)
    if preset is not None:
        # A paper configuration: the preset's options, the caller's on top;
        # the model named after the preset (unless the caller names it).
        options = dict(preset.options, **options)
        if options.get("name") is None:
            options["name"] = name
        name = preset.model
        # A preset's mask (GMSA Table 1), unless the caller gives one.
        preset_mask = {k: options.pop(k, None) for k in ("mask", "W", "L")}
        if mask is None and W is None and L is None:
            mask, W, L = (preset_mask[k] for k in ("mask", "W", "L"))
    allowed = frozenset(_defaults(entry))
    unknown = sorted(set(options) - allowed - BUILD_OPTIONS)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for model {name!r}. Allowed: "
            f"{', '.join(sorted(allowed | BUILD_OPTIONS))}."
        )
    jit_compile = options.pop("jit_compile", "auto")
    if jit_compile not in ("auto", True, False):
        raise ValueError(
            f"jit_compile must be 'auto', True or False. Received "
            f"{jit_compile!r}."
        )
    # Compiled once, by the builder, with this jit_compile; the policy is
    # passed to every layer (None: the global policy), which stays as it is.
    policy = options.pop("dtype_policy", None)
    if policy is not None:
        policy = keras.dtype_policies.get(policy)
    if not entry.takes_masks and (
        mask is not None or W is not None or L is not None
    ):
        raise ValueError(
            f"{name} has no attention mask: mask, W and L must be None. "
            f"Received mask={mask!r}, W={W!r}, L={L!r}."
        )
    # The typed options: the family's own, then the shared groups (each
    # checks its values as it is made).
    own = entry.options
    if own is not None:
        mine = {
            k: options.pop(k) for k in common.fields_of(own) if k in options
        }
        own = dataclasses.replace(own, **mine)
    shared = entry.shared.replace(
        dtype_policy=policy, jit_compile=jit_compile, **options
    )
    if entry.takes_masks:
        return entry.builder(own, shared, mask=mask, W=W, L=L)
    return entry.builder(own, shared)
