"""Training on several hosts that share one run directory (issue 17).

Two real processes on 127.0.0.1 stand in for two hosts. JAX joins them
through `keras.distribution.initialize()` (the KERAS_DISTRIBUTION_*
variables) and trains. TensorFlow's way, `TF_CONFIG` and
MultiWorkerMirroredStrategy, does not train in Keras 3.15 (a plain
Sequential model fails under it, checked here so that the day Keras fixes
it this file says so); `keras-gmsa train` refuses it in one line, as it
refuses several processes on PyTorch. Every wait is bounded and kills the
processes it started.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest

from keras_gmsa import data
from keras_gmsa import metrics
from keras_gmsa.data import synthetic
from tests import multihost_driver
from tests.helpers import log_an_interval_without_backup

BACKEND = keras.backend.backend()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 6
FRAMES = 10
BOUND = 420  # seconds: a bound against hanging, far above a normal run


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("multihost")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES,
        max_frames=FRAMES,
        min_frames=4,
        feature_sizes={"rgb": 16, "audio": 8},
        seed=0,
    )
    synthetic.write_dataset(
        root, 96, num_shards=2, generator=gen, layouts=("frame",)
    )
    synthetic.write_dataset(
        root,
        32,
        num_shards=1,
        split="validate",
        generator=gen,
        layouts=("frame",),
        seed=1,
        start_index=96,
    )
    return root / "frame"


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _host_env(index, count, ports):
    """The variables the README's recipe sets on host `index`."""
    env = dict(
        os.environ,
        PYTHONPATH=ROOT,
        KERAS_BACKEND=BACKEND,
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    if BACKEND == "tensorflow":
        workers = [f"127.0.0.1:{p}" for p in ports]
        env["TF_CONFIG"] = json.dumps(
            {
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": index},
            }
        )
    else:
        env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] = f"127.0.0.1:{ports[0]}"
        env["KERAS_DISTRIBUTION_NUM_PROCESSES"] = str(count)
        env["KERAS_DISTRIBUTION_PROCESS_ID"] = str(index)
    return env


