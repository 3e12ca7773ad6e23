"""The paper's schedule fires: early stopping and learning-rate drops
follow the validation GAP, maximised (issue 16, item 1)."""

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest

from keras_gmsa import callbacks as callbacks_lib
from keras_gmsa import cli
from tests.helpers import write_tiny_records

CLASSES = 6
FRAMES = 8


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    frame = write_tiny_records(root, 64, 32, CLASSES, FRAMES)
    return str(frame / "train*.tfrecord"), str(frame / "validate*.tfrecord")


def test_a_run_that_cannot_improve_stops_and_drops_its_learning_rate(
    records, tmp_path
):
    # At lr 1e-12 the validation GAP never improves: early stopping
    # (patience 2) ends the run after 3 intervals, and the learning rate is
    # multiplied by 0.5 after every lr-patience (1) interval without a
    # better GAP.
    train, validation = records
    run_dir = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--model",
            "frame_logistic",
            "--train",
            train,
            "--validation",
            validation,
            "--num-classes",
            str(CLASSES),
            "--max-frames",
            str(FRAMES),
            "--batch-size",
            "16",
            "--learning-rate",
            "1e-12",
            "--steps-per-validation",
            "2",
            "--max-validations",
            "10",
            "--patience",
            "2",
            "--lr-patience",
            "1",
            "--lr-factor",
            "0.5",
            "--no-tensorboard",
        ]
    )
    assert code == 0
    done = json.loads((run_dir / "done.json").read_text())
    assert done["intervals"] == 3  # patience + 1
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # Each row logs the rate the interval trained with: the first drop
    # comes at the end of interval 2 (the first without a better GAP), the
    # second at the end of interval 3.
    rates = [float(r["learning_rate"]) for r in rows]
    np.testing.assert_allclose(rates, [1e-12, 1e-12, 0.5e-12], rtol=1e-5)
    np.testing.assert_allclose(done["final_learning_rate"], 0.25e-12, rtol=1e-5)


