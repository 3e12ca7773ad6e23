"""Structural attention masks of GMSA and their compact spec syntax.

A mask is a boolean matrix ``M[i, j]`` over query frame ``i`` and key frame
``j`` (both counted from 0): True means frame ``i`` may attend to frame ``j``.
The paper (Sahu and Goyal, "Leveraging local temporal information for
multimodal scene classification", eq. 5-6 and Fig. 2) defines three local
neighbourhoods ``N_i``:

- ``BD_W``, block diagonal: ``floor(i / W) == floor(j / W)``; the video is cut
  into non-overlapping segments of W frames.
- ``TP_W``, Toeplitz: ``|i - j| <= W``; 2W + 1 frames centred on ``i``.
- ``TD_W^L``, Toeplitz dilated: ``|i - j| <= W`` and ``(i - j) mod L == 0``;
  every L-th frame of the 2W + 1 neighbourhood.

Spec syntax (case-insensitive, spaces ignored):

=================  ==========================================
``"global"``       every frame attends to every frame (also ``None``)
``"bd20"``         block diagonal, W = 20
``"tp30"``         Toeplitz, W = 30
``"td60/4"``       Toeplitz dilated, W = 60, L = 4
=================  ==========================================

``"bd"``, ``"tp"`` and ``"td"`` alone name a mask *kind*; models expand a
kind into the paper's defaults (see `PAPER_HEAD_MASKS`).
"""

import dataclasses
import re

import numpy as np
from keras import ops

KINDS = ("global", "bd", "tp", "td")

# The paper's per-head local masks for ShareAtt (section 3): four local heads.
PAPER_HEAD_MASKS = {
    "bd": ("bd10", "bd20", "bd30", "bd60"),
    "tp": ("tp10", "tp30", "tp60", "tp80"),
    "td": ("td10/2", "td30/3", "td60/4", "td80/5"),
}

_SPEC_RE = re.compile(r"^(bd|tp|td)(\d+)(?:/(\d+))?$")
_ALLOWED = (
    "'global' (or None), 'bd<W>', 'tp<W>' or 'td<W>/<L>' with integers "
    "W >= 1 and 1 <= L <= W, e.g. 'bd20', 'tp30', 'td60/4'"
)


@dataclasses.dataclass(frozen=True)
class MaskSpec:
    """One attention neighbourhood: ``kind`` in KINDS, width W, dilation L.

    Build one with `parse_mask_spec`; ``str(spec)`` gives the canonical spec
    string back (``"td60/4"``), which is what layer configs store.
    """

    kind: str
    W: int | None = None
    L: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"Unknown mask kind {self.kind!r}. Allowed kinds: {KINDS}."
            )
        if self.kind == "global":
            if self.W is not None or self.L is not None:
                raise ValueError(
                    "A global mask takes no W or L. "
                    f"Received W={self.W}, L={self.L}."
                )
            return
        if not isinstance(self.W, (int, np.integer)) or self.W < 1:
            raise ValueError(
                f"Mask {self.kind!r} needs an integer W >= 1. "
                f"Received W={self.W!r}. Allowed: {_ALLOWED}."
            )
        if self.kind == "td":
            if not isinstance(self.L, (int, np.integer)) or self.L < 1:
                raise ValueError(
                    f"Mask 'td' needs an integer L >= 1. Received "
                    f"L={self.L!r}. Allowed: {_ALLOWED}."
                )
            if self.L > self.W:
                raise ValueError(
                    f"Mask 'td{self.W}/{self.L}' has L > W: every frame would "
                    f"see only itself. Allowed: {_ALLOWED}."
                )
        elif self.L is not None:
            raise ValueError(
                f"Only 'td' masks take a dilation L; received L={self.L} for "
                f"{self.kind!r}. Allowed: {_ALLOWED}."
            )

    @property
    def is_global(self):
        return self.kind == "global"

    def __str__(self):
        if self.kind == "global":
            return "global"
        if self.kind == "td":
            return f"td{self.W}/{self.L}"
        return f"{self.kind}{self.W}"

    def check_length(self, length):
        """Raises ValueError if this mask is meaningless for `length` frames.

        A block as long as the video, or a Toeplitz band covering every frame,
        is global attention under another name; asking for it is almost
        always a mistake (for example paper masks with a tiny ``max_frames``).
        """
        if length is None or self.kind == "global":
            return
        if self.kind == "bd" and self.W >= length:
            raise ValueError(
                f"Mask '{self}' makes one block of {self.W} >= T={length} "
                "frames, which is global attention. Use W < T, or 'global'."
            )
        if self.kind == "tp" and self.W >= length - 1:
            raise ValueError(
                f"Mask '{self}' covers 2W+1 = {2 * self.W + 1} frames, every "
                f"frame of T={length}: that is global attention. Use W < "
                f"{length - 1}, or 'global'."
            )
        if self.kind == "td" and self.L == 1 and self.W >= length - 1:
            raise ValueError(
                f"Mask '{self}' with L=1 covers every frame of T={length}: "
                "that is global attention. Use a smaller W, or 'global'."
            )


