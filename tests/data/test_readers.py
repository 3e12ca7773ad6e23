"""Readers over real TFRecord files written in the tests."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gmsa import data
from keras_gmsa.data import synthetic
from tests.data import independent_writer as iw

# tf.data reads the same records whatever the Keras backend: one backend.
pytestmark = pytest.mark.backends("tensorflow")

SIZES = {"rgb": 1024, "audio": 128}


def make_video(rng, n_frames, labels, vid):
    return dict(
        id=vid,
        labels=labels,
        rgb=rng.integers(0, 256, (n_frames, 1024), dtype=np.uint8),
        audio=rng.integers(0, 256, (n_frames, 128), dtype=np.uint8),
    )


def independent_frame_record(v, **extra_context):
    context = {
        "id": iw.bytes_feature([v["id"].encode()]),
        "labels": iw.int64_feature(v["labels"]),
    }
    context.update(extra_context)
    lists = {
        name: [iw.bytes_feature([row.tobytes()]) for row in v[name]]
        for name in ("rgb", "audio")
        if name in v
    }
    return iw.sequence_example(context, lists)


def read_all(dataset):
    feats, labels, ids = [], [], []
    for f, l, i in dataset:
        feats.append({k: v.numpy() for k, v in f.items()})
        labels.append(l.numpy())
        ids.extend(x.decode() for x in i.numpy())
    merged = {k: np.concatenate([f[k] for f in feats]) for k in feats[0]}
    return merged, np.concatenate(labels), ids


@pytest.fixture
def videos(rng):
    return [
        make_video(rng, n, labels, vid)
        for n, labels, vid in [
            (300, [0, 5, 3861], "fg6m"),
            (1, [7], "6l0e"),
            (45, [], "a0B9"),
            (300 + 20, [12, 13], "zzzz"),
            (120, [3861], "Q7x1"),
        ]
    ]


@pytest.mark.parametrize("writer", ["independent", "tensorflow"])
def test_frame_records_read_back_exactly(tmp_path, videos, writer):
    if writer == "independent":
        iw.write_records(
            tmp_path / "train0000.tfrecord",
            [independent_frame_record(v) for v in videos[:3]],
        )
        iw.write_records(
            tmp_path / "train0001.tfrecord",
            [independent_frame_record(v) for v in videos[3:]],
        )
    else:
        for shard, part in ((0, videos[:3]), (1, videos[3:])):
            with tf.io.TFRecordWriter(
                str(tmp_path / f"train{shard:04d}.tfrecord")
            ) as w:
                for v in part:
                    w.write(
                        synthetic.frame_example(
                            v["id"], v["labels"], v["rgb"], v["audio"]
                        )
                    )
    ds = data.frame_dataset(
        str(tmp_path / "train*.tfrecord"),
        batch_size=2,
        with_ids=True,
        cycle_length=1,
    )
    feats, labels, ids = read_all(ds)
    assert ids == [v["id"] for v in videos]
    assert feats["rgb"].dtype == np.uint8 and feats["rgb"].shape == (
        5,
        300,
        1024,
    )
    for row, v in enumerate(videos):
        n = min(len(v["rgb"]), 300)
        assert feats["num_frames"][row] == n
        np.testing.assert_array_equal(feats["rgb"][row, :n], v["rgb"][:n])
        np.testing.assert_array_equal(feats["audio"][row, :n], v["audio"][:n])
        assert not feats["rgb"][row, n:].any()
        expected = np.zeros(3862, np.float32)
        expected[v["labels"]] = 1
        np.testing.assert_array_equal(labels[row], expected)


def test_dequantized_frames_use_official_constants_and_float_padding(
    tmp_path, videos
):
    iw.write_records(
        tmp_path / "v.tfrecord",
        [independent_frame_record(v) for v in videos[:2]],
    )
    ds = data.frame_dataset(
        str(tmp_path / "v.tfrecord"),
        batch_size=2,
        dequantize_frames=True,
        max_frames=10,
    )
    feats, _ = next(iter(ds))
    rgb = feats["rgb"].numpy()
    assert rgb.dtype == np.float32 and rgb.shape == (2, 10, 1024)
    expected = videos[0]["rgb"][:10].astype(np.float32) * np.float32(
        4 / 255
    ) + np.float32(4 / 512 - 2)
    np.testing.assert_array_equal(rgb[0], expected)
    assert (rgb[1, 1:] == 0.0).all()  # padding is 0.0 in float space
    assert feats["num_frames"].numpy().tolist() == [10, 1]


def test_audio_only_and_custom_sizes(tmp_path, rng):
    v = make_video(rng, 8, [1], "abcd")
    small = rng.integers(0, 256, (8, 16), dtype=np.uint8)
    record = iw.sequence_example(
        {"id": iw.bytes_feature([b"abcd"]), "labels": iw.int64_feature([1])},
        {
            "audio": [iw.bytes_feature([r.tobytes()]) for r in v["audio"]],
            "emb": [iw.bytes_feature([r.tobytes()]) for r in small],
        },
    )
    iw.write_records(tmp_path / "a.tfrecord", [record])
    feats, labels = next(
        iter(
            data.frame_dataset(
                str(tmp_path / "a.tfrecord"),
                features={"audio": 128},
                num_classes=4,
                max_frames=8,
            )
        )
    )
    assert set(feats) == {"audio", "num_frames"}
    np.testing.assert_array_equal(feats["audio"][0].numpy(), v["audio"])
    assert labels.shape == (1, 4)
    feats, _ = next(
        iter(
            data.frame_dataset(
                str(tmp_path / "a.tfrecord"), features={"emb": 16}, max_frames=8
            )
        )
    )
    np.testing.assert_array_equal(feats["emb"][0].numpy(), small)


def test_video_level_records_read_back_exactly(tmp_path, rng):
    rows = [
        (
            f"v{i:03d}",
            sorted(rng.choice(3862, i + 1, replace=False)),
            rng.normal(size=1024).astype(np.float32),
            rng.normal(size=128).astype(np.float32),
        )
        for i in range(5)
    ]
    iw.write_records(
        tmp_path / "video0.tfrecord",
        [
            iw.example(
                {
                    "id": iw.bytes_feature([vid.encode()]),
                    "labels": iw.int64_feature([int(x) for x in labels]),
                    "mean_rgb": iw.float_feature(r.tolist()),
                    "mean_audio": iw.float_feature(a.tolist()),
                }
            )
            for vid, labels, r, a in rows
        ],
    )
    ds = data.video_dataset(
        str(tmp_path / "video*.tfrecord"), batch_size=2, with_ids=True
    )
    feats, labels, ids = read_all(ds)
    assert ids == [r[0] for r in rows]
    for i, (_, lab, r, a) in enumerate(rows):
        np.testing.assert_array_equal(feats["mean_rgb"][i], r)
        np.testing.assert_array_equal(feats["mean_audio"][i], a)
        assert np.flatnonzero(labels[i]).tolist() == [int(x) for x in lab]


def test_segment_records(tmp_path, rng):
    v = make_video(rng, 30, [3, 9], "seg1")
    ratings = [(10, 3, 1.0), (10, 9, 0.0), (0, 9, 1.0), (25, 3, 0.0)]
    context = {
        "segment_start_times": iw.int64_feature([s for s, _, _ in ratings]),
        "segment_end_times": iw.int64_feature([s + 5 for s, _, _ in ratings]),
        "segment_labels": iw.int64_feature([c for _, c, _ in ratings]),
        "segment_scores": iw.float_feature([x for _, _, x in ratings]),
    }
    iw.write_records(
        tmp_path / "s.tfrecord", [independent_frame_record(v, **context)]
    )
    ds = data.segment_dataset(
        str(tmp_path / "s.tfrecord"),
        batch_size=8,
        num_classes=12,
        with_ids=True,
    )
    feats, labels, ids = read_all(ds)
    assert ids == ["seg1:10", "seg1:0", "seg1:25"]
    np.testing.assert_array_equal(feats["rgb"][0], v["rgb"][10:15])
    np.testing.assert_array_equal(feats["audio"][2], v["audio"][25:30])
    assert feats["num_frames"].tolist() == [5, 5, 5]
    assert np.flatnonzero(labels[0]).tolist() == [3]
    assert np.flatnonzero(feats["label_weights"][0]).tolist() == [3, 9]
    assert np.flatnonzero(labels[1]).tolist() == [9]
    assert labels[2].sum() == 0 and feats["label_weights"][2, 3] == 1
    # Test-time windows: 0, 5, ..., 25 (30 frames), all with 5 frames.
    ds = data.segment_dataset(
        str(tmp_path / "s.tfrecord"),
        batch_size=8,
        num_classes=12,
        with_ids=True,
        rated_only=False,
    )
    feats, labels, ids = read_all(ds)
    assert ids == [f"seg1:{s}" for s in range(0, 30, 5)]
    np.testing.assert_array_equal(feats["rgb"][5], v["rgb"][25:30])


def test_test_time_windows_pad_the_last_partial_window(tmp_path, rng):
    v = make_video(rng, 12, [], "part")
    iw.write_records(tmp_path / "t.tfrecord", [independent_frame_record(v)])
    feats, _, ids = read_all(
        data.segment_dataset(
            str(tmp_path / "t.tfrecord"),
            batch_size=8,
            num_classes=5,
            with_ids=True,
            rated_only=False,
        )
    )
    assert ids == ["part:0", "part:5", "part:10"]
    assert feats["num_frames"].tolist() == [5, 5, 2]
    np.testing.assert_array_equal(feats["rgb"][2, :2], v["rgb"][10:12])
    assert not feats["rgb"][2, 2:].any()


def test_shuffle_is_seeded_and_every_record_is_read(tmp_path):
    gen = synthetic.SyntheticYT8M(
        num_classes=20, num_local_classes=2, max_frames=20
    )
    synthetic.write_dataset(
        tmp_path, num_videos=40, num_shards=4, generator=gen, layouts=("frame",)
    )
    pattern = str(tmp_path / "frame" / "train*.tfrecord")

    def order(**kw):
        ds = data.frame_dataset(
            pattern,
            batch_size=8,
            num_classes=20,
            max_frames=20,
            with_ids=True,
            **kw,
        )
        return [i.decode() for _, _, ids in ds for i in ids.numpy()]

    plain = order()
    assert sorted(plain) == sorted(set(plain)) and len(plain) == 40
    assert order() == plain
    shuffled = order(shuffle=True, seed=3, deterministic=True)
    assert shuffled == order(shuffle=True, seed=3, deterministic=True)
    assert shuffled != plain and sorted(shuffled) == sorted(plain)
    twice = order(repeat=2)
    assert len(twice) == 80
    ds = data.frame_dataset(
        pattern,
        batch_size=8,
        num_classes=20,
        max_frames=20,
        drop_remainder=True,
    )
    assert all(f["rgb"].shape[0] == 8 for f, _ in ds)


@pytest.mark.parametrize("layout", ["frame", "video", "segment"])
def test_a_seed_fixes_the_order_of_every_read(tmp_path, layout):
    # The README's own call: shuffle=True, seed=0, nothing about
    # `deterministic`. Every read of one dataset, and of a new one, yields
    # the same order; each pass of a repeated dataset is in a new order.
    gen = synthetic.SyntheticYT8M(
        num_classes=20, num_local_classes=2, max_frames=20
    )
    synthetic.write_dataset(
        tmp_path, num_videos=48, num_shards=4, generator=gen, layouts=(layout,)
    )
    pattern = str(tmp_path / layout / "train*.tfrecord")
    reader = {
        "frame": data.frame_dataset,
        "video": data.video_dataset,
        "segment": data.segment_dataset,
    }[layout]

    def make(**kw):
        shape = {} if layout == "video" else {"max_frames": 20}
        kw.setdefault("seed", 0)
        return reader(
            pattern,
            batch_size=8,
            num_classes=20,
            shuffle=True,
            with_ids=True,
            shuffle_buffer=16,
            **shape,
            **kw,
        )

    def order(dataset):
        return [i.decode() for _, _, ids in dataset for i in ids.numpy()]

    dataset = make()
    first = order(dataset)
    assert [order(dataset) for _ in range(3)] == [first] * 3
    assert order(make()) == first
    assert order(make(seed=1)) != first
    twice = order(make(repeat=2))
    assert twice == order(make(repeat=2))
    assert twice[: len(first)] != twice[len(first) :]
    assert sorted(twice) == sorted(first * 2)


def test_no_matching_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No file matches"):
        data.frame_dataset(str(tmp_path / "nothing*.tfrecord"))


@pytest.mark.parametrize(
    "bad_arg, message",
    [
        (dict(on_error="ignore"), "on_error"),
        (dict(batch_size=0), "batch_size"),
        (dict(shuffle=True, seed="0"), "seed"),
        (dict(repeat=-1), "repeat"),
        (dict(repeat=0), "repeat"),
        (dict(features={"rgb": 0}), "positive integer size"),
    ],
)
def test_bad_arguments(tmp_path, bad_arg, message):
    iw.write_records(tmp_path / "x.tfrecord", [])
    with pytest.raises(ValueError, match=message):
        data.frame_dataset(str(tmp_path / "x.tfrecord"), **bad_arg)
