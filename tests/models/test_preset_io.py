"""Presets that carry weights: saved from a real training run, loaded by
handle in this process and in a fresh one, and read by every command."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa.data import synthetic
from keras_gmsa.models import preset_io
from tests import helpers

CLASSES = 6
FRAMES = 10
SIZES = {"rgb": 16, "audio": 8}
FEATURES = "rgb:16,audio:8"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
BACKEND = keras.backend.backend()
OTHER_BACKEND = {"jax": "torch", "torch": "tensorflow", "tensorflow": "jax"}


def _train(world, run_dir, *extra):
    return cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--train",
            str(world["records"] / "frame" / "train*.tfrecord"),
            "--validation",
            world["pattern"],
            "--model",
            "gateop",
            "--mask",
            "tp",
            "--W",
            "2",
            "--option",
            "num_heads=2",
            "--option",
            "hidden_dim=12",
            "--features",
            FEATURES,
            "--num-classes",
            str(CLASSES),
            "--max-frames",
            str(FRAMES),
            "--batch-size",
            "16",
            "--steps-per-validation",
            "3",
            "--max-validations",
            "2",
            "--schedule",
            "constant",
            "--no-tensorboard",
            "--verbose",
            "0",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Records, a real `keras-gmsa train` run, and the preset that
    `keras-gmsa preset save` makes of it (with the records' vocabulary)."""
    root = tmp_path_factory.mktemp("presets")
    records = root / "records"
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES,
        max_frames=FRAMES,
        min_frames=4,
        signal=1.0,
        feature_sizes=SIZES,
        seed=0,
    )
    synthetic.write_dataset(
        records, 48, num_shards=2, generator=gen, layouts=("frame",)
    )
    synthetic.write_dataset(
        records,
        16,
        num_shards=1,
        split="validate",
        generator=gen,
        layouts=("frame",),
        seed=1,
        start_index=48,
    )
    world = {
        "records": records,
        "pattern": str(records / "frame" / "validate*.tfrecord"),
        "vocabulary": str(records / "vocabulary.csv"),
        "run": root / "run",
        "preset": root / "preset",
    }
    assert _train(world, world["run"], "--learning-rate", "0.003") == 0
    argv = ["preset", "save", str(world["run"]), str(world["preset"])]
    argv += ["--vocabulary", world["vocabulary"]]
    assert cli.main(argv + ["--description", "tiny gateop"]) == 0
    world["model"] = keras.saving.load_model(world["run"] / "best.keras")
    # The same preset on TensorFlow's in-memory filesystem, which stands
    # for gs:// (the same tf.io.gfile code path).
    world["remote"] = "ram://presets/world"
    keras_gmsa.save_to_preset(
        world["model"], world["remote"], vocabulary=world["vocabulary"]
    )
    dataset = data.dataset_for_model(
        world["model"], world["pattern"], batch_size=16
    )
    features, _ = next(iter(dataset))
    world["inputs"] = {k: np.asarray(v) for k, v in features.items()}
    world["expected"] = _predict(world["model"], world["inputs"])
    np.savez(root / "inputs.npz", **world["inputs"])
    world["inputs_file"] = root / "inputs.npz"
    return world


def _predict(model, inputs):
    return keras.ops.convert_to_numpy(model.predict_on_batch(inputs))


