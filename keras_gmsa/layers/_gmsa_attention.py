"""Shared machinery of the GMSA attention layers (private).

`GMSAAttentionBase` subclasses `keras.layers.MultiHeadAttention` so that the
query/key/value/output projections, their weight layout and their config are
Keras' own. What it changes:

- masks: per-head structural masks (built once, at `build`, for a static
  length) merged with the padding mask in `keras_gmsa.masks.merge_masks`;
- softmax: computed in float32 with masked entries set to exactly 0, so a
  row whose every key is masked (a padded frame, a zero-frame video) is all
  zeros on every backend and dtype policy, never NaN and never a mean of the
  values (Keras' own MHA differs between its code paths there);
- output: rows of padded query frames are exactly zero (the output bias
  included).

Cost. Self-attention without a user `attention_mask` (every model of the
zoo) takes a cheaper path with the same outputs: every BD, TP and TD
neighbourhood holds its own frame, so each real query row has an allowed
key and the softmax needs neither the query mask nor a second pass zeroing
empty rows (padded rows are dropped at the output, and zeroed in returned
maps); the structural mask enters as an additive float32 constant
(0 / -1e9, exact zeros after the softmax) built once at `build`, and only
the ``(B, 1, 1, S)`` key mask is a tensor. Fewer ``(B, H, T, S)`` tensors
are then kept for the backward pass.
"""

import collections

import keras
import numpy as np
from keras import ops
from keras import tree

from keras_gmsa import masks as masks_lib

_LARGE_NEGATIVE = -1e9


def masked_softmax(scores, mask, bias=None, zero_empty_rows=True):
    """Softmax over the last axis in float32; masked entries are exactly 0.

    Args:
        scores: ``(B, H, T, S)`` attention logits, any float dtype.
        mask: bool tensor broadcastable to `scores`, or None.
        bias: optional float32 additive mask broadcastable to `scores`,
            0 where allowed and -1e9 where not (its entries come out
            exactly 0 in every row with an allowed key).
        zero_empty_rows: make rows without any allowed key all zeros (a
            second pass over the probabilities). Callers that know every
            row they use has an allowed key pass False.

    Returns:
        float32 probabilities of the shape of `scores`.
    """
    scores = ops.cast(scores, "float32")
    if bias is not None:
        scores = ops.add(scores, bias)
    if mask is None:
        return ops.softmax(scores, axis=-1)
    probs = ops.softmax(ops.where(mask, scores, _LARGE_NEGATIVE), axis=-1)
    if not zero_empty_rows:
        return probs
    return ops.where(mask, probs, ops.zeros_like(probs))


# ---- The lean paths of GateAtt and GateOp (written-out gradients that
# recompute the maps from the scores, over slices of heads).

# Einsum equations on (B, H, T, S) maps, (B, S, H, dv) values and
# (B, T, H, dv) contexts: keras' MultiHeadAttention combine equation for
# rank-4 projections, and its two transposes.
COMBINE = "acbe,aecd->abcd"
MAPS_GRAD = "abcd,aecd->acbe"
VALUE_GRAD = "acbe,abcd->aecd"
# Heads per slice: the working set of a lean path is that of two heads.
HEADS_PER_SLICE = 2


def head_slices(heads):
    return [
        (h, min(h + HEADS_PER_SLICE, heads))
        for h in range(0, heads, HEADS_PER_SLICE)
    ]


def softmax_grad(probs, d_probs):
    """Gradient of the logits of ``probs = softmax(logits)``."""
    return probs * (d_probs - ops.sum(d_probs * probs, axis=-1, keepdims=True))


def key_bias(masks, scores):
    """float32 ``(B, 1, 1, S)``: 0 on real keys, -1e9 on padded ones."""
    if masks.pad is None:
        return ops.zeros((1, 1, 1, scores.shape[-1]), "float32")
    return ops.cast(ops.where(masks.pad, 0.0, _LARGE_NEGATIVE), "float32")


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


# The masks of one call: `pad` (padding and user masks, for global maps),
# `local` and `local_bias` (the local maps: bool mask and additive float32
# constant, either may be None) and `exact` (rows without any allowed key
# must be zeros; False on the self-attention path, see the module note).
CallMasks = collections.namedtuple(
    "CallMasks", ["pad", "local", "local_bias", "exact"]
)


