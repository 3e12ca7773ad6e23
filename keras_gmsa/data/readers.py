"""tf.data readers of the native YouTube-8M records.

Records are read as serialized strings, batched, and parsed a whole batch at
a time (`tf.io.parse_sequence_example` / `tf.io.parse_example`), so no
Python runs per record. Frames stay uint8 unless `dequantize=True`.

Every element is ``(features, labels)``: ``features`` a dict with one entry
per feature (``"rgb"``, ``"audio"`` ...) and ``"num_frames"``, ``labels`` a
float32 multi-hot ``(B, num_classes)``. With ``with_ids=True`` elements are
``(features, labels, ids)`` (for prediction and submission files; do not
pass those to `fit`).

Bad input: with ``on_error="raise"`` (default) a bad record stops the
pipeline with an error naming the file and record index; with
``on_error="skip"`` it is dropped and counted in the `ReadStats` passed as
`stats` (or available as ``dataset.read_stats``).
"""

import tensorflow as tf

from keras_gmsa.constants import DEQUANTIZE_BIAS as _BIAS
from keras_gmsa.constants import DEQUANTIZE_SCALE as _SCALE
from keras_gmsa.constants import FRAME_FEATURES
from keras_gmsa.constants import MAX_FRAMES
from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.constants import SEGMENT_SIZE
from keras_gmsa.constants import VIDEO_FEATURES
from keras_gmsa.data.id_split import parse_id_split
from keras_gmsa.data.records import ReadStats
from keras_gmsa.data.records import record_stream
from keras_gmsa.data.records import resolve_files

_MISSING = b"\x00keras_gmsa:missing"


def dequantize(frames):
    """uint8 -> float32 with the official constants (yt8m-format.md 4.1)."""
    return tf.cast(frames, tf.float32) * _SCALE + _BIAS


def _validate_common(features, num_classes, max_frames, on_error, batch_size):
    if on_error not in ("raise", "skip"):
        raise ValueError(
            f"on_error must be 'raise' or 'skip'. Received {on_error!r}."
        )
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
        ("batch_size", batch_size),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(
                f"`{name}` must be a positive integer. Received {value!r}."
            )
    return features


def _where(files, indices, bad):
    """'file, record N' of the first bad record in a batch (for messages)."""
    first = tf.argmax(tf.cast(bad, tf.int32))
    return tf.strings.join(
        [
            "file ",
            files[first],
            ", record ",
            tf.strings.as_string(indices[first]),
        ]
    )


def _check(bad, files, indices, message, reason, on_error, stats, keep):
    """Raises for any bad record, or drops it from `keep` and counts it."""
    if on_error == "raise":
        return tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            [
                tf.strings.join(
                    [message, " (", _where(files, indices, bad), ")"]
                )
            ],
        ), keep
    new_bad = tf.logical_and(bad, keep)
    op = stats.add(reason, tf.reduce_sum(tf.cast(new_bad, tf.int64)))
    return op, tf.logical_and(keep, tf.logical_not(bad))


def _multi_hot(
    labels, num_classes, files, indices, on_error, stats, keep, checks
):
    """Sparse int64 labels -> float32 multi-hot, checking the range."""
    values = labels.values
    rows = labels.indices[:, 0]
    bad_value = tf.logical_or(values < 0, values >= num_classes)
    batch = tf.shape(keep, out_type=tf.int64)[0]
    bad = (
        tf.math.unsorted_segment_max(tf.cast(bad_value, tf.int32), rows, batch)
        > 0
    )
    op, keep = _check(
        bad,
        files,
        indices,
        tf.constant(
            f"keras_gmsa: a label is outside [0, {num_classes}) - "
            "set num_classes to the vocabulary size"
        ),
        "label_range",
        on_error,
        stats,
        keep,
    )
    checks.append(op)
    safe = tf.clip_by_value(values, 0, num_classes - 1)
    updates = tf.where(bad_value, 0.0, 1.0)
    dense = tf.scatter_nd(
        tf.stack([rows, safe], axis=1), updates, tf.stack([batch, num_classes])
    )
    return tf.minimum(dense, 1.0), keep


