"""The 2019 segment task end to end: learnable synthetic ratings, the two
scorers, fine-tuning with label weights, and the command line."""

import csv
import json

import keras
import numpy as np
import pytest

from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa import names
from keras_gmsa import segments
from keras_gmsa.data import synthetic
from tests import helpers

CLASSES = 8
FRAMES = 20
SIZES = {"rgb": 16, "audio": 8}
FEATURES = "rgb:16,audio:8"


def _generator():
    return synthetic.SyntheticYT8M(
        num_classes=CLASSES,
        num_local_classes=2,
        max_frames=FRAMES,
        min_frames=10,
        signal=1.0,
        distractor_gap=8,
        local_rate=0.5,
        feature_sizes=SIZES,
        seed=0,
    )


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("segments")
    gen = _generator()
    synthetic.write_dataset(
        root, 160, num_shards=2, generator=gen, layouts=("frame", "segment")
    )
    synthetic.write_dataset(
        root,
        64,
        num_shards=1,
        split="validate",
        generator=gen,
        layouts=("segment",),
        seed=1,
        start_index=160,
    )
    return root


def test_synthetic_ratings_follow_the_segments_frames():
    gen = _generator()
    rng = np.random.default_rng(0)
    rated = 0
    for video in gen.videos(40, presence=True):
        _, labels, rgb, _, presence = video
        for start, c, score in gen.segments(
            rng, labels, len(rgb), presence=presence
        ):
            rated += 1
            if c not in labels:
                assert score == 0.0
                continue
            on = presence[c][start : start + 5]
            if c >= gen.num_global_classes:
                assert score == float(on.sum() == 2)
            else:
                assert score == float(on.sum() >= 3)
    assert rated > 100


def test_the_windows_scorer_is_the_model_on_each_window(records):
    model = helpers.build_small(
        "gateop", num_classes=CLASSES, max_frames=FRAMES, compile=False
    )
    pattern = str(records / "segment" / "validate*.tfrecord")
    windows = data.segments_for_model(
        model, pattern, with_ids=True, batch_size=16
    )
    features, _, ids = next(windows.as_numpy_iterator())
    assert features["rgb"].shape == (16, FRAMES, 16)
    assert (features["num_frames"] == 5).all()
    # The same frames read as videos, cut by hand.
    videos = data.frame_dataset(
        pattern,
        batch_size=64,
        features=SIZES,
        num_classes=CLASSES,
        max_frames=FRAMES,
        with_ids=True,
    )
    frames, _, video_ids = next(videos.as_numpy_iterator())
    by_id = {v.decode(): i for i, v in enumerate(video_ids)}
    vid, start = ids[3].decode().split(":")
    row, start = by_id[vid], int(start)
    window = {k: np.zeros_like(frames[k][:1]) for k in ("rgb", "audio")}
    for k in window:
        window[k][0, :5] = frames[k][row, start : start + 5]
    window["num_frames"] = np.array([5], "int32")
    np.testing.assert_array_equal(window["rgb"][0], features["rgb"][3])
    np.testing.assert_allclose(
        helpers.to_numpy(model.predict_on_batch(window))[0],
        helpers.to_numpy(model.predict_on_batch(features))[3],
        atol=1e-5,
    )


