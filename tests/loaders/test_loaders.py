"""The loaders on their own (no TensorFlow needed): records written by an
independent writer read back exactly, bad input named or counted, the
published id split, seeded orders, worker processes, checkpoints, and
Keras' `fit` taking the loaders."""

import importlib.util
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_gmsa import loaders
from keras_gmsa.constants import DEQUANTIZE_BIAS
from keras_gmsa.constants import DEQUANTIZE_SCALE
from tests.data import independent_writer as iw
from tests.loaders import helpers as h

# A framework whose package is missing (the jax extra has no PyTorch) is
# skipped.
FRAMEWORKS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(name) is None,
            reason=f"{name} is not installed",
        ),
    )
    for name in ("grain", "torch")
]


def record(vid=b"good", labels=(1,), n=4, rgb=16, audio=True, audio_n=None):
    context = {"labels": iw.int64_feature(list(labels))}
    if vid is not None:
        context["id"] = iw.bytes_feature([vid])
    lists = {"rgb": [iw.bytes_feature([bytes(rgb)]) for _ in range(n)]}
    if audio:
        count = n if audio_n is None else audio_n
        lists["audio"] = [iw.bytes_feature([bytes(8)]) for _ in range(count)]
    return iw.sequence_example(context, lists)


def read(path, framework, **kw):
    kw.setdefault("batch_size", 4)
    return loaders.frame_loader(
        str(path),
        features=h.SIZES,
        num_classes=10,
        with_ids=True,
        cycle_length=1,
        framework=framework,
        **kw,
    )


def ids_of(dataset):
    return [bytes(i).decode() for b in h.to_numpy(dataset) for i in b[2]]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_frames_labels_ids_and_padding_read_back_exactly(tmp_path, framework):
    rng = np.random.default_rng(0)
    videos = [("fg6m", 20, [0, 5, 9]), ("6l0e", 1, [7]), ("a0B9", 26, [])]
    frames = {
        vid: {
            name: rng.integers(0, 256, (n, size), dtype=np.uint8)
            for name, size in h.SIZES.items()
        }
        for vid, n, _ in videos
    }
    iw.write_records(
        tmp_path / "train0000.tfrecord",
        [h.frame_record(v, labels, frames[v]) for v, _, labels in videos],
    )
    pattern = str(tmp_path / "train*.tfrecord")
    for dequantize in (False, True):
        (batch,) = h.to_numpy(
            loaders.frame_loader(
                pattern,
                features=h.SIZES,
                num_classes=10,
                max_frames=h.FRAMES,
                dequantize_frames=dequantize,
                with_ids=True,
                framework=framework,
            )
        )
        features, labels, ids = batch
        assert [bytes(i) for i in ids] == [b"fg6m", b"6l0e", b"a0B9"]
        assert features["num_frames"].tolist() == [20, 1, 20]
        assert features["num_frames"].dtype == np.int32
        for row, (vid, n, classes) in enumerate(videos):
            kept = min(n, h.FRAMES)
            rgb = frames[vid]["rgb"][:kept]
            expected = (
                rgb.astype(np.float32) * np.float32(DEQUANTIZE_SCALE)
                + np.float32(DEQUANTIZE_BIAS)
                if dequantize
                else rgb
            )
            np.testing.assert_array_equal(features["rgb"][row, :kept], expected)
            # Zero padding (in float space when dequantized).
            assert not features["rgb"][row, kept:].any()
            assert np.flatnonzero(labels[row]).tolist() == classes
        assert features["rgb"].dtype == (np.float32 if dequantize else np.uint8)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_video_and_segment_records(tmp_path, framework):
    means = {
        "mean_rgb": np.arange(16, dtype=np.float32) / 7,
        "mean_audio": -np.ones(8),
    }
    iw.write_records(
        tmp_path / "video0.tfrecord", [h.video_record("v1", [3], means)]
    )
    (batch,) = h.to_numpy(
        loaders.video_loader(
            str(tmp_path / "video0.tfrecord"),
            features=h.VIDEO_SIZES,
            num_classes=10,
            framework=framework,
        )
    )
    np.testing.assert_array_equal(batch[0]["mean_rgb"][0], means["mean_rgb"])
    assert np.flatnonzero(batch[1][0]).tolist() == [3]
    rgb = np.arange(30 * 16, dtype=np.uint8).reshape(30, 16)
    frames = {"rgb": rgb, "audio": np.zeros((30, 8), np.uint8)}
    ratings = [(10, 3, 1.0), (10, 9, 0.0), (0, 9, 1.0), (25, 3, 0.5)]
    iw.write_records(
        tmp_path / "s.tfrecord",
        [
            h.frame_record("seg1", [3], frames, ratings),
            # No ratings at all: no segment (tf.data's reader crashes on
            # a batch of such records).
            h.frame_record("none", [3], frames, []),
        ],
    )
    (batch,) = h.to_numpy(
        loaders.segment_loader(
            str(tmp_path / "s.tfrecord"),
            features=h.SIZES,
            num_classes=12,
            max_frames=30,
            with_ids=True,
            framework=framework,
        )
    )
    features, labels, ids = batch
    assert [bytes(i) for i in ids] == [b"seg1:10", b"seg1:0", b"seg1:25"]
    np.testing.assert_array_equal(features["rgb"][0], rgb[10:15])
    assert np.flatnonzero(features["label_weights"][0]).tolist() == [3, 9]
    assert labels[0, 3] == 1.0 and labels[0, 9] == 0.0
    assert labels[2, 3] == np.float32(0.5)  # the rating is the label


