import numpy as np

from keras_gmsa import cli
from keras_gmsa import data


def test_synth_then_verify(tmp_path, capsys):
    out = tmp_path / "synth"
    assert (
        cli.main(
            [
                "synth",
                str(out),
                "--videos",
                "6",
                "--shards",
                "2",
                "--num-classes",
                "20",
                "--max-frames",
                "30",
                "--layouts",
                "frame",
                "video",
            ]
        )
        == 0
    )
    assert "frame    2 shards" in capsys.readouterr().out
    ds = data.frame_dataset(
        str(out / "frame" / "*.tfrecord"),
        batch_size=6,
        num_classes=20,
        max_frames=30,
    )
    features, labels = next(iter(ds))
    assert features["rgb"].shape == (6, 30, 1024)
    assert np.all(labels.numpy().sum(1) >= 1)
    assert cli.main(["verify", str(out / "frame" / "*.tfrecord")]) == 0
    assert "2 files checked, 0 with problems" in capsys.readouterr().out
    shard = out / "frame" / "train0000.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-7])
    assert cli.main(["verify", str(out / "frame" / "*.tfrecord")]) == 1
    assert "train0000.tfrecord: record" in capsys.readouterr().out


def test_models_lists_the_zoo(capsys):
    cli.main(["models"])
    text = capsys.readouterr().out
    assert "gateop" in text and "baseline" in text


def _saved_model_and_records(tmp_path):
    import keras_gmsa

    out = tmp_path / "synth"
    cli.main(
        [
            "synth",
            str(out),
            "--videos",
            "10",
            "--shards",
            "2",
            "--num-classes",
            "20",
            "--max-frames",
            "30",
        ]
    )
    model = keras_gmsa.build_model(
        "gateop",
        mask="tp",
        W=2,
        num_classes=20,
        max_frames=30,
        projection_dim=16,
        num_heads=4,
        hidden_dim=16,
        compile=False,
    )
    path = tmp_path / "m.keras"
    model.save(path)
    return model, path, out


def test_evaluate_reports_the_exact_metrics(tmp_path, capsys):
    import json

    from keras_gmsa import metrics

    model, path, out = _saved_model_and_records(tmp_path)
    capsys.readouterr()
    pattern = str(out / "frame" / "*.tfrecord")
    assert (
        cli.main(
            ["evaluate", str(path), pattern, "--json", str(tmp_path / "m.json")]
        )
        == 0
    )
    printed = dict(
        line.split()[:2] for line in capsys.readouterr().out.splitlines()[:5]
    )
    ds = data.frame_dataset(
        pattern, batch_size=256, num_classes=20, max_frames=30
    )
    features, labels = next(iter(ds))
    probs = np.asarray(
        model.predict({k: v.numpy() for k, v in features.items()}, verbose=0)
    )
    assert float(printed["gap"]) == round(metrics.gap(probs, labels.numpy()), 6)
    assert float(printed["hit_at_one"]) == round(
        metrics.hit_at_one(probs, labels.numpy()), 6
    )
    assert printed["videos"] == "10"
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["num_videos"] == 10 and saved["read_stats"]["skipped"] == 0


def test_predict_writes_kaggle_csv_and_named_json_lines(tmp_path):
    import json

    _, path, out = _saved_model_and_records(tmp_path)
    pattern = str(out / "frame" / "*.tfrecord")
    csv_path = tmp_path / "sub.csv"
    assert (
        cli.main(
            [
                "predict",
                str(path),
                pattern,
                "--format",
                "kaggle",
                "--output",
                str(csv_path),
            ]
        )
        == 0
    )
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "VideoId,LabelConfidencePairs" and len(rows) == 11
    ids = sorted(r.split(",")[0] for r in rows[1:])
    assert ids == [f"000{i}" for i in range(10)]
    assert len(rows[1].split(",")[1].split()) == 40  # 20 pairs
    jsonl = tmp_path / "p.jsonl"
    assert (
        cli.main(
            [
                "predict",
                str(path),
                pattern,
                "--top-k",
                "3",
                "--vocabulary",
                str(out / "vocabulary.csv"),
                "--output",
                str(jsonl),
            ]
        )
        == 0
    )
    first = json.loads(jsonl.read_text().splitlines()[0])
    assert len(first["labels"]) == 3
    assert first["labels"][0][0].startswith(("Synthetic class", "Local event"))
    scores = [s for _, s in first["labels"]]
    assert scores == sorted(scores, reverse=True)


def test_synth_splits_have_their_own_videos_and_are_reproducible(tmp_path):
    out = tmp_path / "synth"
    common = ["--videos", "8", "--shards", "1", "--num-classes", "12"]
    common += ["--max-frames", "6", "--layouts", "frame"]
    for split in ("train", "test"):
        cli.main(["synth", str(out), "--split", split, *common])

    def read(split):
        ds = data.frame_dataset(
            str(out / "frame" / f"{split}*.tfrecord"),
            batch_size=8,
            num_classes=12,
            max_frames=6,
            with_ids=True,
        )
        features, labels, ids = next(ds.as_numpy_iterator())
        return features["rgb"], labels, set(ids.tolist())

    train_rgb, train_labels, train_ids = read("train")
    test_rgb, _, test_ids = read("test")
    assert not train_ids & test_ids
    assert not np.array_equal(train_rgb, test_rgb)
    # The same command writes the same videos.
    again = tmp_path / "again"
    cli.main(["synth", str(again), "--split", "train", *common])
    ds = data.frame_dataset(
        str(again / "frame" / "train*.tfrecord"),
        batch_size=8,
        num_classes=12,
        max_frames=6,
    )
    features, labels = next(ds.as_numpy_iterator())
    np.testing.assert_array_equal(features["rgb"], train_rgb)
    np.testing.assert_array_equal(labels, train_labels)
