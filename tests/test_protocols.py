"""The papers' protocols: schedule defaults, id splits, Kakao's recipes."""

import json

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa import training
from keras_gmsa.data import synthetic
from keras_gmsa.models import presets

CLASSES = 6
FRAMES = 8


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES, max_frames=FRAMES, min_frames=3, seed=0
    )
    synthetic.write_dataset(
        root, 240, num_shards=3, generator=gen, layouts=("frame", "video")
    )
    return root


# The GMSA paper (sec. 3): validation GAP every 10,000 iterations, early
# stopping patience 5, learning rate x0.1 after 3, batch 64.
def test_the_training_defaults_are_the_papers():
    defaults = training.DEFAULTS
    assert defaults["steps_per_validation"] == 10_000
    assert defaults["batch_size"] == 64
    assert (defaults["patience"], defaults["lr_patience"]) == (5, 3)
    assert defaults["lr_factor"] == 0.1
    # The cap must not end a paper run before early stopping can: at
    # least 100 epochs of the 2018 training set (~3.9M videos).
    videos = (
        defaults["max_validations"]
        * defaults["steps_per_validation"]
        * defaults["batch_size"]
    )
    assert videos >= 100 * 3_900_000


def _ids(pattern, split, reader=data.frame_dataset, **options):
    ids = []
    for _, _, batch_ids in reader(
        pattern,
        batch_size=16,
        num_classes=CLASSES,
        with_ids=True,
        id_split=split,
        **options,
    ).as_numpy_iterator():
        ids += [i.decode() for i in batch_ids]
    return ids


def test_an_id_split_is_deterministic_disjoint_and_complete(records):
    frames = str(records / "frame" / "*.tfrecord")
    everything = _ids(frames, None, max_frames=FRAMES)
    holdout = _ids(frames, "holdout:0.25", max_frames=FRAMES)
    rest = _ids(frames, "rest:0.25", max_frames=FRAMES)
    assert len(everything) == 240 == len(set(everything))
    assert set(holdout).isdisjoint(rest)
    assert sorted(holdout + rest) == sorted(everything)
    assert 30 < len(holdout) < 90  # about a quarter (binomial)
    # The same ids whatever the shard order, the shuffle or the layout.
    shuffled = _ids(
        frames, "holdout:0.25", max_frames=FRAMES, shuffle=True, seed=7
    )
    assert sorted(shuffled) == sorted(holdout)
    videos = _ids(
        str(records / "video" / "*.tfrecord"),
        data.IdSplit("holdout", 0.25),
        reader=data.video_dataset,
    )
    assert sorted(videos) == sorted(holdout)
    selected = data.in_split(everything, "holdout:0.25")
    assert sorted(np.asarray(everything)[selected]) == sorted(holdout)
    # Full batches after filtering, when asked.
    batches = data.frame_dataset(
        frames,
        batch_size=16,
        num_classes=CLASSES,
        max_frames=FRAMES,
        id_split="rest:0.25",
        drop_remainder=True,
    )
    sizes = [len(y) for _, y in batches.as_numpy_iterator()]
    assert sizes == [16] * (len(rest) // 16)
    for bad in ("holdout", "middle:0.1", "rest:1.5", "holdout:x"):
        with pytest.raises(ValueError, match="id split"):
            data.frame_dataset(frames, id_split=bad)


def _train(run_dir, frames, *flags):
    """`keras-gmsa train` of a frame-level logistic model on `frames`."""
    return cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--model",
            "frame_logistic",
            "--train",
            frames,
            "--validation",
            frames,
            "--num-classes",
            str(CLASSES),
            "--max-frames",
            str(FRAMES),
            "--batch-size",
            "16",
            "--no-tensorboard",
            *flags,
        ]
    )


def test_train_validates_on_the_holdout_and_evaluate_reads_the_rest(
    records, tmp_path, capsys
):
    frames = str(records / "frame" / "*.tfrecord")
    run_dir = tmp_path / "run"
    code = _train(
        run_dir,
        frames,
        "--train-id-split",
        "rest:0.25",
        "--validation-id-split",
        "holdout:0.25",
        "--steps-per-validation",
        "2",
        "--max-validations",
        "1",
    )
    assert code == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["validation_id_split"] == "holdout:0.25"
    assert config["train_id_split"] == "rest:0.25"
    report = tmp_path / "rest.json"
    capsys.readouterr()
    cli.main(
        [
            "evaluate",
            str(run_dir / "best.keras"),
            frames,
            "--id-split",
            "rest:0.25",
            "--json",
            str(report),
        ]
    )
    rest = _ids(frames, "rest:0.25", max_frames=FRAMES)
    assert json.loads(report.read_text())["num_videos"] == len(rest)


