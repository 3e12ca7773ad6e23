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

from keras_gmsa.layers._gmsa_attention import masked_softmax

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


def block_diagonal(query, key, value, width, key_mask=None, dropout=None):
    """``bd<width>`` attention. query/key ``(B, T, H, d)``, value
    ``(B, T, H, dv)``, key_mask ``(B, T)`` bool; returns ``(B, T, H, dv)``.
    """
    length = query.shape[1]
    blocks = -(-length // width)
    padded = blocks * width
    valid = _key_mask(key_mask, ops.shape(query)[0], length)
    q, k, v = (_pad_frames(x, padded) for x in (query, key, value))
    valid = _pad_frames(valid, padded)

    def split(x):
        return ops.reshape(x, (-1, blocks, width) + tuple(x.shape[2:]))

    q, k, v, valid = split(q), split(k), split(v), split(valid)
    scores = ops.einsum("bnqhd,bnkhd->bnhqk", q, k)
    probs = masked_softmax(
        scores,
        ops.greater(valid[:, :, None, None, :], 0.5),
        zero_empty_rows=False,
    )
    probs = ops.cast(probs, value.dtype)
    if dropout is not None:
        probs = dropout(probs)
    context = ops.einsum("bnhqk,bnkhd->bnqhd", probs, v)
    context = ops.reshape(context, (-1, padded) + tuple(value.shape[2:]))
    return context[:, :length]


def toeplitz(query, key, value, width, key_mask=None, dropout=None):
    """``tp<width>`` attention, shapes as `block_diagonal`."""
    length = query.shape[1]
    chunk = max(width, MIN_CHUNK)
    chunks = -(-length // chunk)
    padded = chunks * chunk
    valid = _key_mask(key_mask, ops.shape(query)[0], length)
    q, k, v = (_pad_frames(x, padded) for x in (query, key, value))
    valid = _pad_frames(valid, padded)

    def split(x):
        return ops.reshape(x, (-1, chunks, chunk) + tuple(x.shape[2:]))

    def neighbours(x):
        # (B, n, C, ...) -> (B, n, 3C, ...): chunks n - 1, n, n + 1, with
        # zero (False) chunks beyond both ends.
        widths = [(0, 0)] * len(x.shape)
        widths[1] = (1, 1)
        x = ops.pad(x, widths)
        return ops.concatenate([x[:, :-2], x[:, 1:-1], x[:, 2:]], axis=2)

    q = split(q)
    k, v, valid = (neighbours(split(x)) for x in (k, v, valid))
    # Query c of a chunk sits at offset C + c of its 3C keys.
    offsets = np.arange(chunk)[:, None] + chunk - np.arange(3 * chunk)[None]
    band = np.abs(offsets) <= width  # (C, 3C), constant
    scores = ops.einsum("bnqhd,bnkhd->bnhqk", q, k)
    mask = ops.logical_and(ops.greater(valid[:, :, None, None, :], 0.5), band)
    probs = masked_softmax(scores, mask, zero_empty_rows=False)
    probs = ops.cast(probs, value.dtype)
    if dropout is not None:
        probs = dropout(probs)
    context = ops.einsum("bnhqk,bnkhd->bnqhd", probs, v)
    context = ops.reshape(context, (-1, padded) + tuple(value.shape[2:]))
    return context[:, :length]


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
