"""`keras-gmsa train / evaluate / predict` without TensorFlow (blocked from
importing in a child process; where it is not installed at all, as in
`make test-no-tf`, the block changes nothing), and --loader /
--loader-workers."""

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
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


def _without_tensorflow(argv, cwd):
    """Runs the command line with TensorFlow unimportable."""
    code = textwrap.dedent(
        f"""
        import sys

        sys.modules["tensorflow"] = None  # import tensorflow: ImportError
        from keras_gmsa.cli import main

        sys.exit(main({argv!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=600,
    )


def _train_argv(corpus, run_dir, *extra):
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
        corpus["frame"],
        "--validation",
        corpus["frame"],
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
    # TensorBoard logs asked for: refused in one line, nothing written.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tensorboard": True}))
    refused = _without_tensorflow(
        _train_argv(corpus, tmp_path / "tb", "--config", str(config)),
        tmp_path,
    )
    assert refused.returncode == 2, refused.stderr
    errors = refused.stderr.strip().splitlines()
    assert len(errors) == 1 and "TensorBoard logs need TensorFlow" in errors[0]
    assert not (tmp_path / "tb").exists()
    # loader tf: the same.
    refused = _without_tensorflow(
        _train_argv(corpus, tmp_path / "tf", "--loader", "tf"), tmp_path
    )
    assert refused.returncode == 2
    assert "loader='tf' needs tensorflow" in refused.stderr
    # The loader of the backend (auto), parsing in a worker process.
    run = tmp_path / "run"
    done = _without_tensorflow(
        _train_argv(corpus, run, "--loader-workers", "1"), tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((run / "done.json").read_text())
    assert summary["best"]["epoch"] >= 1
    assert (run / "best.keras").exists() and not (run / "logs").exists()
    stored = json.loads((run / "config.json").read_text())
    assert stored["loader"] == "auto" and stored["loader_workers"] == 1
    result = tmp_path / "metrics.json"
    evaluated = _without_tensorflow(
        ["evaluate", str(run / "best.keras"), corpus["frame"]]
        + ["--json", str(result), "--quiet"],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads(result.read_text())
    assert metrics["num_videos"] == sum(h.SHARDS)
    assert metrics["read_stats"]["records_read"] == sum(h.SHARDS)
    predicted = _without_tensorflow(
        ["predict", str(run / "best.keras"), corpus["frame"], "--quiet"]
        + ["--format", "jsonl", "--top-k", "2"],
        tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == sum(h.SHARDS)
    assert all(len(row["labels"]) == 2 for row in rows)


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


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_every_loader_gives_the_same_output(corpus, saved_model, command):
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "jax":
        # What the loaders read does not depend on the backend: once.
        pytest.skip("the loaders are compared on the JAX backend")
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
