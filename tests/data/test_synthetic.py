import numpy as np
import pytest

from keras_gmsa import data
from keras_gmsa.data import synthetic

# the synthetic records do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("tensorflow")


def test_quantization_matches_the_extractor_and_reader():
    x = np.array([-5.0, -2.0, 0.0, 1.0, 2.0, 9.0])
    q = synthetic.quantize(x)
    assert q.tolist() == [0, 0, 128, 191, 255, 255]  # round half to even
    np.testing.assert_allclose(
        synthetic.dequantize(q)[2], 128 * 4 / 255 - 1.9921875, atol=1e-6
    )


def _motif_frames(gen, rgb, k):
    """Frames whose dequantized content is dominated by motif a/b of k."""
    x = synthetic.dequantize(rgb)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    a = x @ gen.motifs["rgb"][k, 0]
    b = x @ gen.motifs["rgb"][k, 1]
    return np.flatnonzero(a > 0.6), np.flatnonzero(b > 0.6)


def test_local_events_are_close_and_distractors_far():
    gen = synthetic.SyntheticYT8M(
        num_classes=40,
        num_local_classes=8,
        max_frames=120,
        local_rate=1.0,
        event_span=3,
        distractor_gap=40,
    )
    first_local = gen.num_global_classes
    checked = 0
    for _, labels, rgb, _ in gen.videos(60, seed=1):
        local = [c - first_local for c in labels if c >= first_local]
        if not local:
            assert len(rgb) < 42  # too short to carry an event
            continue
        (k,) = local
        a, b = _motif_frames(gen, rgb, k)
        assert len(a) == 1 and len(b) == 1
        assert 1 <= abs(int(a[0]) - int(b[0])) <= 3
        # Exactly one other local class is present, far apart: same bag of
        # motif frames as a positive, different temporal layout.
        others = [
            o
            for o in range(8)
            if o != k and all(len(m) for m in _motif_frames(gen, rgb, o))
        ]
        assert len(others) == 1
        oa, ob = _motif_frames(gen, rgb, others[0])
        assert abs(int(oa[0]) - int(ob[0])) >= 40
        checked += 1
    assert checked > 20


def test_long_tail_and_lengths():
    gen = synthetic.SyntheticYT8M(
        num_classes=200, num_local_classes=20, max_frames=300
    )
    counts = np.zeros(200)
    lengths = []
    for _, labels, rgb, audio in gen.videos(300, seed=2):
        counts[labels] += 1
        lengths.append(len(rgb))
        assert rgb.dtype == np.uint8 and rgb.shape[1] == 1024
        assert audio.shape == (len(rgb), 128)
    assert min(lengths) >= 1 and max(lengths) <= 300
    assert max(lengths) - min(lengths) > 200
    head, tail = counts[:10].sum(), counts[90:180].sum()
    assert head > 2 * tail  # Zipf: the first classes dominate


def test_written_layouts_agree(tmp_path):
    gen = synthetic.SyntheticYT8M(
        num_classes=30, num_local_classes=5, max_frames=40
    )
    paths = synthetic.write_dataset(
        tmp_path,
        num_videos=12,
        num_shards=3,
        generator=gen,
        layouts=("frame", "video", "segment"),
    )
    assert len(paths["frame"]) == 3
    frames = data.frame_dataset(
        str(tmp_path / "frame" / "*.tfrecord"),
        batch_size=12,
        num_classes=30,
        max_frames=40,
        dequantize_frames=True,
        with_ids=True,
        cycle_length=1,
    )
    videos = data.video_dataset(
        str(tmp_path / "video" / "*.tfrecord"),
        batch_size=12,
        num_classes=30,
        with_ids=True,
        cycle_length=1,
    )
    (f, fl, fid), (v, vl, vid) = next(iter(frames)), next(iter(videos))
    assert fid.numpy().tolist() == vid.numpy().tolist()
    np.testing.assert_array_equal(fl.numpy(), vl.numpy())
    n = f["num_frames"].numpy()
    mean = f["rgb"].numpy().sum(1) / n[:, None]
    np.testing.assert_allclose(v["mean_rgb"].numpy(), mean, atol=1e-5)
    segments = data.segment_dataset(
        str(tmp_path / "segment" / "*.tfrecord"),
        batch_size=64,
        num_classes=30,
        max_frames=40,
    )
    feats, labels = next(iter(segments))
    weights = feats["label_weights"].numpy()
    assert (labels.numpy() <= weights).all() and weights.sum() > 0
    vocab = data.Vocabulary.load(str(tmp_path / "vocabulary.csv"))
    assert vocab.num_classes == 30 and vocab.name(29) == "Local event 4"


def test_bad_generator_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_local_classes"):
        synthetic.SyntheticYT8M(num_classes=10, num_local_classes=10)
    with pytest.raises(ValueError, match="Unknown layout"):
        synthetic.write_dataset(str(tmp_path / "unused"), layouts=("nope",))
    with pytest.raises(ValueError, match="labels_per_video"):
        synthetic.SyntheticYT8M(num_classes=10, labels_per_video=0.5)


def _frame_by_frame(video_id, labels, rgb, audio):
    """The same SequenceExample as `frame_example`, one protobuf `Feature`
    per frame."""
    import tensorflow as tf

    def frame_list(frames):
        return tf.train.FeatureList(
            feature=[
                tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[row.tobytes()])
                )
                for row in frames
            ]
        )

    return tf.train.SequenceExample(
        context=tf.train.Features(
            feature={
                "id": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[video_id.encode()])
                ),
                "labels": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=labels)
                ),
            }
        ),
        feature_lists=tf.train.FeatureLists(
            feature_list={"rgb": frame_list(rgb), "audio": frame_list(audio)}
        ),
    )


@pytest.mark.parametrize("frames", [0, 1, 300])
def test_frame_example_is_the_frame_by_frame_message(frames):
    import tensorflow as tf

    rng = np.random.default_rng(frames)
    rgb = rng.integers(0, 256, (frames, 1024), dtype=np.uint8)
    audio = rng.integers(0, 256, (frames, 128), dtype=np.uint8)
    written = tf.train.SequenceExample.FromString(
        synthetic.frame_example("fg6m", [3, 3861], rgb, audio)
    )
    assert written == _frame_by_frame("fg6m", [3, 3861], rgb, audio)
    rows = written.feature_lists.feature_list["rgb"].feature
    assert len(rows) == frames
    if frames:
        assert rows[-1].bytes_list.value[0] == rgb[-1].tobytes()


def test_full_shape_labels_average_three_per_video():
    # The 2018 release averages 3.0 labels per video (yt8m-format.md 1);
    # `keras-gmsa synth --full-shape` draws 2.6 global classes per video.
    gen = synthetic.SyntheticYT8M(
        num_classes=3862,
        min_frames=300,
        labels_per_video=2.6,
        feature_sizes={"rgb": 4, "audio": 2},
    )
    counts = [len(labels) for _, labels, _, _ in gen.videos(600, seed=3)]
    assert 2.85 < np.mean(counts) < 3.15
    assert max(counts) >= 7  # a tail of videos with many labels