# Parameter counts and configs are the same on every backend (the members
# train on each in tests/models/test_zoo.py): once, on PyTorch, where the
# six full-size members (about 40M parameters each) initialise in seconds
# rather than the minute JAX takes.
@pytest.mark.backends("torch")
def test_kakao_members_have_the_sizes_the_paper_reports():
    sizes = {}
    for name in presets.KAKAO_MEMBERS:
        model = keras_gmsa.build_model(name, compile=False)
        sizes[name] = model.count_params() * 4 / 2**20
        expected = presets.PRESETS[name].paper_mib
        assert abs(sizes[name] / expected - 1) < 0.01, (name, sizes[name])
    assert [presets.PRESETS[n].paper_mib for n in presets.KAKAO_MEMBERS] == [
        162,
        163,
        168,
        138,
        136,
        200,
    ]
    member = keras_gmsa.build_model("kakao_ms_netvlad_c64_moe4")
    assert member.get_layer("fusion").method == "image_guided"
    assert member.get_layer("fusion").window == 5
    # The starter's clipping: each gradient tensor by its own norm.
    assert member.optimizer.clipnorm == 1.0
    assert member.optimizer.global_clipnorm is None
    assert "kakao_mc_blstm_moe2" in keras_gmsa.list_presets()


def test_decay_schedule_is_the_starters_staircase():
    schedule = training.decay_schedule(1e-3, batch_size=64)
    step = 4_000_000 // 64
    values = [
        float(keras.ops.convert_to_numpy(schedule(s)))
        for s in (
            0,
            step - 1,
            step,
            3 * step + 5,
        )
    ]
    np.testing.assert_allclose(
        values, [1e-3, 1e-3, 0.95e-3, 0.95**3 * 1e-3], rtol=1e-6
    )


def test_train_with_the_decay_schedule(records, tmp_path):
    frames = str(records / "frame" / "*.tfrecord")
    run_dir = tmp_path / "decay"
    code = _train(
        run_dir,
        frames,
        "--schedule",
        "decay",
        "--learning-rate",
        "0.01",
        "--lr-decay",
        "0.5",
        "--lr-decay-examples",
        "32",
        "--steps-per-validation",
        "3",
        "--max-validations",
        "2",
    )
    assert code == 0
    done = json.loads((run_dir / "done.json").read_text())
    # 6 steps of 16 videos, halved every 32 videos (2 steps): 0.01 / 2^3.
    assert done["intervals"] == 2
    np.testing.assert_allclose(done["final_learning_rate"], 0.01 / 8, rtol=1e-5)


def test_the_gmsa_table_1_configurations_are_presets():
    from keras_gmsa.models.gmsa import resolve_masks

    expected = {
        "shareatt_tp": [None] * 4 + ["tp10", "tp30", "tp60", "tp80"],
        "shareatt_td": [None] * 4 + ["td10/2", "td30/3", "td60/4", "td80/5"],
        "gateatt_td80_5": "td80/5",
        "gateop_tp30": "tp30",
        "gateop_bd20": "bd20",
    }
    for name, masks in expected.items():
        preset = presets.PRESETS[name]
        assert resolve_masks(preset.model, **preset.options) == masks, name
    assert len(presets.GMSA_TABLE_1) == 9
    model = keras_gmsa.build_model("gateop_tp30", compile=False)
    # The paper's best model at the paper's size (61 MB).
    assert abs(model.count_params() * 4 / 2**20 - 61.11) < 0.01
    assert model.get_layer("rgb_encoder_0").get_config()["masks"] == "tp30"