def _finish(
    dataset,
    batch_size,
    on_error,
    drop_remainder,
    prefetch,
    with_ids,
    keys,
    per_video=None,
    id_split=None,
):
    """Drops skipped records and those outside `id_split`, applies
    `per_video`, and re-batches.

    Parsing happens on batches of records; in skip mode, with an id split
    (or when one video becomes several examples, as segments do) the
    parsed batch is split into videos and batched again.
    """
    filtered = on_error == "skip" or id_split is not None

    def strip(batch):
        keep = batch.pop("_keep")
        if id_split is not None:
            keep = tf.logical_and(keep, id_split.contains(batch["_id"]))
        if filtered:
            return {k: tf.boolean_mask(v, keep) for k, v in batch.items()}
        return batch

    dataset = dataset.map(strip)
    if per_video is not None:
        dataset = (
            dataset.unbatch()
            .flat_map(per_video)
            .batch(batch_size, drop_remainder=drop_remainder)
        )
    elif filtered:
        dataset = dataset.unbatch().batch(
            batch_size, drop_remainder=drop_remainder
        )

    def split(batch):
        features = {k: batch[k] for k in keys}
        if with_ids:
            return features, batch["_labels"], batch["_id"]
        return features, batch["_labels"]

    dataset = dataset.map(split)
    if prefetch:
        dataset = _prefetch(dataset)
    return dataset


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


def _pipeline(
    pattern,
    batch_size,
    parse,
    on_error,
    stats,
    shuffle,
    shuffle_buffer,
    seed,
    repeat,
    deterministic,
    cycle_length,
    drop_remainder,
    id_split=None,
    probe=None,
):
    # Partial batches are only dropped after the final re-batch.
    drop_remainder = drop_remainder and on_error == "raise" and id_split is None
    files = resolve_files(pattern)
    if deterministic is None:
        deterministic = not shuffle
    records = record_stream(
        files,
        on_error,
        stats,
        shuffle,
        seed,
        cycle_length,
        deterministic,
        probe=probe,
    )
    if repeat:
        records = records.repeat(None if repeat is True else repeat)
    if shuffle:
        records = records.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    # Parse whole batches (skip mode re-batches after filtering).
    records = records.batch(batch_size, drop_remainder=drop_remainder)
    return records.map(
        parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    )


