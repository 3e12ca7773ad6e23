"""Paths on other filesystems than the local disk (issue 26, item 6).

Every path a user gives goes through tf.io.gfile or Keras' own file
handling, so records, models, vocabularies, configs, outputs and run
directories on ``gs://`` work as local ones do. Without a network, the
tests use TensorFlow's in-memory ``ram://`` filesystem (process-local: the
commands run in this process) and ``file://`` URLs, which only tf.io.gfile
and Keras' remote-path code open (Python's ``open`` and ``os`` functions
take them for a relative path and fail, or write a local ``file:``
directory).
"""

import csv
import io
import json
import os
import signal
import threading
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa import metrics
from keras_gmsa.cli import predict as predict_cli
from keras_gmsa.cli._common import UserError
from keras_gmsa.data import synthetic
from tests import helpers

# paths go through tf.io.gfile and Keras' file handling, whatever the backend:
# one backend.
pytestmark = pytest.mark.backends("tensorflow")

CLASSES = 6
FRAMES = 10
SIZES = {"rgb": 16, "audio": 8}
FEATURES = "rgb:16,audio:8"
BACKEND = keras.backend.backend()


def _ram(name):
    """A fresh ``ram://`` directory (the filesystem lives as long as the
    process: each test takes its own)."""
    return f"ram://{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Records, a vocabulary and a saved model, on disk and copied to
    ``ram://``."""
    local = tmp_path_factory.mktemp("remote")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES,
        max_frames=FRAMES,
        min_frames=4,
        signal=1.0,
        feature_sizes=SIZES,
        seed=0,
    )
    synthetic.write_dataset(local, 48, num_shards=2, generator=gen)
    synthetic.write_dataset(
        local,
        16,
        num_shards=1,
        split="validate",
        generator=gen,
        seed=1,
        start_index=48,
    )
    model = helpers.build_small("baseline", compile=False)
    model.save(local / "model.keras")
    ram = _ram("world")
    for path in tf.io.gfile.glob(str(local / "*" / "*.tfrecord")):
        relative = os.path.relpath(path, local)
        tf.io.gfile.makedirs(os.path.dirname(f"{ram}/{relative}"))
        tf.io.gfile.copy(path, f"{ram}/{relative}")
    tf.io.gfile.copy(str(local / "vocabulary.csv"), f"{ram}/vocabulary.csv")
    tf.io.gfile.copy(str(local / "model.keras"), f"{ram}/model.keras")
    return {"local": str(local), "ram": ram}


def _run(capsys, argv):
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _error(capsys, argv):
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_records_read_from_ram_are_the_local_ones(world):
    def batches(root):
        dataset = data.frame_dataset(
            f"{root}/frame/train*.tfrecord",
            batch_size=8,
            num_classes=CLASSES,
            max_frames=FRAMES,
            features=SIZES,
            with_ids=True,
        )
        return list(dataset.as_numpy_iterator())

    local, ram = batches(world["local"]), batches(world["ram"])
    assert len(local) == len(ram) == 6
    for (lf, ll, li), (rf, rl, ri) in zip(local, ram, strict=True):
        assert list(li) == list(ri)
        np.testing.assert_array_equal(ll, rl)
        for key in lf:
            np.testing.assert_array_equal(lf[key], rf[key])
    assert data.verify_records(f"{world['ram']}/frame/*.tfrecord") == []


def test_evaluate_and_predict_from_ram(world, capsys):
    """Model, records and vocabulary on ram://, outputs written there: the
    same as from the local copies."""
    local, ram = world["local"], world["ram"]
    pattern = "frame/validate*.tfrecord"
    expected = _run(
        capsys,
        ["evaluate", f"{local}/model.keras", f"{local}/{pattern}", "--quiet"],
    )
    out = _run(
        capsys,
        [
            "evaluate",
            f"{ram}/model.keras",
            f"{ram}/{pattern}",
            "--quiet",
            "--json",
            f"{ram}/out/metrics.json",
        ],
    )
    assert out == expected and "videos      16" in out
    written = json.loads(tf.io.gfile.GFile(f"{ram}/out/metrics.json").read())
    assert f"gap         {written['gap']:.6f}" in out

    local_out = os.path.join(local, "predictions.jsonl")
    _run(
        capsys,
        ["predict", f"{local}/model.keras", f"{local}/{pattern}"]
        + ["--vocabulary", f"{local}/vocabulary.csv", "--quiet"]
        + ["--output", local_out],
    )
    _run(
        capsys,
        ["predict", f"{ram}/model.keras", f"{ram}/{pattern}"]
        + ["--vocabulary", f"{ram}/vocabulary.csv", "--quiet"]
        + ["--output", f"{ram}/out/predictions.jsonl"],
    )
    text = tf.io.gfile.GFile(f"{ram}/out/predictions.jsonl").read()
    with open(local_out) as f:
        assert text == f.read()
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 16
    vocabulary = data.Vocabulary.load(f"{ram}/vocabulary.csv")
    names = set(vocabulary.names(range(CLASSES)))
    assert all(label in names for row in rows for label, _ in row["labels"])