def _fresh_process(code, *argv, backend=BACKEND):
    """Runs `code` in a new Python on `backend`; returns its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, argv)],
        capture_output=True,
        text=True,
        env=dict(
            os.environ,
            PYTHONPATH=ROOT,
            KERAS_BACKEND=backend,
            TF_CPP_MIN_LOG_LEVEL="3",
            HF_HUB_OFFLINE="1",
        ),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _error(capsys, argv):
    capsys.readouterr()
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------ round trips


LOAD_AND_PREDICT = """
import json, sys
import numpy as np, keras, keras_gmsa
model = keras_gmsa.from_preset(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
np.save(sys.argv[3], keras.ops.convert_to_numpy(model.predict_on_batch(inputs)))
vocabulary = keras_gmsa.load_preset_vocabulary(sys.argv[1])
metadata = keras_gmsa.load_preset_metadata(sys.argv[1])
print(json.dumps([vocabulary.name(0), metadata["num_classes"]]))
if len(sys.argv) > 4:
    from tests.helpers import build_small
    # Compiled as this backend compiles a fresh model (its jit_compile).
    print(model.jit_compile == build_small("gateop").jit_compile)
    labels = np.zeros((len(inputs["num_frames"]), 6), "float32")
    print(float(model.train_on_batch(inputs, labels)))
"""


def test_a_preset_predicts_the_same_in_a_fresh_process(world, tmp_path):
    out = tmp_path / "predictions.npy"
    printed = _fresh_process(
        LOAD_AND_PREDICT, world["preset"], world["inputs_file"], out
    )
    np.testing.assert_allclose(np.load(out), world["expected"], atol=1e-6)
    name = data.Vocabulary.load(world["vocabulary"]).name(0)
    assert json.loads(printed.splitlines()[-1]) == [name, CLASSES]


def test_a_preset_saved_on_one_backend_trains_on_another(world, tmp_path):
    # Keras names a PyTorch optimizer by its backend's module; the preset
    # names it by its public class, which every backend builds. The saved
    # jit_compile was the saving backend's choice; another backend makes
    # its own (torch.compile of a JAX-saved preset took minutes).
    config = json.loads((world["preset"] / "config.json").read_text())
    optimizer = config["compile_config"]["optimizer"]
    assert optimizer["module"] == "keras.optimizers", optimizer["module"]
    out = tmp_path / "predictions.npy"
    printed = _fresh_process(
        LOAD_AND_PREDICT,
        world["preset"],
        world["inputs_file"],
        out,
        "train",
        backend=OTHER_BACKEND[BACKEND],
    )
    np.testing.assert_allclose(np.load(out), world["expected"], atol=1e-5)
    same_jit, loss = printed.splitlines()[-2:]
    assert same_jit == "True"
    assert np.isfinite(float(loss))


def test_the_preset_carries_vocabulary_metrics_and_training_config(world):
    preset = world["preset"]
    assert sorted(os.listdir(preset)) == sorted(preset_io.PRESET_FILES)
    vocabulary = keras_gmsa.load_preset_vocabulary(str(preset))
    assert vocabulary.rows == data.Vocabulary.load(world["vocabulary"]).rows
    run = world["run"]
    done = json.loads((run / "done.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert preset_io.load_preset_json(str(preset), "metrics") == done
    assert preset_io.load_preset_json(str(preset), "training_config") == config
    metadata = keras_gmsa.load_preset_metadata(str(preset))
    assert metadata["description"] == "tiny gateop"
    assert metadata["num_classes"] == CLASSES
    assert metadata["backend"] == BACKEND
    assert metadata["keras_version"] == keras.version()
    assert metadata["keras_gmsa_version"] == keras_gmsa.__version__
    assert metadata["model"] == "gateop" and metadata["preset"] is None
    assert metadata["inputs"] == {
        "rgb": {"shape": [None, FRAMES, 16], "dtype": "uint8"},
        "audio": {"shape": [None, FRAMES, 8], "dtype": "uint8"},
        "num_frames": {"shape": [None], "dtype": "int32"},
    }
    assert metadata["parameter_count"] == world["model"].count_params()
    # The weights alone: the run's optimizer state stays out.
    with h5py.File(preset / "model.weights.h5") as f:
        assert "optimizer" not in f
    # Keras reads the same layout as its own unzipped save.
    model = keras.saving.load_model(str(preset), compile=False)
    np.testing.assert_allclose(
        _predict(model, world["inputs"]), world["expected"], atol=1e-6
    )


def test_from_preset_compiles_as_saved_or_not_at_all(world):
    model = keras_gmsa.from_preset(str(world["preset"]))
    assert model.compiled
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    learning_rate = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    assert np.isclose(learning_rate, 0.003)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    bare = keras_gmsa.from_preset(str(world["preset"]), compile=False)
    assert not bare.compiled and getattr(bare, "optimizer", None) is None
    np.testing.assert_allclose(
        _predict(bare, world["inputs"]), world["expected"], atol=1e-6
    )


def test_save_to_preset_from_python(tmp_path):
    model = helpers.build_small("frame_logistic")
    rng = np.random.default_rng(0)
    inputs = {
        "rgb": rng.integers(0, 256, (4, FRAMES, 16)).astype("uint8"),
        "audio": rng.integers(0, 256, (4, FRAMES, 8)).astype("uint8"),
        "num_frames": np.array([10, 5, 3, 10], "int32"),
    }
    labels = (rng.random((4, CLASSES)) > 0.5).astype("float32")
    model.fit(inputs, labels, epochs=2, verbose=0)
    synthetic.write_vocabulary(tmp_path / "vocabulary.csv", CLASSES)
    vocabulary = data.Vocabulary.load(str(tmp_path / "vocabulary.csv"))
    directory = tmp_path / "preset"
    metadata = keras_gmsa.save_to_preset(
        model,
        directory,
        vocabulary=vocabulary,
        metrics={"gap": np.float32(0.25)},
    )
    assert metadata["description"].startswith("frame_logistic, ")
    assert json.loads((directory / "metrics.json").read_text()) == {"gap": 0.25}
    loaded = keras_gmsa.from_preset(directory)
    np.testing.assert_allclose(
        _predict(loaded, inputs), _predict(model, inputs), atol=1e-6
    )
    assert keras_gmsa.load_preset_vocabulary(directory).rows == vocabulary.rows
    # A non-empty directory is refused; overwrite replaces the preset's
    # files (a stale vocabulary goes) and leaves the user's alone.
    (directory / "notes.txt").write_text("mine")
    with pytest.raises(preset_io.PresetError, match="is not empty"):
        keras_gmsa.save_to_preset(model, directory)
    keras_gmsa.save_to_preset(model, directory, overwrite=True)
    assert sorted(os.listdir(directory)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "notes.txt",
    ]
    assert keras_gmsa.load_preset_vocabulary(directory) is None
    # A hub is uploaded to, not written: the message says how.
    with pytest.raises(preset_io.PresetError, match="upload_folder"):
        keras_gmsa.save_to_preset(model, "hf://me/mine")
    # A vocabulary with classes the model does not score is refused.
    synthetic.write_vocabulary(tmp_path / "big.csv", CLASSES + 1)
    with pytest.raises(preset_io.PresetError, match="class 6; the model"):
        keras_gmsa.save_to_preset(
            model, tmp_path / "other", vocabulary=str(tmp_path / "big.csv")
        )


def test_a_preset_on_a_gfile_filesystem(world):
    handle = world["remote"]
    model = keras_gmsa.from_preset(handle)
    np.testing.assert_allclose(
        _predict(model, world["inputs"]), world["expected"], atol=1e-6
    )
    vocabulary = keras_gmsa.load_preset_vocabulary(handle)
    assert vocabulary.rows == data.Vocabulary.load(world["vocabulary"]).rows
    with pytest.raises(preset_io.PresetError, match="no such preset"):
        keras_gmsa.from_preset("ram://presets/none")


def test_configuration_presets_stay_configurations(world):
    small = dict(helpers.SMALL_MODELS["gateop"])
    small.pop("mask"), small.pop("W")
    # (TP30 needs more than 61 frames.)
    small.update(num_classes=CLASSES, max_frames=64, compile=False)
    model = keras_gmsa.from_preset("gateop_tp30", **small)
    built = keras_gmsa.build_model("gateop_tp30", **small)
    assert model.name == "gateop_tp30"
    assert model.get_config() == built.get_config()
    metadata = keras_gmsa.load_preset_metadata("gateop_tp30")
    assert metadata["weights"] is False and metadata["model"] == "gateop"
    assert keras_gmsa.load_preset_vocabulary("gateop_tp30") is None
    with pytest.raises(preset_io.PresetError, match="its own; options"):
        keras_gmsa.from_preset(str(world["preset"]), num_heads=4)


def test_hub_handles_fail_in_one_line_offline(world, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for handle, library in (
        ("hf://keras-gmsa/none", "huggingface_hub"),
        ("kaggle://keras-gmsa/none/keras/tiny", "kagglehub"),
    ):
        with pytest.raises(preset_io.PresetError) as error:
            keras_gmsa.from_preset(handle)
        message = str(error.value)
        assert message.startswith(f"{handle}: the model cannot be loaded (")
        assert "\n" not in message
        try:
            __import__(library)
        except ImportError:
            assert f"pip install {library}" in message
        line = _error(capsys, ["evaluate", handle, world["pattern"]])
        assert line == f"keras-gmsa evaluate: error: {message}"


# ---------------------------------------------------------- command line


def test_missing_or_incomplete_presets_are_one_line_errors(
    world, tmp_path, capsys
):
    broken = tmp_path / "broken"
    shutil.copytree(world["preset"], broken)
    (broken / "model.weights.h5").unlink()
    line = _error(capsys, ["evaluate", str(broken), world["pattern"]])
    assert line.startswith(
        f"keras-gmsa evaluate: error: {broken}: not a complete preset "
        "(model.weights.h5 is missing"
    )
    # A run directory is not a preset; the message says what to use.
    line = _error(capsys, ["predict", str(world["run"]), world["pattern"]])
    assert "config.json" not in line.split("missing")[0]
    assert "its model is best.keras" in line
    (broken / "model.weights.h5").write_bytes(b"not hdf5")
    line = _error(capsys, ["evaluate", str(broken), world["pattern"]])
    assert "model.weights.h5 does not fit the model in config.json" in line
    (broken / "config.json").write_text("{")
    line = _error(capsys, ["evaluate", str(broken), world["pattern"]])
    assert "config.json is not JSON" in line
    line = _error(
        capsys, ["preset", "save", str(tmp_path / "none"), str(tmp_path / "p")]
    )
    assert line.endswith("none: no such file")
    line = _error(
        capsys, ["preset", "save", str(world["records"]), str(tmp_path / "p")]
    )
    assert "neither a train run directory" in line
    assert not (tmp_path / "p").exists()


def test_preset_save_flags(world, tmp_path, capsys):
    # <source> a .keras file: the model alone (no metrics or training
    # config, no vocabulary without --vocabulary), described by its name.
    best = str(world["run"] / "best.keras")
    bare = tmp_path / "bare"
    assert cli.main(["preset", "save", best, str(bare)]) == 0
    assert sorted(os.listdir(bare)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    description = keras_gmsa.load_preset_metadata(str(bare))["description"]
    assert description.startswith("gateop, ")
    # <source> a run directory (the fixture): its best model, done.json and
    # config.json; --vocabulary and --description are carried.
    preset = world["preset"]
    assert {"metrics.json", "training_config.json"} <= set(os.listdir(preset))
    vocabulary = (world["records"] / "vocabulary.csv").read_text()
    assert (preset / "vocabulary.csv").read_text() == vocabulary
    assert keras_gmsa.load_preset_metadata(str(preset))["description"] == (
        "tiny gateop"
    )
    # <directory> not empty: refused without --overwrite, replaced with it.
    line = _error(capsys, ["preset", "save", best, str(preset)])
    assert "is not empty" in line and "--overwrite" in line
    argv = ["preset", "save", str(preset), str(bare), "--overwrite"]
    assert cli.main(argv + ["--description", "again"]) == 0
    # (a preset saved again keeps what it carries)
    assert sorted(os.listdir(bare)) == sorted(preset_io.PRESET_FILES)
    assert keras_gmsa.load_preset_metadata(str(bare))["description"] == "again"
    model = keras_gmsa.from_preset(str(bare))
    np.testing.assert_allclose(
        _predict(model, world["inputs"]), world["expected"], atol=1e-6
    )


def test_commands_take_a_preset(world, tmp_path, capsys):
    preset, best = str(world["preset"]), str(world["run"] / "best.keras")
    outputs = []
    for model in (best, preset):
        capsys.readouterr()
        assert cli.main(["evaluate", model, world["pattern"], "--quiet"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert "gap" in outputs[0]

    def first_labels(model, *extra):
        out = tmp_path / "p.jsonl"
        argv = ["predict", model, world["pattern"], "--quiet", "--top-k", "2"]
        assert cli.main(argv + ["--output", str(out), *extra]) == 0
        return json.loads(out.read_text().splitlines()[0])["labels"]

    # predict names labels with the preset's vocabulary by default; a
    # .keras file has none; --vocabulary wins over the preset's.
    from_keras = first_labels(best)
    from_preset = first_labels(preset)
    vocabulary = data.Vocabulary.load(world["vocabulary"])
    assert [label for label, _ in from_preset] == [
        vocabulary.name(index) for index, _ in from_keras
    ]
    assert [score for _, score in from_preset] == [s for _, s in from_keras]
    other = tmp_path / "other.csv"
    other.write_text(
        "Index,Name\n" + "".join(f"{c},other {c}\n" for c in range(CLASSES))
    )
    labels = first_labels(preset, "--vocabulary", str(other))
    assert [label for label, _ in labels] == [
        f"other {index}" for index, _ in from_keras
    ]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a TensorFlow SavedModel")
def test_export_takes_a_preset(world, tmp_path, capsys):
    for name, handle in (("local", world["preset"]), ("gs", world["remote"])):
        capsys.readouterr()
        out = tmp_path / name
        assert cli.main(["export", str(handle), str(out)]) == 0
        assert "max |served - Keras|" in capsys.readouterr().out
        assert (out / "saved_model.pb").exists()


def test_train_init_from_a_preset_starts_from_its_weights(world, tmp_path):
    # At learning rate 0 the run ends where it started: with the preset's
    # weights. (From the gs://-like copy: a local directory takes the same
    # path once fetched.)
    run = tmp_path / "run"
    argv = ["--init-from", world["remote"], "--learning-rate", "0"]
    argv += ["--max-validations", "1", "--steps-per-validation", "1"]
    assert _train(world, run, *argv) == 0
    final = keras.saving.load_model(run / "final.keras")
    np.testing.assert_allclose(
        _predict(final, world["inputs"]), world["expected"], atol=1e-6
    )
