"""The loaders without TensorFlow against the tf.data readers, on the same
files: every layout, every reader option, every bad-record case of
tests/data, through Grain and PyTorch. Unshuffled batches must be equal
bit for bit (dequantized padding's -0.0 included); shuffled reads hold
the same examples (the permutations are NumPy's, not TensorFlow's), in a
seeded order of their own. Errors name the same file and record."""

import pytest

tf = pytest.importorskip("tensorflow")

# What the readers yield does not depend on the Keras backend: `make test`
# compares them once, where TensorFlow is the backend anyway; `make
# test-loaders-every-backend` (CI) under JAX and PyTorch too.
pytestmark = pytest.mark.backends("tensorflow")

from keras_gmsa import data  # noqa: E402
from keras_gmsa import loaders  # noqa: E402
from tests.data import independent_writer as iw  # noqa: E402
from tests.data import test_bad_input as bad  # noqa: E402
from tests.loaders import helpers as h  # noqa: E402

FRAMEWORKS = ("grain", "torch")

READERS = {
    "frame": (data.frame_dataset, loaders.frame_loader),
    "video": (data.video_dataset, loaders.video_loader),
    "segment": (data.segment_dataset, loaders.segment_loader),
}


def _shape(layout):
    if layout == "video":
        return dict(features=h.VIDEO_SIZES, num_classes=h.CLASSES)
    return dict(features=h.SIZES, num_classes=h.CLASSES, max_frames=h.FRAMES)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return h.write_corpus(tmp_path_factory.mktemp("corpus"))


# What tf.data reads for one (layout, files, options), read once: the
# same case runs for Grain and for PyTorch, and a tf.data pipeline costs
# most of each case (about a second to build and read; the loaders a few
# milliseconds). The arrays are compared, never changed.
_TF_READS = {}


def _tf_read(layout, pattern, limit, kwargs):
    key = (layout, str(pattern), limit, repr(sorted(kwargs.items())))
    if key not in _TF_READS:
        expected = READERS[layout][0](pattern, **kwargs)
        _TF_READS[key] = (
            h.to_numpy(expected, limit),
            expected.read_stats.as_dict(),
        )
    return _TF_READS[key]


def _both(layout, pattern, framework, limit=None, **kwargs):
    kwargs = dict(_shape(layout), **kwargs)
    expected, tf_stats = _tf_read(layout, pattern, limit, kwargs)
    actual = READERS[layout][1](pattern, framework=framework, **kwargs)
    return (
        expected,
        h.to_numpy(actual, limit),
        dict(tf_stats),
        actual.read_stats.as_dict(),
    )


