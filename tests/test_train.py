"""`keras-gmsa train`: config, schedule, resume after SIGKILL, devices."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_gmsa import callbacks as callbacks_lib
from keras_gmsa import cli
from keras_gmsa import metrics
from keras_gmsa import training
from keras_gmsa.data import frame_dataset
from tests.helpers import log_an_interval_without_backup
from tests.helpers import write_tiny_records

BACKEND = keras.backend.backend()
CLASSES = 8
FRAMES = 8


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    frame = write_tiny_records(root, 192, 40, CLASSES, FRAMES)
    return {
        "train": str(frame / "train*.tfrecord"),
        "validation": str(frame / "validate*.tfrecord"),
    }


def _flags(records, run_dir, *extra):
    return [
        "train",
        "--run-dir",
        str(run_dir),
        "--model",
        "gateop",
        "--mask",
        "tp",
        "--W",
        "2",
        "--train",
        records["train"],
        "--validation",
        records["validation"],
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--batch-size",
        "16",
        "--learning-rate",
        "0.003",
        "--option",
        "projection_dim=8",
        "--option",
        "num_heads=2",
        "--option",
        "hidden_dim=16",
        "--no-tensorboard",
        *extra,
    ]


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


# The repository root, whatever directory pytest runs from.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")


def test_sigkill_then_the_same_command_resumes(records, tmp_path, capsys):
    run_dir = tmp_path / "run"
    flags = _flags(
        records,
        run_dir,
        "--steps-per-validation",
        "3",
        "--max-validations",
        "6",
        "--schedule",
        "constant",
    )
    command = [sys.executable, "-m", "keras_gmsa.cli"] + flags
    meta = run_dir / "backup" / "training_metadata.json"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, env=_env(), stdout=log, stderr=log)
    deadline = time.time() + 300
    backed_up = 0
    while time.time() < deadline and first.poll() is None:
        try:
            backed_up = json.loads(meta.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            backed_up = 0
        if backed_up >= 2:
            break
        time.sleep(0.05)
    if backed_up < 2 and first.poll() is None:
        first.kill()
        first.wait()
        pytest.fail(
            "the run did not back up 2 intervals within 300 s (a bound, "
            "not a timing assertion: the machine is far slower than "
            "expected):\n" + (tmp_path / "first.log").read_text()[-2000:]
        )
    first.send_signal(signal.SIGKILL)
    first.wait()
    log.close()
    assert first.returncode == -signal.SIGKILL, (
        "the run ended before it could be killed:\n"
        + (tmp_path / "first.log").read_text()[-2000:]
    )
    assert not (run_dir / "done.json").exists()
    # The counters were saved with the backup the rerun starts from.
    backed_up = json.loads(meta.read_text())["epoch"]
    state = json.loads((run_dir / "backup" / "schedule.json").read_text())
    # A constant schedule never stops early nor drops: its only counter
    # is the checkpoint's.
    assert [key for key in state if ":" in key] == ["0:ModelCheckpoint"]
    best_before = state["0:ModelCheckpoint"]["best"]
    assert backed_up >= 2 and best_before > 0
    # A kill between CSVLogger and BackupAndRestore leaves a row for an
    # interval with no backup; the state is made here whether or not this
    # kill landed there, so every run checks that the rerun (which trains
    # that interval again) logs it once.
    assert backed_up < 6, "the run backed up every interval before the kill"
    logged = log_an_interval_without_backup(run_dir, backed_up)
    assert logged == list(range(backed_up + 1))

    # The rerun may come back on more devices (data parallel on two CPU
    # devices; the PyTorch backend has no multi-device training in Keras).
    devices = ["--distribute", "--cpu-devices", "2"]
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="not available on the 'torch'"):
            training.distribution_scope(True, 16)
        devices = []
    second = subprocess.run(
        command + devices,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout
    assert f"Resuming {run_dir} after {backed_up} validation intervals" in out
    if devices:
        assert "Training data-parallel on 2 devices." in out
    epochs_run = [int(m) for m in re.findall(r"Epoch (\d+)/6\n", out)]
    assert epochs_run == list(range(backed_up + 1, 7))
    # ModelCheckpoint carried its best value: the first resumed epoch
    # compares with the best of the killed run, not with -inf.
    first_check = re.search(
        r"Epoch \d+: val_gap (?:improved from|did not)", out
    )
    assert first_check is not None
    assert "improved from -inf" not in out and "from None" not in out
    rows = _history(run_dir)
    # One header and each interval once: the rerun drops the row logged
    # after the last backup (its interval is trained again).
    lines = (run_dir / "history.csv").read_text().splitlines()
    assert sum(line.startswith("epoch,") for line in lines) == 1, lines
    assert [int(r["epoch"]) for r in rows] == list(range(6)), lines
    summary = json.loads((run_dir / "done.json").read_text())
    assert summary["intervals"] == 6
    assert summary["epochs_this_session"] == 6 - backed_up
    best = max(float(r["val_gap"]) for r in rows)
    assert summary["best"]["val_gap"] == pytest.approx(best)
    assert summary["best"]["val_gap"] >= best_before
    # The best checkpoint is the model of the best interval.
    model = keras.saving.load_model(run_dir / "best.keras")
    val = frame_dataset(
        records["validation"], num_classes=CLASSES, max_frames=FRAMES
    )
    evaluator = metrics.Evaluator(CLASSES).update_from_model(model, val)
    assert evaluator.result()["gap"] == pytest.approx(best, abs=1e-5)

    capsys.readouterr()
    assert cli.main(flags) == 0
    assert "is complete" in capsys.readouterr().out


def test_config_file_flags_mixed_precision_and_stored_config(
    records, tmp_path, capsys
):
    config = tmp_path / "run.toml"
    config.write_text(
        'schedule = "constant"\n'
        "steps_per_validation = 2\n"
        "max_validations = 2\n"
        'mixed_precision = "bfloat16"\n'
        "[model_options]\n"
        "dropout = 0.0\n"
    )
    run_dir = tmp_path / "run"
    flags = _flags(records, run_dir, "--config", str(config))
    # A flag wins over the file.
    assert cli.main(flags + ["--max-validations", "1"]) == 0
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["max_validations"] == 1
    assert stored["steps_per_validation"] == 2
    assert stored["mixed_precision"] == "mixed_bfloat16"
    assert stored["model_options"] == {
        "dropout": 0.0,
        "projection_dim": 8,
        "num_heads": 2,
        "hidden_dim": 16,
    }
    assert stored["mask"] == "tp" and stored["W"] == 2
    rows = _history(run_dir)
    assert len(rows) == 1 and np.isfinite(float(rows[0]["val_gap"]))
    keras.config.set_dtype_policy("float32")
    model = keras.saving.load_model(run_dir / "final.keras")
    encoder = model.get_layer("rgb_encoder_0")
    assert encoder.dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    capsys.readouterr()
    # The same command again: nothing to do.
    assert cli.main(flags + ["--max-validations", "1"]) == 0
    assert "is complete" in capsys.readouterr().out
    # A different config in the same run directory is refused.
    capsys.readouterr()
    assert cli.main(flags) == 2
    assert "max_validations: 1 -> 2" in capsys.readouterr().err


def test_bad_configs_are_refused(records, tmp_path):
    with pytest.raises(ValueError, match="Unknown config key 'epochs'"):
        training.resolve_config(
            {"train": "x", "validation": "y"}, {"epochs": 3}
        )
    with pytest.raises(ValueError, match="needs `train`"):
        training.resolve_config({"validation": "y"})
    with pytest.raises(ValueError, match="needs `validation`"):
        training.resolve_config({"train": "x"})
    with pytest.raises(ValueError, match="schedule must be one of"):
        training.resolve_config(
            {"train": "x", "validation": "y", "schedule": "cosine"}
        )
    for key, value, message in [
        ("batch_size", "64", "batch_size must be an integer; got '64'"),
        ("batch_size", True, "batch_size must be an integer; got True"),
        ("batch_size", 0, "batch_size must be a positive integer"),
        ("segments", 1, "segments must be true or false; got 1"),
        ("model_options", [1], "model_options must be a table of keys"),
        ("patience", -1, "patience must be a non-negative integer, or None"),
        ("lr_patience", -1, "lr_patience must be a non-negative integer"),
        ("learning_rate", "fast", "learning_rate must be a number or None"),
        ("loader", "pandas", "loader must be one of"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            training.resolve_config(
                {"train": "x", "validation": "y"}, {key: value}
            )
    bad = tmp_path / "bad.json"
    bad.write_text("{model: gateop}")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        training.load_config_file(str(bad))


def test_official_metrics_callback_equals_the_evaluator(records):
    import keras_gmsa

    model = keras_gmsa.build_model(
        "gateatt",
        mask="tp",
        W=2,
        num_classes=CLASSES,
        max_frames=FRAMES,
        projection_dim=8,
        num_heads=2,
        hidden_dim=16,
        compile=False,
    )
    val = frame_dataset(
        records["validation"],
        batch_size=16,
        num_classes=CLASSES,
        max_frames=FRAMES,
    )
    callback = callbacks_lib.OfficialMetrics(val)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    probs, labels = [], []
    for features, y in val.as_numpy_iterator():
        probs.append(model.predict(features, verbose=0))
        labels.append(y)
    probs, labels = np.concatenate(probs), np.concatenate(labels)
    assert len(labels) == 40
    assert logs["val_gap"] == pytest.approx(metrics.gap(probs, labels), 1e-6)
    assert logs["val_map"] == pytest.approx(
        metrics.mean_ap(probs, labels), 1e-6
    )
    assert logs["val_perr"] == pytest.approx(metrics.perr(probs, labels), 1e-6)
    assert logs["val_hit_at_one"] == pytest.approx(
        metrics.hit_at_one(probs, labels)
    )
    bce = keras.ops.convert_to_numpy(
        keras.losses.binary_crossentropy(labels, probs)
    ).mean()
    assert logs["val_loss"] == pytest.approx(float(bce), rel=1e-4)
    # Only every `frequency` epochs.
    callback = callbacks_lib.OfficialMetrics(val, frequency=2)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs == {}


def _by_kind(callbacks):
    """The schedule's Keras callbacks (or this package's subclasses)."""
    kinds = (
        keras.callbacks.EarlyStopping,
        keras.callbacks.ReduceLROnPlateau,
        keras.callbacks.ModelCheckpoint,
    )
    return {k: c for c in callbacks for k in kinds if isinstance(c, k)}


def test_schedule_state_carries_patience_and_best_values(tmp_path):
    def schedule():
        return callbacks_lib.paper_schedule(
            [({}, np.zeros((1, 2)))], str(tmp_path / "run")
        )

    first = schedule()
    state = first[-1]
    assert isinstance(state, callbacks_lib.ScheduleState)
    by_type = _by_kind(first)
    early = by_type[keras.callbacks.EarlyStopping]
    plateau = by_type[keras.callbacks.ReduceLROnPlateau]
    checkpoint = by_type[keras.callbacks.ModelCheckpoint]
    assert (early.patience, plateau.patience, plateau.factor) == (5, 3, 0.1)
    assert early.monitor == plateau.monitor == checkpoint.monitor == "val_gap"
    early.wait, early.best, early.best_epoch = 3, 0.61, 4
    plateau.wait, plateau.best, plateau.cooldown_counter = 2, 0.61, 0
    checkpoint.best = 0.61
    state.on_epoch_end(6)

    second = schedule()
    by_type = _by_kind(second)
    # What Keras does at the start of fit, then the restore.
    by_type[keras.callbacks.EarlyStopping].on_train_begin()
    by_type[keras.callbacks.ReduceLROnPlateau]._reset()
    second[-1].on_train_begin()
    early = by_type[keras.callbacks.EarlyStopping]
    plateau = by_type[keras.callbacks.ReduceLROnPlateau]
    assert (early.wait, early.best, early.best_epoch) == (3, 0.61, 4)
    assert (plateau.wait, plateau.best) == (2, 0.61)
    assert by_type[keras.callbacks.ModelCheckpoint].best == 0.61


def test_the_run_config_is_typed_frozen_and_documented():
    import dataclasses

    config = training.RunConfig(train="x", validation="y", learning_rate=1)
    # An integer where a number is asked for is a number.
    assert config.learning_rate == 1.0
    assert isinstance(config.learning_rate, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 8
    # Every key is documented in the class's docstring, once, in order.
    doc = training.RunConfig.__doc__
    documented = re.findall(r"^        (\w+): ", doc, flags=re.MULTILINE)
    assert documented == list(training.DEFAULTS)
    assert list(training.DEFAULTS) == [
        f.name for f in dataclasses.fields(training.RunConfig)
    ]
    # DEFAULTS is a read-only view of the defaults.
    with pytest.raises(TypeError):
        training.DEFAULTS["batch_size"] = 8
    assert training.DEFAULTS["patience"] == config.patience == 5
    # The dict form resolves to itself.
    stored = config.to_dict()
    assert training.resolve_config(stored) == stored
    assert training.RunConfig.resolve(stored) == config


def test_a_run_directory_of_an_earlier_version_resumes(tmp_path):
    # A config.json written before the `loader` keys existed, with the
    # tensorboard default of its day: the same run, resumable.
    config = training.RunConfig(train="x", validation="y", W=3)
    earlier = config.to_dict()
    del earlier["loader"], earlier["loader_workers"]
    earlier["tensorboard"] = True
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(earlier))
    run = training.RunDir(run_dir)
    assert run.state(config) == "resume"
    assert run.completed_intervals() == 0
    # What it trains may not change.
    with pytest.raises(ValueError, match="W: 3 -> 4"):
        run.state(training.RunConfig(train="x", validation="y", W=4))
    assert (
        run.state(
            training.RunConfig(train="x", validation="y", W=4), overwrite=True
        )
        == "new"
    )
    # The chief writes the whole config; a rerun finds it done.
    run.write(config, "resume")
    assert json.loads((run_dir / "config.json").read_text()) == (
        config.to_dict()
    )
    (run_dir / "done.json").write_text("{}")
    assert run.state(config) == "done"
