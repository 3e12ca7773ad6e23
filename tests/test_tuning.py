"""KerasTuner search of the GMSA masks: real tiny searches that resume."""

import json
import os
import runpy
import sys

import keras_tuner
import pytest

from keras_gmsa import cli
from keras_gmsa import tuning
from tests.helpers import write_tiny_records

# KerasTuner's searches do not depend on the Keras backend (the models run on
# every backend in tests/models): one backend.
pytestmark = pytest.mark.backends("torch")

CLASSES = 8
FRAMES = 8
TUNER = os.path.join(os.path.dirname(__file__), os.pardir, "tuner")
SMALL = dict(projection_dim=8, num_heads=2, hidden_dim=16)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    return str(write_tiny_records(root, 96, 32, CLASSES, FRAMES))


def _tune(records, directory, trials, entry="cli"):
    argv = [
        "--directory",
        str(directory),
        "--train",
        f"{records}/train*.tfrecord",
        "--validation",
        f"{records}/validate*.tfrecord",
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--masks",
        "td",
        "tp",
        "--w-values",
        "2",
        "3",
        "--l-values",
        "2",
        "--max-trials",
        str(trials),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
    ] + [f"--option={k}={v}" for k, v in SMALL.items()]
    if entry == "cli":
        return cli.main(["tune", *argv])
    # tuner/search.py, the script entry point: the same code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["tuner/search.py", *argv])
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(
                os.path.join(TUNER, "search.py"), run_name="__main__"
            )
    return exit_.value.code


def test_two_trial_search_resumes_and_writes_its_summary(
    records, tmp_path, capsys
):
    directory = tmp_path / "search"
    assert _tune(records, directory, 1) == 0
    first = capsys.readouterr().out
    assert "Trial 1 Complete" in first
    project = directory / "gmsa"
    rows = json.loads((project / "summary.json").read_text())
    assert len(rows) == 1
    # Run again with a larger budget: the finished trial is kept and only
    # the new one is trained.
    assert _tune(records, directory, 2, entry="tuner/search.py") == 0
    second = capsys.readouterr().out
    assert "Trial 2 Complete" in second and "Trial 1 Complete" not in second
    rows2 = json.loads((project / "summary.json").read_text())
    assert len(rows2) == 2
    kept = [r for r in rows2 if r["trial"] == rows[0]["trial"]]
    assert len(kept) == 1
    assert {**kept[0], "rank": 1} == rows[0]
    assert rows2[0]["val_gap"] >= rows2[1]["val_gap"]
    for row in rows2:
        assert row["combination"] in tuning.COMBINATIONS
        assert 0 < row["val_gap"] <= 1
        assert row["W"] in (2, 3)
        if row["mask"].startswith("td"):
            assert row["L"] == 2 and row["mask"] == f"td{row['W']}/2"
        else:
            assert row["L"] is None and row["mask"] == f"tp{row['W']}"
    # The table is printed and saved; its best score is the oracle's.
    table = (project / "summary.md").read_text()
    assert "| rank | combination | mask | W | L |" in table
    assert f"{rows2[0]['val_gap']:.4f}" in table
    assert table.splitlines()[-1] in second
    # A third run has nothing left to do.
    assert _tune(records, directory, 2) == 0
    assert "Complete" not in capsys.readouterr().out


def test_dilation_exists_only_for_the_dilated_mask():
    hypermodel = tuning.GMSAHyperModel(
        w_values=(2, 3, 40),  # 40 would be global attention for 8 frames
        l_values=(2,),
        num_classes=CLASSES,
        max_frames=FRAMES,
        compile=False,
        **SMALL,
    )
    assert hypermodel.w_values == [2, 3]
    for mask, expected in (("td", "td3/2"), ("bd", "bd3")):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("combination", "gateop")
        hp.Fixed("mask", mask)
        hp.Fixed("W", 3)
        model = hypermodel.build(hp)
        attention = model.get_layer("rgb_encoder_0").get_config()
        assert attention["masks"] == expected
        assert hp.is_active("L") == (mask == "td")
        assert ("L" in hp.values) == (mask == "td")
    with pytest.raises(ValueError, match=r"l_values \[4\] must lie in"):
        tuning.GMSAHyperModel(w_values=(3,), l_values=(4,), max_frames=8)
    with pytest.raises(ValueError, match="No width"):
        tuning.GMSAHyperModel(w_values=(7, 9), max_frames=8)


