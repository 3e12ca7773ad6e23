"""Parsers of one batch of records: one class per layout, one checker.

Each parser has the same interface: ``parse(chunk, checker, keep_id)``
takes a batch of ``(file, index, serialized)`` records, decodes each with
protobuf (`schema`), checks it, and returns the columns of the examples it
keeps: the feature names of ``parser.keys``, ``"_labels"`` and ``"_id"``.
The one `RecordChecker` decides what a bad record does: raise an error
naming its file and index (``on_error="raise"``) or be dropped and counted
by reason (``"skip"``).

The arithmetic is that of the tf.data readers (`keras_gmsa.data.frame`,
`video`, `segment`), element for element: the frame rows of a batch are
as wide as its longest feature list (at most ``max_frames``), and
dequantized frames are multiplied by a 0/1 mask over that width before
being zero-padded, so padding rows inside the width are ``-0.0`` and rows
beyond it ``+0.0``, exactly as TensorFlow computes them.
"""

import numpy as np

from keras_gmsa.constants import DEQUANTIZE_BIAS
from keras_gmsa.constants import DEQUANTIZE_SCALE
from keras_gmsa.loaders import schema
from keras_gmsa.loaders.tfrecord import RecordError
from keras_gmsa.names import NUM_FRAMES

_SCALE = np.float32(DEQUANTIZE_SCALE)
_BIAS = np.float32(DEQUANTIZE_BIAS)


class RecordChecker:
    """What a bad record does: raise naming it, or be skipped and counted.

    ``delta`` holds the counts of the batches checked so far (reasons of
    `tfrecord.REASONS` and ``"records_read"``), for a `ReadStats`.
    """

    def __init__(self, on_error):
        self.on_error = on_error
        self.delta = {}

    def count(self, key, n=1):
        self.delta[key] = self.delta.get(key, 0) + n

    def reject(self, where, reason, message):
        """A record fails a check: raises, or counts it; returns False."""
        if self.on_error == "raise":
            path, index = where
            raise RecordError(f"{message} (file {path}, record {index})")
        self.count(reason)
        return False

    def wrong_type(self, where, problem):
        """A record whose features have other types than the reader's."""
        if self.on_error == "raise":
            path, index = where
            raise RecordError(
                f"{path}: record {index} has features of the wrong type "
                f"({problem}). Pass on_error='skip' to skip and count such "
                "records."
            )
        self.count("feature_type")
        return None

    def take(self):
        """The counts since the last call, and a fresh start."""
        delta, self.delta = self.delta, {}
        return delta


def _kind_problem(feature, key, expected):
    kind = feature.WhichOneof("kind")
    if kind is not None and kind != expected:
        return f"feature {key!r} is a {kind}, not a {expected}"
    return None


def _video_id(features, where, checker):
    """``(id bytes or None when absent, ok)`` of a context map."""
    if "id" not in features:
        return None, True
    feature = features["id"]
    problem = _kind_problem(feature, "id", "bytes_list")
    values = feature.bytes_list.value
    if problem is None and len(values) != 1:
        problem = f"feature 'id' holds {len(values)} strings, not one"
    if problem:
        return checker.wrong_type(where, problem), False
    return values[0], True


def _int64s(features, key, where, checker):
    """The int64 values of `key` (empty when absent), or None."""
    if key not in features:
        return []
    feature = features[key]
    problem = _kind_problem(feature, key, "int64_list")
    if problem:
        return checker.wrong_type(where, problem)
    return list(feature.int64_list.value)


def _floats(features, key, where, checker):
    if key not in features:
        return np.zeros([0], np.float32)
    feature = features[key]
    problem = _kind_problem(feature, key, "float_list")
    if problem:
        return checker.wrong_type(where, problem)
    return np.array(feature.float_list.value, np.float32)


def _multi_hot(label_lists, num_classes):
    out = np.zeros([len(label_lists), num_classes], np.float32)
    for row, labels in enumerate(label_lists):
        out[row, labels] = 1.0
    return out


