"""Written-out gradients of GateAtt and GateOp (private).

Automatic differentiation of the gated layers keeps about ten ``(B, H, T,
S)`` tensors per layer for the backward pass. The kernels here keep the
scores (and GateAtt's gate) only, recompute both maps elementwise in the
backward pass, and run over slices of ``HEADS_PER_SLICE`` heads, so their
working set is a slice's. Their matrix products are those of the automatic
gradient: the arithmetic is the same, and tests check that one training
step through them equals one through automatic differentiation.

Shapes: scores ``(B, H, T, S)``, values ``(B, S, H, dv)``, contexts ``(B, T,
H, dv)``; ``key_bias`` float32 ``(B, 1, 1, S)`` (0 on real keys, -1e9 on
padded ones); ``local_bias`` a NumPy float32 ``(H, T, S)`` constant (0
inside the local neighbourhoods, -1e9 outside).
"""

import keras
from keras import ops

# Einsum equations on (B, H, T, S) maps, (B, S, H, dv) values and
# (B, T, H, dv) contexts: keras' MultiHeadAttention combine equation for
# rank-4 projections, and its two transposes.
COMBINE = "acbe,aecd->abcd"
MAPS_GRAD = "abcd,aecd->acbe"
VALUE_GRAD = "acbe,abcd->aecd"
# Heads per slice: the working set of a lean path is that of one head. (At
# batch 64, T = 300 one head's float32 map is 23 MB; two heads' 46 MB is
# above glibc's 32 MB mmap ceiling, so on PyTorch every such temporary was
# a fresh mapping, page-faulted and zeroed each step: GateAtt trained
# 1.18x slower. XLA schedules the slices itself either way.)
HEADS_PER_SLICE = 1


def upstream_of(args, upstream):
    """The upstream gradient given to an `ops.custom_gradient` function:
    TensorFlow and JAX pass it positionally, PyTorch as a keyword."""
    return args[0] if upstream is None else upstream


def head_slices(heads):
    return [
        (h, min(h + HEADS_PER_SLICE, heads))
        for h in range(0, heads, HEADS_PER_SLICE)
    ]


def softmax_grad(probs, d_probs):
    """Gradient of the logits of ``probs = softmax(logits)`` (last axis).

    On PyTorch, eager, this is PyTorch's own softmax-backward kernel (one
    pass where the composed form takes four; XLA fuses the composed form
    on the other backends).
    """
    if keras.config.backend() == "torch":
        import torch

        return torch._softmax_backward_data(d_probs, probs, -1, probs.dtype)
    return probs * (d_probs - ops.sum(d_probs * probs, axis=-1, keepdims=True))


def mix(low, high, weight):
    """``low + weight (high - low)`` elementwise (PyTorch: one `lerp`)."""
    if keras.config.backend() == "torch":
        import torch

        return torch.lerp(low, high, weight)
    return low + weight * (high - low)


def slice_maps(local_bias):
    """The maps of a lean path: a function ``(scores, key_bias, h0, h1)``
    returning float32 ``A^g = softmax(S + b_key)`` and ``A^l = softmax(S +
    b_key + b_local)`` of heads ``h0:h1``."""
    local_bias = ops.convert_to_tensor(local_bias, "float32")

    def maps(scores, key_bias, h0, h1):
        logits = ops.cast(scores[:, h0:h1], "float32") + key_bias
        return (
            ops.softmax(logits, axis=-1),
            ops.softmax(logits + local_bias[h0:h1], axis=-1),
        )

    return maps


def gate_logits(maps, kernel):
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
    slices = head_slices(heads)
    maps = slice_maps(local_bias)

    @ops.custom_gradient
    def attend(scores, key_bias, global_kernel, local_kernel, value):
        gates, contexts = [], []
        for h0, h1 in slices:
            global_maps, local_maps = maps(scores, key_bias, h0, h1)
            gate = ops.sigmoid(
                gate_logits(global_maps, global_kernel)
                - gate_logits(local_maps, local_kernel)
            )
            combined = mix(local_maps, global_maps, gate)
            contexts.append(
                ops.einsum(
                    COMBINE,
                    ops.cast(combined, value.dtype),
                    value[:, :, h0:h1],
                )
            )
            gates.append(gate)
        context = ops.concatenate(contexts, axis=2)

        def grad(*args, upstream=None):
            upstream = upstream_of(args, upstream)
            d_scores, d_value = [], []
            d_global_kernel = ops.zeros_like(global_kernel)
            d_local_kernel = ops.zeros_like(local_kernel)
            for (h0, h1), gate in zip(slices, gates, strict=True):
                global_maps, local_maps = maps(scores, key_bias, h0, h1)
                up = upstream[:, :, h0:h1]
                val = value[:, :, h0:h1]
                diff = global_maps - local_maps
                combined = mix(local_maps, global_maps, gate)
                d_value.append(
                    ops.einsum(VALUE_GRAD, ops.cast(combined, val.dtype), up)
                )
                d_maps = ops.cast(ops.einsum(MAPS_GRAD, up, val), "float32")
                # dA R^g, and dA R^g (1 - R^g) (A^g - A^l): the gradient of
                # the gate logits (fewer passes over the maps than the
                # textbook form).
                through_gate = d_maps * gate
                past_gate = d_maps - through_gate
                d_logits = past_gate * gate * diff
                d_global = through_gate + ops.einsum(
                    "bhtu,su->bhts", d_logits, global_kernel
                )
                d_local = past_gate - ops.einsum(
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
                        softmax_grad(global_maps, d_global)
                        + softmax_grad(local_maps, d_local),
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
        ``(2, B, T, H, dv)``: the global contexts, then the local ones (one
        tensor, so that every backend's custom gradient sees a single
        output; stacked on a leading axis, so that each half is contiguous
        and its projection's weight gradient is a plain matrix product).
    """
    heads = scores.shape[1]
    slices = head_slices(heads)
    maps = slice_maps(local_bias)

    @ops.custom_gradient
    def attend(scores, key_bias, value):
        contexts = {"global": [], "local": []}
        for h0, h1 in slices:
            val = value[:, :, h0:h1]
            for name, probs in zip(
                ("global", "local"), maps(scores, key_bias, h0, h1), strict=True
            ):
                contexts[name].append(
                    ops.einsum(COMBINE, ops.cast(probs, val.dtype), val)
                )
        output = ops.stack(
            [
                ops.concatenate(contexts["global"], axis=2),
                ops.concatenate(contexts["local"], axis=2),
            ]
        )

        def grad(*args, upstream=None):
            upstream = upstream_of(args, upstream)
            d_scores, d_value = [], []
            for h0, h1 in slices:
                val = value[:, :, h0:h1]
                d_val = None
                d_logits = None
                for probs, up in zip(
                    maps(scores, key_bias, h0, h1),
                    (upstream[0, :, :, h0:h1], upstream[1, :, :, h0:h1]),
                    strict=True,
                ):
                    part = ops.einsum(
                        VALUE_GRAD, ops.cast(probs, val.dtype), up
                    )
                    d_val = part if d_val is None else d_val + part
                    d_probs = ops.cast(
                        ops.einsum(MAPS_GRAD, up, val), "float32"
                    )
                    part = softmax_grad(probs, d_probs)
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
