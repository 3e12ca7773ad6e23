"""Frame-level records: `tf.train.SequenceExample`, one per video.

yt8m-format.md 4: context ``id`` and ``labels``; one feature list per
feature (``rgb``, ``audio``), one uint8 string per frame.
"""

import tensorflow as tf

from keras_gmsa.constants import FRAME_FEATURES
from keras_gmsa.constants import MAX_FRAMES
from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.data import pipeline
from keras_gmsa.data.checks import MISSING
from keras_gmsa.data.checks import RecordChecker
from keras_gmsa.data.options import reader_options
from keras_gmsa.data.records import ReadStats
from keras_gmsa.names import NUM_FRAMES

# The context lists a `FrameParser` can keep besides ``id`` and
# ``labels`` (as `keras_gmsa.loaders.parsers.FrameParser` names them).
_CONTEXT_TYPES = {"int64_list": tf.int64, "float_list": tf.float32}


class FrameParser:
    """Batch parser of frame-level SequenceExamples (shared by
    `frame_dataset`, `segment_dataset` and the starter-compatible SavedModel
    of `keras_gmsa.export`); the interface of `pipeline`.

    Args:
        features: ``{name: bytes per frame}`` (checked by the caller).
        num_classes, max_frames, dequantize_frames, allow_zero_frames: as
            in `frame_dataset`.
        extra_context: ``{key: "int64_list" | "float_list"}``, context lists
            kept as ``(B, longest)`` tensors padded with -1.
        checker: the `RecordChecker` of the reader.
    """

    per_video = None

    def __init__(
        self,
        features,
        num_classes,
        max_frames,
        dequantize_frames=False,
        allow_zero_frames=False,
        extra_context=None,
        *,
        checker,
    ):
        self.features = dict(features)
        self.names = list(self.features)
        self.num_classes = num_classes
        self.max_frames = max_frames
        self.dequantize_frames = dequantize_frames
        self.allow_zero_frames = allow_zero_frames
        self.extra_context = dict(extra_context or {})
        self.checker = checker
        self.keys = self.names + [NUM_FRAMES]
        self.context_spec = {
            "id": tf.io.FixedLenFeature([], tf.string, default_value=MISSING),
            "labels": tf.io.VarLenFeature(tf.int64),
        }
        for key, kind in self.extra_context.items():
            self.context_spec[key] = tf.io.VarLenFeature(_CONTEXT_TYPES[kind])
        self.sequence_spec = {
            name: tf.io.FixedLenSequenceFeature(
                [], tf.string, allow_missing=True
            )
            for name in self.names
        }

    def probe(self, serialized):
        """One record with the same types: fails on a record of others."""
        context, lists = tf.io.parse_single_sequence_example(
            serialized,
            context_features=self.context_spec,
            sequence_features=self.sequence_spec,
        )
        sizes = [tf.size(context["labels"].values, out_type=tf.int64)]
        sizes += [tf.size(lists[n], out_type=tf.int64) for n in self.names]
        return tf.add_n(sizes)

    def parse(self, files, indices, serialized):
        checks = self.checker.batch(files, indices, tf.shape(serialized)[0])
        return checks.close(self.decode(serialized, checks))

    def decode(self, serialized, checks):
        """One batch -> the features, ``_labels``, ``_id`` and the extra
        context lists, running the frame-level checks on `checks`."""
        names, max_frames = self.names, self.max_frames
        context, lists, lengths = tf.io.parse_sequence_example(
            serialized,
            context_features=self.context_spec,
            sequence_features=self.sequence_spec,
        )
        batch = tf.shape(serialized)[0]
        checks.missing_id(
            context["id"],
            "keras_gmsa: record has no context feature 'id' (2017-era "
            "files use 'video_id'; this reader expects 2018+ records)",
        )
        counts = {n: tf.cast(lengths[n], tf.int32) for n in names}
        first = counts[names[0]]
        if not self.allow_zero_frames:
            checks.reject(
                tf.equal(first, 0),
                "no_frames",
                f"keras_gmsa: video has no frames in feature "
                f"'{names[0]}' (missing or empty feature list; pass "
                "allow_zero_frames=True to keep such videos)",
            )
        for name in names[1:]:
            checks.reject(
                tf.not_equal(counts[name], first),
                "length_mismatch",
                f"keras_gmsa: feature lists '{names[0]}' and '{name}' "
                "have different numbers of frames",
            )
        out = {}
        for name, size in self.features.items():
            strings = lists[name][:, :max_frames]
            lengths_ = tf.strings.length(strings)
            t = tf.shape(strings)[1]
            real = (
                tf.range(t)[None, :]
                < tf.minimum(counts[name], max_frames)[:, None]
            )
            wrong = tf.logical_and(real, tf.not_equal(lengths_, size))
            checks.reject(
                tf.reduce_any(wrong, axis=1),
                "frame_size",
                f"keras_gmsa: a frame of feature '{name}' does not have "
                f"{size} bytes (set features={{'{name}': <bytes per "
                "frame>}} if your features have another size)",
            )
            frames = tf.io.decode_raw(strings, tf.uint8, fixed_length=size)
            frames = tf.reshape(frames, [batch, t, size])
            if self.dequantize_frames:
                frames = (
                    pipeline.dequantize(frames)
                    * tf.cast(real, tf.float32)[:, :, None]
                )
            frames = tf.pad(frames, [[0, 0], [0, max_frames - t], [0, 0]])
            frames.set_shape([None, max_frames, size])
            out[name] = frames
        out[NUM_FRAMES] = tf.minimum(first, max_frames)
        out["_labels"] = checks.label_range(context["labels"], self.num_classes)
        out["_id"] = context["id"]
        for key in self.extra_context:
            out[key] = tf.sparse.to_dense(context[key], default_value=-1)
        return out


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
    parser = FrameParser(
        features,
        num_classes,
        max_frames,
        dequantize_frames,
        allow_zero_frames,
        checker=RecordChecker(options.on_error, stats),
    )
    return pipeline.read(pattern, parser, options)