def parse_mask_spec(spec):
    """Turns a spec (string, `MaskSpec` or None) into a `MaskSpec`.

    Args:
        spec: ``None`` or ``"global"``, ``"bd<W>"``, ``"tp<W>"``,
            ``"td<W>/<L>"``, or a `MaskSpec`.

    Returns:
        A validated `MaskSpec`.

    Raises:
        ValueError: for anything else, naming the allowed forms.

    Example:
    >>> str(parse_mask_spec("TD60/4"))
    'td60/4'
    """
    if spec is None:
        return MaskSpec("global")
    if isinstance(spec, MaskSpec):
        return spec
    if not isinstance(spec, str):
        raise ValueError(
            f"A mask spec must be a string or None. Received {spec!r}. "
            f"Allowed: {_ALLOWED}."
        )
    text = spec.strip().lower().replace(" ", "")
    if text in ("global", "none", "full"):
        return MaskSpec("global")
    match = _SPEC_RE.match(text)
    if match is None:
        raise ValueError(f"Unknown mask spec {spec!r}. Allowed: {_ALLOWED}.")
    kind, w, l_ = match.groups()
    if kind == "td" and l_ is None:
        raise ValueError(
            f"Mask spec {spec!r} needs a dilation: write 'td{w}/<L>'. "
            f"Allowed: {_ALLOWED}."
        )
    if kind != "td" and l_ is not None:
        raise ValueError(
            f"Mask spec {spec!r}: only 'td' masks take '/<L>'. "
            f"Allowed: {_ALLOWED}."
        )
    return MaskSpec(kind, int(w), None if l_ is None else int(l_))


def parse_head_masks(specs, num_heads):
    """Normalises per-head specs to a tuple of `num_heads` `MaskSpec`s.

    Args:
        specs: None (all heads global), one spec for every head, or a
            list/tuple of exactly `num_heads` specs (None = global head).
        num_heads: number of attention heads.

    Returns:
        Tuple of `MaskSpec`, one per head.
    """
    if specs is None or isinstance(specs, (str, MaskSpec)):
        return (parse_mask_spec(specs),) * num_heads
    specs = tuple(specs)
    if len(specs) != num_heads:
        raise ValueError(
            f"Expected one mask spec per head ({num_heads} heads). "
            f"Received {len(specs)}: {specs!r}."
        )
    return tuple(parse_mask_spec(s) for s in specs)


def _neighbourhood(spec, i, j, xp):
    """The index rule of one mask on broadcastable index arrays i, j."""
    if spec.kind == "bd":
        return xp.equal(xp.floor_divide(i, spec.W), xp.floor_divide(j, spec.W))
    within = xp.less_equal(xp.abs(i - j), spec.W)
    if spec.kind == "tp":
        return within
    # td: (i - j) mod L == 0; Python/NumPy mod of a negative number by a
    # positive L is non-negative, so |i - j| mod L gives the same answer.
    return xp.logical_and(within, xp.equal(xp.mod(xp.abs(i - j), spec.L), 0))


def local_mask(spec, length, key_length=None, check=True):
    """Builds one structural mask as a NumPy boolean array.

    Args:
        spec: a mask spec (see module docstring).
        length: number of query frames T.
        key_length: number of key frames S (default T).
        check: refuse a local mask that covers every frame of T (see
            `MaskSpec.check_length`); analyses of short videos pass False.

    Returns:
        ``np.ndarray`` of bool, shape ``(T, S)``; True = may attend.

    Example:
    >>> local_mask("bd2", 4).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 1],
           [0, 0, 1, 1]])
    """
    spec = parse_mask_spec(spec)
    if check:
        spec.check_length(length)
    key_length = length if key_length is None else key_length
    if spec.is_global:
        return np.ones((length, key_length), dtype=bool)
    i = np.arange(length)[:, None]
    j = np.arange(key_length)[None, :]
    return _neighbourhood(spec, i, j, np)


def head_masks(specs, length, key_length=None):
    """Stacks per-head masks: bool array of shape ``(H, T, S)``."""
    return np.stack([local_mask(s, length, key_length) for s in specs])


def head_masks_symbolic(specs, length, key_length=None):
    """Like `head_masks` but for a length only known at run time.

    Uses `keras.ops`, so it works on every backend inside traced functions.
    Returns a bool tensor of shape ``(H, T, S)``.
    """
    key_length = length if key_length is None else key_length
    i = ops.expand_dims(ops.arange(length, dtype="int32"), 1)
    j = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    full = ops.ones((length, key_length), dtype="bool")
    masks = [
        full if s.is_global else _neighbourhood(s, i, j, ops) for s in specs
    ]
    return ops.stack(masks, axis=0)


def frame_mask_from_lengths(num_frames, length):
    """Boolean ``(B, T)`` mask, True on the first ``num_frames[b]`` frames."""
    num_frames = ops.reshape(ops.cast(num_frames, "int32"), (-1, 1))
    return ops.less(
        ops.expand_dims(ops.arange(length, dtype="int32"), 0), num_frames
    )
