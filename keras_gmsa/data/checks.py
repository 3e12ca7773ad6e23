"""The checks of the tf.data readers: one object for every layout.

A `RecordChecker` says what a bad record does: with ``on_error="raise"``
it stops the pipeline with an error naming the file and record index,
with ``"skip"`` it is dropped and counted by reason in the reader's
`ReadStats`. A parser starts one `BatchChecks` per batch of records
(`RecordChecker.batch`), runs its checks on it (``reject`` and one method
per check the layouts share), and closes it (``close``) to attach the
checks to the batch's ``_labels`` and ``_keep``. The TensorFlow-free
readers have the same object for one record at a time
(`keras_gmsa.loaders.parsers.RecordChecker`, with the same ``reject``).
"""

import tensorflow as tf

MISSING = b"\x00keras_gmsa:missing"


class RecordChecker:
    """What a bad record does, for every batch a parser reads.

    Args:
        on_error: ``"raise"`` or ``"skip"``.
        stats: the `ReadStats` skipped records and records read are
            counted in.
    """

    def __init__(self, on_error, stats):
        self.on_error = on_error
        self.stats = stats

    def batch(self, files, indices, size):
        """The checks of one batch of `size` records read from `files` at
        `indices` (both ``(size,)`` tensors, for messages)."""
        return BatchChecks(self, files, indices, size)


class BatchChecks:
    """The checks of one batch: ``keep`` (False on records dropped so far)
    and the ops that raise or count."""

    def __init__(self, checker, files, indices, size):
        self.checker = checker
        self.files = files
        self.indices = indices
        self.size = size
        self.keep = tf.ones([size], tf.bool)
        self.ops = [checker.stats.read.assign_add(tf.cast(size, tf.int64))]

    def _where(self, bad):
        """'file F, record N' of the first bad record."""
        first = tf.argmax(tf.cast(bad, tf.int32))
        return tf.strings.join(
            [
                "file ",
                self.files[first],
                ", record ",
                tf.strings.as_string(self.indices[first]),
            ]
        )

    def reject(self, bad, reason, message):
        """Records where `bad` holds fail a check: raises (naming the
        first), or drops them from ``keep`` and counts those not dropped
        by an earlier check under `reason`."""
        if self.checker.on_error == "raise":
            self.ops.append(
                tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(bad)),
                    [tf.strings.join([message, " (", self._where(bad), ")"])],
                )
            )
            return
        new_bad = tf.logical_and(bad, self.keep)
        self.ops.append(
            self.checker.stats.add(
                reason, tf.reduce_sum(tf.cast(new_bad, tf.int64))
            )
        )
        self.keep = tf.logical_and(self.keep, tf.logical_not(bad))

    def missing_id(self, ids, message):
        """Records without an ``id`` (parsed with default `MISSING`)."""
        self.reject(tf.equal(ids, MISSING), "missing_id", message)

    def label_range(self, labels, num_classes):
        """Sparse int64 labels -> float32 multi-hot ``(B, num_classes)``;
        a record with a label outside ``[0, num_classes)`` is bad."""
        values = labels.values
        rows = labels.indices[:, 0]
        bad_value = tf.logical_or(values < 0, values >= num_classes)
        batch = tf.cast(self.size, tf.int64)
        bad = (
            tf.math.unsorted_segment_max(
                tf.cast(bad_value, tf.int32), rows, batch
            )
            > 0
        )
        self.reject(
            bad,
            "label_range",
            f"keras_gmsa: a label is outside [0, {num_classes}) - "
            "set num_classes to the vocabulary size",
        )
        safe = tf.clip_by_value(values, 0, num_classes - 1)
        updates = tf.where(bad_value, 0.0, 1.0)
        dense = tf.scatter_nd(
            tf.stack([rows, safe], axis=1),
            updates,
            tf.stack([batch, num_classes]),
        )
        return tf.minimum(dense, 1.0)

    def close(self, out):
        """Sets ``out["_keep"]`` and makes it and ``out["_labels"]`` wait
        for every check; returns `out`."""
        with tf.control_dependencies(self.ops):
            out["_labels"] = tf.identity(out["_labels"])
            out["_keep"] = tf.identity(self.keep)
        return out
