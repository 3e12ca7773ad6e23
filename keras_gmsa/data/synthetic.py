"""Synthetic YouTube-8M shards in the native formats, with learnable labels.

(About 500 lines: the three record layouts are written from one
label model, so that every layout of a seed holds the same videos.)

Nothing here downloads anything: the demo and the tests make their data with
this module. Files are byte-compatible with the real dataset: frame-level
`tf.train.SequenceExample`s (context ``id``, ``labels``; feature lists
``rgb``/``audio`` of one quantized byte string per frame), video-level
`tf.train.Example`s (``id``, ``labels``, ``mean_rgb``, ``mean_audio``) and
2019-style segment records (``segment_start_times``,
``segment_end_times``, ``segment_labels``, ``segment_scores``).

How labels can be learned:

- *Global* classes (most of the vocabulary, long-tailed: class ``c`` is
  drawn with probability proportional to ``1 / (c + 1) ** zipf``) add a
  class prototype to a random 30-70% of a video's frames. The temporal
  mean reveals them.
- *Local* classes (the last `num_local_classes` indices) are events of two
  motif frames ``a_k`` and ``b_k`` that occur within `event_span` frames of
  each other. Every video with a local event also carries a *distractor*:
  the motif pair of another local class placed far apart (at least
  `distractor_gap` frames). Positives and distractors hold the same bag of
  frames, so any model that ignores where frames are in time (a mean over
  frames, global self-attention without positions) cannot tell them apart;
  attention restricted to a local window can.

Videos have 1 to `max_frames` frames; local events need at least
``distractor_gap + 2`` frames, so they are placed in videos that long.
"""

import os

import numpy as np
import tensorflow as tf

from keras_gmsa import constants
from keras_gmsa.data.vocabulary import VOCABULARY_COLUMNS

_FEATURE_SIZES = constants.FRAME_FEATURES
_LOW, _HIGH = constants.QUANTIZE_MIN, constants.QUANTIZE_MAX


def quantize(x):
    """float -> uint8 as the extractor did: clip [-2, 2], round half even."""
    scaled = (np.clip(x, _LOW, _HIGH) - _LOW) * (255.0 / (_HIGH - _LOW))
    return np.round(scaled).astype(np.uint8)


def dequantize(q):
    """The official reader's dequantization (float32)."""
    return q.astype(np.float32) * np.float32(
        constants.DEQUANTIZE_SCALE
    ) + np.float32(constants.DEQUANTIZE_BIAS)


def _bytes_feature(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int_feature(values):
    return tf.train.Feature(
        int64_list=tf.train.Int64List(value=[int(v) for v in values])
    )


def _float_feature(values):
    return tf.train.Feature(
        float_list=tf.train.FloatList(value=[float(v) for v in values])
    )


def frame_example(video_id, labels, rgb, audio, segments=None):
    """One frame-level `tf.train.SequenceExample`, serialized.

    Args:
        video_id: str id.
        labels: iterable of int class indices.
        rgb, audio: uint8 arrays (frames, 1024) and (frames, 128).
        segments: optional list of ``(start, class, score)`` ratings.
    """
    context = {
        "id": _bytes_feature([video_id.encode()]),
        "labels": _int_feature(labels),
    }
    if segments is not None:
        starts = [s for s, _, _ in segments]
        context["segment_start_times"] = _int_feature(starts)
        context["segment_end_times"] = _int_feature([s + 5 for s in starts])
        context["segment_labels"] = _int_feature([c for _, c, _ in segments])
        context["segment_scores"] = _float_feature([v for _, _, v in segments])
    lists = {
        name: tf.train.FeatureList.FromString(_frame_list_bytes(frames))
        for name, frames in (("rgb", rgb), ("audio", audio))
    }
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=lists),
    ).SerializeToString()


_ROW_PREFIXES = {}


def _frame_list_bytes(frames):
    """A serialized `tf.train.FeatureList` of one bytes `Feature` per row
    of the uint8 matrix `frames`, built without a Python object per frame.

    Protobuf appends the repeated fields of concatenated messages, so the
    list is the concatenation of one-frame lists, and every one-frame list
    of a given row size is one fixed prefix (written by protobuf itself,
    once per size) followed by the row's bytes.
    """
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 2:
        raise ValueError(
            f"frames must be a (frames, size) matrix. Received shape "
            f"{frames.shape}."
        )
    count, size = frames.shape
    prefix = _ROW_PREFIXES.get(size)
    if prefix is None:
        one = tf.train.FeatureList(feature=[_bytes_feature([bytes(size)])])
        prefix = np.frombuffer(one.SerializeToString()[:-size], np.uint8)
        _ROW_PREFIXES[size] = prefix
    rows = np.empty((count, len(prefix) + size), np.uint8)
    rows[:, : len(prefix)] = prefix
    rows[:, len(prefix) :] = frames
    return rows.tobytes()


