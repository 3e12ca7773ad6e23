import keras
import numpy as np
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers import _banded
from keras_gmsa.layers._gmsa_attention import GMSAAttentionBase
from keras_gmsa.layers._gmsa_attention import masked_softmax


@keras.saving.register_keras_serializable(package="keras_gmsa")
class LocalMaskedMHA(GMSAAttentionBase):
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
        implementation: ``"dense"`` (default) computes ``(B, H, T, S)``
            scores and masks them, time and memory growing as T^2;
            ``"banded"`` computes local heads from the keys their mask can
            allow only (blocks for BD, chunks of ``max(W, 16)`` frames
            with their two neighbours for TP, TP on L interleaved
            sequences for TD), growing linearly in T; global heads stay
            dense. Same outputs up to float rounding. It needs a static T
            and applies to self-attention without `attention_mask` and
            without `return_attention_scores`; other calls take the dense
            path (see ``benchmarks/attention_scaling.py``).
        **kwargs: every other argument of `keras.layers.MultiHeadAttention`
            (`value_dim`, `dropout`, `use_bias`, `output_shape`,
            initializers, regularizers, constraints, `seed`, `name`,
            `dtype`). `use_gate`, `sliding_window` and attention axes other
            than the frame axis are refused.

    Call arguments:
        query: frames ``(B, T, D)``.
        value: optional ``(B, S, D)``; defaults to `query` (self-attention).
        key: optional ``(B, S, D)``; defaults to `value`.
        frame_mask: optional bool ``(B, T)``, True on real frames. Padded
            frames are invisible as keys and their output rows are zero.
            Defaults to the Keras mask of `query`, if any.
        value_mask: optional bool ``(B, S)`` for the keys when `value` is
            not `query`; defaults to `frame_mask` for self-attention.
        attention_mask: optional bool ``(B, T, S)`` or ``(B, M, T, S)``.
        return_attention_scores: also return the attention maps.
        training: Python bool, enables attention dropout.

    Returns:
        ``(B, T, D)`` outputs, and with `return_attention_scores` the maps
        ``(B, M, T, S)`` (float32, rows of padded frames all zero).

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
        implementation="dense",
        **kwargs,
    ):
        super().__init__(num_heads, key_dim, **kwargs)
        self._local_specs = masks_lib.parse_head_masks(head_masks, num_heads)
        if implementation not in ("dense", "banded"):
            raise ValueError(
                "implementation must be 'dense' or 'banded'. Received "
                f"implementation={implementation!r}."
            )
        self.implementation = implementation

    @property
    def head_masks(self):
        return [None if s.is_global else str(s) for s in self._local_specs]

    def _attend_projected(
        self, q, k, v, masks, key_mask, training, return_maps
    ):
        banded = (
            self.implementation == "banded"
            and not return_maps
            and not masks.exact  # the self-attention path
            and q.shape[1] is not None
            and any(not s.is_global for s in self._local_specs)
        )
        if not banded:
            return super()._attend_projected(
                q, k, v, masks, key_mask, training, return_maps
            )
        dropout = None
        if self._dropout > 0.0:

            def dropout(probs):
                return self._dropout_layer(probs, training=training)

        groups = {}
        for head, spec in enumerate(self._local_specs):
            groups.setdefault(spec, []).append(head)
        contexts, order = [], []
        for spec, heads in groups.items():
            if len(groups) > 1:
                qs, ks, vs = (ops.take(x, heads, axis=2) for x in (q, k, v))
            else:
                qs, ks, vs = q, k, v
            if spec.is_global:
                scores = ops.einsum(self._dot_product_equation, ks, qs)
                probs = masked_softmax(scores, masks.pad, zero_empty_rows=False)
                context = self._context(probs, vs, training)
            else:
                context = _banded.local_context(
                    qs, ks, vs, spec, key_mask, dropout
                )
            contexts.append(context)
            order.extend(heads)
        context = ops.concatenate(contexts, axis=2)
        if order != sorted(order):
            context = ops.take(context, np.argsort(order), axis=2)
        return self._output_dense(context), None

    def _attend(self, scores, value, masks, training, return_maps):
        probs = self._attention_maps(scores, masks, "local")
        context = self._context(probs, value, training)
        return self._output_dense(context), probs

    def get_config(self):
        config = super().get_config()
        config["head_masks"] = self.head_masks
        config["implementation"] = self.implementation
        return config
