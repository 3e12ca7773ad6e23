"""Video-level records: `tf.train.Example`, one per video.

yt8m-format.md 3: ``id``, ``labels`` and one float list per feature
(``mean_rgb``, ``mean_audio``).
"""

import tensorflow as tf

from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.constants import VIDEO_FEATURES
from keras_gmsa.data import pipeline
from keras_gmsa.data.options import reader_options
from keras_gmsa.data.records import ReadStats

# Video-level records are small: bigger batches and buffers by default.
DEFAULTS = dict(batch_size=1024, shuffle_buffer=8192)


def video_dataset(
    pattern,
    features=None,
    num_classes=NUM_CLASSES,
    stats=None,
    options=None,
    **kwargs,
):
    """Reads video-level Example shards (yt8m-format.md 3).

    Args:
        features: ``{name: size}``, default ``{"mean_rgb": 1024,
            "mean_audio": 128}``. A feature with the wrong number of floats
            is an error naming the file and record (or skipped).
        stats, options, **kwargs: as in `frame_dataset` (``batch_size``
            1024 and ``shuffle_buffer`` 8192 by default).

    Returns:
        A `tf.data.Dataset` of ``({name: float32 (B, size), ...},
        float32 (B, num_classes))``.
    """
    options = reader_options(options, DEFAULTS, **kwargs)
    features = pipeline.check_layout(features or VIDEO_FEATURES, num_classes)
    stats = stats or ReadStats()
    parse = video_parser(features, num_classes, options.on_error, stats)
    return pipeline.read(pattern, parse, options, list(features), stats)


def video_parser(features, num_classes, on_error, stats):
    """Batch parser of video-level Examples (shared by the reader and the
    starter-compatible SavedModel of `keras_gmsa.export`)."""
    names = list(features)
    spec = {
        "id": tf.io.FixedLenFeature(
            [], tf.string, default_value=pipeline.MISSING
        ),
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
        op, keep = pipeline.check(
            tf.equal(parsed["id"], pipeline.MISSING),
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
            op, keep = pipeline.check(
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
        labels, keep = pipeline.multi_hot(
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

    parse.probe = probe
    return parse
