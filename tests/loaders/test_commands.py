"""`keras-gmsa train / evaluate / predict` without TensorFlow (blocked from
importing in a child process; where it is not installed at all, as in
`make test-no-tf`, the block changes nothing), and --loader /
--loader-workers; the 2019 segment task's commands too."""

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.loaders import helpers as h

try:
    import tensorflow  # noqa: F401

    _NO_TENSORFLOW = False
except ImportError:
    _NO_TENSORFLOW = True

ROOT = Path(__file__).resolve().parents[2]
FEATURES = "rgb:16,audio:8"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return h.write_corpus(tmp_path_factory.mktemp("corpus"))


def _without_tensorflow(cwd, *commands):
    """Runs the commands, one after another in one process (one start),
    with TensorFlow unimportable. A command is ``(argv, exit status it
    must end with)``; the process stops at the first that ends otherwise.
    Returns the process and each command's standard error."""
    code = textwrap.dedent(
        f"""
        import sys

        sys.modules["tensorflow"] = None  # import tensorflow: ImportError
        from keras_gmsa.cli import main

        for k, (argv, expected) in enumerate({list(commands)!r}):
            print("=== command", k, file=sys.stderr, flush=True)
            code = main(argv) or 0
            sys.stderr.flush()
            if code != expected:
                print("=== ended", code, "not", expected, file=sys.stderr)
                sys.exit(1)
        """
    )
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=600,
    )
    parts = process.stderr.split("=== command ")[1:]
    return process, [part.split("\n", 1)[1] for part in parts]


def _train_argv(corpus, run_dir, *extra, layout="frame"):
    return [
        "train",
        "--run-dir",
        str(run_dir),
        "--model",
        "gateop",
        "--mask",
        "tp",
        "--W",
        "3",
        "--option",
        "num_heads=2",
        "--option",
        "hidden_dim=8",
        "--train",
        corpus[layout],
        "--validation",
        corpus[layout],
        "--features",
        FEATURES,
        "--num-classes",
        str(h.CLASSES),
        "--max-frames",
        str(h.FRAMES),
        "--batch-size",
        "4",
        "--validation-batch-size",
        "5",
        "--steps-per-validation",
        "3",
        "--max-validations",
        "2",
        "--verbose",
        "0",
        *extra,
    ]


# On the TensorFlow backend TensorFlow cannot be missing. `make test-no-tf`
# runs this test on JAX and PyTorch in a venv without TensorFlow; `make
# test` (TensorFlow installed, blocked in the subprocess) runs it once.
@pytest.mark.backends("torch", "jax" if _NO_TENSORFLOW else "torch")
def test_train_evaluate_and_predict_without_tensorflow(corpus, tmp_path):
    # All in one process (one start): TensorBoard logs asked for, and
    # loader tf, each refused in one line with nothing written; training
    # with the loader of the backend (auto), parsing in a worker process;
    # evaluate and predict; the segment task (train --segments, whose
    # val_segment_map the loader reads; evaluate and predict --segments).
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tensorboard": True}))
    run = tmp_path / "run"
    result = tmp_path / "metrics.json"
    predictions = tmp_path / "predictions.jsonl"
    segment_run = tmp_path / "segments"
    segment_map = tmp_path / "segment_map.json"
    submission = tmp_path / "submission.csv"
    tuned = str(segment_run / "best.keras")
    process, errors = _without_tensorflow(
        tmp_path,
        (_train_argv(corpus, tmp_path / "tb", "--config", str(config)), 2),
        (_train_argv(corpus, tmp_path / "tf", "--loader", "tf"), 2),
        (_train_argv(corpus, run, "--loader-workers", "1"), 0),
        (
            ["evaluate", str(run / "best.keras"), corpus["frame"]]
            + ["--json", str(result), "--quiet"],
            0,
        ),
        (
            ["predict", str(run / "best.keras"), corpus["frame"], "--quiet"]
            + ["--format", "jsonl", "--top-k", "2"]
            + ["--output", str(predictions)],
            0,
        ),
        (
            _train_argv(
                corpus,
                segment_run,
                *["--segments", "--max-validations", "1"],
                *["--steps-per-validation", "2"],
                layout="segment",
            ),
            0,
        ),
        (
            ["evaluate", tuned, corpus["segment"], "--segments", "--quiet"]
            + ["--json", str(segment_map)],
            0,
        ),
        (
            ["predict", tuned, corpus["segment"], "--segments", "--quiet"]
            + ["--format", "kaggle", "--output", str(submission)],
            0,
        ),
    )
    assert process.returncode == 0, process.stderr[-3000:]
    # Nothing on standard error at start-up (before the first command).
    assert process.stderr.startswith("=== command 0\n"), process.stderr[:500]
    tensorboard = errors[0].strip().splitlines()
    assert len(tensorboard) == 1, tensorboard
    assert "TensorBoard logs need TensorFlow" in tensorboard[0]
    assert not (tmp_path / "tb").exists()
    assert "loader='tf' needs tensorflow" in errors[1]
    assert not (tmp_path / "tf").exists()
    summary = json.loads((run / "done.json").read_text())
    assert summary["best"]["epoch"] >= 1
    assert (run / "best.keras").exists() and not (run / "logs").exists()
    stored = json.loads((run / "config.json").read_text())
    assert stored["loader"] == "auto" and stored["loader_workers"] == 1
    metrics = json.loads(result.read_text())
    assert metrics["num_videos"] == sum(h.SHARDS)
    assert metrics["read_stats"]["records_read"] == sum(h.SHARDS)
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == sum(h.SHARDS)
    assert all(len(row["labels"]) == 2 for row in rows)
    history = (segment_run / "history.csv").read_text().splitlines()
    assert "val_segment_map" in history[0] and len(history) == 2
    # The submission made without TensorFlow, scored officially against
    # the records' ratings, is the MAP evaluate printed.
    from keras_gmsa import segments

    ranked = {}
    for line in submission.read_text().splitlines()[1:]:
        c, ids = line.split(",")
        ranked[int(c)] = ids.split()
    assert len(ranked) == h.CLASSES
    ratings = segments.ratings_of(
        corpus["segment"], h.CLASSES, features=h.SIZES
    )
    scored = json.loads(segment_map.read_text())
    assert scored["segments"] == len({s for s, _ in ratings}) > 0
    assert segments.segment_map(ranked, ratings) == pytest.approx(
        scored["segment_map"], abs=1e-12
    )


