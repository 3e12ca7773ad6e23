"""Example scripts run end to end (KERAS_MAX_EPOCHS=1, 2 steps per epoch).

Each script runs as ``__main__`` in this process (runpy), with the two
environment variables set and the same caps set in `keras.config`: the
same code path as ``python examples/x.py`` without paying a fresh
TensorFlow/JAX import per script.
"""

import os
import runpy
import sys

import keras
import pytest

# the example scripts are run once (the models run on every backend in
# tests/models): one backend.
pytestmark = pytest.mark.backends("torch")

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


@pytest.fixture
def run_example(monkeypatch, capsys):
    monkeypatch.setenv("KERAS_MAX_EPOCHS", "1")
    monkeypatch.setenv("KERAS_MAX_STEPS_PER_EPOCH", "2")
    monkeypatch.syspath_prepend(EXAMPLES)
    keras.config.set_max_epochs(1)
    keras.config.set_max_steps_per_epoch(2)

    def run(script, *args):
        monkeypatch.setattr(sys, "argv", [script, *args])
        capsys.readouterr()
        runpy.run_path(os.path.join(EXAMPLES, script), run_name="__main__")
        return capsys.readouterr().out

    yield run
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)


def test_local_events_example_runs(tmp_path, run_example):
    out = run_example(
        "local_events.py",
        "--videos",
        "64",
        "--frames",
        "24",
        "--data-dir",
        str(tmp_path / "d"),
    )
    lines = out.strip().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("model "))
    assert lines[start].split() == ["model", "local-event", "GAP"]
    gaps = [float(line.split()[-1]) for line in lines[start + 1 :]]
    assert len(gaps) == 3 and all(0 <= g <= 100 for g in gaps)


def test_train_predict_and_tune_examples(tmp_path, run_example):
    data_dir = str(tmp_path / "data")
    out = run_example(
        "train.py",
        "--data-dir",
        data_dir,
        "--videos",
        "64",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert "Epoch 1: val_gap improved" in out and "Epoch 2" not in out
    best = tmp_path / "run" / "best.keras"
    assert best.exists()
    with open(tmp_path / "run" / "history.csv") as f:
        assert len(f.read().strip().splitlines()) == 2  # header + 1 epoch

    csv = tmp_path / "submission.csv"
    out = run_example(
        "predict_submission.py",
        str(best),
        "--test",
        f"{data_dir}/frame/test*.tfrecord",
        "--vocabulary",
        f"{data_dir}/vocabulary.csv",
        "--output",
        str(csv),
    )
    assert "Wrote 16 videos" in out
    lines = csv.read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) == 17
    pairs = lines[1].split(",")[1].split()
    assert len(pairs) == 40  # 20 labels, 20 scores
    scores = [float(s) for s in pairs[1::2]]
    assert scores == sorted(scores, reverse=True)

    out = run_example(
        "tune.py",
        "--data-dir",
        data_dir,
        "--videos",
        "64",
        "--max-trials",
        "1",
        "--directory",
        str(tmp_path / "tune"),
    )
    assert "| rank | combination | mask | W | L |" in out
    assert (tmp_path / "tune" / "gmsa" / "summary.json").exists()


def test_segment_task_example_runs(tmp_path, run_example):
    out = run_example(
        "segment_task.py",
        "--videos",
        "24",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "segments"),
    )
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[1:]] == [
        "| untrained",
        "| video labels",
        "| fine-tuned on segments",
    ]
    for row in rows[1:]:
        scores = [float(v) for v in row.strip("| ").split(" | ")[1:]]
        assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert (tmp_path / "segments" / "segment" / "done.json").exists()