def test_the_pooled_scorer_averages_the_encoders_frames_per_segment(records):
    model = helpers.build_small(
        "gateop", num_classes=CLASSES, max_frames=FRAMES, compile=False
    )
    scoring = segments.pooled_segment_model(model)
    assert scoring.output_shape == (None, FRAMES // 5, CLASSES)
    features, _ = next(
        data.dataset_for_model(
            model, str(records / "frame" / "train*.tfrecord"), batch_size=4
        ).as_numpy_iterator()
    )
    pooled_input = model.get_layer(names.TEMPORAL_MEAN).input
    if isinstance(pooled_input, (list, tuple)):
        pooled_input = pooled_input[0]
    encoded = helpers.to_numpy(
        keras.Model(model.input, pooled_input).predict_on_batch(features)
    )
    head = keras.Model(
        model.get_layer(names.TEMPORAL_MEAN).output, model.output
    )
    got = helpers.to_numpy(scoring.predict_on_batch(features))
    for b in range(4):
        n = int(features["num_frames"][b])
        for s in range(-(-n // 5)):
            real = encoded[b, 5 * s : min(5 * s + 5, n)]
            want = helpers.to_numpy(head(real.mean(0, keepdims=True)))[0]
            np.testing.assert_allclose(got[b, s], want, atol=1e-5)
    with pytest.raises(ValueError, match="scorer='windows'"):
        segments.pooled_segment_model(
            helpers.build_small("dbof", num_classes=CLASSES, compile=False)
        )


def _train(records, run_dir, *extra, train="segment"):
    return cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--train",
            str(records / train / "train*.tfrecord"),
            "--validation",
            str(records / "segment" / "validate*.tfrecord"),
            "--features",
            FEATURES,
            "--num-classes",
            str(CLASSES),
            "--max-frames",
            str(FRAMES),
            "--batch-size",
            "16",
            "--steps-per-validation",
            "8",
            "--max-validations",
            "2",
            "--schedule",
            "constant",
            "--no-tensorboard",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def fine_tuned(records, tmp_path_factory):
    """A GateOp trained on video labels, then fine-tuned on segments."""
    root = tmp_path_factory.mktemp("fine_tune")
    options = ["--model", "gateop", "--mask", "tp", "--W", "2"]
    options += ["--option", "num_heads=2", "--option", "hidden_dim=12"]
    options += ["--learning-rate", "0.003"]
    video = root / "video"
    code = _train(records, video, *options)
    assert code == 0
    segment = root / "segment"
    code = _train(
        records,
        segment,
        "--segments",
        "--init-from",
        str(video / "best.keras"),
        "--learning-rate",
        "0.003",
    )
    assert code == 0
    return video, segment


def test_fine_tuning_on_segments_starts_from_the_model_and_beats_it(
    records, fine_tuned
):
    video, segment = fine_tuned
    stored = json.loads((segment / "config.json").read_text())
    assert stored["segments"] and stored["init_from"].endswith("best.keras")
    with open(segment / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert "val_segment_map" in rows[0] and "val_gap" not in rows[0]
    done = json.loads((segment / "done.json").read_text())
    assert done["best"]["val_segment_map"] == pytest.approx(
        max(float(r["val_segment_map"]) for r in rows)
    )
    tuned = keras.saving.load_model(segment / "final.keras")
    # The same architecture as the model it started from, trained further.
    start = keras.saving.load_model(video / "best.keras")
    assert [w.shape for w in tuned.weights] == [w.shape for w in start.weights]
    assert type(tuned.loss).__name__ == "LabelWeightedBinaryCrossentropy"
    pattern = str(records / "segment" / "validate*.tfrecord")
    untrained = helpers.build_small(
        "gateop", num_classes=CLASSES, max_frames=FRAMES, compile=False
    )
    scores = {
        name: segments.evaluate_segments(m, pattern)["segment_map"]
        for name, m in (("untrained", untrained), ("tuned", tuned))
    }
    assert scores["tuned"] > scores["untrained"] + 0.05, scores
    # The logged value is the windows scorer's on the whole validation set.
    assert float(rows[-1]["val_segment_map"]) == pytest.approx(
        scores["tuned"], abs=1e-6
    )


def test_evaluate_and_predict_segments(records, fine_tuned, tmp_path, capsys):
    _, segment = fine_tuned
    model_path = segment / "final.keras"
    pattern = str(records / "segment" / "validate*.tfrecord")
    model = keras.saving.load_model(model_path)
    # The 2019 submission over the classes of a segment_label_ids.csv.
    classes = tmp_path / "segment_label_ids.csv"
    classes.write_text("Index\n5\n1\n")
    sub = tmp_path / "sub.csv"
    argv = ["predict", str(model_path), pattern, "--segments", "--format"]
    argv += ["kaggle", "--segment-classes", str(classes), "--output", str(sub)]
    assert cli.main(argv) == 0
    lines = sub.read_text().splitlines()
    assert lines[0] == "Class,Segments"
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "5"]
    ranked = segments.rank_segments(model, pattern, classes=[1, 5]).ranked()
    for line in lines[1:]:
        c, ids = line.split(",")
        assert ids.split() == ranked[int(c)]
        assert all(":" in s for s in ids.split())
    # The pooled scorer: one pass over each video.
    argv = ["predict", str(model_path), pattern, "--segments", "--format"]
    argv += ["kaggle", "--scorer", "pooled", "--output", str(sub)]
    assert cli.main(argv) == 0
    pooled = segments.rank_segments(model, pattern, scorer="pooled").ranked()
    lines = sub.read_text().splitlines()
    assert len(lines) == 1 + CLASSES
    for line in lines[1:]:
        c, ids = line.split(",")
        assert ids.split() == pooled[int(c)]
    capsys.readouterr()
    argv = ["predict", str(model_path), pattern, "--segments"]
    assert cli.main(argv) == 2
    assert "--format kaggle" in capsys.readouterr().err
    classes.write_text("Index\n99\n")
    argv = ["predict", str(model_path), pattern, "--segments", "--format"]
    argv += ["kaggle", "--segment-classes", str(classes)]
    assert cli.main(argv) == 2
    assert "outside the model's 8 classes" in capsys.readouterr().err


def test_a_fine_tuned_model_loads_in_a_fresh_process(fine_tuned):
    # Its loss is keras_gmsa's: importing keras_gmsa registers it.
    import os
    import subprocess
    import sys

    _, segment = fine_tuned
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import sys, keras, keras_gmsa; "
        "m = keras.saving.load_model(sys.argv[1]); print(type(m.loss).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(segment / "final.keras")],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == (
        "LabelWeightedBinaryCrossentropy"
    )


def test_segments_on_frame_level_records_is_one_line(records, tmp_path, capsys):
    # Frame-level records have no ratings: training on them would read
    # nothing forever (it crashed the process); the command says so.
    capsys.readouterr()
    run_dir = tmp_path / "run"
    code = _train(
        records,
        run_dir,
        "--segments",
        "--model",
        "frame_logistic",
        train="frame",
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "train0000.tfrecord: record 0 has no segment_start_times" in err[0]
    assert not run_dir.exists()
    # A missing --init-from: one line, and nothing written either.
    code = _train(records, run_dir, "--segments", "--init-from", "no.keras")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "keras-gmsa train: error: init_from no.keras: no such file."
    ], err
    assert not run_dir.exists()


def _rated_video_records(path, videos):
    """Writes frame-level records with 1-byte rgb and audio frames.

    `videos`: ``[(id, [frame value of each 5-frame segment], [(start,
    class, rating), ...])]``; every frame of a segment holds its value.
    """
    from tests.data import independent_writer as iw

    records = []
    for vid, values, ratings in videos:
        frames = np.repeat(np.asarray(values, np.uint8), 5)[:, None]
        starts = [s for s, _, _ in ratings]
        context = {
            "id": iw.bytes_feature([vid.encode()]),
            "labels": iw.int64_feature([]),
            "segment_start_times": iw.int64_feature(starts),
            "segment_end_times": iw.int64_feature([s + 5 for s in starts]),
            "segment_labels": iw.int64_feature([c for _, c, _ in ratings]),
            "segment_scores": iw.float_feature([r for _, _, r in ratings]),
        }
        lists = {
            name: [iw.bytes_feature([row.tobytes()]) for row in frames]
            for name in ("rgb", "audio")
        }
        records.append(iw.sequence_example(context, lists))
    iw.write_records(path, records)
    return str(path)


def _brightness_model():
    """A frame-level model whose class-0 score rises with the mean rgb
    byte of the frames it sees (frame_logistic with set weights)."""
    import keras_gmsa

    model = keras_gmsa.build_model(
        "frame_logistic",
        features={"rgb": 1, "audio": 1},
        num_classes=2,
        max_frames=20,
    )
    dense = [w for w in model.weights if len(w.shape) == 2]
    assert len(dense) == 1 and tuple(dense[0].shape) == (2, 2)
    kernel = np.array([[3.0, 0.0], [0.0, 0.0]], "float32")
    dense[0].assign(kernel)
    return model


def test_the_segment_map_ranks_every_segment_not_only_the_rated(tmp_path):
    # Video v, class 0: segment values 250 (unrated), 200 (rated 1),
    # 150 (rated 1), 100 (rated 0); D_0 = 2. With top_n = 2:
    # - every segment ranked: v:0, v:5 | v:10, v:15; the cut keeps v:0
    #   and v:5, v:0 is unrated and dropped: one hit at rank 1 -> 1/2;
    # - the rated segments only: v:5, v:10 | v:15: two hits -> 2/2.
    # The official rule is the first: 0.5, not 1.0.
    pattern = _rated_video_records(
        tmp_path / "v.tfrecord",
        [
            (
                "v",
                [250, 200, 150, 100],
                [(5, 0, 1.0), (10, 0, 1.0), (15, 0, 0.0)],
            )
        ],
    )
    model = _brightness_model()
    result = segments.evaluate_segments(model, pattern, top_n=2)
    assert result["segment_map"] == pytest.approx(0.5)
    lists = segments.rank_segments(model, pattern, top_n=2)
    assert lists.ranked()[0] == ["v:0", "v:5"]
    # train --segments validates by the same figure.
    callback = segments.SegmentMetrics(pattern, top_n=2, batch_size=3)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_segment_map"] == pytest.approx(0.5)


def test_ratings_are_read_as_the_official_code_reads_them(tmp_path):
    # TF Model Garden's test records rate segments 0.5: the official
    # readers take the rating as the label and the official evaluation
    # counts a rating > 0 as a positive.
    pattern = _rated_video_records(
        tmp_path / "half.tfrecord",
        [("h", [10, 20, 30], [(0, 1, 0.5), (5, 1, 0.0), (10, 0, 0.5)])],
    )
    features, labels = next(
        data.segment_dataset(
            pattern,
            features={"rgb": 1, "audio": 1},
            num_classes=2,
            max_frames=20,
            batch_size=8,
        ).as_numpy_iterator()
    )
    np.testing.assert_array_equal(labels, [[0, 0.5], [0, 0], [0.5, 0]])
    np.testing.assert_array_equal(
        features["label_weights"], [[0, 1], [0, 1], [1, 0]]
    )
    ratings = segments.ratings_of(pattern, 2, features={"rgb": 1, "audio": 1})
    assert ratings == {("h:0", 1): 0.5, ("h:5", 1): 0.0, ("h:10", 0): 0.5}
    # Both classes have a positive; class 1 ranks h:10 (unrated for it)
    # first, then h:5 (a miss), h:0 (hit at rank 2 of the rated): 1/2.
    ranked = {0: ["h:10"], 1: ["h:10", "h:5", "h:0"]}
    assert segments.segment_map(ranked, ratings) == pytest.approx(0.75)


def test_evaluate_equals_predicts_submission_scored_officially(
    records, fine_tuned, tmp_path, capsys
):
    # The same model on the same records: the submission `predict
    # --segments` writes, scored by the official rule, is the MAP that
    # `evaluate --segments` prints, for both scorers and both rankings.
    _, segment = fine_tuned
    model_path = str(segment / "final.keras")
    pattern = str(records / "segment" / "validate*.tfrecord")
    ratings = segments.ratings_of(pattern, CLASSES, features=SIZES)
    whitelist = tmp_path / "segment_label_ids.csv"
    whitelist.write_text("Index\n1\n4\n6\n")
    combos = [("windows", "exact", []), ("pooled", "exact", [])]
    # The starter's lists with its whitelist (three classes, top_k 2 of
    # the masked scores).
    classes = ["--segment-classes", str(whitelist), "--top-k", "2"]
    combos.append(("windows", "starter", classes))
    for scorer, ranking, extra in combos:
        flags = ["--segments", "--scorer", scorer, "--ranking", ranking]
        flags += extra
        sub, out = tmp_path / "sub.csv", tmp_path / "eval.json"
        argv = ["predict", model_path, pattern, *flags]
        argv += ["--format", "kaggle", "--output", str(sub)]
        assert cli.main(argv) == 0
        ranked = {}
        for line in sub.read_text().splitlines()[1:]:
            c, ids = line.split(",")
            ranked[int(c)] = ids.split()
        argv = ["evaluate", model_path, pattern, *flags, "--json", str(out)]
        capsys.readouterr()
        assert cli.main(argv) == 0
        printed = json.loads(out.read_text())["segment_map"]
        assert f"segment_map {printed:.6f}" in capsys.readouterr().out
        assert segments.segment_map(ranked, ratings) == pytest.approx(
            printed, abs=1e-12
        ), (scorer, ranking)
        if ranking == "exact":
            # Every segment of the records is listed for every class.
            windows = sum(len(ids) for ids in ranked.values())
            assert windows == CLASSES * len(
                {s for ids in ranked.values() for s in ids}
            )
        else:
            # Only the whitelisted classes are listed.
            assert set(ranked) <= {1, 4, 6} and ranked
    capsys.readouterr()


def test_rating_lists_of_different_lengths_name_the_record(tmp_path):
    from tests.data import independent_writer as iw

    def record(vid, starts, labels, scores):
        frames = [iw.bytes_feature([bytes([7])]) for _ in range(10)]
        context = {
            "id": iw.bytes_feature([vid.encode()]),
            "labels": iw.int64_feature([]),
            "segment_start_times": iw.int64_feature(starts),
            "segment_labels": iw.int64_feature(labels),
            "segment_scores": iw.float_feature(scores),
        }
        return iw.sequence_example(context, {"rgb": frames, "audio": frames})

    path = tmp_path / "bad.tfrecord"
    iw.write_records(
        path,
        [
            record("ok", [0, 5], [1, 0], [1.0, 0.0]),
            record("short", [0, 5], [1, 0], [1.0]),
        ],
    )
    read = dict(features={"rgb": 1, "audio": 1}, num_classes=2, max_frames=10)
    with pytest.raises(Exception, match=r"different lengths.*record 1"):
        list(data.segment_dataset(str(path), **read))
    skipped = data.segment_dataset(str(path), on_error="skip", **read)
    _, labels = next(skipped.as_numpy_iterator())
    assert labels.tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert skipped.read_stats.as_dict()["segment_range"] == 1
