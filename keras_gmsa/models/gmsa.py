"""The GMSA family: baseline Transformer, ShareAtt, GateAtt and GateOp.

All four share one Functional graph (Sahu and Goyal, ICASSP 2022, sec. 2-3):

    inputs   rgb uint8 (B, T, 1024), audio uint8 (B, T, 128), num_frames (B,)
    layers   per modality: Dequantize -> EncoderBlock (GMSA attention)
             concatenate per frame -> masked mean over real frames
             -> Dense(hidden, relu) -> Dropout
    outputs  Dense(num_classes, sigmoid), float32 (or another ``head=``,
             see `keras_gmsa.models.common`)

Default widths. The paper reports disk sizes 48.9 MB (baseline), 50.2
(GateAtt) and 61 (GateOp) but not its widths. With 8 heads, a feed-forward
as wide as the modality (``ff_multiplier=1``) and a 1280-unit hidden layer
the float32 weights are 48.92 MiB; GateAtt adds 2 x 300^2 per modality
(+1.37 MiB) and GateOp 3 x D^2 + D per modality (+12.20 MiB), the paper's
+1.3 and +12.1. Through those deltas the sizes fix the attention width
(the feature width, no projection) and T = 300; they do not fix the
number of heads (no weights depend on it) nor how the rest is split
between the feed-forward and the hidden layer: ``ff_multiplier=2`` with
``hidden_dim=855`` gives the same 48.92 / 50.29 / 61.11 MiB.

``adam_epsilon`` is Keras' Adam epsilon (1e-7); the paper trained with
PyTorch, whose Adam has 1e-8 (``adam_epsilon=1e-8``).

Every choice here that can change a result, with the paper's words and
ours, is listed in docs/faithfulness.md.
"""

import keras

from keras_gmsa import constants
from keras_gmsa import masks as masks_lib
from keras_gmsa.layers import EncoderBlock
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import PositionalEncoding
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model

GMSA_NAMES = ("baseline", "shareatt", "gateatt", "gateop")

DEFAULT_FEATURES = constants.FRAME_FEATURES

# Table 1 of the paper: the configuration reported for each mask kind.
PAPER_GATED_MASKS = {
    "gateatt": {"bd": "bd10", "tp": "tp10", "td": "td80/5"},
    "gateop": {"bd": "bd20", "tp": "tp30", "td": "td60/4"},
}