def _schedule(tmp_path, **kwargs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    found = callbacks_lib.paper_schedule(
        [({}, np.zeros((1, 2)))], str(tmp_path / "run"), **kwargs
    )
    by_type = {type(c): c for c in found}
    early = by_type[keras.callbacks.EarlyStopping]
    plateau = by_type[keras.callbacks.ReduceLROnPlateau]
    for callback in (early, plateau):
        callback.set_model(model)
        callback.on_train_begin()
    return model, early, plateau


def test_a_rising_gap_is_an_improvement_and_a_falling_one_is_not(tmp_path):
    # The GAP is maximised: a schedule in "min" mode would stop a run that
    # improves and keep one that gets worse.
    model, early, plateau = _schedule(tmp_path, patience=2, lr_patience=1)
    for epoch, gap in enumerate([0.1, 0.2, 0.3, 0.4, 0.5]):
        logs = {"val_gap": gap}
        plateau.on_epoch_end(epoch, logs)
        early.on_epoch_end(epoch, logs)
    assert not model.stop_training
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert np.isclose(lr, 1e-3)
    for epoch, gap in enumerate([0.4, 0.3, 0.2], start=5):
        logs = {"val_gap": gap}
        plateau.on_epoch_end(epoch, logs)
        early.on_epoch_end(epoch, logs)
    assert model.stop_training
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert lr < 1e-3


# A validation GAP per interval, made by hand: a first plateau, a rise of
# 9e-5 (below Keras' absolute min_delta of 1e-4, above PyTorch's relative
# threshold 1e-4 x 0.81 = 8.1e-5), a second plateau.
GAPS = [0.80, 0.81, 0.81, 0.805, 0.81, 0.80, 0.81009, 0.81, 0.81, 0.81, 0.81]


def _drops(callback, gaps):
    """The intervals (0-based) at whose end `callback` drops the rate."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    drops, rate = [], 1e-3
    for epoch, gap in enumerate(gaps):
        callback.on_epoch_end(epoch, {"val_gap": gap})
        now = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        if not np.isclose(now, rate):
            drops.append(epoch)
            rate = now
    return drops


def test_keras_and_pytorch_plateaus_drop_at_their_own_intervals():
    # Patience 3, the paper's. Keras counts an evaluation without an
    # improvement of 1e-4 (absolute) and drops at the third; PyTorch drops
    # when more than 3 have passed (the fourth), and an improvement is a
    # rise of 1e-4 relative.
    keras_drops = _drops(
        callbacks_lib.plateau_callback("keras", "val_gap", 3, 0.1), GAPS
    )
    torch_drops = _drops(
        callbacks_lib.plateau_callback("pytorch", "val_gap", 3, 0.1), GAPS
    )
    # Keras: best 0.81 at interval 1; 2, 3, 4 do not improve -> drop after
    # 4; 5 .. 7 (0.81009 is not 1e-4 higher) -> drop after 7; 8, 9, 10 ->
    # drop after 10.
    assert keras_drops == [4, 7, 10]
    # PyTorch: 2 .. 5 -> drop after 5; 0.81009 is a new best at 6; 7 .. 10
    # -> drop after 10.
    assert torch_drops == [5, 10]
    torch = pytest.importorskip("torch")
    # The same sequence through PyTorch's own scheduler.
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=0.1, patience=3
    )
    reference, rate = [], 1e-3
    for epoch, gap in enumerate(GAPS):
        scheduler.step(gap)
        if not np.isclose(optimizer.param_groups[0]["lr"], rate):
            reference.append(epoch)
            rate = optimizer.param_groups[0]["lr"]
    assert torch_drops == reference


def _plateau_run(records, run_dir, plateau):
    train, validation = records
    code = cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--model",
            "frame_logistic",
            "--train",
            train,
            "--validation",
            validation,
            "--num-classes",
            str(CLASSES),
            "--max-frames",
            str(FRAMES),
            "--batch-size",
            "16",
            "--validation-batch-size",
            "4",
            "--validation-steps",
            "1",
            "--learning-rate",
            "3e-8",
            "--steps-per-validation",
            "2",
            "--max-validations",
            "10",
            "--patience",
            "5",
            "--lr-patience",
            "1",
            "--lr-factor",
            "0.5",
            "--plateau",
            plateau,
            "--no-tensorboard",
        ]
    )
    assert code == 0
    with open(run_dir / "history.csv") as f:
        return [float(r["learning_rate"]) for r in csv.DictReader(f)]


def test_train_plateau_pytorch_drops_one_interval_later(records, tmp_path):
    # At lr 3e-8 the validation GAP does not improve after the first
    # interval; early stopping ends both runs after 6 intervals. Each row
    # logs the rate its interval trained with.
    keras_rates = _plateau_run(records, tmp_path / "keras", "keras")
    torch_rates = _plateau_run(records, tmp_path / "pytorch", "pytorch")
    # Keras (lr patience 1): a drop at the end of every interval from the
    # second on.
    np.testing.assert_allclose(
        keras_rates, [3e-8, 3e-8, 1.5e-8, 7.5e-9, 3.75e-9, 1.875e-9], rtol=1e-5
    )
    # PyTorch: the first drop one interval later; the second would change
    # the rate by 7.5e-9, not more than PyTorch's eps (1e-8): skipped.
    np.testing.assert_allclose(
        torch_rates, [3e-8, 3e-8, 3e-8, 1.5e-8, 1.5e-8, 1.5e-8], rtol=1e-5
    )


def _kinds(callbacks):
    return [type(c).__name__ for c in callbacks]


def test_never_is_no_callback(tmp_path):
    # Each schedule as the callbacks Model.fit gets: "never" (None) is a
    # callback that is not there, not a patience no run reaches.
    from keras_gmsa import training

    config = training.RunConfig(train="x", validation="y")
    expected = {
        "paper": (5, 3, ["ReduceLROnPlateau", "EarlyStopping"]),
        "decay": (5, None, ["EarlyStopping"]),
        "constant": (None, None, []),
    }
    for name, (stop, drop, kinds) in expected.items():
        schedule = training.Schedule.of(
            dataclasses.replace(config, schedule=name)
        )
        assert (schedule.stop_patience, schedule.drop_patience) == (stop, drop)
        found = schedule.callbacks([({}, np.zeros((1, 2)))], None)
        assert _kinds(found) == ["OfficialMetrics", "TerminateOnNaN", *kinds]
    # None in the config: never, whatever the schedule.
    schedule = training.Schedule.of(
        dataclasses.replace(config, patience=None, lr_patience=None)
    )
    assert (schedule.stop_patience, schedule.drop_patience) == (None, None)
    with pytest.raises(ValueError, match="stop_patience must be"):
        training.Schedule(stop_patience=10.5)


def test_counters_saved_by_an_earlier_version_are_restored(tmp_path):
    # A constant-schedule run of an earlier version saved three callbacks'
    # counters (its "never" was a patience of 10**9); resumed, the only
    # counter it has now, the checkpoint's best, comes back.
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "schedule.json").write_text(
        json.dumps(
            {
                "epoch": 3,
                "0:ReduceLROnPlateau": {
                    "wait": 2,
                    "best": 0.5,
                    "cooldown_counter": 0,
                },
                "1:EarlyStopping": {"wait": 2, "best": 0.5, "best_epoch": 0},
                "2:ModelCheckpoint": {"best": 0.5},
            }
        )
    )
    found = callbacks_lib.paper_schedule(
        [({}, np.zeros((1, 2)))],
        str(run_dir),
        patience=None,
        lr_patience=None,
        tensorboard=False,
    )
    assert "EarlyStopping" not in _kinds(found)
    (checkpoint,) = [
        c for c in found if isinstance(c, keras.callbacks.ModelCheckpoint)
    ]
    assert checkpoint.best != 0.5
    found[-1].on_train_begin()
    assert checkpoint.best == 0.5
