import keras
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers import _gmsa_attention as base
from keras_gmsa.layers import _initializers
from keras_gmsa.layers._gmsa_attention import GMSAAttentionBase


def _gate_logits(maps, kernel):
    return ops.einsum("bhts,su->bhtu", maps, kernel)


def gated_attention(scores, key_bias, local_bias, kernels, value):
    """GateAtt's context ``A V`` from the scores, keeping little (eq. 7).

    ``A^g = softmax(S + b_key)``, ``A^l = softmax(S + b_key + b_local)``,
    ``R^g = sigmoid(A^g W^g_g - A^l W^l_g)``, ``A = A^l + R^g (A^g - A^l)``.

    Automatic differentiation keeps about ten ``(B, H, T, S)`` tensors per
    layer for the backward pass (both maps, the gate logits, their
    difference, the gate, ``A^g - A^l``, ``A``, the masked scores...) and
    builds as many more while it runs. Here the gradient is written out:
    the forward keeps the scores and the gate only, the backward recomputes
    the two maps from the scores (elementwise), and both run over slices of
    ``HEADS_PER_SLICE`` heads, so their working set is a slice's. The matrix
    products are those of the automatic gradient: the arithmetic is the
    same.

    Args:
        scores: ``(B, H, T, S)`` scaled ``Q K^T``, any float dtype.
        key_bias: float32 ``(B, 1, 1, S)``: 0 on real keys, -1e9 on padded.
        local_bias: NumPy float32 ``(H, T, S)`` constant: 0 inside the
            local neighbourhoods, -1e9 outside.
        kernels: float32 ``(W^g_g, W^l_g)``, each ``(S, S)``.
        value: ``(B, S, H, dv)`` in the compute dtype.

    Returns:
        ``(B, T, H, dv)`` contexts in the dtype of `value`.
    """
    heads = scores.shape[1]
    slices = base.head_slices(heads)
    maps = base.slice_maps(local_bias)

    @ops.custom_gradient
    def attend(scores, key_bias, global_kernel, local_kernel, value):
        gates, contexts = [], []
        for h0, h1 in slices:
            global_maps, local_maps = maps(scores, key_bias, h0, h1)
            gate = ops.sigmoid(
                _gate_logits(global_maps, global_kernel)
                - _gate_logits(local_maps, local_kernel)
            )
            combined = local_maps + gate * (global_maps - local_maps)
            contexts.append(
                ops.einsum(
                    base.COMBINE,
                    ops.cast(combined, value.dtype),
                    value[:, :, h0:h1],
                )
            )
            gates.append(gate)
        context = ops.concatenate(contexts, axis=2)

        def grad(*args, upstream=None):
            # TensorFlow and JAX pass the upstream gradient positionally,
            # PyTorch as a keyword after the saved inputs.
            upstream = args[0] if upstream is None else upstream
            d_scores, d_value = [], []
            d_global_kernel = ops.zeros_like(global_kernel)
            d_local_kernel = ops.zeros_like(local_kernel)
            for (h0, h1), gate in zip(slices, gates, strict=True):
                global_maps, local_maps = maps(scores, key_bias, h0, h1)
                up = upstream[:, :, h0:h1]
                val = value[:, :, h0:h1]
                diff = global_maps - local_maps
                combined = local_maps + gate * diff
                d_value.append(
                    ops.einsum(
                        base.VALUE_GRAD, ops.cast(combined, val.dtype), up
                    )
                )
                d_maps = ops.cast(
                    ops.einsum(base.MAPS_GRAD, up, val), "float32"
                )
                d_logits = d_maps * diff * gate * (1.0 - gate)
                d_global = d_maps * gate + ops.einsum(
                    "bhtu,su->bhts", d_logits, global_kernel
                )
                d_local = d_maps * (1.0 - gate) - ops.einsum(
                    "bhtu,su->bhts", d_logits, local_kernel
                )
                d_global_kernel = d_global_kernel + ops.einsum(
                    "bhts,bhtu->su", global_maps, d_logits
                )
                d_local_kernel = d_local_kernel - ops.einsum(
                    "bhts,bhtu->su", local_maps, d_logits
                )
                d_scores.append(
                    ops.cast(
                        base.softmax_grad(global_maps, d_global)
                        + base.softmax_grad(local_maps, d_local),
                        scores.dtype,
                    )
                )
            return (
                ops.concatenate(d_scores, axis=1),
                ops.zeros_like(key_bias),
                d_global_kernel,
                d_local_kernel,
                ops.concatenate(d_value, axis=2),
            )

        return context, grad

    return attend(scores, key_bias, *kernels, value)


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

    # Train through the written-out gradient when the call allows it
    # (False: automatic differentiation, for comparisons and profiles).
    lean_backward = True

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
                    initializer=_initializers.clone(self.gate_initializer),
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
        lean = (
            self.lean_backward
            and masks.local_bias is not None
            and not (
                return_maps
                or self.renormalize
                or self.gate_use_bias
                or (training and self._dropout > 0.0)
            )
        )
        if lean:
            # The self-attention path: padding is a key mask only (see
            # `_gmsa_attention`), the structure an additive constant.
            context = gated_attention(
                scores,
                base.key_bias(masks, scores),
                masks.local_bias,
                (
                    ops.cast(self._global_gate_kernel, "float32"),
                    ops.cast(self._local_gate_kernel, "float32"),
                ),
                value,
            )
            return self._output_dense(context), None
        global_maps = self._attention_maps(scores, masks, "global")
        local_maps = self._attention_maps(scores, masks, "local")
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
