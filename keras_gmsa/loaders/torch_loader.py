"""A `Reading` as a PyTorch `DataLoader` (Keras' `fit` takes it).

Worker processes: each worker parses every ``num_workers``-th chunk
(`torch.utils.data.get_worker_info`); the DataLoader takes the workers'
outputs in turn, which is the chunks' order, and the examples are batched
again in the process that iterates (`Reading.batches`). Numeric arrays
travel as tensors (PyTorch's shared memory) and come out as tensors.
"""

import multiprocessing
from multiprocessing import forkserver

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


def _worker_context():
    """The workers' start method: forkserver, whose server imports this
    module (and so Keras and the backend) once.

    Not fork: JAX and TensorFlow run threads a forked child would inherit
    half-way (deadlocks). A worker started from a bare server imports
    Keras and its backend before it parses a record, seconds each time,
    and a `DataLoader` starts its workers again at every iteration, that
    is every epoch of `fit` (its validation interval) and every
    evaluation. Forked from the preloaded server, a worker starts in a
    fraction of a second. The module is added to the server's preload
    list (``__main__`` by default, as `multiprocessing` has it); the list
    takes effect when the process's forkserver starts, so a server
    already running (started by other code) is used as it is.

    The list is the process's: other forkserver users in the same process
    (a ``ProcessPoolExecutor`` with that start method; on Python 3.14, a
    plain ``multiprocessing.Pool`` on Linux) get a server that has
    imported keras_gmsa, Keras and the backend too, and that server holds
    them for the life of the process.
    """
    context = multiprocessing.get_context("forkserver")
    # The list's only reader is private (stable since Python 3.4); its
    # default is ["__main__"].
    preload = list(
        getattr(forkserver._forkserver, "_preload_modules", ["__main__"])
    )
    if __name__ not in preload:
        context.set_forkserver_preload(preload + [__name__])
    return context


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
            multiprocessing_context=_worker_context() if num_workers else None,
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
