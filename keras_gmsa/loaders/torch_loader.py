"""A `Reading` as a PyTorch `DataLoader` (Keras' `fit` takes it).

Worker processes: each worker parses every ``num_workers``-th chunk
(`torch.utils.data.get_worker_info`); the DataLoader takes the workers'
outputs in turn, which is the chunks' order, and the examples are batched
again in the process that iterates (`Reading.batches`). Numeric arrays
travel as tensors (PyTorch's shared memory) and come out as tensors.
"""

import numpy as np
import torch

from keras_gmsa.loaders.reading import Reading


def _to_torch(columns):
    return {
        k: v if v.dtype == object else torch.from_numpy(v)
        for k, v in columns.items()
    }


def _to_numpy(columns):
    return {
        k: v if isinstance(v, np.ndarray) else v.numpy()
        for k, v in columns.items()
    }


def _as_is(item):
    return item


class ChunkDataset(torch.utils.data.IterableDataset):
    """The parsed chunks of a `Reading`, each worker its share."""

    def __init__(self, reading, seed):
        super().__init__()
        self.reading = reading
        self.seed = seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (
            (0, 1) if info is None else (info.id, info.num_workers)
        )
        for columns, counts in self.reading.chunks(self.seed, worker, workers):
            yield _to_torch(columns), counts


class RecordLoader(torch.utils.data.DataLoader):
    """Batches ``(features, labels[, ids])`` of native records as torch
    tensors (ids: a NumPy array of bytes), with ``read_stats``."""

    def __init__(self, reading: Reading, seed, stats, num_workers=0):
        super().__init__(
            ChunkDataset(reading, seed),
            batch_size=None,
            num_workers=num_workers,
            collate_fn=_as_is,
            # Not fork: JAX and TensorFlow run threads a forked child
            # would inherit half-way (deadlocks).
            multiprocessing_context="forkserver" if num_workers else None,
        )
        self.reading = reading
        self.read_stats = stats

    def __iter__(self):
        parsed = (
            (_to_numpy(columns), counts)
            for columns, counts in super().__iter__()
        )
        for element in self.reading.batches(parsed, self.read_stats):
            yield tuple(
                _to_torch(part)
                if isinstance(part, dict)
                else (part if part.dtype == object else torch.from_numpy(part))
                for part in element
            )
