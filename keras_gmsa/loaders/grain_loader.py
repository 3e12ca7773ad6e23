"""A `Reading` as a Grain `IterDataset` (JAX users; Keras' `fit` takes it).

Worker processes: ``mp_prefetch`` gives each worker a slice of the
chunks (`set_slice`), and Grain interleaves the workers' outputs in turn,
which is the chunks' order; the examples are batched again in the
process that iterates (`Reading.batches`).
"""

import grain

from keras_gmsa.loaders.reading import Reading


class _ChunkIterator(grain.DatasetIterator):
    def __init__(self, reading, seed, worker, workers):
        super().__init__()
        self._args = (reading, seed, worker, workers)
        self._delivered = 0
        self._chunks = reading.chunks(seed, worker, workers)

    def __next__(self):
        item = next(self._chunks)
        self._delivered += 1
        return item

    def get_state(self):
        return {"chunks": self._delivered}

    def set_state(self, state):
        reading, seed, worker, workers = self._args
        self._chunks.close()
        # Chunk number k of this worker is chunk worker + k * workers.
        start = worker + state["chunks"] * workers
        self._chunks = reading.chunks(seed, worker, workers, start)
        self._delivered = state["chunks"]


class ChunkDataset(grain.IterDataset):
    """The parsed chunks of a `Reading` (those of one worker's slice)."""

    def __init__(self, reading, seed):
        super().__init__()
        self.reading = reading
        self.seed = seed
        self.worker, self.workers = 0, 1

    def set_slice(self, sl, sequential_slice=False):
        # Called by mp_prefetch in each worker: slice(i, None, n).
        self.worker = sl.start or 0
        self.workers = sl.step or 1

    def __iter__(self):
        return _ChunkIterator(
            self.reading, self.seed, self.worker, self.workers
        )


class _BatchIterator(grain.DatasetIterator):
    def __init__(self, parent, reading, stats):
        super().__init__(parent)
        self._batches = reading.batches(parent, stats)

    def __next__(self):
        return next(self._batches)

    def get_state(self):
        # Batches are cut again from the chunks: a restored iterator
        # starts at the chunk after the last one taken.
        return self._parent.get_state()

    def set_state(self, state):
        self._parent.set_state(state)


class RecordDataset(grain.IterDataset):
    """Batches ``(features, labels[, ids])`` of native records, as
    `keras_gmsa.data`'s readers yield them, with ``read_stats``."""

    def __init__(self, parent, reading, stats):
        super().__init__(parent)
        self.reading = reading
        self.read_stats = stats

    def __iter__(self):
        return _BatchIterator(
            self._parent.__iter__(), self.reading, self.read_stats
        )


def grain_dataset(reading: Reading, seed, stats, num_workers=0):
    """The Grain dataset of `reading`, parsed in `num_workers` worker
    processes (0: in the iterating process)."""
    chunks = ChunkDataset(reading, seed)
    if num_workers > 0:
        from absl import flags

        # Grain's worker processes read its absl flags, which a program
        # that is not an absl app never parses: their defaults.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        chunks = chunks.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=num_workers)
        )
    return RecordDataset(chunks, reading, stats)
