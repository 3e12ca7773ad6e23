"""The structural masks of a GMSA attention call, and their forms (private).

The structure of a map is what its heads may attend to whatever the
padding: the per-head `MaskSpec` (BD, TP, TD or global), ANDed with Keras'
sliding window (``|i - j| < n``) and the causal mask. For a length known
when the call is traced it is a NumPy constant, folded into the graph on
every backend; for a length known at run time a tensor.
"""

import numpy as np
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._softmax import LARGE_NEGATIVE


def structure(specs, sliding_window, causal, length, key_length):
    """bool structure of one kind of map.

    Args:
        specs: per-head `MaskSpec`s (the local maps), or None (the global
            maps: window and causal mask only).
        sliding_window: Keras' ``sliding_window`` (None: no window).
        causal: AND the causal mask ``j <= i``.
        length, key_length: T and S, Python ints (NumPy result) or scalar
            tensors (a tensor result).

    Returns:
        ``(H, T, S)`` (local) or ``(1, T, S)`` (global), or None when there
        is nothing to mask.
    """
    static = isinstance(length, int) and isinstance(key_length, int)
    if static:
        xp = np
        i = np.arange(length)[:, None]
        j = np.arange(key_length)[None, :]
    else:
        xp = ops
        i = ops.expand_dims(ops.arange(length, dtype="int32"), 1)
        j = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    layer = None
    if sliding_window is not None:
        layer = xp.less(xp.abs(i - j), sliding_window)
    if causal:
        lower = xp.greater_equal(i, j)
        layer = lower if layer is None else xp.logical_and(layer, lower)
    if specs is None:
        return None if layer is None else xp.expand_dims(layer, 0)
    full = xp.ones((length, key_length), dtype="bool")
    heads = []
    for spec in specs:
        head = None
        if not spec.is_global:
            head = masks_lib._neighbourhood(spec, i, j, xp)
        if layer is not None:
            head = layer if head is None else xp.logical_and(head, layer)
        heads.append(full if head is None else head)
    return xp.stack(heads, axis=0)


class AttentionMasks:
    """The masks of one attention call, in the forms the paths use.

    Attributes:
        pad: bool, broadcastable to ``(B, H, T, S)``: padding and user
            masks (and the sliding window and causal masks when they are
            not in `structure`), or None.
        key_padding: True when `pad` is a key mask ``(B, 1, 1, S)`` of a
            self-attention call: every real query row then has an allowed
            key (its own frame).
        structure: bool ``(H | 1, T, S)`` NumPy constant or tensor of the
            global maps (window and causal), or None.
        local: the same for the local maps (per-head specs, window and
            causal), or None when every local map is global.
    """

    def __init__(self, pad, key_padding, structure, local, cache=None):
        self.pad = pad
        self.key_padding = key_padding
        self.structure = structure
        self.local = local
        # The layer's cache of additive forms, so that a static structure
        # is turned into its float32 bias once, not on every call.
        self._cache = {} if cache is None else cache

    def _additive(self, structure):
        key = ("bias", id(structure))
        if key not in self._cache:
            # (The structure is kept with its bias: its id stays its own.)
            self._cache[key] = (
                structure,
                np.where(structure, 0.0, LARGE_NEGATIVE).astype("float32"),
            )
        return self._cache[key][1]

    def merged(self, which):
        """``pad`` AND the ``"global"`` or ``"local"`` structure."""
        structure = self.structure if which == "global" else self.local
        if structure is None:
            return self.pad
        structure = ops.expand_dims(ops.convert_to_tensor(structure), 0)
        if self.pad is None:
            return structure
        return ops.logical_and(self.pad, structure)

    def structure_bias(self, which):
        """NumPy float32 ``(H | 1, T, S)`` additive form of a static
        structure (0 allowed, -1e9 not), or None."""
        structure = self.structure if which == "global" else self.local
        if not isinstance(structure, np.ndarray):
            return None
        return self._additive(structure)

    def key_bias(self, scores):
        """float32 ``(B, 1, 1, S)`` of a key-padding mask (zeros without)."""
        if self.pad is None:
            return ops.zeros((1, 1, 1, scores.shape[-1]), "float32")
        return ops.cast(ops.where(self.pad, 0.0, LARGE_NEGATIVE), "float32")

    def bias(self, which):
        """float32 additive form of `merged` for the fast path."""
        structure = self.structure if which == "global" else self.local
        parts = []
        if self.pad is not None:
            parts.append(
                ops.cast(ops.where(self.pad, 0.0, LARGE_NEGATIVE), "float32")
            )
        if structure is not None:
            if isinstance(structure, np.ndarray):
                parts.append(self._additive(structure))
            else:
                parts.append(
                    ops.cast(
                        ops.where(structure, 0.0, LARGE_NEGATIVE), "float32"
                    )
                )
        if not parts:
            return None
        total = parts[0]
        for part in parts[1:]:
            total = ops.add(total, part)
        return total