def test_the_three_tuners_are_selectable(tmp_path):
    hypermodel = tuning.GMSAHyperModel(
        num_classes=CLASSES, max_frames=FRAMES, w_values=(2,), l_values=(2,)
    )
    kinds = {
        "random": keras_tuner.oracles.RandomSearchOracle,
        "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
        "hyperband": keras_tuner.oracles.HyperbandOracle,
    }
    for kind, oracle in kinds.items():
        tuner = tuning.make_tuner(
            kind, hypermodel, str(tmp_path), project_name=kind, max_epochs=2
        )
        assert isinstance(tuner.oracle, oracle)
        assert tuner.oracle.objective.name == "val_gap"
        assert tuner.oracle.objective.direction == "max"
    with pytest.raises(ValueError, match="Hyperband needs max_epochs"):
        tuning.make_tuner("hyperband", hypermodel, str(tmp_path))
    with pytest.raises(ValueError, match="tuner must be one of"):
        tuning.make_tuner("grid", hypermodel, str(tmp_path))


def test_paper_grid_entry_point_runs_one_trial(records, tmp_path, capsys):
    argv = [
        "tuner/paper_space.py",
        "--directory",
        str(tmp_path),
        "--train",
        f"{records}/train*.tfrecord",
        "--validation",
        f"{records}/validate*.tfrecord",
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--w-values",
        "2",
        "4",
        "--l-values",
        "2",
        "--max-trials",
        "1",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
    ] + [f"--option={k}={v}" for k, v in SMALL.items()]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        runpy.run_path(
            os.path.join(TUNER, "paper_space.py"), run_name="__main__"
        )
    rows = json.loads((tmp_path / "paper_grid" / "summary.json").read_text())
    assert len(rows) == 1
    # GridSearch starts at the first value of each hyperparameter.
    assert rows[0]["combination"] == "gateatt" and rows[0]["mask"] == "bd2"
    assert rows[0]["learning_rate"] is None  # fixed at 2e-4


def test_zoo_search_over_kakao_fusions_and_windows(records, tmp_path):
    from keras_gmsa import data

    hypermodel = tuning.ZooHyperModel(
        "kakao_blstm",
        learning_rate=0.01,
        num_classes=CLASSES,
        max_frames=FRAMES,
        lstm_units=4,
        num_mixtures=1,
        space={"fusion": ("sum", "image_guided"), "window": (3, None)},
    )
    tuner = tuning.make_tuner(
        "random", hypermodel, str(tmp_path), "zoo", max_trials=2, seed=1
    )
    model = hypermodel.build(tuner.oracle.get_space())
    train = data.dataset_for_model(
        model, f"{records}/train*.tfrecord", batch_size=16, repeat=True
    )
    validation = data.dataset_for_model(
        model, f"{records}/validate*.tfrecord", batch_size=32
    )
    tuner.search(
        train,
        steps_per_epoch=2,
        epochs=1,
        validation_data=validation,
        verbose=0,
    )
    rows = tuning.summary(tuner)
    assert len(rows) == 2
    for row in rows:
        assert row["values"]["fusion"] in ("sum", "image_guided")
        # A mixed choice (an int or None) is searched as text.
        assert row["values"]["window"] in ("3", "None")
        assert 0 < row["val_gap"] <= 1
    assert "| rank | fusion | window | val GAP |" in tuning.summary_table(rows)
    with pytest.raises(ValueError, match="No default search space"):
        tuning.ZooHyperModel("frame_logistic")
    assert set(tuning.ZOO_SPACES) <= set(tuning.keras_gmsa.list_models())


def test_a_search_without_td_masks_ignores_the_dilations(tmp_path):
    # KerasTuner first builds the hypermodel with every condition forced
    # true; a search of bd masks of width 2 must not build a td2/3 mask
    # then (`keras-gmsa tune --masks bd --w-values 2` failed at random with
    # the default L values, 2 to 5).
    hypermodel = tuning.GMSAHyperModel(
        mask_kinds=("bd",),
        w_values=(2,),
        l_values=(3, 4),
        num_classes=CLASSES,
        max_frames=FRAMES,
        compile=False,
        **SMALL,
    )
    tuner = tuning.make_tuner("bayesian", hypermodel, str(tmp_path))
    assert "L" not in tuner.oracle.hyperparameters.values
    assert tuner.oracle.hyperparameters.values["mask"] == "bd"
