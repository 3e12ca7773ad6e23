"""The masked softmax of every attention in the package (private).

Computed in float32 with masked entries exactly 0, so a row whose every
key is masked (a padded frame, a zero-frame video) is all zeros on every
backend and dtype policy: never NaN, never a mean of the values.
"""

from keras import ops

# Additive mask value: exp(-1e9 - max) underflows to exactly 0 in float32.
LARGE_NEGATIVE = -1e9


def masked_softmax(scores, mask, bias=None, zero_empty_rows=True):
    """Softmax over the last axis in float32; masked entries are exactly 0.

    Args:
        scores: ``(..., T, S)`` logits, any float dtype.
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
    probs = ops.softmax(ops.where(mask, scores, LARGE_NEGATIVE), axis=-1)
    if not zero_empty_rows:
        return probs
    return ops.where(mask, probs, ops.zeros_like(probs))
