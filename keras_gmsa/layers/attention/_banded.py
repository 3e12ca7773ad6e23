"""Local attention in time and memory linear in T (private).

Dense masked attention builds ``(B, H, T, T)`` scores and throws most of
them away: a local head of width W uses about ``2W + 1`` of the T keys of a
row. The functions here compute the same probabilities from the keys that
can be allowed only:

- ``bd<W>``: the frames are cut into blocks of W; attention stays inside a
  block, so the scores are ``(B, T/W, H, W, W)``.
- ``tp<W>``: the frames are cut into chunks of ``C >= W``; a query of chunk
  n can only see keys of chunks n - 1, n and n + 1, so each chunk attends
  to ``3C`` keys through a fixed band mask: ``(B, T/C, H, C, 3C)``.
- ``td<W>/<L>``: keys ``j`` with ``(i - j) mod L == 0`` share the residue
  of ``i`` modulo L, so the frames are regrouped into L interleaved
  sequences of ``T/L`` frames each, and within one, ``|i - j| <= W`` is a
  Toeplitz band of ``floor(W / L)``: ``tp`` on each sequence.

Each returns ``(B, T, H, dv)`` contexts equal (up to float rounding) to
``softmax(scores + log mask) V`` of the dense path, with padded keys
invisible. Rows of padded queries are left for the caller to zero.
"""

import numpy as np
from keras import ops

from keras_gmsa.layers._softmax import masked_softmax

# Smallest chunk of the Toeplitz path: tiny chunks make many tiny matrix
# products; a chunk is never narrower than W.
MIN_CHUNK = 16


def _pad_frames(x, length):
    """Pads axis 1 of `x` with zeros (False) up to `length` frames."""
    extra = length - x.shape[1]
    if extra == 0:
        return x
    widths = [(0, 0)] * len(x.shape)
    widths[1] = (0, extra)
    return ops.pad(x, widths)


def _key_mask(key_mask, batch, length):
    # float32 0/1 (padding and concatenating booleans is not supported by
    # every backend); compared with 0.5 where a mask is needed.
    if key_mask is None:
        return ops.ones((batch, length), dtype="float32")
    return ops.cast(key_mask, "float32")


def _split(query, key, value, key_mask, size):
    """Pads the frames to whole chunks of `size` and splits them:
    ``(B, n, size, ...)`` queries, keys, values and float 0/1 key mask."""
    length = query.shape[1]
    chunks = -(-length // size)
    valid = _key_mask(key_mask, ops.shape(query)[0], length)

    def split(x):
        x = _pad_frames(x, chunks * size)
        return ops.reshape(x, (-1, chunks, size) + tuple(x.shape[2:]))

    return [split(x) for x in (query, key, value, valid)]


def _attend_chunks(q, k, v, mask, dropout, length):
    """Softmax attention within chunks; back to ``(B, length, H, dv)``."""
    scores = ops.einsum("bnqhd,bnkhd->bnhqk", q, k)
    probs = masked_softmax(scores, mask, zero_empty_rows=False)
    probs = ops.cast(probs, v.dtype)
    if dropout is not None:
        probs = dropout(probs)
    context = ops.einsum("bnhqk,bnkhd->bnqhd", probs, v)
    context = ops.reshape(
        context, (-1, q.shape[1] * q.shape[2]) + tuple(v.shape[3:])
    )
    return context[:, :length]


def block_diagonal(query, key, value, width, key_mask=None, dropout=None):
    """``bd<width>`` attention. query/key ``(B, T, H, d)``, value
    ``(B, T, H, dv)``, key_mask ``(B, T)`` bool; returns ``(B, T, H, dv)``.
    """
    q, k, v, valid = _split(query, key, value, key_mask, width)
    mask = ops.greater(valid[:, :, None, None, :], 0.5)
    return _attend_chunks(q, k, v, mask, dropout, query.shape[1])


def toeplitz(query, key, value, width, key_mask=None, dropout=None):
    """``tp<width>`` attention, shapes as `block_diagonal`."""
    chunk = max(width, MIN_CHUNK)
    q, k, v, valid = _split(query, key, value, key_mask, chunk)

    def neighbours(x):
        # (B, n, C, ...) -> (B, n, 3C, ...): chunks n - 1, n, n + 1, with
        # zero chunks beyond both ends.
        widths = [(0, 0)] * len(x.shape)
        widths[1] = (1, 1)
        x = ops.pad(x, widths)
        return ops.concatenate([x[:, :-2], x[:, 1:-1], x[:, 2:]], axis=2)

    k, v, valid = neighbours(k), neighbours(v), neighbours(valid)
    # Query c of a chunk sits at offset C + c of its 3C keys.
    offsets = np.arange(chunk)[:, None] + chunk - np.arange(3 * chunk)[None]
    band = np.abs(offsets) <= width  # (C, 3C), constant
    mask = ops.logical_and(ops.greater(valid[:, :, None, None, :], 0.5), band)
    return _attend_chunks(q, k, v, mask, dropout, query.shape[1])


def toeplitz_dilated(
    query, key, value, width, dilation, key_mask=None, dropout=None
):
    """``td<width>/<dilation>`` attention, shapes as `block_diagonal`."""
    length = query.shape[1]
    if dilation == 1:
        return toeplitz(query, key, value, width, key_mask, dropout)
    groups = -(-length // dilation)
    padded = groups * dilation
    valid = _key_mask(key_mask, ops.shape(query)[0], length)

    def interleave(x):
        # (B, T, ...) -> (B * L, T / L, ...): frame m * L + r goes to
        # sequence r, position m.
        x = _pad_frames(x, padded)
        rest = tuple(x.shape[2:])
        x = ops.reshape(x, (-1, groups, dilation) + rest)
        x = ops.moveaxis(x, 2, 1)
        return ops.reshape(x, (-1, groups) + rest)

    context = toeplitz(
        interleave(query),
        interleave(key),
        interleave(value),
        width // dilation,
        interleave(valid),
        dropout,
    )
    rest = tuple(value.shape[2:])
    context = ops.reshape(context, (-1, dilation, groups) + rest)
    context = ops.moveaxis(context, 1, 2)
    context = ops.reshape(context, (-1, padded) + rest)
    return context[:, :length]


def local_context(query, key, value, spec, key_mask=None, dropout=None):
    """Dispatches one `MaskSpec` to its linear-time path."""
    if spec.kind == "bd":
        return block_diagonal(query, key, value, spec.W, key_mask, dropout)
    if spec.kind == "tp":
        return toeplitz(query, key, value, spec.W, key_mask, dropout)
    if spec.kind == "td":
        return toeplitz_dilated(
            query, key, value, spec.W, spec.L, key_mask, dropout
        )
    raise ValueError(f"No banded path for mask {spec}.")
