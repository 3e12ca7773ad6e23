import keras
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._gmsa_attention import GMSAAttentionBase

# Einsum equations on (B, H, T, S) maps, (B, S, H, dv) values and
# (B, T, H, dv) contexts: the combine equation of keras' MultiHeadAttention
# for rank-4 projections, and its two transposes.
_COMBINE = "acbe,aecd->abcd"
_MAPS_GRAD = "abcd,aecd->acbe"
_VALUE_GRAD = "acbe,abcd->aecd"


def _gate_logits(maps, kernel):
    return ops.einsum("bhts,su->bhtu", maps, kernel)


@ops.custom_gradient
def _gated_context(global_maps, local_maps, global_kernel, local_kernel, value):
    """``A V`` with ``A = A^l + R^g (A^g - A^l)``, eq. 7, keeping little.

    The gradient is written out so that the backward pass keeps only the
    two maps and the gate ``R^g`` (three ``(B, H, T, S)`` tensors, against
    six or more that automatic differentiation keeps: the difference, the
    combined map, the gate logits, ...); ``A`` and ``A^g - A^l`` are
    recomputed elementwise. The matrix products are those of the
    automatic gradient, so the arithmetic is unchanged.
    """
    gate = ops.sigmoid(
        _gate_logits(global_maps, global_kernel)
        - _gate_logits(local_maps, local_kernel)
    )
    combined = local_maps + gate * (global_maps - local_maps)
    context = ops.einsum(_COMBINE, ops.cast(combined, value.dtype), value)

    def grad(*args, upstream=None):
        # TensorFlow and JAX pass the upstream gradient positionally,
        # PyTorch as a keyword after the saved inputs.
        upstream = args[0] if upstream is None else upstream
        diff = global_maps - local_maps
        combined = local_maps + gate * diff
        d_value = ops.einsum(
            _VALUE_GRAD, ops.cast(combined, value.dtype), upstream
        )
        d_maps = ops.cast(ops.einsum(_MAPS_GRAD, upstream, value), "float32")
        d_logits = d_maps * diff * gate * (1.0 - gate)
        d_global = d_maps * gate + ops.einsum(
            "bhtu,su->bhts", d_logits, global_kernel
        )
        d_local = d_maps * (1.0 - gate) - ops.einsum(
            "bhtu,su->bhts", d_logits, local_kernel
        )
        d_global_kernel = ops.einsum("bhts,bhtu->su", global_maps, d_logits)
        d_local_kernel = -ops.einsum("bhts,bhtu->su", local_maps, d_logits)
        return d_global, d_local, d_global_kernel, d_local_kernel, d_value

    return context, grad


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GatedAttentionMaps(GMSAAttentionBase):
    """GateAtt: every head mixes a global and a local map with T x T gates.

    From the same ``Q_m``, ``K_m`` each head m computes the global map
    ``A^g_m`` (eq. 2) and the local map ``A^l_m`` (eq. 5, with
    `local_mask`). Two gate matrices ``W^g_g, W^l_g`` of shape T x T, shared
    by all heads, give per-entry gates (eq. 7)::

        [R^g, R^l] = softmax over a new axis of [A^g_m W^g_g, A^l_m W^l_g]
        A_m = R^g * A^g_m + R^l * A^l_m
        Y = concat_m(A_m V_m) W^o

    (a softmax over two entries is ``R^g = sigmoid(a - b)``, ``R^l = 1 -
    R^g``; that is how it is computed.)

    The paper states that each row of ``A_m`` sums to one. With per-entry
    gates it does not in general: a row of ``A_m`` is a per-entry convex mix
    of two rows that each sum to one, and its sum lies anywhere between the
    smaller and the larger of the mixed masses. This layer implements the
    equation literally; `renormalize=True` divides each row of ``A_m`` by
    its sum (rows of padded frames stay zero).

    The gates need a static number of frames T (``max_frames``): padded
    frames are zero columns of both maps, so their gate entries never reach
    the output.

    Args:
        num_heads: number of heads M.
        key_dim: size of each query/key head.
        local_mask: mask spec of the local maps, one for all heads (the
            paper) or a list of `num_heads` specs; default ``"tp10"``.
        renormalize: divide rows of ``A_m`` by their sum.
        gate_use_bias: add a bias of length T to both gate products (not in
            the paper's equation; default False).
        gate_initializer: initializer of the two T x T gate matrices.
        **kwargs: arguments of `keras.layers.MultiHeadAttention` (`dropout`,
            `use_bias`, `value_dim`, initializers, `seed`, `name`, ...).

    Call arguments:
        query: frames ``(B, T, D)`` with static T.
        frame_mask: optional bool ``(B, T)``, True on real frames.
        attention_mask: optional bool ``(B, T, T)``.
        return_attention_scores: also return the maps.
        training: Python bool, enables attention dropout.

    Returns:
        ``(B, T, D)`` outputs; with `return_attention_scores` also a dict of
        float32 ``(B, M, T, T)`` maps: ``"global"`` (A^g), ``"local"``
        (A^l), ``"gate"`` (R^g) and ``"combined"`` (A).

    Example:
    >>> layer = GatedAttentionMaps(num_heads=4, key_dim=8, local_mask="bd5")
    >>> y = layer(keras.random.normal((2, 20, 32)))
    >>> tuple(y.shape)
    (2, 20, 32)

    Reference:
        Sahu and Goyal, ICASSP 2022, section 2.3.1, eq. 7.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        local_mask="tp10",
        renormalize=False,
        gate_use_bias=False,
        gate_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(num_heads, key_dim, **kwargs)
        self._local_specs = masks_lib.parse_head_masks(local_mask, num_heads)
        if all(s.is_global for s in self._local_specs):
            raise ValueError(
                "GatedAttentionMaps needs a local mask (e.g. 'tp10'); "
                f"received local_mask={local_mask!r}."
            )
        self.renormalize = bool(renormalize)
        self.gate_use_bias = bool(gate_use_bias)
        self.gate_initializer = keras.initializers.get(gate_initializer)

    @property
    def local_mask(self):
        specs = [str(s) for s in self._local_specs]
        return specs[0] if len(set(specs)) == 1 else specs

    def build(self, query_shape, value_shape=None, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        length = self._built_length[1]
        if length is None:
            raise ValueError(
                "GatedAttentionMaps needs a static number of frames: its "
                "gate matrices are T x T. Received shape "
                f"{tuple(query_shape)}; give keras.Input a fixed length."
            )
        for name in ("global", "local"):
            setattr(
                self,
                f"_{name}_gate_kernel",
                self.add_weight(
                    name=f"{name}_gate_kernel",
                    shape=(length, length),
                    initializer=self.gate_initializer,
                ),
            )
            setattr(
                self,
                f"_{name}_gate_bias",
                self.add_weight(
                    name=f"{name}_gate_bias",
                    shape=(length,),
                    initializer="zeros",
                )
                if self.gate_use_bias
                else None,
            )

    def _gate_logits(self, probs, name):
        kernel = getattr(self, f"_{name}_gate_kernel")
        logits = _gate_logits(probs, ops.cast(kernel, probs.dtype))
        bias = getattr(self, f"_{name}_gate_bias")
        if bias is not None:
            logits = logits + ops.cast(bias, probs.dtype)
        return logits

    def _attend(self, scores, value, masks, training, return_maps):
        global_maps = self._attention_maps(scores, masks, "global")
        local_maps = self._attention_maps(scores, masks, "local")
        lean = not (
            return_maps
            or self.renormalize
            or self.gate_use_bias
            or (training and self._dropout > 0.0)
        )
        if lean:
            context = _gated_context(
                global_maps,
                local_maps,
                ops.cast(self._global_gate_kernel, "float32"),
                ops.cast(self._local_gate_kernel, "float32"),
                value,
            )
            return self._output_dense(context), None
        gate = ops.sigmoid(
            self._gate_logits(global_maps, "global")
            - self._gate_logits(local_maps, "local")
        )
        combined = local_maps + gate * (global_maps - local_maps)
        if self.renormalize:
            total = ops.sum(combined, axis=-1, keepdims=True)
            combined = ops.divide_no_nan(combined, total)
        context = self._context(combined, value, training)
        maps = {
            "global": global_maps,
            "local": local_maps,
            "gate": gate,
            "combined": combined,
        }
        return self._output_dense(context), maps

    def _maps_output_spec(self, query, value):
        return {
            k: self._maps_spec(query, value)
            for k in ("global", "local", "gate", "combined")
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            local_mask=self.local_mask,
            renormalize=self.renormalize,
            gate_use_bias=self.gate_use_bias,
            gate_initializer=keras.initializers.serialize(
                self.gate_initializer
            ),
        )
        return config
