"""Records for the loader tests, written without TensorFlow
(`tests.data.independent_writer`), and ways to read and compare batches."""

import numpy as np

from tests.data import independent_writer as iw

CLASSES = 20
FRAMES = 20
SIZES = {"rgb": 16, "audio": 8}
VIDEO_SIZES = {"mean_rgb": 16, "mean_audio": 8}
# Records per shard: an empty shard and a one-record shard make the
# interleave's cycle refill at odd places.
SHARDS = (7, 0, 1, 12, 5)


def _ratings(rng, n_frames):
    """(start, class, score) ratings within the first `n_frames` frames
    (at most FRAMES): shared starts, a pair rated twice, halves."""
    reach = min(n_frames, FRAMES)
    starts = list(range(0, reach - 4, 5)) or []
    out = []
    for start in starts[:3]:
        for _ in range(int(rng.integers(1, 3))):
            out.append(
                (
                    start,
                    int(rng.integers(0, CLASSES)),
                    float(rng.choice([0.0, 0.5, 1.0])),
                )
            )
    if out:
        out.append(out[0][:2] + (1.0,))
    return out


def frame_record(video_id, labels, frames, ratings=None):
    context = {
        "id": iw.bytes_feature([video_id.encode()]),
        "labels": iw.int64_feature(labels),
    }
    if ratings is not None:
        context["segment_start_times"] = iw.int64_feature(
            [s for s, _, _ in ratings]
        )
        context["segment_end_times"] = iw.int64_feature(
            [s + 5 for s, _, _ in ratings]
        )
        context["segment_labels"] = iw.int64_feature([c for _, c, _ in ratings])
        context["segment_scores"] = iw.float_feature([x for _, _, x in ratings])
    lists = {
        name: [iw.bytes_feature([row.tobytes()]) for row in rows]
        for name, rows in frames.items()
    }
    return iw.sequence_example(context, lists)


def video_record(video_id, labels, features):
    context = {
        "id": iw.bytes_feature([video_id.encode()]),
        "labels": iw.int64_feature(labels),
    }
    for name, values in features.items():
        context[name] = iw.float_feature([float(v) for v in values])
    return iw.example(context)


def write_corpus(root, seed=0):
    """Frame, video and segment-rated shards of the same videos:
    ``{layout: pattern}``."""
    rng = np.random.default_rng(seed)
    patterns = {}
    for layout in ("frame", "video", "segment"):
        (root / layout).mkdir(parents=True, exist_ok=True)
        patterns[layout] = str(root / layout / "train*.tfrecord")
    number = 0
    for shard, count in enumerate(SHARDS):
        records = {"frame": [], "video": [], "segment": []}
        for _ in range(count):
            video_id = "".join(
                rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 4)
            ) + str(number)
            number += 1
            # At least one 5-frame segment: tf.data's segment reader
            # crashes (SIGSEGV) on a batch of records without ratings.
            n_frames = int(rng.integers(5, 31))
            labels = sorted(
                {int(x) for x in rng.integers(0, CLASSES, rng.integers(0, 4))}
            )
            frames = {
                name: rng.integers(0, 256, (n_frames, size), dtype=np.uint8)
                for name, size in SIZES.items()
            }
            records["frame"].append(frame_record(video_id, labels, frames))
            ratings = _ratings(rng, n_frames)
            records["segment"].append(
                frame_record(video_id, labels, frames, ratings)
            )
            means = {
                name: rng.normal(size=size).astype(np.float32)
                for name, size in VIDEO_SIZES.items()
            }
            records["video"].append(video_record(video_id, labels, means))
        for layout, payloads in records.items():
            iw.write_records(
                root / layout / f"train{shard:04d}.tfrecord", payloads
            )
    return patterns


def to_numpy(batches, limit=None):
    """A list of batches as tuples of NumPy arrays (dicts kept)."""

    def convert(x):
        if isinstance(x, np.ndarray):
            return x
        if hasattr(x, "numpy"):
            return x.numpy()
        return np.asarray(x)

    out = []
    for n, batch in enumerate(batches):
        if limit is not None and n >= limit:
            break
        out.append(
            tuple(
                {k: convert(v) for k, v in part.items()}
                if isinstance(part, dict)
                else convert(part)
                for part in batch
            )
        )
    return out


def _same_array(a, b, where):
    assert a.dtype == b.dtype, (where, a.dtype, b.dtype)
    assert a.shape == b.shape, (where, a.shape, b.shape)
    if a.dtype == object:
        assert [bytes(x) for x in a] == [bytes(x) for x in b], where
    else:
        # Bit for bit: -0.0 and +0.0 differ, NaNs compare.
        assert a.tobytes() == b.tobytes(), where


def assert_identical(expected, actual):
    """Two lists of batches, equal bit for bit (keys in the same order)."""
    assert len(expected) == len(actual), (len(expected), len(actual))
    for n, (x, y) in enumerate(zip(expected, actual, strict=True)):
        assert len(x) == len(y), n
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            if isinstance(p, dict):
                assert list(p) == list(q), (n, list(p), list(q))
                for key in p:
                    _same_array(p[key], q[key], (n, key))
            else:
                _same_array(p, q, (n, i))


def examples(batches):
    """Every example of a list of batches as one sortable bytes key (its
    id first when the batches carry ids)."""
    keys = []
    for batch in batches:
        features, labels, *rest = batch
        for row in range(len(labels)):
            parts = [rest[0][row]] if rest else []
            parts += [features[k][row].tobytes() for k in features]
            parts.append(labels[row].tobytes())
            keys.append(b"|".join(bytes(p) for p in parts))
    return sorted(keys)