# Every ReaderOptions field, unshuffled (shuffle: below).
OPTIONS = [
    dict(),
    dict(batch_size=1),
    dict(batch_size=4, cycle_length=1),
    dict(batch_size=4, cycle_length=2),
    dict(batch_size=5, drop_remainder=True),
    dict(batch_size=6, repeat=3),
    dict(batch_size=6, repeat=2, drop_remainder=True, cycle_length=3),
    dict(batch_size=4, with_ids=True),
    dict(batch_size=4, id_split="holdout:0.5", with_ids=True),
    dict(batch_size=4, id_split="rest:0.3", drop_remainder=True),
    dict(batch_size=3, on_error="skip", with_ids=True),
    dict(batch_size=4, prefetch=False, deterministic=True),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layout", sorted(READERS))
@pytest.mark.parametrize(
    "options", OPTIONS, ids=[str(sorted(o.items())) for o in OPTIONS]
)
def test_unshuffled_batches_are_identical(corpus, layout, framework, options):
    expected, actual, tf_stats, stats = _both(
        layout, corpus[layout], framework, **options
    )
    assert expected, "the case reads nothing"
    h.assert_identical(expected, actual)
    assert stats == tf_stats


LAYOUT_OPTIONS = [
    ("frame", dict(dequantize_frames=True, batch_size=4)),
    ("frame", dict(max_frames=300, batch_size=5)),
    ("frame", dict(max_frames=7, dequantize_frames=True, batch_size=3)),
    ("frame", dict(features={"audio": 8}, batch_size=4)),
    ("frame", dict(allow_zero_frames=True, batch_size=4, with_ids=True)),
    ("frame", dict(num_classes=3862, batch_size=8)),
    ("segment", dict(dequantize_frames=True, batch_size=4, with_ids=True)),
    ("segment", dict(rated_only=False, batch_size=7, with_ids=True)),
    ("segment", dict(rated_only=False, dequantize_frames=True, max_frames=8)),
    ("segment", dict(segment_size=3, rated_only=False, batch_size=9)),
    ("segment", dict(id_split="holdout:0.5", with_ids=True, batch_size=2)),
    ("video", dict(features={"mean_audio": 8}, batch_size=3)),
    ("video", dict(num_classes=3862, with_ids=True, batch_size=8)),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "layout, options",
    LAYOUT_OPTIONS,
    ids=[f"{lay}-{sorted(o.items())}" for lay, o in LAYOUT_OPTIONS],
)
def test_each_layouts_own_arguments(corpus, layout, framework, options):
    expected, actual, tf_stats, stats = _both(
        layout, corpus[layout], framework, **options
    )
    assert expected
    h.assert_identical(expected, actual)
    assert stats == tf_stats


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layout", sorted(READERS))
def test_an_endless_read_starts_identically(corpus, layout, framework):
    expected, actual, _, _ = _both(
        layout, corpus[layout], framework, limit=12, batch_size=5, repeat=True
    )
    assert len(expected) == 12
    h.assert_identical(expected, actual)


@pytest.mark.parametrize("layout", sorted(READERS))
def test_shuffled_reads_hold_the_same_examples_in_a_seeded_order(
    corpus, layout
):
    shuffled = dict(shuffle=True, seed=3, repeat=2, batch_size=4, with_ids=True)
    shuffled["shuffle_buffer"] = 8
    tf_batches, grain_batches, _, _ = _both(
        layout, corpus[layout], "grain", **shuffled
    )
    _, native = READERS[layout]

    def read(framework, **kw):
        return h.to_numpy(
            native(
                corpus[layout],
                framework=framework,
                **_shape(layout),
                **dict(shuffled, **kw),
            )
        )

    assert h.examples(grain_batches) == h.examples(tf_batches)
    h.assert_identical(grain_batches, read("torch"))
    h.assert_identical(grain_batches, read("grain"))
    ids = [i for b in grain_batches for i in b[2]]
    assert ids != sorted(ids)
    other = read("grain", seed=4)
    assert [i for b in other for i in b[2]] != ids
    assert h.examples(other) == h.examples(grain_batches)


# Each layout's parser in worker processes, each framework's workers; the
# segment layout (the one that pads and weights) under both. A worker
# start costs seconds, so not every pair.
@pytest.mark.parametrize(
    "layout, framework",
    [
        ("frame", "torch"),
        ("video", "grain"),
        ("segment", "grain"),
        ("segment", "torch"),
    ],
)
def test_two_worker_processes_give_the_same_batches(corpus, layout, framework):
    options = dict(batch_size=3, on_error="skip", with_ids=True)
    expected, _, tf_stats, _ = _both(
        layout, corpus[layout], framework, **options
    )
    native = READERS[layout][1](
        corpus[layout],
        framework=framework,
        num_workers=2,
        **_shape(layout),
        **options,
    )
    h.assert_identical(expected, h.to_numpy(native))
    # The counts of the workers' batches reach the iterating process.
    assert native.read_stats.as_dict() == tf_stats


def _native_frame(path, framework, **kw):
    return loaders.frame_loader(
        str(path),
        batch_size=4,
        num_classes=10,
        with_ids=True,
        cycle_length=1,
        framework=framework,
        **kw,
    )


def _tf_text(error):
    return str(error).replace("\\'", "'")


# Both loaders in one test per case: TensorFlow's error and skipped read
# (most of a case's time) are read once.
@pytest.mark.parametrize(
    "reason, kwargs, message",
    bad.BAD_RECORDS,
    ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(bad.BAD_RECORDS)],
)
def test_every_bad_record_gives_the_same_error_or_count(
    tmp_path, reason, kwargs, message
):
    path = tmp_path / "train0007.tfrecord"
    records = [bad.record(b"r0"), bad.record(b"r1")]
    records += [bad.record(**{"vid": b"r2", **kwargs}), bad.record(b"r3")]
    records += [bad.record(b"r4")]
    iw.write_records(path, records)
    with pytest.raises(tf.errors.InvalidArgumentError) as expected:
        bad.collect(bad.read(path))
    tf_skip = bad.read(path, on_error="skip")
    tf_batches = h.to_numpy(tf_skip)
    for framework in FRAMEWORKS:
        with pytest.raises(loaders.RecordError) as actual:
            list(_native_frame(path, framework))
        assert str(actual.value) in _tf_text(expected.value), framework
        assert "train0007.tfrecord, record 2)" in str(actual.value), framework
        native = _native_frame(path, framework, on_error="skip")
        h.assert_identical(tf_batches, h.to_numpy(native))
        assert native.read_stats.as_dict() == tf_skip.read_stats.as_dict()
        assert native.read_stats.as_dict()[reason] == 1
        assert str(native.read_stats) == str(tf_skip.read_stats)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_truncated_and_corrupt_shards(tmp_path, framework):
    good = tmp_path / "train0000.tfrecord"
    broken = tmp_path / "train0001.tfrecord"
    iw.write_records(good, [bad.record(b"a0"), bad.record(b"a1")])
    iw.write_records(broken, [bad.record(x) for x in (b"b0", b"b1", b"b2")])
    bad._truncate(broken, broken.stat().st_size - 10)
    with pytest.raises(Exception) as expected:
        bad.collect(bad.read(broken))
    with pytest.raises(loaders.RecordFileError) as actual:
        list(_native_frame(broken, framework))
    assert str(actual.value) in str(expected.value)
    assert "train0001.tfrecord: record 2 is truncated" in str(actual.value)
    pattern = str(tmp_path / "train*.tfrecord")
    tf_skip = bad.read(pattern, on_error="skip")
    native = _native_frame(pattern, framework, on_error="skip")
    h.assert_identical(h.to_numpy(tf_skip), h.to_numpy(native))
    assert native.read_stats.as_dict() == tf_skip.read_stats.as_dict()
    # A corrupt length field: the same sentence.
    path = tmp_path / "c" / "train0003.tfrecord"
    path.parent.mkdir()
    iw.write_records(path, [bad.record(b"r0"), bad.record(b"r1")])
    blob = bytearray(path.read_bytes())
    blob[int.from_bytes(blob[:8], "little") + 16 + 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(Exception) as expected:
        bad.collect(bad.read(path))
    with pytest.raises(loaders.RecordFileError) as actual:
        list(_native_frame(path, framework))
    assert "train0003.tfrecord: record 1 is corrupt" in str(actual.value)
    assert str(actual.value) in str(expected.value)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_records_of_the_wrong_types(tmp_path, framework):
    floats = iw.sequence_example(
        {"id": iw.bytes_feature([b"f"]), "labels": iw.int64_feature([1])},
        {"rgb": [iw.float_feature([0.5] * 4)], "audio": []},
    )
    first = tmp_path / "a" / "train0000.tfrecord"
    first.parent.mkdir()
    iw.write_records(first, [floats, bad.record(b"ok")])
    with pytest.raises(Exception) as expected:
        bad.collect(bad.read(first))
    with pytest.raises(loaders.RecordError) as actual:
        list(_native_frame(first, framework))
    # Record 0: TensorFlow's reader names it when it opens the file.
    assert "train0000.tfrecord: record 0 has features of the wrong type" in (
        str(expected.value)
    )
    assert "train0000.tfrecord: record 0 has features of the wrong type" in (
        str(actual.value)
    )
    later = tmp_path / "b" / "train0000.tfrecord"
    later.parent.mkdir()
    iw.write_records(later, [bad.record(b"ok"), floats, bad.record(b"ok2")])
    # A later record: TensorFlow's parser fails without naming it; the
    # loaders name it.
    with pytest.raises(loaders.RecordError, match="record 1 has features"):
        list(_native_frame(later, framework))
    tf_skip = bad.read(later, on_error="skip")
    native = _native_frame(later, framework, on_error="skip")
    h.assert_identical(h.to_numpy(tf_skip), h.to_numpy(native))
    assert native.read_stats.as_dict() == tf_skip.read_stats.as_dict()
    assert native.read_stats.as_dict()["feature_type"] == 1


def _segment_record(vid, starts, labels, scores, n=10):
    context = {
        "id": iw.bytes_feature([vid]),
        "labels": iw.int64_feature([1]),
        "segment_start_times": iw.int64_feature(starts),
        "segment_labels": iw.int64_feature(labels),
        "segment_scores": iw.float_feature(scores),
    }
    lists = {
        "rgb": [iw.bytes_feature([bytes([i] * 16)]) for i in range(n)],
        "audio": [iw.bytes_feature([bytes([i] * 8)]) for i in range(n)],
    }
    return iw.sequence_example(context, lists)


BAD_SEGMENTS = [
    ("lengths", dict(starts=[0, 5], labels=[1], scores=[1.0, 0.0])),
    ("negative score", dict(starts=[0], labels=[1], scores=[-1.0])),
    ("past the end", dict(starts=[0, 10], labels=[1, 2], scores=[1.0, 1.0])),
    ("label range", dict(starts=[0], labels=[20], scores=[1.0])),
    ("minus one", dict(starts=[-1, 5], labels=[-1, 3], scores=[1.0])),
]


@pytest.mark.parametrize(
    "case, ratings", BAD_SEGMENTS, ids=[c for c, _ in BAD_SEGMENTS]
)
def test_bad_segment_ratings(tmp_path, case, ratings):
    path = tmp_path / "validate0001.tfrecord"
    good = dict(starts=[0, 5, 0], labels=[1, 2, 3], scores=[1.0, 0.0, 0.5])
    iw.write_records(
        path,
        [
            _segment_record(b"s0", **good),
            _segment_record(b"s1", **ratings),
            _segment_record(b"s2", **good),
        ],
    )
    options = dict(
        features=h.SIZES,
        num_classes=h.CLASSES,
        max_frames=h.FRAMES,
        batch_size=4,
        with_ids=True,
    )
    for on_error in ("raise", "skip"):
        expected = data.segment_dataset(str(path), on_error=on_error, **options)
        try:
            tf_batches = h.to_numpy(expected)
        except tf.errors.InvalidArgumentError as error:
            for framework in FRAMEWORKS:
                native = loaders.segment_loader(
                    str(path), on_error=on_error, framework=framework, **options
                )
                with pytest.raises(loaders.RecordError) as actual:
                    h.to_numpy(native)
                assert str(actual.value) in _tf_text(error), framework
                assert "validate0001.tfrecord, record 1)" in str(
                    actual.value
                ), framework
            continue
        for framework in FRAMEWORKS:
            native = loaders.segment_loader(
                str(path), on_error=on_error, framework=framework, **options
            )
            h.assert_identical(tf_batches, h.to_numpy(native))
            assert native.read_stats.as_dict() == expected.read_stats.as_dict()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_video_level_wrong_feature_size(tmp_path, framework):
    def ex(vid, n):
        return h.video_record(
            vid, [1], {"mean_rgb": [0.5] * n, "mean_audio": [0.1] * 8}
        )

    path = tmp_path / "video0009.tfrecord"
    iw.write_records(path, [ex("a", 16), ex("b", 15), ex("c", 16)])
    options = dict(features=h.VIDEO_SIZES, batch_size=4, with_ids=True)
    with pytest.raises(tf.errors.InvalidArgumentError) as expected:
        list(data.video_dataset(str(path), **options))
    with pytest.raises(loaders.RecordError) as actual:
        list(loaders.video_loader(str(path), framework=framework, **options))
    assert str(actual.value) in _tf_text(expected.value)
    assert "video0009.tfrecord, record 1)" in str(actual.value)
    tf_skip = data.video_dataset(str(path), on_error="skip", **options)
    native = loaders.video_loader(
        str(path), on_error="skip", framework=framework, **options
    )
    h.assert_identical(h.to_numpy(tf_skip), h.to_numpy(native))
    assert native.read_stats.as_dict() == tf_skip.read_stats.as_dict()


def test_the_same_argument_errors(tmp_path):
    iw.write_records(tmp_path / "x.tfrecord", [])
    path = str(tmp_path / "x.tfrecord")
    for arg in (
        dict(on_error="ignore"),
        dict(batch_size=0),
        dict(shuffle=True, seed="0"),
        dict(repeat=-1),
        dict(features={"rgb": 0}),
        dict(nonsense=1),
    ):
        with pytest.raises((ValueError, TypeError)) as expected:
            data.frame_dataset(path, **arg)
        with pytest.raises(type(expected.value)) as actual:
            loaders.frame_loader(path, **arg)
        assert str(actual.value) == str(expected.value)
    with pytest.raises(FileNotFoundError) as expected:
        data.frame_dataset(str(tmp_path / "none*.tfrecord"))
    with pytest.raises(FileNotFoundError) as actual:
        loaders.frame_loader(str(tmp_path / "none*.tfrecord"))
    assert str(actual.value) == str(expected.value)