def _ids(ids):
    out = np.empty([len(ids)], object)
    out[:] = ids
    return out


class _Video:
    """One decoded frame-level record."""

    __slots__ = ("where", "id", "labels", "rows", "counts", "extra", "ok")


class FrameParser:
    """Frame-level SequenceExamples (`keras_gmsa.data.frame_dataset`)."""

    def __init__(
        self,
        features,
        num_classes,
        max_frames,
        dequantize_frames=False,
        allow_zero_frames=False,
        extra_context=None,
    ):
        self.features = dict(features)
        self.names = list(self.features)
        self.num_classes = num_classes
        self.max_frames = max_frames
        self.dequantize_frames = dequantize_frames
        self.allow_zero_frames = allow_zero_frames
        # {key: "int64_list" | "float_list"}: context lists kept as such.
        self.extra_context = dict(extra_context or {})
        self.keys = self.names + [NUM_FRAMES]

    def decode(self, where, payload, checker):
        """One record -> a `_Video` (``ok`` False when a check fails), or
        None when its features have the wrong types."""
        sequence = schema.SequenceExample.FromString(payload)
        context = sequence.context.feature
        lists = sequence.feature_lists.feature_list
        video = _Video()
        video.where = where
        video.id, typed = _video_id(context, where, checker)
        if not typed:
            return None
        video.labels = _int64s(context, "labels", where, checker)
        if video.labels is None:
            return None
        video.extra = {}
        for key, kind in self.extra_context.items():
            read = _int64s if kind == "int64_list" else _floats
            video.extra[key] = read(context, key, where, checker)
            if video.extra[key] is None:
                return None
        video.rows, video.counts = {}, {}
        for name in self.names:
            frames = lists[name].feature if name in lists else ()
            values = [frame.bytes_list.value for frame in frames]
            if values and set(map(len, values)) != {1}:
                kinds = {f.WhichOneof("kind") for f in frames} - {"bytes_list"}
                problem = (
                    f"frames of {name!r} are {kinds.pop()}s, not bytes (one "
                    "uint8 string per frame)"
                    if kinds - {None}
                    else f"a frame of {name!r} does not hold one string"
                )
                return checker.wrong_type(where, problem)
            video.counts[name] = len(values)
            video.rows[name] = [v[0] for v in values[: self.max_frames]]
        video.ok = self.check(where, video, checker)
        return video

    def check(self, where, video, checker):
        """The tf.data reader's checks, in its order; False if one fails."""
        names = self.names
        if video.id is None:
            return checker.reject(
                where,
                "missing_id",
                "keras_gmsa: record has no context feature 'id' (2017-era "
                "files use 'video_id'; this reader expects 2018+ records)",
            )
        first = video.counts[names[0]]
        if not self.allow_zero_frames and first == 0:
            return checker.reject(
                where,
                "no_frames",
                f"keras_gmsa: video has no frames in feature '{names[0]}' "
                "(missing or empty feature list; pass "
                "allow_zero_frames=True to keep such videos)",
            )
        for name in names[1:]:
            if video.counts[name] != first:
                return checker.reject(
                    where,
                    "length_mismatch",
                    f"keras_gmsa: feature lists '{names[0]}' and '{name}' "
                    "have different numbers of frames",
                )
        for name, size in self.features.items():
            rows = video.rows[name]
            if rows and set(map(len, rows)) != {size}:
                return checker.reject(
                    where,
                    "frame_size",
                    f"keras_gmsa: a frame of feature '{name}' does not have "
                    f"{size} bytes (set features={{'{name}': <bytes per "
                    "frame>}} if your features have another size)",
                )
        if any(not 0 <= label < self.num_classes for label in video.labels):
            return checker.reject(
                where,
                "label_range",
                f"keras_gmsa: a label is outside [0, {self.num_classes}) - "
                "set num_classes to the vocabulary size",
            )
        return True

    def videos(self, chunk, checker):
        """The decoded records of a batch, and each feature's width (its
        longest list, at most ``max_frames``)."""
        decoded = []
        for path, index, payload in chunk:
            video = self.decode((path, index), payload, checker)
            if video is not None:
                decoded.append(video)
        width = {
            name: min(
                max((v.counts[name] for v in decoded), default=0),
                self.max_frames,
            )
            for name in self.names
        }
        return decoded, width

    def frames(self, video, name, width, out=None):
        """``(max_frames, size)`` frames of one video, as the tf.data
        reader pads them in a batch whose rows are `width` wide (uint8
        frames written into `out`, zeros, when it is given)."""
        size = self.features[name]
        rows = video.rows[name]
        n = len(rows)
        if out is None:
            out = np.zeros([self.max_frames, size], np.uint8)
        if n:
            out[:n] = np.frombuffer(b"".join(rows), np.uint8).reshape(n, size)
        if not self.dequantize_frames:
            return out
        real = np.arange(width) < n
        floats = np.zeros([self.max_frames, size], np.float32)
        floats[:width] = (
            out[:width].astype(np.float32) * _SCALE + _BIAS
        ) * real.astype(np.float32)[:, None]
        return floats

    def num_frames(self, video):
        return min(video.counts[self.names[0]], self.max_frames)

    def parse(self, chunk, checker, keep_id=None):
        decoded, width = self.videos(chunk, checker)
        kept = [
            v for v in decoded if v.ok and (keep_id is None or keep_id(v.id))
        ]
        dtype = np.float32 if self.dequantize_frames else np.uint8
        out = {}
        for name, size in self.features.items():
            frames = np.zeros([len(kept), self.max_frames, size], dtype)
            for row, video in enumerate(kept):
                if self.dequantize_frames:
                    frames[row] = self.frames(video, name, width[name])
                else:
                    self.frames(video, name, width[name], out=frames[row])
            out[name] = frames
        out[NUM_FRAMES] = np.array([self.num_frames(v) for v in kept], np.int32)
        out["_labels"] = _multi_hot([v.labels for v in kept], self.num_classes)
        out["_id"] = _ids([v.id for v in kept])
        return out