def video_example(video_id, labels, mean_rgb, mean_audio):
    """One video-level `tf.train.Example`, serialized."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "id": _bytes_feature([video_id.encode()]),
                "labels": _int_feature(labels),
                "mean_rgb": _float_feature(mean_rgb),
                "mean_audio": _float_feature(mean_audio),
            }
        )
    ).SerializeToString()


class SyntheticYT8M:
    """A reproducible generator of YouTube-8M-like videos.

    Args:
        num_classes: vocabulary size.
        num_local_classes: how many classes (the last indices) are local
            events.
        max_frames: longest video (frames at 1 Hz, at most 300 in YT-8M).
        min_frames: shortest video.
        labels_per_video: mean number of global classes drawn per video
            (>= 1; a class drawn twice counts once). With 3862 classes,
            300-frame videos and the other defaults, 2.6 gives a mean of
            3.0 labels per video (local events included), the 2018
            release's.
        zipf: exponent of the long tail of global classes.
        local_rate: fraction of videos long enough that get a local event.
        event_span: the two motif frames of an event are 1..event_span
            frames apart.
        distractor_gap: minimum distance of the motif frames of a
            distractor.
        signal: strength of class prototypes relative to the frame noise.
        seed: seed of the class prototypes (the "world"); the videos of
            each call of `videos` have their own seed.
        feature_sizes: ``{"rgb": n, "audio": m}``, the floats per frame of
            each modality (default the dataset's 1024 and 128). Smaller
            sizes make small, fast test data; read it back with
            ``features={"rgb": n, "audio": m}``. The class signal per
            coordinate does not depend on the size.
    """

    def __init__(
        self,
        num_classes=constants.NUM_CLASSES,
        num_local_classes=None,
        max_frames=constants.MAX_FRAMES,
        min_frames=1,
        labels_per_video=2.0,
        zipf=1.0,
        local_rate=0.5,
        event_span=3,
        distractor_gap=40,
        signal=0.6,
        seed=0,
        feature_sizes=None,
    ):
        feature_sizes = dict(feature_sizes or _FEATURE_SIZES)
        if set(feature_sizes) != set(_FEATURE_SIZES) or not all(
            isinstance(n, int) and n > 0 for n in feature_sizes.values()
        ):
            raise ValueError(
                "feature_sizes must give a positive int for 'rgb' and "
                f"'audio'. Received {feature_sizes!r}."
            )
        self.feature_sizes = feature_sizes
        if num_local_classes is None:
            num_local_classes = max(1, num_classes // 10)
        if not 0 < num_local_classes < num_classes:
            raise ValueError(
                "num_local_classes must be in [1, num_classes). Received "
                f"{num_local_classes} of {num_classes}."
            )
        if not 1 <= min_frames <= max_frames:
            raise ValueError("Need 1 <= min_frames <= max_frames.")
        if not labels_per_video >= 1:
            raise ValueError(
                f"labels_per_video must be >= 1. Received {labels_per_video}."
            )
        self.num_classes = num_classes
        self.num_local_classes = num_local_classes
        self.num_global_classes = num_classes - num_local_classes
        self.max_frames = max_frames
        self.min_frames = min_frames
        self.labels_per_video = labels_per_video
        self.local_rate = local_rate
        self.event_span = event_span
        self.distractor_gap = distractor_gap
        self.signal = signal
        world = np.random.default_rng(seed)
        ranks = np.arange(self.num_global_classes)
        weights = 1.0 / (ranks + 1.0) ** zipf
        self.class_probs = weights / weights.sum()
        self.prototypes = {
            name: self._unit(world.normal(size=(num_classes, size)))
            for name, size in feature_sizes.items()
        }
        # Two motif frames per local class, in both modalities.
        self.motifs = {
            name: self._unit(world.normal(size=(num_local_classes, 2, size)))
            for name, size in feature_sizes.items()
        }

    @staticmethod
    def _unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def _frames(self, rng, length, labels):
        """Noise plus each label's prototype on a random 30-70% of the
        frames; returns the frames and ``{class: frames that carry it}``
        (of the rgb stream: both streams carry a class on the same number
        of frames, drawn independently)."""
        out = {}
        presence = {}
        for name, size in self.feature_sizes.items():
            scale = np.sqrt(size)
            x = rng.normal(scale=0.5, size=(length, size))
            for c in labels:
                on = rng.random(length) < rng.uniform(0.3, 0.7)
                if not on.any():
                    on[rng.integers(length)] = True
                x[on] += self.signal * scale * 0.5 * self.prototypes[name][c]
                presence.setdefault(c, on)
            out[name] = x
        return out, presence

    def _place_motifs(self, frames, k, i, j):
        for name, size in self.feature_sizes.items():
            scale = np.sqrt(size)
            frames[name][i] = (
                0.25 * frames[name][i]
                + 1.5 * scale * 0.5 * self.motifs[name][k, 0]
            )
            frames[name][j] = (
                0.25 * frames[name][j]
                + 1.5 * scale * 0.5 * self.motifs[name][k, 1]
            )

    def video(self, rng, index):
        """One video: ``(id, labels, rgb uint8, audio uint8)``."""
        return self.video_and_presence(rng, index)[:4]

    def video_and_presence(self, rng, index):
        """`video` and ``{class: bool (frames,)}``: the frames that carry
        each label's signal (a global class's prototype; a local event's
        two motif frames)."""
        length = int(rng.integers(self.min_frames, self.max_frames + 1))
        count = max(1, rng.poisson(self.labels_per_video - 1) + 1)
        labels = sorted(
            set(
                rng.choice(
                    self.num_global_classes, size=count, p=self.class_probs
                ).tolist()
            )
        )
        frames, presence = self._frames(rng, length, labels)
        need = self.distractor_gap + 2
        if (
            self.num_local_classes > 1
            and length >= need
            and rng.random() < self.local_rate
        ):
            k, other = rng.choice(self.num_local_classes, 2, replace=False)
            gap = int(rng.integers(1, self.event_span + 1))
            i = int(rng.integers(0, length - gap))
            j = i + gap
            if rng.random() < 0.5:
                i, j = j, i
            # Distractor: the other class's motifs at least `gap` apart,
            # on frames not used by the event.
            free = [t for t in range(length) if t not in (i, j)]
            for _ in range(100):
                a, b = rng.choice(free, 2, replace=False)
                if abs(int(a) - int(b)) >= self.distractor_gap:
                    break
            else:
                a, b = free[0], free[-1]
            self._place_motifs(frames, k, i, j)
            self._place_motifs(frames, other, int(a), int(b))
            labels.append(self.num_global_classes + int(k))
            event = np.zeros(length, bool)
            event[[i, j]] = True
            presence[self.num_global_classes + int(k)] = event
        video_id = _video_id(index)
        return (
            video_id,
            labels,
            quantize(frames["rgb"]),
            quantize(frames["audio"]),
            presence,
        )

    def videos(self, count, seed=0, start_index=0, presence=False):
        """`count` videos; with `presence`, each with its
        ``{class: frames}`` (see `video_and_presence`)."""
        rng = np.random.default_rng([seed, start_index])
        for n in range(count):
            video = self.video_and_presence(rng, start_index + n)
            yield video if presence else video[:4]

    def segments(self, rng, labels, length, num_ratings=5, presence=None):
        """2019-style ratings of 5-frame segments (starts 0, 5, 10, ...).

        Each rated segment is rated for one of the video's classes and,
        when it draws one the video does not have, for an absent class
        (score 0.0). Without `presence` a video's class is rated 1.0 on
        every segment. With it (`video_and_presence`), the rating follows
        the segment's own frames, as a human rater's would: 1.0 when at
        least 3 of its 5 frames carry the class's prototype (a global
        class) or when it holds both motif frames of the event (a local
        class), else 0.0.
        """
        starts = np.arange(0, max(length - 4, 1), 5)
        starts = starts[starts + 5 <= length]
        if not len(starts):
            return []
        ratings = []
        for s in rng.choice(
            starts, size=min(num_ratings, len(starts)), replace=False
        ):
            c = int(rng.choice(labels))
            ratings.append((int(s), c, self._rating(presence, c, s)))
            absent = int(rng.integers(self.num_classes))
            if absent not in labels:
                ratings.append((int(s), absent, 0.0))
        if presence is not None:
            # A local event is rated where it happens, when one segment
            # holds both of its frames.
            for c in labels:
                frames = np.flatnonzero(presence[c])
                if c < self.num_global_classes or len(frames) != 2:
                    continue
                s = 5 * (int(frames[0]) // 5)
                fits = int(frames[1]) < s + 5 and s + 5 <= length
                if fits and (s, c) not in {(r[0], r[1]) for r in ratings}:
                    ratings.append((s, int(c), 1.0))
        return ratings

    def _rating(self, presence, c, start):
        if presence is None:
            return 1.0
        on = presence[c][start : start + 5]
        if c >= self.num_global_classes:  # both motif frames of the event
            return float(on.sum() == presence[c].sum())
        return float(on.sum() >= 3)


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _video_id(index):
    """4-character ids like the 2018 release (e.g. 'fg6m')."""
    chars = []
    for _ in range(4):
        index, r = divmod(index, len(_ALPHABET))
        chars.append(_ALPHABET[r])
    return "".join(reversed(chars))


def write_vocabulary(path, num_classes, num_local_classes=0):
    """vocabulary.csv in the 2018 layout (yt8m-format.md 6)."""
    import csv

    with tf.io.gfile.GFile(path, "w") as f:
        writer = csv.writer(f)
        writer.writerow(VOCABULARY_COLUMNS)
        first_local = num_classes - num_local_classes
        for c in range(num_classes):
            local = c >= first_local
            name = (
                f"Local event {c - first_local}"
                if local
                else f"Synthetic class {c}"
            )
            writer.writerow(
                [
                    c,
                    max(1, int(100000 / (c + 1))),
                    f"/m/synth{c:04d}",
                    name,
                    f"https://example.invalid/wiki/class_{c}",
                    "Events" if local else "Synthetic",
                    "",
                    "",
                    "A synthetic class of keras-gmsa.",
                ]
            )


def write_dataset(
    directory,
    num_videos=1024,
    num_shards=4,
    split="train",
    generator=None,
    layouts=("frame", "video"),
    seed=0,
    start_index=0,
):
    """Writes shards of synthetic videos in the native layouts.

    Files: ``<directory>/frame/<split>NNNN.tfrecord``,
    ``<directory>/video/<split>NNNN.tfrecord`` and (layout ``"segment"``)
    ``<directory>/segment/<split>NNNN.tfrecord``, plus
    ``<directory>/vocabulary.csv``. The same videos appear in every layout.

    Returns:
        ``{layout: [paths]}``.
    """
    generator = generator or SyntheticYT8M()
    for layout in layouts:
        if layout not in ("frame", "video", "segment"):
            raise ValueError(
                f"Unknown layout {layout!r}; allowed: frame, video, segment."
            )
    paths = {
        layout: [
            os.path.join(directory, layout, f"{split}{s:04d}.tfrecord")
            for s in range(num_shards)
        ]
        for layout in layouts
    }
    for layout in layouts:
        tf.io.gfile.makedirs(os.path.join(directory, layout))
    writers = {
        layout: [tf.io.TFRecordWriter(p) for p in paths[layout]]
        for layout in layouts
    }
    rng = np.random.default_rng([seed, start_index, 1])
    try:
        for n, (vid, labels, rgb, audio, presence) in enumerate(
            generator.videos(
                num_videos, seed=seed, start_index=start_index, presence=True
            )
        ):
            shard = n % num_shards
            if "frame" in writers:
                writers["frame"][shard].write(
                    frame_example(vid, labels, rgb, audio)
                )
            if "video" in writers:
                writers["video"][shard].write(
                    video_example(
                        vid,
                        labels,
                        dequantize(rgb).mean(0),
                        dequantize(audio).mean(0),
                    )
                )
            if "segment" in writers:
                ratings = generator.segments(
                    rng, labels, len(rgb), presence=presence
                )
                writers["segment"][shard].write(
                    frame_example(vid, labels, rgb, audio, ratings)
                )
    finally:
        for group in writers.values():
            for w in group:
                w.close()
    write_vocabulary(
        os.path.join(directory, "vocabulary.csv"),
        generator.num_classes,
        generator.num_local_classes,
    )
    return paths
