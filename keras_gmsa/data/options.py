"""The options every reader of native records shares.

`frame_dataset`, `video_dataset` and `segment_dataset` take these as
keyword arguments (or one `ReaderOptions` as ``options=``); what is
particular to a layout (features, frame counts, segments) stays in the
reader's own signature.
"""

import dataclasses
import numbers

from keras_gmsa.data.id_split import IdSplit
from keras_gmsa.data.id_split import parse_id_split

ON_ERROR = ("raise", "skip")


@dataclasses.dataclass(frozen=True)
class ReaderOptions:
    """How records are read, whatever their layout.

    Attributes:
        batch_size: examples per batch.
        shuffle: shuffle the order of the shards and of the records.
        shuffle_buffer: records in the shuffle buffer.
        seed: seed of the shuffles: with a seed every read of the
            dataset yields the same order, in every run (each pass of a
            repeated dataset in a new order); None: a new order each
            read.
        repeat: True for an endless dataset, or a number of passes.
        deterministic: keep a reproducible order (None: unless shuffling
            without a seed; False trades the seeded order for speed).
        drop_remainder: drop the last partial batch.
        with_ids: yield ``(features, labels, ids)`` (for prediction files;
            do not pass those to `fit`).
        on_error: ``"raise"``: a bad record stops the pipeline with an
            error naming its file and index; ``"skip"``: it is dropped and
            counted in the reader's `ReadStats`.
        id_split: read one part of a deterministic split by video id, an
            `IdSplit` or ``"holdout:FRACTION"`` / ``"rest:FRACTION"``.
        cycle_length: shards read concurrently.
        prefetch: prefetch batches (to the GPU when TensorFlow trains on
            one).
    """

    batch_size: int = 64
    shuffle: bool = False
    shuffle_buffer: int = 2048
    seed: int | None = None
    repeat: bool | int = False
    deterministic: bool | None = None
    drop_remainder: bool = False
    with_ids: bool = False
    on_error: str = "raise"
    id_split: IdSplit | str | None = None
    cycle_length: int = 8
    prefetch: bool = True

    def __post_init__(self):
        if self.on_error not in ON_ERROR:
            raise ValueError(
                f"on_error must be 'raise' or 'skip'. Received "
                f"{self.on_error!r}."
            )
        for name in ("batch_size", "shuffle_buffer", "cycle_length"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < 1
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer. Received {value!r}."
                )
        if self.seed is not None and (
            not isinstance(self.seed, numbers.Integral)
            or isinstance(self.seed, bool)
        ):
            raise ValueError(
                f"`seed` must be an integer or None. Received {self.seed!r}."
            )
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))
        if not isinstance(self.repeat, (bool, numbers.Integral)) or (
            not isinstance(self.repeat, bool) and self.repeat < 1
        ):
            raise ValueError(
                "`repeat` must be True (endless), False or a positive number "
                f"of passes. Received {self.repeat!r}."
            )
        object.__setattr__(self, "id_split", parse_id_split(self.id_split))
        if self.deterministic is None:
            object.__setattr__(
                self,
                "deterministic",
                not self.shuffle or self.seed is not None,
            )

    @property
    def filtered(self):
        """Whether records are dropped after parsing (then re-batched)."""
        return self.on_error == "skip" or self.id_split is not None


def reader_options(options=None, defaults=None, **kwargs):
    """A `ReaderOptions` from ``options=`` and/or keyword arguments
    (keywords win), over a reader's own `defaults`."""
    fields = {f.name for f in dataclasses.fields(ReaderOptions)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(
            f"Unknown reader option(s) {unknown}. Reader options: "
            f"{', '.join(sorted(fields))}."
        )
    base = dict(defaults or {})
    if options is not None:
        base.update(dataclasses.asdict(options))
    base.update(kwargs)
    return ReaderOptions(**base)
