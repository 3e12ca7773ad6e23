import keras
from keras import ops

from keras_gmsa.layers.attention import _lean
from keras_gmsa.layers.attention._global_local import GlobalLocalAttention


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GatedContextMHA(GlobalLocalAttention):
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
        implementation: ``"auto"`` (default): two fused kernels (one per
            context) where they are the faster (PyTorch), written-out
            gradients that keep the scores only elsewhere; ``"maps"``: the
            maps differentiated automatically; ``"fused"``: the fused
            kernels on every backend. The same numbers up to rounding.
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

    _returned_map = "global"

    def build(self, query_shape, value_shape=None, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        context_shape = list(self.query_dense.compute_output_shape(query_shape))
        context_shape[-1] = self.value_dim
        # W^ol is a second output projection; the gates W^g_g, W^l_g are
        # output projections with a bias only under gate_use_bias.
        self._local_output_dense = self._output_projection(
            "local_attention_output", self.use_bias
        )
        self._global_gate = self._output_projection(
            "global_gate", self.gate_use_bias
        )
        self._local_gate = self._output_projection(
            "local_gate", self.gate_use_bias
        )
        for projection in (
            self._local_output_dense,
            self._global_gate,
            self._local_gate,
        ):
            projection.build(tuple(context_shape))

    def _output_projection(self, name, use_bias):
        """A projection of the shape of MHA's output projection, with its
        sub-layer arguments (initializers, regularizers, constraints,
        dtype policy)."""
        template = self.output_dense
        output_axes = template.equation.split("->")[1]
        width = sum(d is not None for d in template.partial_output_shape)
        return keras.layers.EinsumDense(
            template.equation,
            output_shape=template.partial_output_shape,
            bias_axes=output_axes[-width:] if use_bias else None,
            name=name,
            **self._get_common_kwargs_for_sublayer(),
        )

    def _has_lean_gradient(self):
        return True

    def _attend(self, path, query, key, value, masks, training, maps):
        if path == "fused":
            # Two fused kernels: Q K^T is computed twice, no T x T map is
            # kept (where fused attention is the faster, see `_paths`).
            both = ops.stack(
                [
                    self._fused(query, key, value, masks, "global"),
                    self._fused(query, key, value, masks, "local"),
                ]
            )
            return both, None
        scores = self._scores(query, key)
        if path == "lean":
            both = _lean.global_and_local_contexts(
                scores, masks.key_bias(scores), masks.local_bias(), value
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
        if not maps:
            return both, None
        return both, {"global": global_maps, "local": local_maps}

    def _project_output(self, context, gate):
        # The global and the local contexts, stacked: (2, B, T, H, dv).
        global_context, local_context = context[0], context[1]
        if gate is not None:
            global_context = ops.multiply(global_context, gate)
            local_context = ops.multiply(local_context, gate)
        global_out = self.output_dense(global_context)
        local_out = self._local_output_dense(local_context)
        mix = ops.sigmoid(
            self._global_gate(global_context) - self._local_gate(local_context)
        )
        return local_out + mix * (global_out - local_out)
