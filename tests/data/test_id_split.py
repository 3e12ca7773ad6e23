"""The split by video id is a published protocol: pinned, id by id.

A user's validation set ("holdout:F") and everyone who reproduces their
numbers depend on the same ids falling in the same part across versions,
hosts and readers. The table below was taken once (TensorFlow 2.21) from
``tf.strings.to_hash_bucket_fast(ids, 1_000_000)``, and checked against
FarmHash's ``fingerprint64(utf-8 bytes) % 1_000_000`` (pyfarmhash): it is
the definition (README, docs/faithfulness.md). Do not regenerate it: a
change that fails here moves users' validation sets.

Every reader with an ``id_split`` is checked against it on real records.
A new reader (one without TensorFlow, say) joins `READERS`; a new
implementation of the split itself gets the first test's checks too.
"""

import numpy as np
import pytest

from keras_gmsa import data
from keras_gmsa import loaders

# the id split does not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("tensorflow")

# (id, bucket, part at "holdout:0.03", part at "holdout:0.5"), by bucket.
# 2018-release ids (4 characters), YouTube-length ids, and edge cases: an
# empty id, non-ASCII ids (hashed as UTF-8 bytes), a space.
TABLE = [
    ("a02t", 21, "holdout", "holdout"),
    ("a04D", 1120, "holdout", "holdout"),
    ("a05u", 3776, "holdout", "holdout"),
    ("a06D", 8160, "holdout", "holdout"),
    ("a03S", 14111, "holdout", "holdout"),
    ("a01n", 18323, "holdout", "holdout"),
    ("a04s", 20459, "holdout", "holdout"),
    ("a03t", 22582, "holdout", "holdout"),
    ("a01d", 29381, "holdout", "holdout"),
    ("Vy7r", 35746, "rest", "holdout"),
    ("ZZZZ", 39524, "rest", "holdout"),
    ("A", 60564, "rest", "holdout"),
    ("0000", 122367, "rest", "holdout"),
    ("LBfj", 184184, "rest", "holdout"),
    ("uT2k", 301746, "rest", "holdout"),
    ("Hh5s", 322831, "rest", "holdout"),
    ("dQw4w9WgXcQ", 336669, "rest", "holdout"),
    ("a b", 357877, "rest", "holdout"),
    ("zzzz", 371697, "rest", "holdout"),
    ("", 397263, "rest", "holdout"),
    ("nXSc", 578605, "rest", "rest"),
    ("3Ezz", 606139, "rest", "rest"),
    ("日本語", 675783, "rest", "rest"),
    ("-09K4OPZSSo", 730262, "rest", "rest"),
    ("e4Rw", 730688, "rest", "rest"),
    ("pX0o", 758182, "rest", "rest"),
    ("é", 849025, "rest", "rest"),
    ("9mQa", 907084, "rest", "rest"),
    ("fg6m", 909046, "rest", "rest"),
    ("kqN0", 929701, "rest", "rest"),
    ("Ab3d", 956667, "rest", "rest"),
]
FRACTIONS = (0.03, 0.5)
# The threshold: round(fraction * 10^6), and a bucket below it is in the
# holdout. "fg6m" is in bucket 909046: (fraction, in the holdout).
THRESHOLDS = [
    (0.909046, False),  # threshold 909046: below, not at
    (0.9090464, False),  # 909046.4 rounds down (not up)
    (0.9090466, True),  # 909046.6 rounds up (not down)
    (0.909047, True),
]
IDS = [row[0] for row in TABLE]


def _expected(spec):
    part, fraction = spec.split(":")
    column = 2 + FRACTIONS.index(float(fraction))
    holdout = {row[0] for row in TABLE if row[column] == "holdout"}
    return holdout if part == "holdout" else set(IDS) - holdout


SPECS = [f"{part}:{f}" for f in FRACTIONS for part in ("holdout", "rest")]