def _frame_parser(
    features,
    num_classes,
    max_frames,
    dequantize_frames,
    on_error,
    allow_zero_frames,
    stats,
    extra_context=None,
):
    """Batch parser of frame-level SequenceExamples (shared by readers)."""
    names = list(features)
    extra_context = extra_context or {}
    context_spec = {
        "id": tf.io.FixedLenFeature([], tf.string, default_value=_MISSING),
        "labels": tf.io.VarLenFeature(tf.int64),
    }
    context_spec.update(extra_context)
    sequence_spec = {
        name: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)
        for name in names
    }

    def parse(files, indices, serialized):
        context, lists, lengths = tf.io.parse_sequence_example(
            serialized,
            context_features=context_spec,
            sequence_features=sequence_spec,
        )
        batch = tf.shape(serialized)[0]
        keep = tf.ones([batch], tf.bool)
        checks = [stats.read.assign_add(tf.cast(batch, tf.int64))]

        def check(bad, message, reason):
            nonlocal keep
            op, keep = _check(
                bad,
                files,
                indices,
                tf.constant(message),
                reason,
                on_error,
                stats,
                keep,
            )
            checks.append(op)

        check(
            tf.equal(context["id"], _MISSING),
            "keras_gmsa: record has no context feature 'id' (2017-era "
            "files use 'video_id'; this reader expects 2018+ records)",
            "missing_id",
        )
        counts = {n: tf.cast(lengths[n], tf.int32) for n in names}
        first = counts[names[0]]
        if not allow_zero_frames:
            check(
                tf.equal(first, 0),
                f"keras_gmsa: video has no frames in feature "
                f"'{names[0]}' (missing or empty feature list; pass "
                "allow_zero_frames=True to keep such videos)",
                "no_frames",
            )
        for name in names[1:]:
            check(
                tf.not_equal(counts[name], first),
                f"keras_gmsa: feature lists '{names[0]}' and '{name}' "
                "have different numbers of frames",
                "length_mismatch",
            )
        out = {}
        for name, size in features.items():
            strings = lists[name][:, :max_frames]
            lengths_ = tf.strings.length(strings)
            t = tf.shape(strings)[1]
            real = (
                tf.range(t)[None, :]
                < tf.minimum(counts[name], max_frames)[:, None]
            )
            wrong = tf.logical_and(real, tf.not_equal(lengths_, size))
            check(
                tf.reduce_any(wrong, axis=1),
                f"keras_gmsa: a frame of feature '{name}' does not have "
                f"{size} bytes (set features={{'{name}': <bytes per "
                "frame>}} if your features have another size)",
                "frame_size",
            )
            frames = tf.io.decode_raw(strings, tf.uint8, fixed_length=size)
            frames = tf.reshape(frames, [batch, t, size])
            if dequantize_frames:
                frames = (
                    dequantize(frames) * tf.cast(real, tf.float32)[:, :, None]
                )
            frames = tf.pad(frames, [[0, 0], [0, max_frames - t], [0, 0]])
            frames.set_shape([None, max_frames, size])
            out[name] = frames
        out["num_frames"] = tf.minimum(first, max_frames)
        labels, keep = _multi_hot(
            context["labels"],
            num_classes,
            files,
            indices,
            on_error,
            stats,
            keep,
            checks,
        )
        with tf.control_dependencies(checks):
            out["_labels"] = tf.identity(labels)
            out["_keep"] = tf.identity(keep)
        out["_id"] = context["id"]
        for key in extra_context:
            out[key] = tf.sparse.to_dense(context[key], default_value=-1)
        return out

    def probe(serialized):
        # The same types, one record: fails on a record of other types.
        context, lists = tf.io.parse_single_sequence_example(
            serialized,
            context_features=context_spec,
            sequence_features=sequence_spec,
        )
        sizes = [tf.size(context["labels"].values, out_type=tf.int64)]
        sizes += [tf.size(lists[n], out_type=tf.int64) for n in names]
        return tf.add_n(sizes)

    parse.probe = probe
    return parse


def frame_dataset(
    pattern,
    batch_size=64,
    features=None,
    num_classes=NUM_CLASSES,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    shuffle=False,
    shuffle_buffer=2048,
    seed=None,
    repeat=False,
    deterministic=None,
    drop_remainder=False,
    with_ids=False,
    on_error="raise",
    id_split=None,
    allow_zero_frames=False,
    stats=None,
    cycle_length=8,
    prefetch=True,
):
    """Reads frame-level SequenceExample shards (yt8m-format.md 4).

    Args:
        pattern: file pattern, path, or list of them (``gs://`` works).
        batch_size: videos per batch.
        features: ``{name: bytes per frame}``, default
            ``{"rgb": 1024, "audio": 128}``; ``{"audio": 128}`` reads audio
            only. The first feature sets ``num_frames``.
        num_classes: vocabulary size (3862 for the 2018 data).
        max_frames: frames kept per video; shorter videos are zero-padded,
            longer ones cropped (the official reader keeps the first 300).
        dequantize_frames: yield float32 frames (official constants, zero
            padding in float space) instead of uint8.
        shuffle, shuffle_buffer, seed: shuffle shard order and records.
        repeat: True for an endless dataset, or a number of passes.
        deterministic: keep a reproducible order (default: when not
            shuffling).
        drop_remainder: drop the last partial batch.
        with_ids: yield ``(features, labels, ids)``.
        on_error: ``"raise"`` or ``"skip"`` (skip and count in `stats`).
        id_split: read only one part of a deterministic split by video id:
            an `IdSplit` or ``"holdout:FRACTION"`` / ``"rest:FRACTION"``
            (see `keras_gmsa.data.id_split`; the GMSA paper's protocol
            holds out 32,000 validate videos).
        allow_zero_frames: pass videos without frames (num_frames 0; the
            models output finite values for them) instead of treating them
            as bad records.
        stats: a `ReadStats` to count skipped records in (one is made and
            attached as ``dataset.read_stats`` otherwise).
        cycle_length: shards read concurrently.
        prefetch: prefetch batches (to the GPU when TensorFlow sees one).

    Returns:
        A `tf.data.Dataset` of ``({name: uint8 (B, max_frames, size), ...,
        "num_frames": int32 (B,)}, float32 (B, num_classes))``.
    """
    features = _validate_common(
        features or FRAME_FEATURES,
        num_classes,
        max_frames,
        on_error,
        batch_size,
    )
    stats = stats or ReadStats()
    split = parse_id_split(id_split)
    names = list(features)
    parse = _frame_parser(
        features,
        num_classes,
        max_frames,
        dequantize_frames,
        on_error,
        allow_zero_frames,
        stats,
    )
    dataset = _finish(
        _pipeline(
            pattern,
            batch_size,
            parse,
            on_error,
            stats,
            shuffle,
            shuffle_buffer,
            seed,
            repeat,
            deterministic,
            cycle_length,
            drop_remainder,
            id_split=split,
            probe=parse.probe,
        ),
        batch_size,
        on_error,
        drop_remainder,
        prefetch,
        with_ids,
        names + ["num_frames"],
        id_split=split,
    )
    dataset.read_stats = stats
    return dataset


