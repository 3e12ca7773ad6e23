"""One read of a record pattern: the order of the records, their batches,
and which process parses which batch.

The order is the tf.data readers' (`keras_gmsa.data.records`): the files
of each pass (in their sorted order, or permuted per pass when shuffling),
interleaved one record at a time over ``cycle_length`` open files exactly
as ``tf.data.Dataset.interleave`` cycles them (a file that ends is
replaced, at its turn, by the next file), then, when shuffling, a shuffle
buffer of ``shuffle_buffer`` records. The records are cut into raw
batches of ``batch_size`` ("chunks"), each parsed whole (`parsers`); when
records are dropped after parsing (``on_error="skip"``, an id split) or a
video gives several examples (segments), the examples are batched again.

Unshuffled, this is the tf.data readers' order record for record, and the
batches are equal bit for bit. Shuffled, the permutations are NumPy's
(seeded from ``(seed, pass)``), not TensorFlow's Philox streams, which no
library outside TensorFlow reproduces: the same records in another order,
the same order on every read with the same seed.

Worker processes: worker ``w`` of ``n`` parses the chunks ``w, w + n,
...``; every worker walks the whole order (framing only, 12 bytes read
per record), so the chunks come back in order however many workers parse
them. Each chunk carries the counts of what its records gave (`ReadStats`).
"""

import itertools

import numpy as np

from keras_gmsa.loaders.parsers import RecordChecker
from keras_gmsa.loaders.tfrecord import Payloads
from keras_gmsa.loaders.tfrecord import RecordFileError
from keras_gmsa.loaders.tfrecord import scan_framing

_TRUNCATED = "truncated_files"
_END = object()


def interleave(paths, cycle_length, open_file):
    """``tf.data.Dataset.interleave(..., block_length=1)``'s order.

    `open_file(path)` returns an iterator of the file's records; strings
    it yields are events (counted, never a turn of the cycle)."""
    slots = [None] * cycle_length
    index, open_count, exhausted = 0, 0, False
    while not exhausted or open_count:
        slot = slots[index]
        if slot is not None:
            item = next(slot, _END)
            while isinstance(item, str):
                yield item
                item = next(slot, _END)
            if item is not _END:
                yield item
            else:
                slots[index] = None
                open_count -= 1
            index = (index + 1) % cycle_length
        elif not exhausted:
            path = next(paths, _END)
            if path is _END:
                exhausted = True
            else:
                slots[index] = open_file(path)
                open_count += 1
        else:
            index = (index + 1) % cycle_length


def shuffle_buffer(items, size, rng):
    """A shuffle buffer of `size` records (events pass straight through)."""
    buffer = []
    for item in items:
        if isinstance(item, str):
            yield item
        elif len(buffer) < size:
            buffer.append(item)
        else:
            j = int(rng.integers(size))
            yield buffer[j]
            buffer[j] = item
    while buffer:
        j = int(rng.integers(len(buffer)))
        buffer[j], buffer[-1] = buffer[-1], buffer[j]
        yield buffer.pop()


def _rng(seed, *key):
    return np.random.default_rng(
        np.random.SeedSequence(int(seed) % 2**64, spawn_key=key)
    )