def test_every_id_is_in_its_bucket_and_part():
    selected = {spec: data.in_split(IDS, spec) for spec in SPECS}
    for spec in SPECS:
        chosen = {
            i for i, keep in zip(IDS, selected[spec], strict=True) if keep
        }
        assert chosen == _expected(spec), spec
    # The bucket itself: the holdout of fraction b / 10^6 ends just below
    # bucket b, that of (b + 1) / 10^6 just above it.
    for video_id, bucket, _, _ in TABLE:
        below = data.IdSplit("holdout", bucket / 1_000_000)
        above = data.IdSplit("holdout", (bucket + 1) / 1_000_000)
        ids = np.array([video_id.encode()], dtype=object)
        assert not below.contains(ids).numpy()[0], (video_id, bucket)
        assert above.contains(ids).numpy()[0], (video_id, bucket)
    for fraction, holdout in THRESHOLDS:
        assert data.in_split(["fg6m"], f"holdout:{fraction}")[0] == holdout
        assert data.in_split(["fg6m"], f"rest:{fraction}")[0] != holdout
    # str and bytes ids alike (UTF-8).
    utf8 = data.in_split([i.encode() for i in IDS], "holdout:0.5")
    np.testing.assert_array_equal(utf8, selected["holdout:0.5"])


CLASSES = 4
FRAMES = 10
SIZES = {"rgb": 8, "audio": 4}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Frame, video and segment-rated records of the table's ids."""
    import tensorflow as tf

    from keras_gmsa.data import synthetic

    root = tmp_path_factory.mktemp("id_split")
    rng = np.random.default_rng(0)
    shards = 2
    paths = {
        layout: [str(root / f"{layout}{s}.tfrecord") for s in range(shards)]
        for layout in ("frame", "video", "segment")
    }
    writers = {
        k: [tf.io.TFRecordWriter(p) for p in v] for k, v in paths.items()
    }
    for n, video_id in enumerate(IDS):
        labels = [n % CLASSES]
        rgb = rng.integers(0, 256, (FRAMES, SIZES["rgb"]), dtype=np.uint8)
        audio = rng.integers(0, 256, (FRAMES, SIZES["audio"]), dtype=np.uint8)
        shard = n % shards
        writers["frame"][shard].write(
            synthetic.frame_example(video_id, labels, rgb, audio)
        )
        writers["video"][shard].write(
            synthetic.video_example(
                video_id,
                labels,
                synthetic.dequantize(rgb).mean(0),
                synthetic.dequantize(audio).mean(0),
            )
        )
        ratings = [(0, labels[0], 1.0), (5, (n + 1) % CLASSES, 0.0)]
        writers["segment"][shard].write(
            synthetic.frame_example(video_id, labels, rgb, audio, ratings)
        )
    for group in writers.values():
        for writer in group:
            writer.close()
    return {k: str(root / f"{k}*.tfrecord") for k in paths}


def _frame(pattern, **options):
    return data.frame_dataset(
        pattern, features=SIZES, max_frames=FRAMES, **options
    )


def _video(pattern, **options):
    return data.video_dataset(
        pattern, features={"mean_rgb": 8, "mean_audio": 4}, **options
    )


def _segment(pattern, **options):
    return data.segment_dataset(
        pattern, features=SIZES, max_frames=FRAMES, **options
    )


def _native(read, framework):
    # keras_gmsa.loaders' reader of the same layout.
    name = {_frame: "frame_loader", _video: "video_loader"}.get(
        read, "segment_loader"
    )
    native = getattr(loaders, name)

    def reader(pattern, **options):
        if read is _video:
            options["features"] = {"mean_rgb": 8, "mean_audio": 4}
        else:
            options.update(features=SIZES, max_frames=FRAMES)
        return native(pattern, framework=framework, **options)

    return reader


# reader name: (layout of its records, reader, ids per video).
READERS = {
    "frame_dataset": ("frame", _frame, 1),
    "video_dataset": ("video", _video, 1),
    "segment_dataset": ("segment", _segment, 2),
}
for _name, (_layout, _read, _per) in list(READERS.items()):
    for _framework in ("grain", "torch"):
        READERS[f"{_name[: -len('dataset')]}loader-{_framework}"] = (
            _layout,
            _native(_read, _framework),
            _per,
        )


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_keeps_the_ids_of_the_table(records, reader):
    layout, read, per_video = READERS[reader]
    # Both parts, both fractions (the two others follow: in_split above).
    for spec in ("holdout:0.03", "rest:0.5"):
        dataset = read(
            records[layout],
            num_classes=CLASSES,
            batch_size=8,
            with_ids=True,
            id_split=spec,
        )
        ids = [
            i.decode()
            for _, _, batch in loaders.numpy_batches(dataset)
            for i in batch
        ]
        if layout == "segment":  # "<video id>:<start>"
            ids = [i.rpartition(":")[0] for i in ids]
        expected = _expected(spec)
        # Each kept video once (each of its rated segments, for segments).
        assert sorted(ids) == sorted(list(expected) * per_video), (
            reader,
            spec,
        )
