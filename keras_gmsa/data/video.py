"""Video-level records: `tf.train.Example`, one per video.

yt8m-format.md 3: ``id``, ``labels`` and one float list per feature
(``mean_rgb``, ``mean_audio``).
"""

import tensorflow as tf

from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.constants import VIDEO_FEATURES
from keras_gmsa.data import pipeline
from keras_gmsa.data.checks import MISSING
from keras_gmsa.data.checks import RecordChecker
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
    parser = VideoParser(
        features, num_classes, checker=RecordChecker(options.on_error, stats)
    )
    return pipeline.read(pattern, parser, options)


class VideoParser:
    """Batch parser of video-level Examples (shared by `video_dataset` and
    the starter-compatible SavedModel of `keras_gmsa.export`); the
    interface of `pipeline`.

    Args:
        features: ``{name: floats}`` (checked by the caller).
        num_classes: vocabulary size.
        checker: the `RecordChecker` of the reader.
    """

    per_video = None

    def __init__(self, features, num_classes, *, checker):
        self.features = dict(features)
        self.num_classes = num_classes
        self.checker = checker
        self.keys = list(self.features)
        self.spec = {
            "id": tf.io.FixedLenFeature([], tf.string, default_value=MISSING),
            "labels": tf.io.VarLenFeature(tf.int64),
        }
        self.spec.update(
            {n: tf.io.VarLenFeature(tf.float32) for n in self.features}
        )

    def probe(self, serialized):
        """One record with the same types: fails on a record of others."""
        parsed = tf.io.parse_single_example(serialized, self.spec)
        sizes = [tf.size(parsed["labels"].values, out_type=tf.int64)]
        sizes += [
            tf.size(parsed[n].values, out_type=tf.int64) for n in self.features
        ]
        return tf.add_n(sizes)

    def parse(self, files, indices, serialized):
        parsed = tf.io.parse_example(serialized, self.spec)
        batch = tf.shape(serialized)[0]
        checks = self.checker.batch(files, indices, batch)
        checks.missing_id(
            parsed["id"], "keras_gmsa: record has no feature 'id'"
        )
        out = {}
        for name, size in self.features.items():
            sparse = parsed[name]
            per_row = tf.math.bincount(
                tf.cast(sparse.indices[:, 0], tf.int32),
                minlength=batch,
                maxlength=batch,
            )
            checks.reject(
                tf.not_equal(per_row, size),
                "feature_size",
                f"keras_gmsa: feature '{name}' does not have {size} floats",
            )
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
        out["_labels"] = checks.label_range(parsed["labels"], self.num_classes)
        out["_id"] = parsed["id"]
        return checks.close(out)