def video_dataset(
    pattern,
    batch_size=1024,
    features=None,
    num_classes=NUM_CLASSES,
    shuffle=False,
    shuffle_buffer=8192,
    seed=None,
    repeat=False,
    deterministic=None,
    drop_remainder=False,
    with_ids=False,
    on_error="raise",
    id_split=None,
    stats=None,
    cycle_length=8,
    prefetch=True,
):
    """Reads video-level Example shards (yt8m-format.md 3).

    Args:
        features: ``{name: size}``, default ``{"mean_rgb": 1024,
            "mean_audio": 128}``. A feature with the wrong number of floats
            is an error naming the file and record (or skipped).
        Others: as in `frame_dataset`.

    Returns:
        A `tf.data.Dataset` of ``({name: float32 (B, size), ...},
        float32 (B, num_classes))``.
    """
    features = _validate_common(
        features or VIDEO_FEATURES, num_classes, None, on_error, batch_size
    )
    stats = stats or ReadStats()
    split = parse_id_split(id_split)
    names = list(features)
    spec = {
        "id": tf.io.FixedLenFeature([], tf.string, default_value=_MISSING),
        "labels": tf.io.VarLenFeature(tf.int64),
    }
    spec.update({n: tf.io.VarLenFeature(tf.float32) for n in names})

    def probe(serialized):
        # The same types, one record: fails on a record of other types.
        parsed = tf.io.parse_single_example(serialized, spec)
        sizes = [tf.size(parsed["labels"].values, out_type=tf.int64)]
        sizes += [tf.size(parsed[n].values, out_type=tf.int64) for n in names]
        return tf.add_n(sizes)

    def parse(files, indices, serialized):
        parsed = tf.io.parse_example(serialized, spec)
        batch = tf.shape(serialized)[0]
        keep = tf.ones([batch], tf.bool)
        checks = [stats.read.assign_add(tf.cast(batch, tf.int64))]
        op, keep = _check(
            tf.equal(parsed["id"], _MISSING),
            files,
            indices,
            tf.constant("keras_gmsa: record has no feature 'id'"),
            "missing_id",
            on_error,
            stats,
            keep,
        )
        checks.append(op)
        out = {}
        for name, size in features.items():
            sparse = parsed[name]
            per_row = tf.math.bincount(
                tf.cast(sparse.indices[:, 0], tf.int32),
                minlength=batch,
                maxlength=batch,
            )
            op, keep = _check(
                tf.not_equal(per_row, size),
                files,
                indices,
                tf.constant(
                    f"keras_gmsa: feature '{name}' does not have {size} floats"
                ),
                "feature_size",
                on_error,
                stats,
                keep,
            )
            checks.append(op)
            dense = tf.sparse.to_dense(
                tf.sparse.SparseTensor(
                    sparse.indices,
                    sparse.values,
                    tf.stack(
                        [
                            tf.cast(batch, tf.int64),
                            tf.maximum(sparse.dense_shape[1], size),
                        ]
                    ),
                )
            )
            dense = dense[:, :size]
            dense.set_shape([None, size])
            out[name] = dense
        labels, keep = _multi_hot(
            parsed["labels"],
            num_classes,
            files,
            indices,
            on_error,
            stats,
            keep,
            checks,
        )
        with tf.control_dependencies(checks):
            out["_labels"] = tf.identity(labels)
            out["_keep"] = tf.identity(keep)
        out["_id"] = parsed["id"]
        return out

    dataset = _finish(
        _pipeline(
            pattern,
            batch_size,
            parse,
            on_error,
            stats,
            shuffle,
            shuffle_buffer,
            seed,
            repeat,
            deterministic,
            cycle_length,
            drop_remainder,
            id_split=split,
            probe=probe,
        ),
        batch_size,
        on_error,
        drop_remainder,
        prefetch,
        with_ids,
        names,
        id_split=split,
    )
    dataset.read_stats = stats
    return dataset