def test_a_missing_file_on_ram_is_one_line(world, capsys):
    ram = world["ram"]
    pattern = f"{ram}/frame/validate*.tfrecord"
    line = _error(capsys, ["evaluate", f"{ram}/none.keras", pattern])
    assert line.endswith(f"{ram}/none.keras: no such file")
    line = _error(
        capsys,
        ["predict", f"{ram}/model.keras", pattern, "--vocabulary"]
        + [f"{ram}/none.csv", "--quiet"],
    )
    assert line.endswith(f"{ram}/none.csv: no such file")
    # A vocabulary is not a model: the archive check reads it with gfile.
    line = _error(capsys, ["evaluate", f"{ram}/vocabulary.csv", pattern])
    assert "vocabulary.csv: not a .keras model file" in line


def test_segment_classes_from_ram(world):
    path = f"{world['ram']}/segment_label_ids.csv"
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("Index\n3\n1\n")
    assert predict_cli.read_segment_classes(path) == [3, 1]
    with pytest.raises(UserError, match="none.csv: no such file"):
        predict_cli.read_segment_classes(f"{world['ram']}/none.csv")


def test_hub_models_are_left_to_keras(world, capsys, monkeypatch):
    # hf:// is not a tf.io.gfile filesystem: Keras fetches it (with
    # huggingface_hub). Offline here, so Keras fails; the path is not
    # refused as a missing file before Keras sees it.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pattern = f"{world['ram']}/frame/validate*.tfrecord"
    line = _error(capsys, ["evaluate", "hf://keras-gmsa/none", pattern])
    assert "hf://keras-gmsa/none: the model cannot be loaded" in line
    assert "no such file" not in line


def _train_argv(world, run_dir, *extra):
    return [
        "train",
        "--run-dir",
        run_dir,
        "--model",
        "frame_logistic",
        "--train",
        f"{world['ram']}/frame/train*.tfrecord",
        "--validation",
        f"{world['ram']}/frame/validate*.tfrecord",
        "--features",
        FEATURES,
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--batch-size",
        "8",
        "--learning-rate",
        "0.003",
        "--steps-per-validation",
        "2",
        "--schedule",
        "constant",
        "--verbose",
        "2",
        *extra,
    ]


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_a_run_directory_on_ram(world, capsys):
    """Config file, records and the whole run directory (backup, best and
    final models, history, TensorBoard logs) on ram://."""
    run_dir = f"{_ram('run')}/run"
    config = f"{world['ram']}/run.json"
    with tf.io.gfile.GFile(config, "w") as f:
        json.dump({"max_validations": 2}, f)
    argv = _train_argv(world, run_dir, "--config", config)
    out = _run(capsys, argv)
    assert f"{run_dir}/best.keras" in out
    assert {
        "backup",
        "best.keras",
        "config.json",
        "done.json",
        "final.keras",
        "history.csv",
        "logs",
    } <= set(tf.io.gfile.listdir(run_dir))
    stored = json.loads(tf.io.gfile.GFile(f"{run_dir}/config.json").read())
    assert stored["max_validations"] == 2
    assert tf.io.gfile.glob(f"{run_dir}/logs/train/events.out.tfevents.*")
    rows = _rows(tf.io.gfile.GFile(f"{run_dir}/history.csv").read())
    assert [r["epoch"] for r in rows] == ["0", "1"]
    summary = json.loads(tf.io.gfile.GFile(f"{run_dir}/done.json").read())
    best = max(float(r["val_gap"]) for r in rows)
    assert summary["best"]["val_gap"] == pytest.approx(best)
    # The best model, evaluated from ram:// by the command line.
    out = _run(
        capsys,
        [
            "evaluate",
            f"{run_dir}/best.keras",
            argv[argv.index("--validation") + 1],
        ]
        + ["--quiet"],
    )
    assert float(out.split()[1]) == pytest.approx(best, abs=1e-5)
    # The same command again: the run is complete.
    assert "is complete" in _run(capsys, argv)