def _start(argv, logs, count=2):
    ports = _free_ports(count)
    procs = []
    for index in range(count):
        log = open(logs / f"host{index}.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, *argv],
                env=_host_env(index, count, ports),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return procs


def _kill(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def _wait(procs, logs):
    deadline = time.time() + BOUND
    try:
        for p in procs:
            p.wait(timeout=max(1, deadline - time.time()))
    except subprocess.TimeoutExpired:
        _kill(procs)
        pytest.fail(
            f"the processes did not end within {BOUND} s" + _tails(logs)
        )
    return [p.returncode for p in procs]


def _tails(logs):
    return "".join(
        f"\n--- {path.name}\n" + path.read_text()[-2500:]
        for path in sorted(logs.glob("host*.log"))
    )


def _train_argv(records, run_dir, intervals):
    return [
        "-m",
        "keras_gmsa.cli",
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
        str(records / "train*.tfrecord"),
        "--validation",
        str(records / "validate*.tfrecord"),
        "--features",
        "rgb:16,audio:8",
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
        "--max-validations",
        str(intervals),
        "--schedule",
        "constant",
        "--option",
        "hidden_dim=12",
        "--option",
        "num_heads=2",
        "--no-tensorboard",
    ]


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        lines = f.read().splitlines()
    with open(run_dir / "history.csv") as f:
        return lines, list(csv.DictReader(f))


def _check_the_run(records, run_dir, intervals):
    lines, rows = _history(run_dir)
    # One header, one row per interval, each interval once.
    assert sum(line.startswith("epoch,") for line in lines) == 1, lines
    assert [int(r["epoch"]) for r in rows] == list(range(intervals)), lines
    done = json.loads((run_dir / "done.json").read_text())
    assert done["intervals"] == intervals
    best = max(float(r["val_gap"]) for r in rows)
    assert done["best"]["val_gap"] == pytest.approx(best)
    # The best checkpoint is the model of the best interval.
    model = keras.saving.load_model(run_dir / "best.keras")
    validation = data.dataset_for_model(
        model, str(records / "validate*.tfrecord"), batch_size=32
    )
    evaluator = metrics.Evaluator(CLASSES).update_from_model(model, validation)
    assert evaluator.result()["gap"] == pytest.approx(best, abs=1e-5)
    # One writer: nothing half-written or written twice is left.
    leftovers = [p for p in run_dir.rglob("*") if p.suffix == ".tmp"]
    assert not leftovers


INTERVALS = 3


def test_two_hosts_train_resume_after_sigkill_and_finish(records, tmp_path):
    run_dir = tmp_path / "run"
    argv = _train_argv(records, run_dir, intervals=INTERVALS)
    if BACKEND != "jax":
        # TensorFlow (TF_CONFIG) and PyTorch cannot train on several
        # processes in Keras 3.15: every host stops with one line, and
        # nothing is written.
        codes = _wait(_start(argv, tmp_path), tmp_path)
        assert codes == [2, 2], _tails(tmp_path)
        expected = {
            "tensorflow": "TF_CONFIG is set",
            "torch": "not available on the 'torch' backend",
        }[BACKEND]
        for index in (0, 1):
            lines = [
                line
                for line in (tmp_path / f"host{index}.log")
                .read_text()
                .splitlines()
                if line.startswith("keras-gmsa")
            ]
            assert len(lines) == 1 and expected in lines[0], lines
        assert not run_dir.exists()
        return
    # Both hosts train; every process is killed (SIGKILL) once an
    # interval is backed up; the same commands resume the run.
    meta = run_dir / "backup" / "training_metadata.json"
    procs = _start(argv, tmp_path)
    deadline = time.time() + BOUND
    backed_up = 0
    while time.time() < deadline and all(p.poll() is None for p in procs):
        try:
            backed_up = json.loads(meta.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            backed_up = 0
        if backed_up >= 1:
            break
        time.sleep(0.05)
    _kill(procs)
    assert [p.returncode for p in procs] == [-signal.SIGKILL] * 2, (
        "the run did not back up an interval before it ended or the bound"
        + _tails(tmp_path)
    )
    assert not (run_dir / "done.json").exists()
    backed_up = json.loads(meta.read_text())["epoch"]
    # The chief logs an interval (CSVLogger) before it backs it up: a kill
    # between the two leaves a row for an interval with no backup. Made
    # here whether or not this kill landed there; the resumed run trains
    # that interval again and must log it once (_check_the_run).
    assert backed_up < INTERVALS, "every interval was backed up"
    assert log_an_interval_without_backup(run_dir, backed_up) == list(
        range(backed_up + 1)
    )
    codes = _wait(_start(argv, tmp_path), tmp_path)
    assert codes == [0, 0], _tails(tmp_path)
    chief = (tmp_path / "host0.log").read_text()
    worker = (tmp_path / "host1.log").read_text()
    assert "Process 0 of 2 (the chief, which writes" in chief
    assert "Process 1 of 2 (a worker of" in worker
    for log in (chief, worker):
        assert f"after {backed_up} validation intervals" in log
    _check_the_run(records, run_dir, INTERVALS)
    # The same commands once more: the run is complete, on both hosts.
    codes = _wait(_start(argv, tmp_path), tmp_path)
    assert codes == [0, 0], _tails(tmp_path)
    for index in (0, 1):
        assert "is complete" in (tmp_path / f"host{index}.log").read_text()


def _driver(records, tmp_path, steps, count):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model": "frame_logistic",
                "train": str(records / "train*.tfrecord"),
                "validation": str(records / "validate*.tfrecord"),
                "features": {"rgb": 16, "audio": 8},
                "num_classes": CLASSES,
                "max_frames": FRAMES,
                "batch_size": 8,
                "seed": 3,
            }
        )
    )
    out = tmp_path / f"ids{count}"
    argv = ["-m", "tests.multihost_driver", str(config), str(steps), str(out)]
    if count == 1:
        # One process alone: this one (no cluster variables are set here).
        multihost_driver.main(str(config), steps, str(out))
    else:
        logs = tmp_path / "logs"
        logs.mkdir()
        codes = _wait(_start(argv, logs, count), logs)
        assert codes == [0] * count, _tails(logs)
    return [
        json.loads((out / f"ids_{i}.json").read_text())["ids"]
        for i in range(count)
    ]