def segment_dataset(
    pattern,
    batch_size=64,
    features=None,
    num_classes=NUM_CLASSES,
    segment_size=SEGMENT_SIZE,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    rated_only=True,
    shuffle=False,
    shuffle_buffer=2048,
    seed=None,
    repeat=False,
    deterministic=None,
    drop_remainder=False,
    with_ids=False,
    on_error="raise",
    id_split=None,
    stats=None,
    cycle_length=8,
    prefetch=True,
):
    """Reads the 2019 segment-rated records, one element per segment.

    With ``rated_only=True`` (validation records) each unique
    ``segment_start_times`` entry of a video becomes one example: frames
    ``start .. start + segment_size - 1``, labels 1 for the classes rated
    present (score 1.0) and 0 otherwise, and ``features["label_weights"]``
    1.0 for every (segment, class) pair that was rated, 0 elsewhere (the
    official evaluation multiplies predictions by it). A segment reaching
    past the video's frames is an error naming the file and record (the
    official reader's gather fails there too), or skipped.

    With ``rated_only=False`` (test records) every video is cut into
    consecutive windows starting at 0, 5, 10, ...; the last partial window
    is zero-padded and its ``num_frames`` is the frames it holds. Labels
    are then all zero.

    Ids are ``"<video id>:<start>"``.

    Returns:
        A `tf.data.Dataset` of ``({name: uint8 (B, segment_size, size),
        ..., "num_frames": int32 (B,), "label_weights": float32 (B, C)},
        float32 (B, C))``.
    """
    features = _validate_common(
        features or FRAME_FEATURES,
        num_classes,
        max_frames,
        on_error,
        batch_size,
    )
    if not isinstance(segment_size, int) or not 1 <= segment_size <= max_frames:
        raise ValueError(
            f"segment_size must be an integer in [1, max_frames]; received "
            f"{segment_size!r}."
        )
    stats = stats or ReadStats()
    split = parse_id_split(id_split)
    names = list(features)
    extra = {}
    if rated_only:
        extra = {
            "segment_start_times": tf.io.VarLenFeature(tf.int64),
            "segment_labels": tf.io.VarLenFeature(tf.int64),
            "segment_scores": tf.io.VarLenFeature(tf.float32),
        }
    base = _frame_parser(
        features,
        num_classes,
        max_frames,
        dequantize_frames,
        on_error,
        not rated_only,
        stats,
        extra,
    )

    def parse(files, indices, serialized):
        out = base(files, indices, serialized)
        if not rated_only:
            return out
        starts = out["segment_start_times"]
        seg_labels = out["segment_labels"]
        valid = starts >= 0
        reach = tf.cast(out["num_frames"], tf.int64)[:, None]
        bad_start = tf.reduce_any(
            tf.logical_and(
                valid, tf.logical_or(starts < 0, starts + segment_size > reach)
            ),
            axis=1,
        )
        bad_label = tf.reduce_any(
            tf.logical_and(
                tf.not_equal(seg_labels, -1),
                tf.logical_or(seg_labels < 0, seg_labels >= num_classes),
            ),
            axis=1,
        )
        keep = out["_keep"]
        checks = []
        for bad, message in (
            (
                bad_start,
                "keras_gmsa: a rated segment reaches past the "
                "video's last frame",
            ),
            (
                bad_label,
                f"keras_gmsa: a segment label is outside [0, {num_classes})",
            ),
        ):
            op, keep = _check(
                bad,
                files,
                indices,
                tf.constant(message),
                "segment_range",
                on_error,
                stats,
                keep,
            )
            checks.append(op)
        with tf.control_dependencies(checks):
            out["_keep"] = tf.identity(keep)
        return out

    def to_segments(video):
        frames = {n: video[n] for n in names}
        count = video["num_frames"]
        if rated_only:
            valid = video["segment_start_times"] >= 0
            starts_all = tf.boolean_mask(video["segment_start_times"], valid)
            classes = tf.boolean_mask(video["segment_labels"], valid)
            scores = tf.boolean_mask(
                video["segment_scores"], video["segment_scores"] >= 0
            )
            starts, which = tf.unique(starts_all)
            n = tf.shape(starts)[0]
            pairs = tf.stack(
                [
                    tf.cast(which, tf.int64),
                    tf.clip_by_value(classes, 0, num_classes - 1),
                ],
                axis=1,
            )
            shape = tf.stack([tf.cast(n, tf.int64), num_classes])
            labels = tf.minimum(
                tf.scatter_nd(pairs, tf.cast(scores > 0.5, tf.float32), shape),
                1.0,
            )
            weights = tf.minimum(
                tf.scatter_nd(pairs, tf.ones_like(scores), shape), 1.0
            )
            starts = tf.cast(starts, tf.int32)
            counts = tf.fill([n], segment_size)
        else:
            n = tf.maximum((count + segment_size - 1) // segment_size, 1)
            starts = tf.range(n) * segment_size
            counts = tf.clip_by_value(count - starts, 0, segment_size)
            labels = tf.zeros([n, num_classes])
            weights = tf.zeros([n, num_classes])
        positions = starts[:, None] + tf.range(segment_size)[None, :]
        inside = positions < tf.minimum(count, max_frames)
        positions = tf.minimum(positions, max_frames - 1)
        out = {}
        for name in names:
            gathered = tf.gather(frames[name], positions)
            out[name] = gathered * tf.cast(inside, gathered.dtype)[:, :, None]
        out["num_frames"] = counts
        out["label_weights"] = weights
        out["_labels"] = labels
        out["_id"] = tf.strings.join(
            [tf.fill([n], video["_id"]), tf.strings.as_string(starts)],
            separator=":",
        )
        return tf.data.Dataset.from_tensor_slices(out)

    dataset = _finish(
        _pipeline(
            pattern,
            batch_size,
            parse,
            on_error,
            stats,
            shuffle,
            shuffle_buffer,
            seed,
            repeat,
            deterministic,
            cycle_length,
            drop_remainder,
            id_split=split,
            probe=base.probe,
        ),
        batch_size,
        on_error,
        drop_remainder,
        prefetch,
        with_ids,
        names + ["num_frames", "label_weights"],
        per_video=to_segments,
        id_split=split,
    )
    dataset.read_stats = stats
    return dataset


GIVEN_LABELS = "given_labels"


def sample_label_subsets(labels, max_given=4, seed=None):
    """Random subsets of each row's positive labels, as multi-hot.

    Row b keeps m_b of its n_b positives, m_b uniform in
    {0, ..., min(n_b, max_given)}, the kept ones uniform without
    replacement: the labels a conditional-inference model has "already
    chosen" when it is trained (Kim et al. 2018, sec. 3.2). ``max_given``
    matches the inference steps, so training sees every chain length that
    inference produces.

    Args:
        labels: float ``(B, C)`` multi-hot.
        max_given: most labels given per row.
        seed: an int, or a shape-[2] int tensor, for reproducible subsets.

    Returns:
        float32 ``(B, C)``, a subset of `labels`.
    """
    positive = tf.greater(labels, 0.5)
    count = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    top = tf.minimum(count, max_given)
    if seed is None:
        draw = tf.random.uniform(tf.shape(count))
        noise = tf.random.uniform(tf.shape(labels))
    else:
        seed = tf.cast(tf.reshape(seed, [-1]), tf.int64)
        seed = tf.concat([seed, tf.zeros([2], tf.int64)], 0)[:2]
        draw = tf.random.stateless_uniform(tf.shape(count), seed)
        noise = tf.random.stateless_uniform(
            tf.shape(labels), tf.stack([seed[0], seed[1] + 1_000_003])
        )
    keep = tf.cast(tf.floor(draw * tf.cast(top + 1, tf.float32)), tf.int32)
    keep = tf.minimum(keep, top)
    noise = tf.where(positive, noise, -1.0)
    rank = tf.argsort(tf.argsort(-noise, axis=1), axis=1)
    chosen = tf.logical_and(positive, rank < keep[:, None])
    return tf.cast(chosen, tf.float32)


def with_given_labels(dataset, training=False, max_given=4, seed=None):
    """Adds the ``given_labels`` input of conditional-inference models.

    In training, a random subset of each video's true labels
    (`sample_label_subsets`); otherwise zeros, so the model runs its
    greedy label chain from scratch. Works on ``(features, labels)`` and
    ``(features, labels, ids)`` elements.
    """

    def add(index, element):
        features, labels, *rest = element
        if not training:
            given = tf.zeros_like(labels, dtype=tf.float32)
        elif seed is None:
            given = sample_label_subsets(labels, max_given)
        else:
            # A different stateless draw per batch, the same on every run.
            batch_seed = tf.stack([tf.cast(seed, tf.int64), index])
            given = sample_label_subsets(labels, max_given, batch_seed)
        return (dict(features, **{GIVEN_LABELS: given}), labels, *rest)

    return dataset.enumerate().map(add, num_parallel_calls=tf.data.AUTOTUNE)


def dataset_for_model(model, pattern, **kwargs):
    """Reads the records a model takes, shaped by its inputs.

    A model with a ``num_frames`` input reads frame-level records
    (`frame_dataset`, ``max_frames`` from its inputs); any other reads
    video-level records (`video_dataset`). Features and ``num_classes`` come
    from the model; ``kwargs`` go to the reader (``batch_size``,
    ``shuffle``, ``with_ids``, ``on_error``, ...; ``allow_zero_frames`` is
    dropped for video-level records). A model with a ``given_labels``
    input (a conditional-inference head) gets it from `with_given_labels`:
    random subsets of the true labels with ``sample_given_labels=True``
    (training), zeros otherwise.
    """
    inputs = model.input if isinstance(model.input, dict) else {}
    sample_given = kwargs.pop("sample_given_labels", False)
    frames = {
        k: t for k, t in inputs.items() if k not in ("num_frames", GIVEN_LABELS)
    }
    kwargs.update(
        features={name: int(t.shape[-1]) for name, t in frames.items()},
        num_classes=int(model.output_shape[-1]),
    )
    if "num_frames" in inputs:
        kwargs["max_frames"] = int(next(iter(frames.values())).shape[1])
        dataset = frame_dataset(pattern, **kwargs)
    else:
        kwargs.pop("allow_zero_frames", None)
        dataset = video_dataset(pattern, **kwargs)
    if GIVEN_LABELS in inputs:
        steps = _conditional_steps(model)
        dataset = with_given_labels(
            dataset, training=sample_given, max_given=steps
        )
    return dataset


def _conditional_steps(model):
    for layer in model.layers:
        if hasattr(layer, "steps") and hasattr(layer, "conditional"):
            return layer.steps
    return 4