# Kim et al. 2018, sec. 4.2: Adam, learning rate 0.001, decay 0.95; no
# early stopping is stated (the recipe's budget: the starter's 5 epochs
# of the 3.9M training videos).
def test_a_preset_brings_its_papers_training_recipe():
    files = {"train": "x", "validation": "y"}
    kakao = training.resolve_config(dict(files, model="kakao_mc_blstm_moe2"))
    assert kakao["schedule"] == "decay"
    assert kakao["learning_rate"] == 1e-3
    assert (kakao["lr_decay"], kakao["lr_decay_examples"]) == (0.95, 4_000_000)
    assert kakao["patience"] is None
    # 5 x 3.9M videos in intervals of 10,000 steps of 64: 30.5 -> 31.
    assert kakao["max_validations"] == 31
    # The budget is in videos: twice the batch, half the intervals.
    wider = training.resolve_config(
        dict(files, model="kakao_ms_netvlad_c64_moe4", batch_size=128)
    )
    assert wider["max_validations"] == 16
    # The model and its clipping come with the preset's options.
    member = keras_gmsa.build_model(
        "kakao_mc_netvlad_c128_moe4",
        features={"rgb": 8, "audio": 4},
        num_clusters=2,
        hidden_dim=4,
        num_classes=CLASSES,
    )
    recipe = presets.PRESETS["kakao_mc_netvlad_c128_moe4"].recipe
    assert isinstance(
        member.optimizer, type(keras.optimizers.get(recipe.optimizer))
    )
    assert member.optimizer.clipnorm == 1.0
    # GMSA's Table 1 presets: Adam 2e-4, the plateau schedule, patience 5.
    gmsa = training.resolve_config(dict(files, model="gateop_tp30"))
    assert gmsa["schedule"] == "paper" and gmsa["learning_rate"] == 2e-4
    assert (gmsa["patience"], gmsa["lr_patience"]) == (5, 3)
    assert gmsa["max_validations"] == training.DEFAULTS["max_validations"]
    # A model that is not a preset: the defaults.
    plain = training.resolve_config(dict(files, model="kakao_blstm"))
    assert plain == training.resolve_config(files) | {"model": "kakao_blstm"}
    # A key the user sets is the user's, whichever layer sets it; the
    # others stay the recipe's.
    mine = training.resolve_config(
        dict(files, model="gateop", schedule="paper"),
        {"model": "kakao_mc_blstm_moe2", "patience": 5, "max_validations": 7},
    )
    assert (mine["schedule"], mine["patience"]) == ("paper", 5)
    assert mine["max_validations"] == 7 and mine["learning_rate"] == 1e-3
    # The resolved config (RUN_DIR/config.json) resolves to itself.
    for config in (kakao, wider, mine):
        assert training.resolve_config(json.loads(json.dumps(config))) == config
    with pytest.raises(ValueError, match="patience"):
        training.resolve_config(dict(files, patience=-1))


def test_train_a_kakao_member_with_its_recipe_in_one_command(
    records, tmp_path, capsys
):
    # The paper's recipe at test sizes: a learning rate of 0 holds the
    # validation GAP still, which GMSA's patience 5 would stop after 6
    # intervals; Kakao's recipe has no early stopping.
    frames = str(records / "frame" / "*.tfrecord")
    run_dir = tmp_path / "kakao"
    argv = [
        "train",
        "--run-dir",
        str(run_dir),
        "--model",
        "kakao_mc_blstm_moe2",
        "--train",
        frames,
        "--validation",
        frames,
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--batch-size",
        "16",
        "--validation-steps",
        "1",
        "--steps-per-validation",
        "1",
        "--max-validations",
        "7",
        "--learning-rate",
        "0",
        "--option",
        "lstm_units=2",
        "--no-tensorboard",
    ]
    assert cli.main(argv) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["schedule"] == "decay" and config["patience"] is None
    assert (config["learning_rate"], config["max_validations"]) == (0.0, 7)
    done = json.loads((run_dir / "done.json").read_text())
    assert done["intervals"] == 7
    model = keras.saving.load_model(run_dir / "final.keras")
    assert model.name == "kakao_mc_blstm_moe2"
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["decay_rate"] == 0.95 and schedule["staircase"]
    assert schedule["decay_steps"] == 4_000_000 // 16
    assert model.optimizer.clipnorm == 5.0
    # The same command, and the same run from Python, find it complete:
    # the stored config is the recipe-resolved one.
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "is complete" in capsys.readouterr().out
    python = {
        "model": "kakao_mc_blstm_moe2",
        "train": frames,
        "validation": frames,
        "num_classes": CLASSES,
        "max_frames": FRAMES,
        "batch_size": 16,
        "validation_steps": 1,
        "steps_per_validation": 1,
        "max_validations": 7,
        "learning_rate": 0.0,
        "model_options": {"lstm_units": 2},
        "tensorboard": False,
    }
    assert training.train(python, str(run_dir)) == done
