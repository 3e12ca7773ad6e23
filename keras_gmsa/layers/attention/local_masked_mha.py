import keras
import numpy as np
from keras import ops

from keras_gmsa.layers.attention import _banded
from keras_gmsa.layers.attention._base import GMSAAttention
from keras_gmsa.layers.attention._base import parse_specs


@keras.saving.register_keras_serializable(package="keras_gmsa")
class LocalMaskedMHA(GMSAAttention):
    """Multi-head self-attention with one structural mask per head.

    Head m computes ``A_m = softmax(Q_m K_m^T / sqrt(d) + log mask_m)``: the
    scores of keys outside the neighbourhood ``N_i`` of query frame i are
    removed before the softmax (GMSA paper, eq. 5-6), and
    ``Y = concat_m(A_m V_m) W^o`` (eq. 3-4). A head whose mask is global is
    ordinary attention, so with every head global this layer computes exactly
    what `keras.layers.MultiHeadAttention` computes with the same weights;
    it *is* that layer (subclass), with per-head masks and exact padding.

    ShareAtt, the paper's first GMSA variant, is this layer with half of the
    heads global and half local, e.g.
    ``head_masks=[None] * 4 + ["tp10", "tp30", "tp60", "tp80"]``.

    Args:
        num_heads: number of heads M.
        key_dim: size d of each query/key head (the paper uses D / M).
        head_masks: None (all heads global), one mask spec for all heads, or
            a list of `num_heads` specs, None meaning a global head. Specs:
            ``"bd<W>"``, ``"tp<W>"``, ``"td<W>/<L>"``, ``"global"`` (see
            `keras_gmsa.masks`).
        implementation: how the attention is computed (the same outputs
            up to float rounding; saved in the config). ``"auto"``
            (default): the fastest for the backend and the call (Keras'
            fused kernel with the per-head mask on PyTorch, the package's
            einsum-softmax-einsum with one additive mask elsewhere).
            ``"maps"``: the package's maps only. ``"fused"``: a fused
            kernel wherever the call allows it, on every backend.
            ``"banded"``: local heads from the keys their mask can allow
            only (blocks for BD, chunks of ``max(W, 16)`` frames with their
            two neighbours for TP, TP on L interleaved sequences for TD),
            time and memory linear in T where the T x T maps grow as T^2;
            global heads stay dense; it needs a static T and applies to
            self-attention whose only mask is the padding, without
            `return_attention_scores` (other calls are computed as
            "auto"; see ``benchmarks/attention_scaling.py``). ``"dense"``,
            the name earlier versions gave "auto", is read as "auto".
            docs/attention.md lists the paths.
        **kwargs: every other argument of `keras.layers.MultiHeadAttention`
            (`value_dim`, `dropout`, `use_bias`, `output_shape`, `use_gate`,
            `sliding_window` (ANDed into every head: ``|i - j| < n``, so a
            global head becomes ``tp{n-1}``), `flash_attention`,
            initializers, regularizers, constraints, `seed`, `name`,
            `dtype`). `flash_attention=True` is refused when a head is
            local (no fused kernel takes per-head masks). Inputs must be
            ``(batch, frames, features)``: other attention axes are
            refused.

    Call arguments (those of `keras.layers.MultiHeadAttention`):
        query: frames ``(B, T, D)``; T may be None.
        value: optional ``(B, S, D)``; defaults to `query` (self-attention).
        key: optional ``(B, S, D)``; defaults to `value`.
        query_mask: optional bool ``(B, T)``, True on real frames (default:
            the Keras mask of `query`). Output rows of padded frames are
            zero. `frame_mask` is an alias.
        value_mask: optional bool ``(B, S)`` (default: the Keras mask of
            `value`; `query_mask` for self-attention). Masked keys are
            invisible.
        key_mask: optional bool ``(B, S)`` (default: the Keras mask of a
            `key` given apart from `value`).
        attention_mask: optional bool ``(T, S)``, ``(B, T, S)`` or
            ``(B, M, T, S)``, True = may attend.
        return_attention_scores: also return the attention maps.
        training: Python bool, enables attention dropout.
        use_causal_mask: frame i attends to frames j <= i only, in every
            head (a causal ``tp<W>`` head sees frames i - W .. i: a
            streaming local head).

    Returns:
        ``(B, T, D)`` outputs (with the query's Keras mask), and with
        `return_attention_scores` the maps ``(B, M, T, S)`` in the compute
        dtype, as Keras' layer (rows of padded frames all zero).

    Example:
    >>> layer = LocalMaskedMHA(num_heads=8, key_dim=16,
    ...                        head_masks=[None] * 4 + ["tp2"] * 4)
    >>> x = keras.random.normal((2, 10, 128))
    >>> y, maps = layer(x, return_attention_scores=True)
    >>> tuple(y.shape), tuple(maps.shape)
    ((2, 10, 128), (2, 8, 10, 10))

    Reference:
        Sahu and Goyal, "Leveraging local temporal information for
        multimodal scene classification", ICASSP 2022, sections 2.1-2.2.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        head_masks=None,
        implementation="auto",
        **kwargs,
    ):
        specs = parse_specs(head_masks, num_heads)
        super().__init__(
            num_heads,
            key_dim,
            local_specs=specs,
            implementation=implementation,
            **kwargs,
        )

    @property
    def head_masks(self):
        return [None if s.is_global else str(s) for s in self._local_specs]

    def _attend(self, path, query, key, value, masks, training, maps):
        if path == "banded":
            return self._banded(query, key, value, masks, training), None
        if path == "fused":
            return self._fused(query, key, value, masks, "local"), None
        probs = self._maps(self._scores(query, key), masks, "local", path)
        context = self._context(probs, value, training)
        return context, {"maps": probs} if maps else None

    def _banded(self, q, k, v, masks, training):
        """Global heads dense, local heads from their allowed keys only."""
        key_mask = None if masks.mask is None else masks.mask[:, 0, 0, :]
        # The banded kernels take scaled queries (`_scores` scales its own).
        scaled = ops.multiply(q, ops.cast(self._inverse_sqrt_key_dim, q.dtype))
        dropout = None
        if self.dropout > 0.0:

            def dropout(probs):
                return self._dropout_layer(probs, training=training)

        groups = {}
        for head, spec in enumerate(self._local_specs):
            groups.setdefault(spec, []).append(head)
        contexts, order = [], []
        for spec, heads in groups.items():
            if len(groups) > 1:
                qs, ss, ks, vs = (
                    ops.take(x, heads, axis=2) for x in (q, scaled, k, v)
                )
            else:
                qs, ss, ks, vs = q, scaled, k, v
            if spec.is_global:
                probs = self._maps(
                    self._scores(qs, ks), masks, "global", "additive"
                )
                context = self._context(probs, vs, training)
            else:
                context = _banded.local_context(
                    ss, ks, vs, spec, key_mask, dropout
                )
            contexts.append(context)
            order.extend(heads)
        context = ops.concatenate(contexts, axis=2)
        if order != sorted(order):
            context = ops.take(context, np.argsort(order), axis=2)
        return context

    def get_config(self):
        config = super().get_config()
        config["head_masks"] = self.head_masks
        return config