def _main(argv):
    from keras_gmsa import cli

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli.main(argv) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def saved_model(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    _main(_train_argv(corpus, root / "run", "--no-tensorboard"))
    return str(root / "run" / "best.keras")


@pytest.mark.backends("torch")
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_every_loader_gives_the_same_output(corpus, saved_model, command):
    # What the loaders read does not depend on the backend: once, on
    # PyTorch, whose eager predict costs no compilation per command.
    pytest.importorskip("tensorflow")
    outputs = {}
    for loader, workers in [("tf", 0), ("auto", 0), ("grain", 2), ("torch", 2)]:
        argv = [command, saved_model, corpus["frame"], "--quiet"]
        argv += ["--loader", loader, "--loader-workers", str(workers)]
        argv += ["--batch-size", "6", "--on-error", "skip"]
        if command == "predict":
            argv += ["--format", "jsonl"]
        outputs[loader, workers] = _main(argv)
    assert len(set(outputs.values())) == 1, outputs
    assert outputs["tf", 0].count("\n") >= 4


@pytest.mark.backends("torch")
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_every_loader_gives_the_same_segment_output(
    corpus, saved_model, command, tmp_path
):
    # The segment task: ratings, the windows scorer and the MAP
    # (evaluate), the pooled scorer and the starter's lists (predict).
    # What the loaders read does not depend on the backend: once. Worker
    # processes: test_every_loader_gives_the_same_output (a start costs
    # seconds).
    pytest.importorskip("tensorflow")
    outputs = {}
    for loader in ("tf", "grain", "torch"):
        out = tmp_path / f"{loader}.out"
        argv = [command, saved_model, corpus["segment"], "--quiet"]
        argv += ["--loader", loader, "--segments", "--batch-size", "6"]
        if command == "evaluate":
            argv += ["--json", str(out)]
        else:
            argv += ["--scorer", "pooled", "--ranking", "starter"]
            argv += ["--top-k", "3", "--format", "kaggle", "--output", str(out)]
        outputs[loader] = (_main(argv), out.read_text())
    assert len(set(outputs.values())) == 1, outputs
    printed, written = outputs["tf"]
    if command == "evaluate":
        assert json.loads(written)["segments"] > 0
        assert "segment_map " in printed
    else:
        lines = written.splitlines()
        assert lines[0] == "Class,Segments" and len(lines) > 1
        assert all(":" in line for line in lines[1:])
