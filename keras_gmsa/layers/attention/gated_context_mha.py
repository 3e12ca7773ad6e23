import keras
from keras import ops

from keras_gmsa.layers.attention import _lean
from keras_gmsa.layers.attention._gated import GatedAttention


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GatedContextMHA(GatedAttention):
    """GateOp: gate the global and local contexts, not the maps.

    From shared ``Q_m, K_m, V_m`` every head computes a global map ``A^g_m``
    and a local map ``A^l_m`` (with `local_mask`); then (eq. 9-13)::

        O^g = concat_m(A^g_m V_m),   O^l = concat_m(A^l_m V_m)
        Y^g = O^g W^og,              Y^l = O^l W^ol
        [R^g, R^l] = softmax over a new axis of [O^g W^g_g, O^l W^l_g]
        Y = R^g * Y^g + R^l * Y^l

    ``W^og`` is the inherited output projection of
    `keras.layers.MultiHeadAttention`; ``W^ol``, ``W^g_g`` and ``W^l_g`` are
    the three extra D x D matrices (with M * d = D), so the layer adds
    ``3 D^2`` weights (plus D for the bias of ``W^ol``). A softmax over two
    entries is computed as ``R^g = sigmoid(a - b)``.

    Args:
        num_heads: number of heads M.
        key_dim: size of each query/key head.
        local_mask: mask spec of the local maps, one for all heads (the
            paper) or a list of `num_heads` specs; default ``"tp30"``.
        gate_use_bias: add biases to the two gate projections (not in the
            paper's equations; default False).
        **kwargs: arguments of `keras.layers.MultiHeadAttention`
            (`use_gate` multiplies both contexts by MHA's gate before
            their projections; `sliding_window` and `use_causal_mask`
            restrict both maps).

    Call arguments:
        Those of `keras.layers.MultiHeadAttention` (see `LocalMaskedMHA`).

    Returns:
        ``(B, T, D)`` outputs; with `return_attention_scores` also the
        global maps A^g (the maps of the ``Y^g`` term, what MHA returns
        for these weights) ``(B, M, T, S)`` in the compute dtype.
        `attention_maps(query, ...)` returns both, a dict of float32
        ``(B, M, T, S)`` maps ``"global"`` and ``"local"``.

    Example:
    >>> layer = GatedContextMHA(num_heads=4, key_dim=8, local_mask="tp3")
    >>> y = layer(keras.random.normal((2, 20, 32)))
    >>> tuple(y.shape)
    (2, 20, 32)

    Reference:
        Sahu and Goyal, ICASSP 2022, section 2.3.2, eq. 9-13.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        local_mask="tp30",
        gate_use_bias=False,
        **kwargs,
    ):
        super().__init__(
            num_heads,
            key_dim,
            local_mask=local_mask,
            gate_use_bias=gate_use_bias,
            **kwargs,
        )

    def build(self, query_shape, value_shape=None, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        context_shape = list(
            self._query_dense.compute_output_shape(query_shape)
        )
        context_shape[-1] = self._value_dim
        context_shape = tuple(context_shape)
        common = self._get_common_kwargs_for_sublayer()
        self._local_output_dense = self._make_output_dense(
            query_shape, common, "local_attention_output"
        )
        self._local_output_dense.build(context_shape)
        # The gate projections are output projections without MHA's bias
        # unless gate_use_bias (Keras' helper reads `_use_bias`).
        use_bias = self._use_bias
        self._use_bias = self.gate_use_bias
        try:
            self._global_gate = self._make_output_dense(
                query_shape,
                self._get_common_kwargs_for_sublayer(),
                "global_gate",
            )
            self._local_gate = self._make_output_dense(
                query_shape,
                self._get_common_kwargs_for_sublayer(),
                "local_gate",
            )
        finally:
            self._use_bias = use_bias
        self._global_gate.build(context_shape)
        self._local_gate.build(context_shape)

    _contexts_only = True

    def _attend(self, path, query, key, value, masks, training, maps):
        if path == "fused":
            # Two fused kernels: Q K^T is computed twice, no T x T map is
            # kept (where fused attention is the faster, see `_base`).
            return (
                self._fused(query, key, value, masks, "global"),
                self._fused(query, key, value, masks, "local"),
            ), None
        scores = self._scores(query, key)
        if path == "lean":
            both = _lean.global_and_local_contexts(
                scores,
                masks.key_bias(scores),
                masks.structure_bias("local"),
                value,
            )
            return both, None
        global_maps = self._maps(scores, masks, "global", path)
        local_maps = self._maps(scores, masks, "local", path)
        both = ops.stack(
            [
                self._context(global_maps, value, training),
                self._context(local_maps, value, training),
            ]
        )
        if maps == "all":
            return both, {"global": global_maps, "local": local_maps}
        return both, global_maps if maps else None

    def _project_output(self, context, gate):
        # A pair, or (2, B, T, H, dv) from one kernel (see `_lean`).
        global_context, local_context = context[0], context[1]
        if gate is not None:
            global_context = ops.multiply(global_context, gate)
            local_context = ops.multiply(local_context, gate)
        global_out = self._output_dense(global_context)
        local_out = self._local_output_dense(local_context)
        mix = ops.sigmoid(
            self._global_gate(global_context) - self._local_gate(local_context)
        )
        return local_out + mix * (global_out - local_out)