class GMSAAttentionBase(keras.layers.MultiHeadAttention):
    """Multi-head self-attention over frames with structural masks.

    Subclasses set `self._local_specs` (per-head `MaskSpec`s of the local
    path) and implement `_attend`.
    """

    def __init__(self, num_heads, key_dim, **kwargs):
        for name, bad in (
            ("use_gate", kwargs.get("use_gate", False)),
            ("sliding_window", kwargs.get("sliding_window", None)),
        ):
            if bad:
                raise ValueError(
                    f"{type(self).__name__} does not support `{name}` "
                    f"(received {bad!r}); use a structural mask instead."
                )
        axes = kwargs.get("attention_axes", None)
        if axes not in (None, 1, (1,), [1]):
            raise ValueError(
                f"{type(self).__name__} attends over the frame axis only "
                f"(attention_axes=None or (1,)). Received attention_axes="
                f"{axes!r}."
            )
        kwargs.pop("flash_attention", None)
        super().__init__(num_heads, key_dim, flash_attention=False, **kwargs)
        self._local_specs = (masks_lib.MaskSpec("global"),) * num_heads
        self._structural_np = None
        self._structural_bias_np = None
        self._built_length = None

    # ----------------------------------------------------------------- build
    def build(self, query_shape, value_shape=None, key_shape=None):
        if len(query_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects frames of shape (batch, "
                f"frames, features). Received query_shape={query_shape}."
            )
        value_shape = query_shape if value_shape is None else value_shape
        super().build(query_shape, value_shape, key_shape)
        length, key_length = query_shape[1], value_shape[1]
        self._built_length = (length, key_length)
        if length is not None and key_length is not None:
            for spec in self._local_specs:
                spec.check_length(max(length, key_length))
            if any(not s.is_global for s in self._local_specs):
                # Built once here; a NumPy constant is folded into the traced
                # graph on every backend.
                self._structural_np = masks_lib.head_masks(
                    self._local_specs, length, key_length
                )
                self._structural_bias_np = np.where(
                    self._structural_np, 0.0, _LARGE_NEGATIVE
                ).astype("float32")

    def _local_structural(self, query, key):
        """Per-head structural mask ``(H, T, S)`` of the local path."""
        if all(s.is_global for s in self._local_specs):
            return None
        length, key_length = query.shape[1], key.shape[1]
        if (
            self._structural_np is not None
            and (length, key_length) == self._structural_np.shape[1:]
        ):
            return self._structural_np
        return masks_lib.head_masks_symbolic(
            self._local_specs, ops.shape(query)[1], ops.shape(key)[1]
        )

    # ------------------------------------------------------------------ call
    def call(
        self,
        query,
        value=None,
        key=None,
        frame_mask=None,
        value_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        value = query if value is None else value
        key = value if key is None else key
        if frame_mask is None:
            frame_mask = getattr(query, "_keras_mask", None)
        if value_mask is None:
            value_mask = (
                frame_mask
                if value is query
                else getattr(value, "_keras_mask", None)
            )
        masks = self._call_masks(
            query, key, value, frame_mask, value_mask, attention_mask
        )
        q = self._query_dense(query)
        k = self._key_dense(key)
        v = self._value_dense(value)
        # Same scaling order as keras' MultiHeadAttention, for bit-equality.
        q = ops.multiply(q, ops.cast(self._inverse_sqrt_key_dim, q.dtype))
        output, maps = self._attend_projected(
            q, k, v, masks, value_mask, training, return_attention_scores
        )
        if frame_mask is not None:
            keep = ops.cast(frame_mask, output.dtype)[:, :, None]
            output = ops.multiply(output, keep)
        if return_attention_scores:
            if not masks.exact and frame_mask is not None:
                rows = ops.cast(frame_mask, "bool")[:, None, :, None]
                maps = tree.map_structure(
                    lambda m: ops.where(rows, m, ops.zeros_like(m)), maps
                )
            return output, maps
        return output

    def _call_masks(
        self, query, key, value, frame_mask, value_mask, attention_mask
    ):
        structural = self._local_structural(query, key)
        self_attention = (
            key is query
            and value is query
            and attention_mask is None
            and value_mask is frame_mask
        )
        if self_attention:
            pad = masks_lib.merge_masks(key_mask=value_mask)
            if structural is self._structural_np and structural is not None:
                return CallMasks(pad, pad, self._structural_bias_np, False)
            local = masks_lib.merge_masks(
                structural=structural, attention_mask=pad
            )
            return CallMasks(pad, local, None, False)
        # Padding (and any user mask) is merged once; the local path adds
        # its structural masks on top.
        pad = masks_lib.merge_masks(
            query_mask=frame_mask,
            key_mask=value_mask,
            attention_mask=attention_mask,
        )
        local = masks_lib.merge_masks(structural=structural, attention_mask=pad)
        return CallMasks(pad, local, None, True)

    def _attention_maps(self, scores, masks, path):
        """Attention maps of the ``"global"`` or ``"local"`` path."""
        if path == "global":
            return masked_softmax(
                scores, masks.pad, zero_empty_rows=masks.exact
            )
        return masked_softmax(
            scores,
            masks.local,
            bias=masks.local_bias,
            zero_empty_rows=masks.exact,
        )

    def _attend_projected(
        self, q, k, v, masks, key_mask, training, return_maps
    ):
        """Attention from projected ``(B, T, H, d)`` queries, keys, values:
        the dense scores, then `_attend`. Returns ``(output, maps)``."""
        scores = ops.einsum(self._dot_product_equation, k, q)
        return self._attend(scores, v, masks, training, return_maps)

    def _attend(self, scores, value, masks, training, return_maps):
        raise NotImplementedError

    def _context(self, probs, value, training):
        """``A V`` per head, with attention dropout: ``(B, T, H, dv)``."""
        probs = ops.cast(probs, self.compute_dtype)
        if self._dropout > 0.0:
            probs = self._dropout_layer(probs, training=training)
        return ops.einsum(self._combine_equation, probs, value)

    # -------------------------------------------------------------- shapes
    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        value_shape = query_shape if value_shape is None else value_shape
        return super().compute_output_shape(query_shape, value_shape, key_shape)

    def _maps_spec(self, query, value):
        shape = (query.shape[0], self.num_heads, query.shape[1], value.shape[1])
        return keras.KerasTensor(shape, dtype="float32")

    def compute_output_spec(
        self,
        query,
        value=None,
        key=None,
        frame_mask=None,
        value_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        value = query if value is None else value
        shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if return_attention_scores:
            return output, self._maps_output_spec(query, value)
        return output

    def _maps_output_spec(self, query, value):
        return self._maps_spec(query, value)