BAD = [
    ("frame_size", dict(rgb=15), "does not have 16 bytes"),
    ("label_range", dict(labels=(3, 10)), r"outside \[0, 10\)"),
    ("missing_id", dict(vid=None), "no context feature 'id'"),
    ("no_frames", dict(n=0), "no frames"),
    ("length_mismatch", dict(audio_n=2), "different numbers"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("reason, kwargs, message", BAD)
def test_a_bad_record_is_named_or_skipped_and_counted(
    tmp_path, framework, reason, kwargs, message
):
    path = tmp_path / "train0007.tfrecord"
    records = [record(b"r0"), record(b"r1"), record(**{"vid": b"r2", **kwargs})]
    iw.write_records(path, records + [record(b"r3"), record(b"r4")])
    with pytest.raises(loaders.RecordError, match=message) as info:
        ids_of(read(path, framework))
    assert str(info.value).endswith("train0007.tfrecord, record 2)")
    dataset = read(path, framework, on_error="skip")
    assert ids_of(dataset) == ["r0", "r1", "r3", "r4"]
    stats = dataset.read_stats.as_dict()
    assert stats[reason] == 1 and stats["skipped"] == 1
    assert stats["records_read"] == 5


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_corrupt_payload_and_a_truncated_shard(tmp_path, framework):
    from keras_gmsa.loaders.tfrecord import PAYLOAD_CRC

    path = tmp_path / "train0004.tfrecord"
    iw.write_records(path, [record(b"r0"), record(b"r1")])
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0x01  # inside the last payload: its CRC no longer holds
    path.write_bytes(bytes(blob))
    if PAYLOAD_CRC:  # google-crc32c with its C code
        with pytest.raises(loaders.RecordFileError) as info:
            ids_of(read(path, framework))
        message = f"{path}: record 1 is corrupt (bad data checksum)"
        assert str(info.value) == message
    short = tmp_path / "b" / "train0001.tfrecord"
    short.parent.mkdir()
    iw.write_records(short, [record(b"b0"), record(b"b1"), record(b"b2")])
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(loaders.RecordFileError, match="record 2 is truncated"):
        ids_of(read(short, framework))
    dataset = read(short, framework, on_error="skip")
    assert ids_of(dataset) == ["b0", "b1"]
    assert dataset.read_stats.as_dict()["truncated_files"] == 1


def test_the_published_id_split():
    from keras_gmsa.data.id_split import IdSplit
    from keras_gmsa.loaders.id_split import bucket
    from keras_gmsa.loaders.id_split import id_predicate
    from tests.data.test_id_split import FRACTIONS
    from tests.data.test_id_split import TABLE

    for video_id, expected, *parts in TABLE:
        assert bucket(video_id) == expected, video_id
        for fraction, part in zip(FRACTIONS, parts, strict=True):
            holdout = id_predicate(IdSplit("holdout", fraction))
            rest = id_predicate(IdSplit("rest", fraction))
            assert holdout(video_id.encode()) == (part == "holdout")
            assert rest(video_id.encode()) == (part == "rest")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return h.write_corpus(tmp_path_factory.mktemp("corpus"))


def _frames(corpus, framework, **kw):
    kw.setdefault("batch_size", 4)
    return loaders.frame_loader(
        corpus["frame"],
        features=h.SIZES,
        num_classes=h.CLASSES,
        max_frames=h.FRAMES,
        with_ids=True,
        framework=framework,
        **kw,
    )


def test_a_seed_fixes_the_order_and_each_pass_has_its_own(corpus):
    def order(**kw):
        batches = h.to_numpy(_frames(corpus, "grain", shuffle=True, **kw))
        return [bytes(i) for b in batches for i in b[2]]

    first = order(seed=0)
    assert order(seed=0) == first and order(seed=1) != first
    assert sorted(first) == sorted(order())
    twice = order(seed=0, repeat=2)
    assert twice == order(seed=0, repeat=2)
    assert twice[: len(first)] != twice[len(first) :]
    assert sorted(twice) == sorted(first * 2)


# Each loader's workers in the process of the backend that picks it (a
# worker start costs seconds); in a TensorFlow process:
# tests/loaders/test_equal_to_tf_data.py (worker processes against
# tf.data).
@pytest.mark.parametrize(
    "framework",
    [
        pytest.param("grain", marks=pytest.mark.backends("jax")),
        pytest.param("torch", marks=pytest.mark.backends("torch")),
    ],
)
def test_worker_processes_change_nothing(corpus, framework):
    options = dict(shuffle=True, seed=5, repeat=2, on_error="skip")
    alone = _frames(corpus, framework, **options)
    workers = _frames(corpus, framework, num_workers=2, **options)
    h.assert_identical(h.to_numpy(alone), h.to_numpy(workers))
    assert workers.read_stats.as_dict() == alone.read_stats.as_dict()


def _forkserver_of_this_process():
    for entry in Path("/proc").iterdir():
        try:
            parent = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"multiprocessing.forkserver" in command:
            return entry
    raise AssertionError("no forkserver was started by this process")


@pytest.mark.backends("torch")
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc (Linux)"
)
def test_torch_workers_start_from_a_server_that_imported_the_reader(corpus):
    # A DataLoader starts its workers at each iteration (each epoch of
    # fit, each evaluation). Forked from a server that has imported the
    # reader (and so Keras and PyTorch), a worker imports nothing: seconds
    # less per start. The server's memory maps PyTorch's library; a bare
    # server's holds Python alone. (No other test starts this process's
    # forkserver: Grain spawns its workers.)
    loader = _frames(corpus, "torch", num_workers=1, batch_size=3)
    assert h.to_numpy(loader)
    maps = (_forkserver_of_this_process() / "maps").read_text()
    assert "libtorch" in maps


def test_a_grain_iterator_resumes_from_its_state(corpus):
    dataset = _frames(corpus, "grain", batch_size=3)
    iterator = iter(dataset)
    next(iterator), next(iterator)
    state = iterator.get_state()
    rest = h.to_numpy(iterator)
    again = iter(_frames(corpus, "grain", batch_size=3))
    again.set_state(state)
    h.assert_identical(rest, h.to_numpy(again))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fit_takes_the_loaders(corpus, framework):
    if framework == "torch" and keras.backend.backend() != "torch":
        pytest.skip("a DataLoader feeds the torch backend")
    inputs = {
        name: keras.Input((h.FRAMES, size), name=name, dtype="uint8")
        for name, size in h.SIZES.items()
    }
    inputs["num_frames"] = keras.Input((), name="num_frames", dtype="int32")
    pooled = [
        keras.layers.GlobalAveragePooling1D()(
            keras.ops.cast(inputs[name], "float32") / 255.0
        )
        for name in h.SIZES
    ]
    outputs = keras.layers.Dense(h.CLASSES, activation="sigmoid")(
        keras.layers.Concatenate()(pooled)
    )
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy")
    train = loaders.frame_loader(
        corpus["frame"],
        features=h.SIZES,
        num_classes=h.CLASSES,
        max_frames=h.FRAMES,
        batch_size=4,
        shuffle=True,
        seed=0,
        repeat=True,
        drop_remainder=True,
        framework=framework,
    )
    history = model.fit(train, steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
