import keras
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers import _gmsa_attention as base
from keras_gmsa.layers._gmsa_attention import GMSAAttentionBase


def global_and_local_contexts(scores, key_bias, local_bias, value):
    """``A^g V`` and ``A^l V`` from the scores, keeping the scores only.

    ``A^g = softmax(S + b_key)`` and ``A^l = softmax(S + b_key + b_local)``.
    Automatic differentiation keeps both maps (and the masked scores) for
    the backward pass; here the backward recomputes the maps from the
    scores, elementwise, over slices of ``HEADS_PER_SLICE`` heads, so one
    ``(B, H, T, S)`` tensor per layer is kept instead of two or three. The
    matrix products are unchanged.

    Args:
        scores: ``(B, H, T, S)``, any float dtype.
        key_bias: float32 ``(B, 1, 1, S)``, 0 on real keys and -1e9 on
            padded ones.
        local_bias: NumPy float32 ``(H, T, S)``, 0 inside the local
            neighbourhoods and -1e9 outside.
        value: ``(B, S, H, dv)``.

    Returns:
        ``(B, T, 2H, dv)``: the global contexts of the H heads, then the
        local ones (one tensor, so that every backend's custom gradient
        sees a single output).
    """
    heads = scores.shape[1]
    slices = base.head_slices(heads)
    maps = base.slice_maps(local_bias)

    @ops.custom_gradient
    def attend(scores, key_bias, value):
        contexts = {"global": [], "local": []}
        for h0, h1 in slices:
            val = value[:, :, h0:h1]
            for name, probs in zip(
                ("global", "local"), maps(scores, key_bias, h0, h1), strict=True
            ):
                contexts[name].append(
                    ops.einsum(base.COMBINE, ops.cast(probs, val.dtype), val)
                )
        output = ops.concatenate(contexts["global"] + contexts["local"], 2)

        def grad(*args, upstream=None):
            # TensorFlow and JAX pass the upstream gradient positionally,
            # PyTorch as a keyword after the saved inputs.
            upstream = args[0] if upstream is None else upstream
            d_scores, d_value = [], []
            for h0, h1 in slices:
                val = value[:, :, h0:h1]
                d_val = None
                d_logits = None
                for probs, up in zip(
                    maps(scores, key_bias, h0, h1),
                    (
                        upstream[:, :, h0:h1],
                        upstream[:, :, heads + h0 : heads + h1],
                    ),
                    strict=True,
                ):
                    part = ops.einsum(
                        base.VALUE_GRAD, ops.cast(probs, val.dtype), up
                    )
                    d_val = part if d_val is None else d_val + part
                    d_probs = ops.cast(
                        ops.einsum(base.MAPS_GRAD, up, val), "float32"
                    )
                    part = base.softmax_grad(probs, d_probs)
                    d_logits = part if d_logits is None else d_logits + part
                d_value.append(d_val)
                d_scores.append(ops.cast(d_logits, scores.dtype))
            return (
                ops.concatenate(d_scores, axis=1),
                ops.zeros_like(key_bias),
                ops.concatenate(d_value, axis=2),
            )

        return output, grad

    return attend(scores, key_bias, value)


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GatedContextMHA(GMSAAttentionBase):
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
        **kwargs: arguments of `keras.layers.MultiHeadAttention`.

    Call arguments:
        query: frames ``(B, T, D)``.
        value, key, frame_mask, value_mask, attention_mask, training: as in
            `LocalMaskedMHA`.
        return_attention_scores: also return the maps.

    Returns:
        ``(B, T, D)`` outputs; with `return_attention_scores` also a dict of
        float32 ``(B, M, T, S)`` maps ``"global"`` and ``"local"``.

    Example:
    >>> layer = GatedContextMHA(num_heads=4, key_dim=8, local_mask="tp3")
    >>> y = layer(keras.random.normal((2, 20, 32)))
    >>> tuple(y.shape)
    (2, 20, 32)

    Reference:
        Sahu and Goyal, ICASSP 2022, section 2.3.2, eq. 9-13.
    """

    # Train through the written-out gradient when the call allows it
    # (False: automatic differentiation, for comparisons and profiles).
    lean_backward = True

    def __init__(
        self,
        num_heads,
        key_dim,
        local_mask="tp30",
        gate_use_bias=False,
        **kwargs,
    ):
        super().__init__(num_heads, key_dim, **kwargs)
        self._local_specs = masks_lib.parse_head_masks(local_mask, num_heads)
        if all(s.is_global for s in self._local_specs):
            raise ValueError(
                "GatedContextMHA needs a local mask (e.g. 'tp30'); "
                f"received local_mask={local_mask!r}."
            )
        self.gate_use_bias = bool(gate_use_bias)

    @property
    def local_mask(self):
        specs = [str(s) for s in self._local_specs]
        return specs[0] if len(set(specs)) == 1 else specs

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

    def _attend(self, scores, value, masks, training, return_maps):
        lean = (
            self.lean_backward
            and masks.local_bias is not None
            and not (return_maps or (training and self._dropout > 0.0))
        )
        if lean:
            # The self-attention path: padding is a key mask only (see
            # `_gmsa_attention`), the structure an additive constant.
            both = global_and_local_contexts(
                scores, base.key_bias(masks, scores), masks.local_bias, value
            )
            heads = self.num_heads
            global_context, local_context = (
                both[:, :, :heads],
                both[:, :, heads:],
            )
            global_maps = local_maps = None
        else:
            global_maps = self._attention_maps(scores, masks, "global")
            local_maps = self._attention_maps(scores, masks, "local")
            global_context = self._context(global_maps, value, training)
            local_context = self._context(local_maps, value, training)
        global_out = self._output_dense(global_context)
        local_out = self._local_output_dense(local_context)
        gate = ops.sigmoid(
            self._global_gate(global_context) - self._local_gate(local_context)
        )
        output = local_out + gate * (global_out - local_out)
        return output, {"global": global_maps, "local": local_maps}

    def _maps_output_spec(self, query, value):
        return {k: self._maps_spec(query, value) for k in ("global", "local")}

    def get_config(self):
        config = super().get_config()
        config.update(
            local_mask=self.local_mask, gate_use_bias=self.gate_use_bias
        )
        return config