@pytest.mark.skipif(
    BACKEND != "jax", reason="several processes train on JAX only (above)"
)
def test_each_host_reads_its_own_part_of_every_batch(records, tmp_path):
    # One interval of 3 global batches of 8 videos: each host gets its own
    # 4 of every batch, and together they are exactly the batches one
    # process alone reads (the same seeded stream, split between hosts).
    steps = 3
    first, second = _driver(records, tmp_path, steps, count=2)
    (alone,) = _driver(records, tmp_path, steps, count=1)
    assert len(first) == len(second) == steps * 4
    assert len(alone) == steps * 8
    for k in range(steps):
        batch = alone[8 * k : 8 * (k + 1)]
        assert first[4 * k : 4 * (k + 1)] + second[4 * k : 4 * (k + 1)] == batch
    # (A video can come twice in one interval: the reader repeats the
    # shards before its shuffle buffer, as tf.data advises, so the buffer
    # mixes neighbouring epochs. The split never adds a repeat: the hosts'
    # parts are disjoint positions of the one stream.)


_PLAIN_KERAS = """
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import keras
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
x = tf.random.stateless_normal((64, 4), seed=(1, 2))
data = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(8).repeat()
model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
print("TRAINED")
"""


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="a check of TensorFlow's multi-worker path"
)
def test_keras_cannot_fit_under_multi_worker_mirrored_strategy(tmp_path):
    # Why `keras-gmsa train` refuses TF_CONFIG: Model.fit of a plain
    # Sequential model fails under MultiWorkerMirroredStrategy with two
    # workers (keras-team/keras#20585). If this starts to train, lift the
    # refusal in training.distribution_scope and train with it.
    codes = _wait(_start(["-c", _PLAIN_KERAS], tmp_path), tmp_path)
    logs = [(tmp_path / f"host{i}.log").read_text() for i in (0, 1)]
    assert codes == [1, 1] and not any("TRAINED" in log for log in logs), (
        "Keras now trains under MultiWorkerMirroredStrategy" + _tails(tmp_path)
    )
    assert all("PerReplica" in log for log in logs), _tails(tmp_path)


def _weights(model):
    variables = model.weights + model.optimizer.variables
    return [keras.ops.convert_to_numpy(v) for v in variables]


def test_restore_backup_reads_what_keras_backs_up(tmp_path):
    # RestoreBackup (the processes that do not write) reads the files
    # Keras' BackupAndRestore writes, whose names Keras does not document:
    # this fails the day a Keras version writes others. What it restores
    # is the chief's model and optimizer state; when the latest backup is
    # broken, the previous one; and it writes nothing.
    import numpy as np

    from keras_gmsa.training import hosts

    def model():
        keras.utils.set_random_seed(0)
        built = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        built.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
        return built

    x = np.arange(24, dtype="float32").reshape(8, 3) / 24
    y = np.ones((8, 2), "float32")
    backup = tmp_path / "backup"
    chief, after = model(), []
    chief.fit(
        x,
        y,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: after.append(_weights(chief))
            ),
            hosts.BackupAndRestore(
                str(backup), double_checkpoint=True, delete_checkpoint=False
            ),
        ],
    )
    latest = [hosts.BACKUP_WEIGHTS, hosts.BACKUP_METADATA]
    previous = [name + hosts.PREVIOUS for name in latest]
    assert sorted(p.name for p in backup.iterdir()) == sorted(latest + previous)
    assert hosts.backed_up_epochs(str(backup)) == 2
    written = {p.name: p.read_bytes() for p in backup.iterdir()}

    def restored():
        worker = model()
        callback = hosts.RestoreBackup(str(backup))
        callback.set_model(worker)
        callback.on_train_begin()
        return _weights(worker)

    for epoch, weights in ((1, restored()), (0, None)):
        if weights is None:
            # The chief was killed while writing its latest weights.
            (backup / hosts.BACKUP_WEIGHTS).write_bytes(b"half written")
            written[hosts.BACKUP_WEIGHTS] = b"half written"
            weights = restored()
        # Weights, Adam's moments and iterations: those of the epoch.
        for got, want in zip(weights, after[epoch], strict=True):
            np.testing.assert_array_equal(got, want)
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == written
