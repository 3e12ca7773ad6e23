"""The tf.data readers' parser objects: one shape for every layout (that
of the TensorFlow-free parsers of `keras_gmsa.loaders`), and one
`RecordChecker` that raises naming the record or counts each bad record
once, under the first check it fails."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gmsa.data.checks import RecordChecker
from keras_gmsa.data.frame import FrameParser
from keras_gmsa.data.records import ReadStats
from keras_gmsa.data.segment import SegmentParser
from keras_gmsa.data.video import VideoParser
from keras_gmsa.loaders import parsers as free
from keras_gmsa.loaders.segment_parser import SegmentParser as FreeSegments
from tests.data import independent_writer as iw

pytestmark = pytest.mark.backends("tensorflow")

FEATURES = {"rgb": 8, "audio": 4}


def frame_record(vid=b"v", labels=(1,), n=10, rated=True):
    context = {"labels": iw.int64_feature(list(labels))}
    if vid is not None:
        context["id"] = iw.bytes_feature([vid])
    if rated:
        context["segment_start_times"] = iw.int64_feature([0, 5])
        context["segment_labels"] = iw.int64_feature([2, 3])
        context["segment_scores"] = iw.float_feature([1.0, 0.0])
    lists = {
        name: [iw.bytes_feature([bytes([i]) * size]) for i in range(n)]
        for name, size in FEATURES.items()
    }
    return iw.sequence_example(context, lists)


def video_record(vid=b"v", labels=(1,)):
    return iw.example(
        {
            "id": iw.bytes_feature([vid]),
            "labels": iw.int64_feature(list(labels)),
            **{n: iw.float_feature([0.5] * s) for n, s in FEATURES.items()},
        }
    )


def parse(parser, records):
    count = len(records)
    return parser.parse(
        tf.fill([count], "f.tfrecord"),
        tf.range(count, dtype=tf.int64),
        tf.constant(records),
    )


def layouts(checker):
    """``(tf.data parser, TensorFlow-free parser, a record)`` per layout."""
    return [
        (
            FrameParser(FEATURES, 5, 12, checker=checker),
            free.FrameParser(FEATURES, 5, 12),
            frame_record(rated=False),
        ),
        (
            VideoParser(FEATURES, 5, checker=checker),
            free.VideoParser(FEATURES, 5),
            video_record(),
        ),
        (
            SegmentParser(FEATURES, 5, 5, 12, checker=checker),
            FreeSegments(FEATURES, 5, 5, 12),
            frame_record(),
        ),
    ]


def test_every_layout_has_the_same_parser_shape():
    stats = ReadStats()
    parsers = layouts(RecordChecker("raise", stats))
    # Only segments make several examples of one record.
    assert [p.per_video is None for p, _, _ in parsers] == [True, True, False]
    for parser, free_parser, record in parsers:
        assert parser.keys == free_parser.keys
        assert parser.checker.stats is stats
        assert int(parser.probe(tf.constant(record))) > 0
        out = parse(parser, [record, record])
        assert out["_keep"].numpy().tolist() == [True, True]
        if parser.per_video is not None:
            video = {k: v[0] for k, v in out.items() if k != "_keep"}
            out = next(iter(parser.per_video(video).batch(8)))
            assert out["_id"].numpy().tolist() == [b"v:0", b"v:5"]
        assert set(out) >= set(parser.keys) | {"_labels", "_id"}
        assert out["_labels"].shape[1] == 5
    assert stats.as_dict()["records_read"] == 6


def test_a_bad_record_is_counted_once_under_its_first_check():
    stats = ReadStats()
    parser = FrameParser(FEATURES, 5, 12, checker=RecordChecker("skip", stats))
    # No id and a label out of range: counted as missing_id only.
    records = [frame_record(b"a"), frame_record(None, labels=(9,))]
    out = parse(parser, records)
    assert out["_keep"].numpy().tolist() == [True, False]
    np.testing.assert_array_equal(out["_labels"][0], [0, 1, 0, 0, 0])
    counts = stats.as_dict()
    assert counts["missing_id"] == 1 and counts["label_range"] == 0
    assert counts["skipped"] == 1 and counts["records_read"] == 2


def test_raise_names_the_file_and_record_of_the_first_bad_one():
    parser = SegmentParser(
        FEATURES, 5, 5, 12, checker=RecordChecker("raise", ReadStats())
    )
    # Its segment at 5 reaches frame 9, past the record's 8 frames.
    records = [frame_record(b"a"), frame_record(b"b"), frame_record(n=8)]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        parse(parser, records)
    text = str(info.value)
    assert "reaches past the video's last frame" in text.replace("\\'", "'")
    assert "file f.tfrecord, record 2" in text
