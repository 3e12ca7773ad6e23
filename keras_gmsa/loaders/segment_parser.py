"""The parser of the 2019 segment-rated records: one example per segment,
as `keras_gmsa.data.segment_dataset` makes them (yt8m-format.md 5)."""

import numpy as np

from keras_gmsa.loaders.parsers import FrameParser
from keras_gmsa.loaders.parsers import _ids
from keras_gmsa.names import LABEL_WEIGHTS
from keras_gmsa.names import NUM_FRAMES

_RATINGS = {
    "segment_start_times": "int64_list",
    "segment_labels": "int64_list",
    "segment_scores": "float_list",
}


def _padded(values, width):
    out = np.full([width], -1, np.int64)
    out[: len(values)] = values
    return out


def _in_first_appearance_order(values):
    """``(unique values in order of first appearance, index of each)``,
    as `tf.unique`."""
    unique, first, inverse = np.unique(
        values, return_index=True, return_inverse=True
    )
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unique[order], rank[inverse.reshape(-1)]


class SegmentParser:
    """Segments of frame-level records: the rated ones (``rated_only``)
    or consecutive windows of every video. The same interface as
    `FrameParser` (``keys``, ``parse``)."""

    def __init__(
        self,
        features,
        num_classes,
        segment_size,
        max_frames,
        dequantize_frames=False,
        rated_only=True,
    ):
        self.base = FrameParser(
            features,
            num_classes,
            max_frames,
            dequantize_frames,
            allow_zero_frames=not rated_only,
            extra_context=_RATINGS if rated_only else None,
        )
        self.num_classes = num_classes
        self.segment_size = segment_size
        self.rated_only = rated_only
        self.keys = self.base.names + [NUM_FRAMES, LABEL_WEIGHTS]

    def _ratings(self, video):
        starts = video.extra["segment_start_times"]
        labels = video.extra["segment_labels"]
        width = max(len(starts), len(labels))
        scores = video.extra["segment_scores"]
        return _padded(starts, width), _padded(labels, width), scores

    def check(self, where, video, checker):
        """The rated segments' checks (after the frame-level ones)."""
        starts, labels, scores = self._ratings(video)
        valid = starts >= 0
        counts = [valid.sum(), (labels != -1).sum(), (scores >= 0).sum()]
        reach = self.base.num_frames(video)
        if counts[0] != counts[1] or counts[0] != counts[2]:
            message = (
                "keras_gmsa: segment_start_times, segment_labels and "
                "segment_scores have different lengths (a negative rating "
                "counts as missing)"
            )
        elif np.any(valid & (starts + self.segment_size > reach)):
            message = (
                "keras_gmsa: a rated segment reaches past the video's last "
                "frame"
            )
        elif np.any(
            (labels != -1) & ((labels < 0) | (labels >= self.num_classes))
        ):
            message = (
                "keras_gmsa: a segment label is outside "
                f"[0, {self.num_classes})"
            )
        else:
            return True
        return checker.reject(where, "segment_range", message)

    def _starts(self, video):
        """Start frames, frames held, labels and label weights of each
        segment of one video."""
        size, classes = self.segment_size, self.num_classes
        count = self.base.num_frames(video)
        if not self.rated_only:
            n = max((count + size - 1) // size, 1)
            starts = np.arange(n, dtype=np.int32) * size
            held = np.clip(count - starts, 0, size).astype(np.int32)
            zeros = np.zeros([n, classes], np.float32)
            return starts, held, zeros, zeros.copy()
        starts, labels, scores = self._ratings(video)
        valid = starts >= 0
        starts, which = _in_first_appearance_order(starts[valid])
        rows = (which, np.clip(labels[valid], 0, classes - 1))
        n = len(starts)
        targets = np.zeros([n, classes], np.float32)
        # The rating itself is the label; a pair rated twice keeps its
        # larger rating (tf.tensor_scatter_nd_max).
        np.maximum.at(targets, rows, scores[scores >= 0])
        weights = np.zeros([n, classes], np.float32)
        np.add.at(weights, rows, np.float32(1.0))
        weights = np.minimum(weights, np.float32(1.0))
        held = np.full([n], size, np.int32)
        return starts.astype(np.int32), held, targets, weights

    def segments(self, video, width):
        """The columns of one video's segments."""
        starts, held, targets, weights = self._starts(video)
        max_frames = self.base.max_frames
        positions = starts[:, None] + np.arange(self.segment_size)[None, :]
        inside = positions < min(self.base.num_frames(video), max_frames)
        positions = np.minimum(positions, max_frames - 1)
        out = {}
        for name in self.base.names:
            frames = self.base.frames(video, name, width[name])[positions]
            out[name] = frames * inside.astype(frames.dtype)[:, :, None]
        out[NUM_FRAMES] = held
        out[LABEL_WEIGHTS] = weights
        out["_labels"] = targets
        out["_id"] = _ids(
            [video.id + b":" + str(int(s)).encode() for s in starts]
        )
        return out

    def parse(self, chunk, checker, keep_id=None):
        decoded, width = self.base.videos(chunk, checker)
        parts = []
        for video in decoded:
            if video.ok and self.rated_only:
                video.ok = self.check(video.where, video, checker)
            if video.ok and (keep_id is None or keep_id(video.id)):
                parts.append(self.segments(video, width))
        if not parts:
            dtype = np.float32 if self.base.dequantize_frames else np.uint8
            out = {
                name: np.zeros([0, self.segment_size, size], dtype)
                for name, size in self.base.features.items()
            }
            out[NUM_FRAMES] = np.zeros([0], np.int32)
            out[LABEL_WEIGHTS] = np.zeros([0, self.num_classes], np.float32)
            out["_labels"] = np.zeros([0, self.num_classes], np.float32)
            out["_id"] = _ids([])
            return out
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
