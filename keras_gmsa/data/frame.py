"""Frame-level records: `tf.train.SequenceExample`, one per video.

yt8m-format.md 4: context ``id`` and ``labels``; one feature list per
feature (``rgb``, ``audio``), one uint8 string per frame.
"""

import tensorflow as tf

from keras_gmsa.constants import FRAME_FEATURES
from keras_gmsa.constants import MAX_FRAMES
from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.data import pipeline
from keras_gmsa.data.options import reader_options
from keras_gmsa.data.records import ReadStats
from keras_gmsa.names import NUM_FRAMES


def frame_parser(
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
        "id": tf.io.FixedLenFeature(
            [], tf.string, default_value=pipeline.MISSING
        ),
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
            op, keep = pipeline.check(
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
            tf.equal(context["id"], pipeline.MISSING),
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
                    pipeline.dequantize(frames)
                    * tf.cast(real, tf.float32)[:, :, None]
                )
            frames = tf.pad(frames, [[0, 0], [0, max_frames - t], [0, 0]])
            frames.set_shape([None, max_frames, size])
            out[name] = frames
        out[NUM_FRAMES] = tf.minimum(first, max_frames)
        labels, keep = pipeline.multi_hot(
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
    features=None,
    num_classes=NUM_CLASSES,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    allow_zero_frames=False,
    stats=None,
    options=None,
    **kwargs,
):
    """Reads frame-level SequenceExample shards (yt8m-format.md 4).

    Args:
        pattern: file pattern, path, or list of them (``gs://`` works).
        features: ``{name: bytes per frame}``, default
            ``{"rgb": 1024, "audio": 128}``; ``{"audio": 128}`` reads audio
            only. The first feature sets ``num_frames``.
        num_classes: vocabulary size (3862 for the 2018 data).
        max_frames: frames kept per video; shorter videos are zero-padded,
            longer ones cropped (the official reader keeps the first 300).
        dequantize_frames: yield float32 frames (official constants, zero
            padding in float space) instead of uint8.
        allow_zero_frames: pass videos without frames (num_frames 0; the
            models output finite values for them) instead of treating them
            as bad records.
        stats: a `ReadStats` to count skipped records in (one is made and
            attached as ``dataset.read_stats`` otherwise).
        options: a `ReaderOptions`; keyword arguments override it.
        **kwargs: `ReaderOptions` fields: ``batch_size`` (64), ``shuffle``,
            ``shuffle_buffer``, ``seed``, ``repeat``, ``deterministic``,
            ``drop_remainder``, ``with_ids``, ``on_error`` (``"raise"`` or
            ``"skip"``), ``id_split`` (e.g. ``"holdout:0.03"``, see
            `keras_gmsa.data.id_split`), ``cycle_length``, ``prefetch``.

    Returns:
        A `tf.data.Dataset` of ``({name: uint8 (B, max_frames, size), ...,
        "num_frames": int32 (B,)}, float32 (B, num_classes))``.
    """
    options = reader_options(options, **kwargs)
    features = pipeline.check_layout(
        features or FRAME_FEATURES, num_classes, max_frames
    )
    stats = stats or ReadStats()
    parse = frame_parser(
        features,
        num_classes,
        max_frames,
        dequantize_frames,
        options.on_error,
        allow_zero_frames,
        stats,
    )
    keys = list(features) + [NUM_FRAMES]
    return pipeline.read(pattern, parse, options, keys, stats)