class Reading:
    """The batches of `files` read as `options` say, parsed by `parser`.

    Args:
        files: the sorted file list.
        parser: a `parsers.FrameParser`, `VideoParser` or
            `segment_parser.SegmentParser`.
        options: a `keras_gmsa.data.options.ReaderOptions`.
        per_video: the parser makes several examples of a record.
        transform: a function of each batch (picklable), or None.
    """

    def __init__(self, files, parser, options, per_video=False, transform=None):
        self.transform = transform
        self.files = list(files)
        self.parser = parser
        self.options = options
        self.rebatch = options.filtered or per_video
        self.keep_id = None
        if options.id_split is not None:
            from keras_gmsa.loaders.id_split import id_predicate

            self.keep_id = id_predicate(options.id_split)
        self._framing = {}

    def _open(self, path):
        if path not in self._framing:
            self._framing[path] = scan_framing(path)
        records, problem = self._framing[path]
        if problem:
            if self.options.on_error == "raise":
                raise RecordFileError(
                    f"{problem}. Re-download the shard, or pass "
                    "on_error='skip' to read its intact records and count "
                    "it."
                )
            yield _TRUNCATED
        for index, (offset, length) in enumerate(records):
            yield (path, index, offset, length)

    def _opened(self, path):
        # Opened (scanned, raising or counting) when its turn comes, as
        # the tf.data readers open a file.
        records = self._open(path)
        first = next(records, _END)
        if first is _END:
            return iter(())
        return itertools.chain([first], records)

    def _paths(self, seed):
        options = self.options
        repeat = options.repeat
        passes = (
            itertools.count() if repeat is True else range(int(repeat or 1))
        )
        for p in passes:
            if not options.shuffle:
                yield from self.files
            else:
                order = _rng(seed, 0, p).permutation(len(self.files))
                yield from (self.files[i] for i in order)

    def records(self, seed):
        """``(file, index, offset, length)`` of every record in order,
        with ``"truncated_files"`` where a broken file was opened."""
        cycle = min(self.options.cycle_length, len(self.files))
        stream = interleave(self._paths(seed), cycle, self._opened)
        if self.options.shuffle:
            stream = shuffle_buffer(
                stream, self.options.shuffle_buffer, _rng(seed, 1)
            )
        return stream

    def _raw_chunks(self, seed):
        options = self.options
        drop = options.drop_remainder and not options.filtered
        chunk, events = [], 0
        for item in self.records(seed):
            if isinstance(item, str):
                events += 1
                continue
            chunk.append(item)
            if len(chunk) == options.batch_size:
                yield chunk, events
                chunk, events = [], 0
        if chunk and drop:
            chunk = []
        if chunk or events:
            yield chunk, events

    def chunks(self, seed, worker=0, workers=1, start=0):
        """``(columns, counts)`` of the chunks ``worker`` parses, from
        chunk number `start` on.

        `seed`: the shuffle's seed (the options' seed, or one drawn for
        this read)."""
        payloads = Payloads()
        checker = RecordChecker(self.options.on_error)
        try:
            for number, (chunk, events) in enumerate(self._raw_chunks(seed)):
                if number < start or number % workers != worker:
                    continue
                if events:
                    checker.count(_TRUNCATED, events)
                records = [
                    (path, index, payloads.read(path, index, offset, length))
                    for path, index, offset, length in chunk
                ]
                if records:
                    checker.count("records_read", len(records))
                columns = self.parser.parse(records, checker, self.keep_id)
                yield columns, checker.take()
        finally:
            payloads.close()

    def batches(self, parsed, stats):
        """Final batches ``(features, labels[, ids])`` of parsed chunks
        (in order), their counts added to `stats`."""
        options = self.options
        size = options.batch_size
        pending, held = [], 0
        for columns, counts in parsed:
            stats.merge(counts)
            rows = len(columns["_labels"])
            if not self.rebatch:
                if rows:
                    yield self.element(columns)
                continue
            if rows:
                pending.append(columns)
                held += rows
            while held >= size:
                merged = _concatenate(pending)
                yield self.element({k: v[:size] for k, v in merged.items()})
                rest = {k: v[size:] for k, v in merged.items()}
                held -= size
                pending = [rest] if held else []
        if held and not options.drop_remainder:
            yield self.element(_concatenate(pending))

    def element(self, columns):
        features = {k: columns[k] for k in self.parser.keys}
        element = (features, columns["_labels"])
        if self.options.with_ids:
            element += (columns["_id"],)
        if self.transform is not None:
            element = self.transform(element)
        return element


def _concatenate(parts):
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
