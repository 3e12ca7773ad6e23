"""The 2019 segment-rated records ("3/" partition), one example per
segment (yt8m-format.md 5)."""

import tensorflow as tf

from keras_gmsa.constants import FRAME_FEATURES
from keras_gmsa.constants import MAX_FRAMES
from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.constants import SEGMENT_SIZE
from keras_gmsa.data import pipeline
from keras_gmsa.data.checks import RecordChecker
from keras_gmsa.data.frame import FrameParser
from keras_gmsa.data.options import reader_options
from keras_gmsa.data.records import ReadStats
from keras_gmsa.names import LABEL_WEIGHTS
from keras_gmsa.names import NUM_FRAMES

# The rating lists of a rated record (yt8m-format.md 5).
_RATINGS = {
    "segment_start_times": "int64_list",
    "segment_labels": "int64_list",
    "segment_scores": "float_list",
}


def segment_dataset(
    pattern,
    features=None,
    num_classes=NUM_CLASSES,
    segment_size=SEGMENT_SIZE,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    rated_only=True,
    stats=None,
    options=None,
    **kwargs,
):
    """Reads the 2019 segment-rated records, one element per segment.

    With ``rated_only=True`` (validation records) each unique
    ``segment_start_times`` entry of a video becomes one example: frames
    ``start .. start + segment_size - 1``, labels the ratings themselves
    (``segment_scores``, as the official readers take them: 1.0 present,
    0.0 absent, anything in between kept as it is; the official
    evaluation counts a rating > 0 as a positive) and 0 for unrated
    classes, and ``features["label_weights"]`` 1.0 for every (segment,
    class) pair that was rated, 0 elsewhere (the official evaluation
    multiplies predictions by it). The three lists of a record must have
    the same length, and a segment must end within the video's frames (the
    official reader's gather fails there too): otherwise an error naming
    the file and record, or the record is skipped.

    With ``rated_only=False`` (test records) every video is cut into
    consecutive windows starting at 0, 5, 10, ...; the last partial window
    is zero-padded and its ``num_frames`` is the frames it holds. Labels
    are then all zero.

    Ids are ``"<video id>:<start>"``. ``stats``, ``options`` and
    ``**kwargs`` (the `ReaderOptions`) as in `frame_dataset`.

    Returns:
        A `tf.data.Dataset` of ``({name: uint8 (B, segment_size, size),
        ..., "num_frames": int32 (B,), "label_weights": float32 (B, C)},
        float32 (B, C))``.
    """
    options = reader_options(options, **kwargs)
    features = pipeline.check_layout(
        features or FRAME_FEATURES, num_classes, max_frames
    )
    if not isinstance(segment_size, int) or not 1 <= segment_size <= max_frames:
        raise ValueError(
            f"segment_size must be an integer in [1, max_frames]; received "
            f"{segment_size!r}."
        )
    parser = SegmentParser(
        features,
        num_classes,
        segment_size,
        max_frames,
        dequantize_frames,
        rated_only,
        checker=RecordChecker(options.on_error, stats or ReadStats()),
    )
    return pipeline.read(pattern, parser, options)


class SegmentParser:
    """Segments of frame-level records: the rated ones (``rated_only``) or
    consecutive windows of every video; the interface of `pipeline`, with
    ``per_video`` cutting one parsed video into its segments.

    Args:
        features, num_classes, segment_size, max_frames,
            dequantize_frames, rated_only: as in `segment_dataset`
            (checked by the caller).
        checker: the `RecordChecker` of the reader.
    """

    def __init__(
        self,
        features,
        num_classes,
        segment_size,
        max_frames,
        dequantize_frames=False,
        rated_only=True,
        *,
        checker,
    ):
        self.base = FrameParser(
            features,
            num_classes,
            max_frames,
            dequantize_frames,
            allow_zero_frames=not rated_only,
            extra_context=_RATINGS if rated_only else None,
            checker=checker,
        )
        self.checker = checker
        self.num_classes = num_classes
        self.segment_size = segment_size
        self.rated_only = rated_only
        self.keys = self.base.names + [NUM_FRAMES, LABEL_WEIGHTS]
        self.probe = self.base.probe

    def parse(self, files, indices, serialized):
        checks = self.checker.batch(files, indices, tf.shape(serialized)[0])
        out = self.base.decode(serialized, checks)
        if self.rated_only:
            self.check(out, checks)
        return checks.close(out)

    def check(self, out, checks):
        """The rated segments' checks (after the frame-level ones)."""
        num_classes = self.num_classes
        starts = out["segment_start_times"]
        seg_labels = out["segment_labels"]
        valid = starts >= 0
        reach = tf.cast(out[NUM_FRAMES], tf.int64)[:, None]
        bad_start = tf.reduce_any(
            tf.logical_and(
                valid,
                tf.logical_or(starts < 0, starts + self.segment_size > reach),
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
        counts = [
            tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
            tf.reduce_sum(tf.cast(tf.not_equal(seg_labels, -1), tf.int32), 1),
            tf.reduce_sum(
                tf.cast(out["segment_scores"] >= 0, tf.int32), axis=1
            ),
        ]
        bad_lengths = tf.logical_or(
            tf.not_equal(counts[0], counts[1]),
            tf.not_equal(counts[0], counts[2]),
        )
        for bad, message in (
            (
                bad_lengths,
                "keras_gmsa: segment_start_times, segment_labels and "
                "segment_scores have different lengths (a negative rating "
                "counts as missing)",
            ),
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
            checks.reject(bad, "segment_range", message)

    def per_video(self, video):
        """One parsed video -> a dataset of its segments."""
        num_classes, segment_size = self.num_classes, self.segment_size
        max_frames = self.base.max_frames
        count = video[NUM_FRAMES]
        if self.rated_only:
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
            # The rating itself is the label, as the official readers
            # take it (a segment rated 0.5 is a positive of weight 0.5);
            # a pair rated twice keeps its larger rating.
            labels = tf.tensor_scatter_nd_max(
                tf.zeros(tf.cast(shape, tf.int32)), pairs, scores
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
        for name in self.base.names:
            gathered = tf.gather(video[name], positions)
            out[name] = gathered * tf.cast(inside, gathered.dtype)[:, :, None]
        out[NUM_FRAMES] = counts
        out[LABEL_WEIGHTS] = weights
        out["_labels"] = labels
        out["_id"] = tf.strings.join(
            [tf.fill([n], video["_id"]), tf.strings.as_string(starts)],
            separator=":",
        )
        return tf.data.Dataset.from_tensor_slices(out)