def resolve_masks(name, mask=None, W=None, L=None, num_heads=8):
    """Turns ``(mask, W, L)`` into the masks argument of `EncoderBlock`.

    - ``baseline``: no mask (mask, W and L must be None).
    - ``shareatt``: half of the heads global, half local. ``mask`` is a kind
      (``"bd"``, ``"tp"``, ``"td"``; default ``"tp"``): without W the local
      heads take the paper's set (``PAPER_HEAD_MASKS``, 4 local heads of 8);
      with W every local head uses the same spec. ``mask`` may also be a
      full spec (``"tp30"``) or a list of one spec per local head.
    - ``gateatt`` / ``gateop``: one local mask for every head; a kind
      without W takes the paper's Table 1 setting (GateAtt ``bd10``,
      ``tp10``, ``td80/5``; GateOp ``bd20``, ``tp30``, ``td60/4``).

    Returns:
        None, a spec string, or a list of per-head specs.
    """
    if name == "baseline":
        if mask is not None or W is not None or L is not None:
            raise ValueError(
                "The baseline uses global attention only: mask, W and L "
                f"must be None. Received mask={mask!r}, W={W!r}, L={L!r}."
            )
        return None
    if isinstance(mask, (list, tuple)):
        if W is not None or L is not None:
            raise ValueError("Give either a list of mask specs or W/L.")
        local = [str(masks_lib.parse_mask_spec(m)) for m in mask]
        if name == "shareatt":
            return [None] * (num_heads - len(local)) + local
        if len(local) != num_heads:
            raise ValueError(
                f"{name}: a per-head mask list needs {num_heads} specs; "
                f"received {len(local)}."
            )
        return local
    mask = "tp" if mask is None else str(mask).strip().lower()
    if mask not in masks_lib.PAPER_HEAD_MASKS:
        # A full spec such as "tp30" or "td60/4".
        if W is not None or L is not None:
            raise ValueError(
                f"mask={mask!r} is a full spec; do not also pass W or L "
                f"(received W={W!r}, L={L!r}). Use mask='tp', W=30 instead."
            )
        spec = masks_lib.parse_mask_spec(mask)
        if spec.is_global:
            raise ValueError(
                f"{name} needs a local mask kind: 'bd', 'tp' or 'td' (or a "
                "spec such as 'tp30'). For global attention use 'baseline'."
            )
        local = str(spec)
    elif W is None:
        if L is not None:
            raise ValueError(f"L={L!r} given without W.")
        if name == "shareatt":
            local = list(masks_lib.PAPER_HEAD_MASKS[mask])
        else:
            local = PAPER_GATED_MASKS[name][mask]
    else:
        if mask == "td" and L is None:
            raise ValueError("mask='td' needs a dilation L (e.g. W=60, L=4).")
        if mask != "td" and L is not None:
            raise ValueError(
                f"Only mask='td' takes L; received mask={mask!r}, L={L!r}."
            )
        local = str(masks_lib.MaskSpec(mask, W, L))
    if name != "shareatt":
        return local
    if isinstance(local, str):
        local = [local] * (num_heads // 2)
    if len(local) != num_heads // 2:
        raise ValueError(
            f"ShareAtt makes half of the {num_heads} heads local, but the "
            f"paper's set {local} has {len(local)} masks (it is made for 8 "
            "heads). Pass W (one mask for all local heads) or a list of "
            f"{num_heads // 2} specs."
        )
    return [None] * (num_heads - len(local)) + local


@register_model(
    "baseline",
    "Two-branch Transformer, global self-attention (paper baseline)",
    shared=common.FRAME_OPTIONS,
    takes_masks=True,
)
@register_model(
    "shareatt",
    "GMSA ShareAtt: half of the heads global, half local",
    shared=common.FRAME_OPTIONS,
    takes_masks=True,
)
@register_model(
    "gateatt",
    "GMSA GateAtt: global and local maps mixed by T x T gates",
    shared=common.FRAME_OPTIONS,
    takes_masks=True,
)
@register_model(
    "gateop",
    "GMSA GateOp: global and local contexts mixed by D x D gates",
    shared=common.FRAME_OPTIONS,
    takes_masks=True,
)
def build_gmsa_model(
    name,
    /,
    mask=None,
    W=None,
    L=None,
    *,
    num_heads=8,
    num_blocks=1,
    ff_multiplier=1,
    projection_dim=None,
    positional_encoding=None,
    attention_implementation="auto",
    hidden_dim=1280,
    dropout=0.1,
    attention_dropout=0.0,
    hidden_dropout=0.1,
    activation="relu",
    layer_norm_epsilon=1e-5,
    renormalize=False,
    gate_use_bias=False,
    l2=0.0,
    learning_rate=2e-4,
    adam_epsilon=1e-7,
    **shared,
):
    """Builds one of the GMSA family; see `keras_gmsa.build_model`.

    Its own options are the arguments above (the paper's widths and
    recipe); ``**shared`` are the frame inputs, head and training options
    of `keras_gmsa.models.common.FRAME_OPTIONS`.
    """
    opts = common.builder_options(common.FRAME_OPTIONS, locals())
    common.check_positive(
        opts, "num_classes", "num_heads", "num_blocks", "hidden_dim"
    )
    num_heads = opts["num_heads"]
    block_masks = resolve_masks(name, mask, W, L, num_heads)
    attention = "global" if name == "baseline" else name

    # Inputs (uint8 or float frames, num_frames), padding mask, dequantize.
    inputs, frame_mask, frames = common.frame_inputs(opts)

    # Layers.
    encoded = []
    projection = opts["projection_dim"]
    if projection is not None and (
        not isinstance(projection, int) or projection < num_heads
    ):
        raise ValueError(
            "`projection_dim` must be None or an integer >= num_heads. "
            f"Received {projection!r}."
        )
    positional = opts["positional_encoding"]
    if positional not in (None, "sinusoidal", "learned"):
        raise ValueError(
            "`positional_encoding` must be None, 'sinusoidal' or 'learned'. "
            f"Received {positional!r}."
        )
    for key, x in frames.items():
        dim = x.shape[-1]
        if projection is not None and projection != dim:
            # Optional, not in the paper: encode at a smaller width.
            x = keras.layers.Dense(
                projection,
                dtype=opts.get("dtype_policy"),
                name=f"{key}_projection",
            )(x)
            dim = projection
        if positional is not None:
            # Not in the paper (see docs/faithfulness.md): frame order for
            # the attention, on the frames the encoder sees.
            x = PositionalEncoding(
                positional,
                dtype=opts.get("dtype_policy"),
                name=f"{key}_positional_encoding",
            )(x, frame_mask=frame_mask)
        for index in range(opts["num_blocks"]):
            x = EncoderBlock(
                num_heads=num_heads,
                ff_dim=int(round(opts["ff_multiplier"] * dim)),
                attention=attention,
                masks=block_masks,
                dropout=opts["dropout"],
                attention_dropout=opts["attention_dropout"],
                activation=opts["activation"],
                layer_norm_epsilon=opts["layer_norm_epsilon"],
                renormalize=opts["renormalize"],
                gate_use_bias=opts["gate_use_bias"],
                implementation=opts["attention_implementation"],
                dtype=opts.get("dtype_policy"),
                name=f"{key}_encoder_{index}",
            )(x, frame_mask=frame_mask)
        encoded.append(x)
    x = common.concat(encoded, "concat_modalities", opts.get("dtype_policy"))
    x = MaskedMeanPooling(dtype=opts.get("dtype_policy"), name="temporal_mean")(
        x, frame_mask=frame_mask
    )
    x = keras.layers.Dense(
        opts["hidden_dim"],
        activation="relu",
        dtype=opts.get("dtype_policy"),
        name="hidden",
    )(x)
    x = keras.layers.Dropout(
        opts["hidden_dropout"],
        dtype=opts.get("dtype_policy"),
        name="hidden_dropout",
    )(x)

    # Outputs: the paper's Dense(num_classes, sigmoid) unless `head=`.
    outputs = common.apply_head(x, inputs, opts)
    return common.finish(inputs, outputs, name, opts)
