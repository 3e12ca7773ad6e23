"""Deterministic splits of a record pattern by video id.

The GMSA paper (sec. 3) holds out 32,000 videos of the official validate
split for validation and reports the rest as its test set. A split by a
hash of the video id reproduces such a protocol on the released files:
every host, every run and every shard order agree on which videos are in
which part, with no list of ids to ship.

A video is in the *holdout* part when ``hash(id) mod 10^6 <
round(fraction * 10^6)``, where the hash is FarmHash's Fingerprint64 of the
id's UTF-8 bytes (TensorFlow's ``tf.strings.to_hash_bucket_fast``,
documented as never changing) and ``round`` is Python's; the *rest* is
every other video. With ``fraction = 32000 / N`` on a validate split of N
videos, the holdout holds about 32,000 of them (binomially spread: the hash
fixes which videos, not exactly how many).

This is a published protocol: users' validation sets depend on it.
tests/data/test_id_split.py pins ids with their buckets and parts; no
change may move them.

Specs are written ``"holdout:0.03"`` or ``"rest:0.03"`` (the command line's
``--validation-id-split`` and ``--id-split``).
"""

import dataclasses

PARTS = ("holdout", "rest")
BUCKETS = 1_000_000


@dataclasses.dataclass(frozen=True)
class IdSplit:
    """One part of a split by video id.

    Attributes:
        part: ``"holdout"`` (the fraction) or ``"rest"`` (its complement).
        fraction: the holdout's share of all ids, in (0, 1).
    """

    part: str
    fraction: float

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(
                f"An id split's part must be one of {PARTS}; got {self.part!r}."
            )
        fraction = self.fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0.0 < fraction < 1.0
        ):
            raise ValueError(
                "An id split's fraction must be a number in (0, 1); got "
                f"{fraction!r}."
            )
        object.__setattr__(self, "fraction", float(fraction))

    def __str__(self):
        return f"{self.part}:{self.fraction:g}"

    def contains(self, ids):
        """Bool tensor: which of the string tensor `ids` are in this part."""
        import tensorflow as tf

        threshold = round(self.fraction * BUCKETS)
        buckets = tf.strings.to_hash_bucket_fast(ids, BUCKETS)
        holdout = buckets < threshold
        return holdout if self.part == "holdout" else tf.logical_not(holdout)


def parse_id_split(spec):
    """``"holdout:0.03"`` (or an `IdSplit`, or None) -> `IdSplit` / None."""
    if spec is None or isinstance(spec, IdSplit):
        return spec
    text = str(spec).strip()
    part, sep, fraction = text.partition(":")
    try:
        value = float(fraction)
    except ValueError:
        value = None
    if not sep or value is None:
        raise ValueError(
            f"An id split is written PART:FRACTION with PART one of "
            f"{PARTS}, e.g. 'holdout:0.03'; got {spec!r}."
        )
    return IdSplit(part.strip(), value)


def in_split(ids, spec):
    """NumPy bool array: which video ids (str or bytes) `spec` selects."""
    import tensorflow as tf

    split = parse_id_split(spec)
    ids = [i.encode() if isinstance(i, str) else bytes(i) for i in ids]
    return split.contains(tf.constant(ids, tf.string)).numpy()
