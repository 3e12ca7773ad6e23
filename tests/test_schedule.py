"""The paper's schedule fires: early stopping and learning-rate drops
follow the validation GAP, maximised (issue 16, item 1)."""

import csv
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