class VideoParser:
    """Video-level Examples (`keras_gmsa.data.video_dataset`)."""

    def __init__(self, features, num_classes):
        self.features = dict(features)
        self.num_classes = num_classes
        self.keys = list(self.features)

    def decode(self, where, payload, checker):
        """One record -> ``(id, labels, {name: floats})`` or None (a bad
        record, raised or counted)."""
        context = schema.Example.FromString(payload).features.feature
        vid, typed = _video_id(context, where, checker)
        if not typed:
            return None
        labels = _int64s(context, "labels", where, checker)
        if labels is None:
            return None
        values = {}
        for name in self.features:
            values[name] = _floats(context, name, where, checker)
            if values[name] is None:
                return None
        if vid is None:
            return checker.reject(
                where, "missing_id", "keras_gmsa: record has no feature 'id'"
            )
        for name, size in self.features.items():
            if len(values[name]) != size:
                return checker.reject(
                    where,
                    "feature_size",
                    f"keras_gmsa: feature '{name}' does not have {size} floats",
                )
        if any(not 0 <= label < self.num_classes for label in labels):
            return checker.reject(
                where,
                "label_range",
                f"keras_gmsa: a label is outside [0, {self.num_classes}) - "
                "set num_classes to the vocabulary size",
            )
        return vid, labels, values

    def parse(self, chunk, checker, keep_id=None):
        kept = []
        for path, index, payload in chunk:
            video = self.decode((path, index), payload, checker)
            if video and (keep_id is None or keep_id(video[0])):
                kept.append(video)
        out = {
            name: np.stack([v[2][name] for v in kept]).reshape([-1, size])
            if kept
            else np.zeros([0, size], np.float32)
            for name, size in self.features.items()
        }
        out["_labels"] = _multi_hot([v[1] for v in kept], self.num_classes)
        out["_id"] = _ids([v[0] for v in kept])
        return out
