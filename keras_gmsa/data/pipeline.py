"""files -> records -> batches -> parse -> filter -> prefetch, for every
layout (the one pipeline of the readers).

Records are read as serialized strings, batched, and parsed a whole batch
at a time (`tf.io.parse_sequence_example` / `tf.io.parse_example`), so no
Python runs per record. A layout is one parser object (`FrameParser`,
`VideoParser`, `SegmentParser` of `frame.py`, `video.py`, `segment.py`),
all with the same attributes:

- ``keys``: the feature names of an element;
- ``checker``: the `checks.RecordChecker` (``on_error`` and the
  `ReadStats` its checks count in);
- ``probe(serialized)``: the parse of one record with the same types, for
  `records.record_stream` to skip records of other types;
- ``parse(files, indices, serialized)``: one batch -> a dict with
  ``_labels``, ``_id`` and ``_keep`` (False on records to skip) besides
  the features;
- ``per_video``: None, or a function of one parsed record returning a
  dataset of examples (segments: one video, several examples).

Bad input: with ``on_error="raise"`` a bad record stops the pipeline with
an error naming the file and record index; with ``on_error="skip"`` it is
dropped and counted in the reader's `ReadStats`.
"""

import tensorflow as tf

from keras_gmsa.constants import DEQUANTIZE_BIAS
from keras_gmsa.constants import DEQUANTIZE_SCALE
from keras_gmsa.data.records import record_stream
from keras_gmsa.data.records import resolve_files


def dequantize(frames):
    """uint8 -> float32 with the official constants (yt8m-format.md 4.1)."""
    return tf.cast(frames, tf.float32) * DEQUANTIZE_SCALE + DEQUANTIZE_BIAS


def check_layout(features, num_classes, max_frames=None):
    """Checks a reader's features and sizes; returns the features dict."""
    features = dict(features)
    if not features:
        raise ValueError("`features` must name at least one feature.")
    for key, size in features.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(
                f"Feature {key!r} needs a positive integer size; got {size!r}."
            )
    for name, value in (
        ("num_classes", num_classes),
        ("max_frames", max_frames),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(
                f"`{name}` must be a positive integer. Received {value!r}."
            )
    return features


def _prefetch(dataset):
    """Prefetches batches; onto the GPU when TensorFlow trains on one.

    On the JAX and PyTorch backends TensorFlow only feeds data (its GPUs are
    hidden by `keras_gmsa.data`), so batches are prefetched on the host and
    Keras hands them to the accelerator.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        gpus = tf.config.list_logical_devices("GPU")
        # Under a tf.distribute strategy Keras places the batches itself.
        if gpus and not tf.distribute.has_strategy():
            return dataset.apply(
                tf.data.experimental.prefetch_to_device(
                    gpus[0].name, buffer_size=tf.data.AUTOTUNE
                )
            )
    return dataset.prefetch(tf.data.AUTOTUNE)


def read(pattern, parser, options):
    """The dataset of a layout: `parser` over batches of the records of
    `pattern`, read as `options` (a `ReaderOptions`) say.

    Returns:
        A `tf.data.Dataset` of ``(features, labels)`` (``(features, labels,
        ids)`` with ``options.with_ids``), with ``read_stats`` (the
        parser's checker's `ReadStats`).
    """
    stats, split = parser.checker.stats, options.id_split
    keys, per_video = parser.keys, parser.per_video
    records = record_stream(
        resolve_files(pattern),
        parser.checker.on_error,
        stats,
        options.shuffle,
        options.seed,
        options.cycle_length,
        options.deterministic,
        probe=parser.probe,
        repeat=options.repeat,
    )
    if options.shuffle:
        # After the passes are chained, so the buffer mixes across them;
        # with a seed every read starts the same buffer from the same
        # seed: the same order on every read and every run.
        records = records.shuffle(
            options.shuffle_buffer,
            seed=options.seed,
            reshuffle_each_iteration=options.seed is None,
        )
    # Parse whole batches; when records are dropped after parsing (skip
    # mode, an id split, or segments) partial batches are dropped only
    # after the re-batch.
    rebatch = options.filtered or per_video is not None
    batches = records.batch(
        options.batch_size,
        drop_remainder=options.drop_remainder and not options.filtered,
    )
    batches = batches.map(
        parser.parse,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=options.deterministic,
    )

    def strip(batch):
        keep = batch.pop("_keep")
        if split is not None:
            keep = tf.logical_and(keep, split.contains(batch["_id"]))
        if options.filtered:
            return {k: tf.boolean_mask(v, keep) for k, v in batch.items()}
        return batch

    dataset = batches.map(strip)
    if rebatch:
        dataset = dataset.unbatch()
        if per_video is not None:
            dataset = dataset.flat_map(per_video)
        dataset = dataset.batch(
            options.batch_size, drop_remainder=options.drop_remainder
        )

    def split_element(batch):
        features = {k: batch[k] for k in keys}
        if options.with_ids:
            return features, batch["_labels"], batch["_id"]
        return features, batch["_labels"]

    dataset = dataset.map(split_element)
    if options.prefetch:
        dataset = _prefetch(dataset)
    dataset.read_stats = stats
    return dataset
