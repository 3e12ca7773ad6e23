"""The smoke subset (`pytest -m smoke`): does an installation work at all?

`make test-floors` runs these tests in fresh virtual environments that
hold the declared minimum versions (`.ci/floors.txt`) of Keras, NumPy and
each backend. The JAX and PyTorch environments hold no TensorFlow (as
after `pip install keras-gmsa[jax]`): there the tests that read records
skip, and the models must still build, train and round-trip. The main
suite runs them too, on every backend.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_gmsa
from tests.helpers import build_small
from tests.helpers import to_numpy
from tests.helpers import write_tiny_records

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[1]

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
needs_tensorflow = pytest.mark.skipif(
    not HAS_TENSORFLOW, reason="reading records needs TensorFlow"
)

GMSA = ("baseline", "shareatt", "gateatt", "gateop")
# A few of the other systems: clusters, NetVLAD, an LSTM, video-level.
ZOO = ("attention_cluster", "kakao_netvlad", "frame_lstm", "video_moe")


def random_inputs(model, batch=3, seed=0):
    """Random inputs of `model`'s input names, shapes and dtypes."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for tensor in model.inputs:
        shape = (batch, *tensor.shape[1:])
        if tensor.name == "num_frames":
            frames = model.get_layer("rgb").batch_shape[1]
            inputs["num_frames"] = rng.integers(1, frames + 1, size=shape)
        elif tensor.dtype == "uint8":
            inputs[tensor.name] = rng.integers(0, 256, size=shape)
        else:
            inputs[tensor.name] = rng.normal(size=shape)
        inputs[tensor.name] = inputs[tensor.name].astype(tensor.dtype)
    return inputs


def test_the_package_imports_and_names_its_zoo():
    assert keras_gmsa.__version__
    assert set(GMSA + ZOO) <= set(keras_gmsa.list_models())


@pytest.mark.parametrize("name", GMSA + ZOO)
def test_builds_and_predicts(name):
    model = build_small(name)
    probs = to_numpy(model.predict(random_inputs(model), verbose=0))
    assert probs.shape == (3, model.outputs[0].shape[-1])
    assert np.all((probs >= 0) & (probs <= 1))


def test_tiny_fit_lowers_the_loss_and_the_keras_file_round_trips(tmp_path):
    model = build_small("gateop", learning_rate=0.01)
    inputs = random_inputs(model, batch=16, seed=1)
    labels = np.random.default_rng(2).integers(0, 2, size=(16, 6))
    history = model.fit(
        inputs, labels.astype("float32"), batch_size=16, epochs=8, verbose=0
    )
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    path = tmp_path / "gateop.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(loaded.predict(inputs, verbose=0)),
        to_numpy(model.predict(inputs, verbose=0)),
        atol=1e-6,
    )


def test_without_tensorflow_models_work_and_tf_data_says_what_to_install(
    tmp_path,
):
    """As after `pip install keras-gmsa[jax]` (or [torch]): TensorFlow is
    blocked from importing in a child process (where it is not installed
    at all, as in the floor environments, the block changes nothing).
    Records are read by keras_gmsa.loaders there (tests/loaders); the
    tf.data readers say what to install, and a command's error is one
    line."""
    if keras.backend.backend() == "tensorflow":
        pytest.skip("on the TensorFlow backend, TensorFlow cannot be missing")
    code = textwrap.dedent(
        """
        import sys

        sys.modules["tensorflow"] = None  # import tensorflow: ImportError
        import keras_gmsa

        keras_gmsa.build_model(
            "gateop", mask="tp", W=2, num_classes=4, max_frames=6,
            features={"rgb": 8, "audio": 4}, num_heads=2, hidden_dim=8,
        )
        from keras_gmsa.data.options import ReaderOptions

        ReaderOptions(batch_size=2)
        try:
            from keras_gmsa.data import frame_dataset
        except ImportError as error:
            print("data:", error)
        from keras_gmsa.cli import main

        sys.exit(main(["evaluate", "model.keras", "records*"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    hint = "pip install 'keras-gmsa[tensorflow-cpu]'"
    assert "data: reading records needs TensorFlow" in done.stdout
    assert hint in done.stdout and "keras_gmsa.loaders" in done.stdout
    # The command line: one line, status 2, no traceback.
    assert done.returncode == 2, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("keras-gmsa evaluate: error: model.keras")


@needs_tensorflow
def test_reads_records_trains_and_evaluates_from_the_command_line(tmp_path):
    from keras_gmsa import data

    frame_dir = write_tiny_records(
        tmp_path, train=16, validate=8, classes=6, frames=10
    )
    model = keras_gmsa.build_model(
        "gateop",
        mask="tp",
        W=2,
        num_classes=6,
        max_frames=10,
        projection_dim=16,
        num_heads=2,
        hidden_dim=16,
    )
    train = data.dataset_for_model(
        model, str(frame_dir / "train*.tfrecord"), batch_size=8, repeat=True
    )
    history = model.fit(train, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "gateop.keras"
    model.save(path)
    command = os.path.join(os.path.dirname(sys.executable), "keras-gmsa")
    done = subprocess.run(
        [command, "evaluate", str(path), str(frame_dir / "validate*")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    printed = dict(line.split()[:2] for line in done.stdout.splitlines()[:5])
    assert 0 <= float(printed["gap"]) <= 1
    assert printed["videos"] == "8"
