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

import dataclasses

import keras

from keras_gmsa import masks as masks_lib
from keras_gmsa import names
from keras_gmsa.layers import EncoderBlock
from keras_gmsa.layers import MaskedMeanPooling
from keras_gmsa.layers import PositionalEncoding
from keras_gmsa.models import common
from keras_gmsa.models.registry import register_model

GMSA_NAMES = ("baseline", "shareatt", "gateatt", "gateop")

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


@dataclasses.dataclass(frozen=True)
class GMSAOptions:
    """The GMSA family's own options: the paper's widths and recipe.

    Attributes:
        num_heads: attention heads per encoder block.
        num_blocks: encoder blocks per modality.
        ff_multiplier: feed-forward width over the attention width.
        projection_dim: None (attend at the feature width, as the paper)
            or a width >= `num_heads`: a Dense projection per modality
            first.
        positional_encoding: None (the paper), ``"sinusoidal"`` or
            ``"learned"``.
        attention_implementation: how the attention is computed
            (`keras_gmsa.layers.EncoderBlock`'s ``implementation``).
        hidden_dim: width of the hidden layer after pooling.
        dropout: the encoder blocks' dropout.
        attention_dropout: dropout on the attention maps.
        hidden_dropout: dropout after the hidden layer.
        activation: the feed-forward's activation.
        layer_norm_epsilon: the encoder blocks' layer norms' epsilon.
        renormalize: GateAtt renormalizes its mixed maps.
        gate_use_bias: the gates have biases.
        adam_epsilon: Adam's epsilon (Keras' 1e-7; PyTorch's is 1e-8).
    """

    num_heads: int = 8
    num_blocks: int = 1
    ff_multiplier: float = 1
    projection_dim: int | None = None
    positional_encoding: str | None = None
    attention_implementation: str = "auto"
    hidden_dim: int = 1280
    dropout: float = 0.1
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.1
    activation: str = "relu"
    layer_norm_epsilon: float = 1e-5
    renormalize: bool = False
    gate_use_bias: bool = False
    adam_epsilon: float | None = 1e-7

    def __post_init__(self):
        common.check_positive(self, "num_heads", "num_blocks", "hidden_dim")
        projection = self.projection_dim
        if projection is not None and (
            not isinstance(projection, int) or projection < self.num_heads
        ):
            raise ValueError(
                "`projection_dim` must be None or an integer >= num_heads. "
                f"Received {projection!r}."
            )
        if self.positional_encoding not in (None, "sinusoidal", "learned"):
            raise ValueError(
                "`positional_encoding` must be None, 'sinusoidal' or "
                f"'learned'. Received {self.positional_encoding!r}."
            )


# The GMSA recipe for the shared options: Adam at 2e-4, no L2.
SHARED = common.Shared(
    head=common.Head(l2=0.0), training=common.Training(learning_rate=2e-4)
)


@register_model(
    "baseline",
    "Two-branch Transformer, global self-attention (paper baseline)",
    SHARED,
    GMSAOptions(),
    takes_masks=True,
)
def baseline(options, shared, mask=None, W=None, L=None):
    return build_gmsa("baseline", options, shared, mask, W, L)


@register_model(
    "shareatt",
    "GMSA ShareAtt: half of the heads global, half local",
    SHARED,
    GMSAOptions(),
    takes_masks=True,
)
def shareatt(options, shared, mask=None, W=None, L=None):
    return build_gmsa("shareatt", options, shared, mask, W, L)


@register_model(
    "gateatt",
    "GMSA GateAtt: global and local maps mixed by T x T gates",
    SHARED,
    GMSAOptions(),
    takes_masks=True,
)
def gateatt(options, shared, mask=None, W=None, L=None):
    return build_gmsa("gateatt", options, shared, mask, W, L)


@register_model(
    "gateop",
    "GMSA GateOp: global and local contexts mixed by D x D gates",
    SHARED,
    GMSAOptions(),
    takes_masks=True,
)
def gateop(options, shared, mask=None, W=None, L=None):
    return build_gmsa("gateop", options, shared, mask, W, L)


def build_gmsa(name, options, shared, mask=None, W=None, L=None):
    """Builds GMSA model `name` (one of `GMSA_NAMES`); see
    `keras_gmsa.build_model`.

    Args:
        name: ``"baseline"`` (global attention) or the combination.
        options: `GMSAOptions`.
        shared: a `keras_gmsa.models.common.Shared` (frame inputs).
        mask, W, L: the local masks (`resolve_masks`).
    """
    block_masks = resolve_masks(name, mask, W, L, options.num_heads)
    attention = "global" if name == "baseline" else name
    dtype = shared.dtype_policy

    # Inputs (uint8 or float frames, num_frames), padding mask, dequantize.
    inputs, frame_mask, frames = common.frame_inputs(shared)

    # Layers.
    encoded = []
    projection = options.projection_dim
    for key, x in frames.items():
        dim = x.shape[-1]
        if projection is not None and projection != dim:
            # Optional, not in the paper: encode at a smaller width.
            x = keras.layers.Dense(
                projection, dtype=dtype, name=f"{key}_projection"
            )(x)
            dim = projection
        if options.positional_encoding is not None:
            # Not in the paper (see docs/faithfulness.md): frame order for
            # the attention, on the frames the encoder sees.
            x = PositionalEncoding(
                options.positional_encoding,
                dtype=dtype,
                name=f"{key}_positional_encoding",
            )(x, frame_mask=frame_mask)
        for index in range(options.num_blocks):
            x = EncoderBlock(
                num_heads=options.num_heads,
                ff_dim=int(round(options.ff_multiplier * dim)),
                attention=attention,
                masks=block_masks,
                dropout=options.dropout,
                attention_dropout=options.attention_dropout,
                activation=options.activation,
                layer_norm_epsilon=options.layer_norm_epsilon,
                renormalize=options.renormalize,
                gate_use_bias=options.gate_use_bias,
                implementation=options.attention_implementation,
                dtype=dtype,
                name=names.encoder_layer_name(key, index),
            )(x, frame_mask=frame_mask)
        encoded.append(x)
    x = common.concat(encoded, "concat_modalities", dtype)
    x = MaskedMeanPooling(dtype=dtype, name=names.TEMPORAL_MEAN)(
        x, frame_mask=frame_mask
    )
    x = keras.layers.Dense(
        options.hidden_dim, activation="relu", dtype=dtype, name="hidden"
    )(x)
    x = keras.layers.Dropout(
        options.hidden_dropout, dtype=dtype, name="hidden_dropout"
    )(x)

    # Outputs: the paper's Dense(num_classes, sigmoid) unless `head=`.
    outputs = common.apply_head(x, inputs, shared)
    epsilon = options.adam_epsilon
    return common.finish(
        inputs,
        outputs,
        name,
        shared,
        **({} if epsilon is None else {"epsilon": float(epsilon)}),
    )
