"""One registry maps model names to builders; users ask for a name."""

import keras

from keras_gmsa.models import attention_clusters
from keras_gmsa.models import baselines
from keras_gmsa.models import gmsa
from keras_gmsa.models import kakao
from keras_gmsa.models import presets as presets_lib

# name -> (builder, allowed options, one-line description)
_REGISTRY = {}


def register_model(name, builder, options, description):
    """Adds a model family member to the registry (used by model modules)."""
    if name in _REGISTRY:
        raise ValueError(f"Model {name!r} is already registered.")
    _REGISTRY[name] = (builder, dict(options), description)


for _name, _text in (
    (
        "baseline",
        "Two-branch Transformer, global self-attention (paper baseline)",
    ),
    ("shareatt", "GMSA ShareAtt: half of the heads global, half local"),
    ("gateatt", "GMSA GateAtt: global and local maps mixed by T x T gates"),
    ("gateop", "GMSA GateOp: global and local contexts mixed by D x D gates"),
):
    register_model(
        _name,
        lambda mask=None, W=None, L=None, _n=_name, **kw: gmsa.build_gmsa_model(
            _n, mask=mask, W=W, L=L, **kw
        ),
        gmsa.DEFAULT_OPTIONS,
        _text,
    )


for _name, _builder, _options, _text in (
    (
        "video_logistic",
        baselines.build_video_model,
        baselines.VIDEO_OPTIONS,
        "Starter baseline: logistic regression on video-level features",
    ),
    (
        "video_moe",
        baselines.build_video_model,
        baselines.VIDEO_OPTIONS,
        "Starter baseline: mixture of experts on video-level features",
    ),
    (
        "video_conditional",
        baselines.build_video_model,
        baselines.VIDEO_OPTIONS,
        "Kakao Brain: conditional inference (k-step label chain) on "
        "video-level features",
    ),
    (
        "frame_logistic",
        baselines.build_frame_logistic,
        baselines.FRAME_OPTIONS,
        "Starter baseline: mean over real frames, then logistic regression",
    ),
    (
        "dbof",
        baselines.build_dbof,
        baselines.DBOF_OPTIONS,
        "Starter baseline: deep bag of 30 sampled frames, max pool, MoE",
    ),
    (
        "frame_lstm",
        baselines.build_frame_lstm,
        baselines.LSTM_OPTIONS,
        "Starter baseline: two stacked LSTMs, last real frame, MoE",
    ),
    (
        "attention_cluster",
        attention_clusters.build_attention_cluster,
        attention_clusters.OPTIONS,
        "Attention Clusters: N attention units per modality with shifting",
    ),
    (
        "kakao_blstm",
        kakao.build_blstm,
        kakao.BLSTM_OPTIONS,
        "Kakao Brain: guided temporal attention fusion, BLSTM, MoE",
    ),
    (
        "kakao_netvlad",
        kakao.build_netvlad,
        kakao.NETVLAD_OPTIONS,
        "Kakao Brain: fusion, optional differential features, NetVLAD, MoE",
    ),
):
    register_model(
        _name,
        lambda mask=None, W=None, L=None, _n=_name, _b=_builder, **kw: _b(
            _n, mask=mask, W=W, L=L, **kw
        ),
        _options,
        _text,
    )


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
    return frozenset(_REGISTRY[name][1]) | BUILD_OPTIONS


def model_defaults(name):
    """``{option: default}`` of what `build_model(name)` builds (a
    preset's options over its family's defaults)."""
    model_options(name)  # a clear error for an unknown name
    preset = presets_lib.get_preset(name)
    if preset is not None:
        return dict(_REGISTRY[preset.model][1], **preset.options)
    return dict(_REGISTRY[name][1])


def list_models(with_descriptions=False):
    """Names of every model `build_model` can build, sorted.

    Args:
        with_descriptions: return ``{name: description}`` instead.
    """
    names = sorted(_REGISTRY)
    if with_descriptions:
        return {n: _REGISTRY[n][2] for n in names}
    return names


def build_model(name, /, mask=None, W=None, L=None, **options):
    """Builds a registered model as a Functional `keras.Model`.

    Args:
        name: one of `list_models()`, e.g. ``"gateop"``, or a preset of
            `keras_gmsa.models.presets` (a paper's configuration, e.g.
            ``"kakao_mc_blstm_moe2"``; options given here win).
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
        # A paper configuration: the preset's options, the caller's on top.
        name, options = preset.model, dict(preset.options, **options)
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}. Allowed: {', '.join(list_models())}, "
            f"or a preset: {', '.join(presets_lib.list_presets())}."
        )
    builder, allowed, _ = _REGISTRY[name]
    allowed = frozenset(allowed)
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
    previous = keras.config.dtype_policy()
    if policy is not None:
        keras.config.set_dtype_policy(policy)
    try:
        model = builder(mask=mask, W=W, L=L, **options)
    finally:
        keras.config.set_dtype_policy(previous)
    if jit_compile != "auto" and model.compiled:
        model.compile(
            optimizer=model.optimizer,
            loss=model.loss,
            jit_compile=jit_compile,
        )
    return model
