"""Bad input: each case raises naming file and record, or is skipped and
counted with on_error="skip". Real files throughout."""

import re

import numpy as np
import pytest
import tensorflow as tf

import keras_gmsa
from keras_gmsa import data
from tests import helpers
from tests.data import independent_writer as iw

# tf.data's handling of bad records does not depend on the Keras
# backend: one backend.
pytestmark = pytest.mark.backends("tensorflow")


def record(
    vid=b"good", labels=(1,), n=4, rgb_bytes=1024, audio=True, audio_frames=None
):
    context = {"labels": iw.int64_feature(list(labels))}
    if vid is not None:
        context["id"] = iw.bytes_feature([vid])
    lists = {"rgb": [iw.bytes_feature([bytes(rgb_bytes)]) for _ in range(n)]}
    if audio:
        lists["audio"] = [
            iw.bytes_feature([bytes(128)])
            for _ in range(n if audio_frames is None else audio_frames)
        ]
    return iw.sequence_example(context, lists)


def collect(ds):
    return [i.decode() for _, _, ids in ds for i in ids.numpy()]


def read(path, **kw):
    return data.frame_dataset(
        str(path),
        batch_size=4,
        num_classes=10,
        with_ids=True,
        cycle_length=1,
        **kw,
    )


BAD_RECORDS = [
    ("frame_size", dict(rgb_bytes=1000), "does not have 1024 bytes"),
    ("label_range", dict(labels=(3, 10)), r"outside \[0, 10\)"),
    ("label_range", dict(labels=(-1,)), r"outside \[0, 10\)"),
    ("missing_id", dict(vid=None), "no context feature 'id'"),
    ("no_frames", dict(n=0), "no frames"),
    ("no_frames", dict(n=0, audio=False), "no frames"),
    ("length_mismatch", dict(audio_frames=2), "different numbers"),
]


@pytest.mark.parametrize(
    "reason, kwargs, message",
    BAD_RECORDS,
    ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_RECORDS)],
)
def test_bad_record_raises_naming_file_and_record(
    tmp_path, reason, kwargs, message
):
    path = tmp_path / "train0007.tfrecord"
    iw.write_records(
        path,
        [
            record(b"r0"),
            record(b"r1"),
            record(**{"vid": b"r2", **kwargs}),
            record(b"r3"),
        ],
    )
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        collect(read(path))
    text = str(info.value).replace("\\'", "'")
    assert re.search(message, text), text
    assert "train0007.tfrecord" in text and "record 2" in text


@pytest.mark.parametrize(
    "reason, kwargs, message",
    BAD_RECORDS,
    ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_RECORDS)],
)
def test_bad_record_is_skipped_and_counted(tmp_path, reason, kwargs, message):
    path = tmp_path / "train0007.tfrecord"
    iw.write_records(
        path,
        [
            record(b"r0"),
            record(b"r1"),
            record(**{"vid": b"r2", **kwargs}),
            record(b"r3"),
            record(b"r4"),
        ],
    )
    ds = read(path, on_error="skip")
    assert collect(ds) == ["r0", "r1", "r3", "r4"]
    stats = ds.read_stats.as_dict()
    assert stats[reason] == 1 and stats["skipped"] == 1
    assert stats["records_read"] == 5
    assert "skipped 1" in str(ds.read_stats)


@pytest.mark.backends("tensorflow", "jax", "torch")  # a model reads them
def test_zero_frame_videos_can_be_kept_and_give_no_nan(tmp_path):
    path = tmp_path / "z.tfrecord"
    iw.write_records(path, [record(b"full", n=6), record(b"empty", n=0)])
    ds = data.frame_dataset(
        str(path),
        batch_size=2,
        num_classes=10,
        max_frames=6,
        allow_zero_frames=True,
    )
    features, labels = next(iter(ds))
    assert features["num_frames"].numpy().tolist() == [6, 0]
    model = keras_gmsa.build_model(
        "gateatt",
        mask="tp",
        W=1,
        num_classes=10,
        max_frames=6,
        num_heads=8,
        hidden_dim=8,
    )
    probs = helpers.to_numpy(
        model.predict({k: v.numpy() for k, v in features.items()}, verbose=0)
    )
    assert np.isfinite(probs).all()


def _truncate(path, keep_bytes):
    blob = path.read_bytes()
    path.write_bytes(blob[:keep_bytes])


def test_truncated_shard_raises_naming_file_and_record(tmp_path):
    path = tmp_path / "train0042.tfrecord"
    iw.write_records(path, [record(b"r0"), record(b"r1"), record(b"r2")])
    _truncate(path, path.stat().st_size - 100)
    with pytest.raises(Exception) as info:
        collect(read(path))
    assert "train0042.tfrecord: record 2 is truncated" in str(info.value)


def test_truncated_shard_is_skipped_and_counted(tmp_path):
    good, bad = tmp_path / "train0000.tfrecord", tmp_path / "train0001.tfrecord"
    iw.write_records(good, [record(b"a0"), record(b"a1")])
    iw.write_records(bad, [record(b"b0"), record(b"b1"), record(b"b2")])
    _truncate(bad, bad.stat().st_size - 10)
    ds = read(str(tmp_path / "train*.tfrecord"), on_error="skip")
    assert sorted(collect(ds)) == ["a0", "a1", "b0", "b1"]
    assert ds.read_stats.as_dict()["truncated_files"] == 1


def test_corrupt_length_field_is_reported(tmp_path):
    path = tmp_path / "train0003.tfrecord"
    iw.write_records(path, [record(b"r0"), record(b"r1")])
    blob = bytearray(path.read_bytes())
    first = int.from_bytes(blob[:8], "little") + 16
    blob[first + 2] ^= 0xFF  # second record's length field
    path.write_bytes(bytes(blob))
    with pytest.raises(Exception, match="record 1 is corrupt"):
        collect(read(path))
    problems = data.verify_records(str(path))
    assert len(problems) == 1 and "train0003.tfrecord: record 1" in problems[0]


def test_verify_records_finds_payload_corruption(tmp_path):
    path = tmp_path / "train0004.tfrecord"
    iw.write_records(path, [record(b"r0"), record(b"r1")])
    assert data.verify_records(str(path)) == []
    blob = bytearray(path.read_bytes())
    blob[40] ^= 0x01  # inside the first payload
    path.write_bytes(bytes(blob))
    problems = data.verify_records(str(path))
    assert problems == [f"{path}: record 0 is corrupt (bad data checksum)"]


def test_video_level_wrong_feature_size(tmp_path):
    def ex(vid, n):
        return iw.example(
            {
                "id": iw.bytes_feature([vid]),
                "labels": iw.int64_feature([1]),
                "mean_rgb": iw.float_feature([0.5] * n),
                "mean_audio": iw.float_feature([0.1] * 128),
            }
        )

    path = tmp_path / "video0009.tfrecord"
    iw.write_records(path, [ex(b"a", 1024), ex(b"b", 1000), ex(b"c", 1024)])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="video0009.tfrecord, record 1"
    ):
        list(data.video_dataset(str(path), batch_size=4))
    ds = data.video_dataset(
        str(path), batch_size=4, on_error="skip", with_ids=True
    )
    assert collect(ds) == ["a", "c"]
    assert ds.read_stats.as_dict()["feature_size"] == 1
