"""One registry maps model names to builders; users ask for a name.

Each builder registers itself where it is defined (``@register_model``,
as timm does), with its table of options and their defaults; the papers'
configurations are presets (`keras_gmsa.models.presets`). Only the GMSA
builders take ``mask``, ``W`` and ``L``.
"""

import collections
import inspect

import keras

from keras_gmsa.models import presets as presets_lib

_Entry = collections.namedtuple(
    "_Entry", ["builder", "defaults", "description", "takes_masks"]
)
# name -> _Entry
_REGISTRY = {}


def register_model(name, description, shared=None, takes_masks=False):
    """Registers the decorated builder under `name`.

    A builder's own options are its keyword-only arguments, with their
    defaults; the options it shares with its family (frame inputs, head,
    training: `keras_gmsa.models.common`) arrive through ``**shared``, and
    their table is `shared`. Together they are the model's option list.

    Args:
        name: what `build_model` is asked for.
        description: one line for `list_models` and ``keras-gmsa models``.
        shared: ``{option: default}`` of the shared options.
        takes_masks: the builder takes ``mask``, ``W`` and ``L`` (GMSA).

    The builder is called as ``builder(name, **options)`` (with ``mask=``,
    ``W=``, ``L=`` when `takes_masks`).
    """

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"Model {name!r} is already registered.")
        own = {
            p.name: p.default
            for p in inspect.signature(builder).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        defaults = dict(shared or {}, **own)
        _REGISTRY[name] = _Entry(builder, defaults, description, takes_masks)
        return builder

    return decorator


# Options of `build_model` itself, taken by every model.
BUILD_OPTIONS = frozenset({"dtype_policy", "jit_compile"})


def model_options(name):
    """The options `build_model(name, ...)` accepts, as a frozenset."""
    preset = presets_lib.get_preset(name)
    name = preset.model if preset is not None else name
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}. Allowed: {', '.join(list_models())}."
        )
    return frozenset(_REGISTRY[name].defaults) | BUILD_OPTIONS


def model_defaults(name):
    """``{option: default}`` of what `build_model(name)` builds (a
    preset's options over its family's defaults)."""
    model_options(name)  # a clear error for an unknown name
    preset = presets_lib.get_preset(name)
    if preset is not None:
        return dict(_REGISTRY[preset.model].defaults, **preset.options)
    return dict(_REGISTRY[name].defaults)


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
    preset = presets_lib.get_preset(name)
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
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}. Allowed: {', '.join(list_models())}, "
            f"or a preset: {', '.join(presets_lib.list_presets())}."
        )
    entry = _REGISTRY[name]
    allowed = frozenset(entry.defaults)
    unknown = sorted(set(options) - allowed - BUILD_OPTIONS)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for model {name!r}. Allowed: "
            f"{', '.join(sorted(allowed | BUILD_OPTIONS))}."
        )
    policy = options.pop("dtype_policy", None)
    jit_compile = options.pop("jit_compile", "auto")
    if jit_compile not in ("auto", True, False):
        raise ValueError(
            f"jit_compile must be 'auto', True or False. Received "
            f"{jit_compile!r}."
        )
    if entry.takes_masks:
        options.update(mask=mask, W=W, L=L)
    elif mask is not None or W is not None or L is not None:
        raise ValueError(
            f"{name} has no attention mask: mask, W and L must be None. "
            f"Received mask={mask!r}, W={W!r}, L={L!r}."
        )
    # Compiled once, by the builder, with this jit_compile; the policy is
    # passed to every layer (None: the global policy), which stays as it is.
    options["jit_compile"] = jit_compile
    if policy is not None:
        options["dtype_policy"] = keras.dtype_policies.get(policy)
    return entry.builder(name, **options)


# The model families register their builders when imported.
from keras_gmsa.models import attention_clusters  # noqa: E402, F401
from keras_gmsa.models import baselines  # noqa: E402, F401
from keras_gmsa.models import gmsa  # noqa: E402, F401
from keras_gmsa.models import kakao  # noqa: E402, F401
