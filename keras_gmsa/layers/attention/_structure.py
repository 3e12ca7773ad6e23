"""The masks of one GMSA attention call, in the forms its paths use
(private).

Two kinds of mask meet in a call. The *structure* of the local maps is the
per-head `MaskSpec` (BD, TP, TD or global): what a head may attend to
whatever the padding, a NumPy constant for lengths known when the call is
traced (folded into the graph on every backend), a tensor otherwise. The
*attention mask* is what `_compute_attention` receives, Keras' merge of
the padding, user, causal and window masks; a ``(B, 1, 1, S)`` mask is the
key padding of a self-attention call (see `GMSAAttention.call`).
"""

import numpy as np
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._softmax import LARGE_NEGATIVE


def over_heads(mask):
    """A bool ``(T, S)``, ``(B, T, S)`` or ``(B, H, T, S)`` mask as one
    broadcastable to ``(B, H, T, S)``."""
    mask = ops.cast(mask, "bool")
    if len(mask.shape) == 4:
        return mask
    while len(mask.shape) < 3:
        mask = ops.expand_dims(mask, 0)
    return ops.expand_dims(mask, 1)


def is_key_mask(mask):
    """Whether an attention mask is None or ``(B, 1, 1, S)``: the key
    padding of a self-attention call."""
    return mask is None or (
        len(mask.shape) == 4 and mask.shape[1] == 1 and mask.shape[2] == 1
    )


def local_structure(specs, length, key_length):
    """bool ``(H, T, S)`` structure of the local maps, or None when every
    head is global: NumPy for Python int lengths, a tensor otherwise."""
    if all(spec.is_global for spec in specs):
        return None
    if isinstance(length, int) and isinstance(key_length, int):
        return masks_lib.head_masks(specs, length, key_length)
    return masks_lib.head_masks_symbolic(specs, length, key_length)


def additive(mask):
    """float32 additive form of a bool mask: 0 allowed, -1e9 not."""
    if isinstance(mask, np.ndarray):
        return np.where(mask, 0.0, LARGE_NEGATIVE).astype("float32")
    return ops.cast(ops.where(mask, 0.0, LARGE_NEGATIVE), "float32")


class AttentionMasks:
    """The masks of one attention call.

    Attributes:
        mask: the call's attention mask broadcastable to ``(B, H, T, S)``
            (padding, user, causal and window masks), or None.
        key_mask_only: `mask` is None or the key padding of a
            self-attention call: every real query row has an allowed key
            in every head (its own frame), so an additive mask needs no
            pass that zeroes empty rows.
        local: bool ``(H, T, S)`` structure of the local maps (NumPy when
            `static`), or None when every local map is global.
        static: the local structure is known when the call is traced.
    """

    def __init__(self, mask, local, local_bias=None):
        self.key_mask_only = is_key_mask(mask)
        self.mask = None if mask is None else over_heads(mask)
        self.local = local
        self.static = local is None or isinstance(local, np.ndarray)
        self._local_bias = local_bias

    def merged(self, which):
        """`mask` AND the ``"global"`` (nothing more) or ``"local"``
        structure, for the boolean path."""
        if which == "global" or self.local is None:
            return self.mask
        local = ops.expand_dims(ops.convert_to_tensor(self.local), 0)
        return local if self.mask is None else ops.logical_and(self.mask, local)

    def key_bias(self, scores):
        """float32 ``(B, 1, 1, S)`` form of a key mask (zeros without)."""
        if self.mask is None:
            return ops.zeros((1, 1, 1, scores.shape[-1]), "float32")
        return additive(self.mask)

    def local_bias(self):
        """float32 ``(H, T, S)`` additive form of the local structure (a
        NumPy constant when static), or None."""
        if self.local is None:
            return None
        if self._local_bias is None:
            self._local_bias = additive(self.local)
        return self._local_bias

    def bias(self, which):
        """The additive mask of the ``"global"`` or ``"local"`` maps of a
        key-mask-only call: key padding plus the local structure."""
        parts = []
        if self.mask is not None:
            parts.append(additive(self.mask))
        if which == "local" and self.local is not None:
            parts.append(self.local_bias())
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ops.add(parts[0], parts[1])