def test_ram_appends_to_a_file_opened_for_writing():
    """Why the resume test runs on file://: TensorFlow's in-memory
    filesystem appends to an existing file opened for writing where every
    other filesystem replaces it, and Keras' BackupAndRestore rewrites its
    metadata in place, so a run directory on ram:// cannot resume (its
    metadata holds two JSON documents). When this fails, ram:// replaces
    files: run the resume test on ram://."""
    path = f"{_ram('append')}/a.json"
    for text in ('{"epoch": 1}', '{"epoch": 2}'):
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
    assert tf.io.gfile.GFile(path).read() == '{"epoch": 1}{"epoch": 2}'


def test_an_interrupted_run_resumes_from_a_url(
    world, tmp_path, capsys, monkeypatch
):
    """A run directory named by a URL (file://, which only tf.io.gfile and
    Keras' remote-path code open) is interrupted (Ctrl-C) after two
    backed-up intervals and resumes where it stopped; nothing is written
    to a local path."""
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "store"
    run_dir = f"file://{local}/run"
    # Eight intervals: on a loaded machine the watcher thread can be late
    # by an interval or two; the run must still be going when it fires.
    intervals = 8
    argv = _train_argv(world, run_dir, "--max-validations", str(intervals))
    backups = [
        local / "run" / "backup" / name
        for name in ("schedule.json", "training_metadata.json")
    ]

    finished = threading.Event()

    def interrupt_after_two_intervals():
        # At an interval's end Keras' backup is written, then ScheduleState's.
        while not finished.wait(0.01):
            try:
                if any(
                    json.loads(b.read_text())["epoch"] >= 2
                    for b in backups
                    if b.exists()
                ):
                    break
            except (OSError, ValueError, KeyError):
                pass
        else:
            return  # the command ended first
        import _thread

        _thread.interrupt_main()

    watcher = threading.Thread(target=interrupt_after_two_intervals)
    # Ctrl-C as a command line process receives it: Python's own SIGINT
    # handler (an earlier test in this process, e.g. one with loader
    # worker processes, may have left another one, and interrupt_main
    # does nothing where SIGINT is ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher.start()
    capsys.readouterr()
    try:
        code = cli.main(argv)
    finally:
        finished.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)
    assert code == 130, capsys.readouterr()
    assert not (local / "run" / "done.json").exists()
    backed_up = json.loads(
        (local / "run" / "backup" / "training_metadata.json").read_text()
    )["epoch"]
    assert 2 <= backed_up < intervals, "the run ended before it was interrupted"

    out = _run(capsys, argv)
    assert f"Resuming {run_dir} after {backed_up} validation intervals" in out
    rows = _rows((local / "run" / "history.csv").read_text())
    assert [int(r["epoch"]) for r in rows] == list(range(intervals))
    summary = json.loads((local / "run" / "done.json").read_text())
    assert summary["intervals"] == intervals
    assert summary["epochs_this_session"] == intervals - backed_up
    model = keras.saving.load_model(f"{run_dir}/best.keras")
    validation = data.frame_dataset(
        f"{world['ram']}/frame/validate*.tfrecord",
        num_classes=CLASSES,
        max_frames=FRAMES,
        features=SIZES,
    )
    gap = metrics.Evaluator(CLASSES).update_from_model(model, validation)
    best = max(float(r["val_gap"]) for r in rows)
    assert gap.result()["gap"] == pytest.approx(best, abs=1e-5)
    # Python's os functions would have made a local "file:" directory.
    assert sorted(os.listdir(tmp_path)) == ["store"]


@pytest.mark.filterwarnings(
    "ignore:Skipping variable loading for optimizer:UserWarning"
)
def test_tune_directory_on_ram(world, capsys):
    """KerasTuner keeps its trials with tf.io.gfile on TensorFlow; on JAX
    and PyTorch with Python's local file functions, so a remote
    directory is refused in one line."""
    directory = _ram("tune")
    argv = [
        "tune",
        "--directory",
        directory,
        "--train",
        f"{world['ram']}/frame/train*.tfrecord",
        "--validation",
        f"{world['ram']}/frame/validate*.tfrecord",
        "--features",
        FEATURES,
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--option",
        "hidden_dim=12",
        "--option",
        "num_heads=2",
        "--batch-size",
        "8",
        "--steps-per-epoch",
        "1",
        "--epochs",
        "1",
        "--max-trials",
        "1",
        "--combinations",
        "gateop",
        "--masks",
        "bd",
        "--w-values",
        "2",
    ]
    if BACKEND != "tensorflow":
        line = _error(capsys, argv)
        assert f"{directory}: KerasTuner keeps its trials on the local" in line
        assert f"the {BACKEND} backend" in line
        assert not tf.io.gfile.exists(directory)
        return
    _run(capsys, argv)
    rows = json.loads(
        tf.io.gfile.GFile(f"{directory}/gmsa/summary.json").read()
    )
    assert len(rows) == 1 and rows[0]["combination"] == "gateop"
