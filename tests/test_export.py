"""TensorFlow SavedModel export that serves uint8 frame batches."""

import keras
import numpy as np

import keras_gmsa
from keras_gmsa import cli

BACKEND = keras.backend.backend()


def _saved(tmp_path):
    model = keras_gmsa.build_model(
        "gateop",
        mask="tp",
        W=2,
        num_classes=6,
        max_frames=10,
        projection_dim=8,
        num_heads=2,
        hidden_dim=8,
        compile=False,
    )
    path = tmp_path / "m.keras"
    model.save(path)
    return model, path


def test_export_serves_uint8_frames(tmp_path, capsys):
    model, path = _saved(tmp_path)
    out = tmp_path / "saved"
    if BACKEND != "tensorflow":
        capsys.readouterr()
        assert cli.main(["export", str(path), str(out)]) == 2
        error = capsys.readouterr().err
        assert "KERAS_BACKEND=tensorflow" in error
        assert len(error.strip().splitlines()) == 1
        return
    assert cli.main(["export", str(path), str(out)]) == 0
    assert "max |served - Keras|" in capsys.readouterr().out
    import tensorflow as tf

    served = tf.saved_model.load(str(out))
    spec = served.signatures["serve"].structured_input_signature[1]
    assert spec["rgb"].dtype == tf.uint8 and spec["audio"].dtype == tf.uint8
    assert spec["num_frames"].dtype == tf.int32
    assert spec["rgb"].shape.as_list() == [None, 10, 1024]
    rng = np.random.default_rng(1)
    batch = {
        "rgb": rng.integers(0, 256, (4, 10, 1024)).astype("uint8"),
        "audio": rng.integers(0, 256, (4, 10, 128)).astype("uint8"),
        "num_frames": np.array([10, 7, 1, 3], "int32"),
    }
    probs = served.serve(batch).numpy()
    assert probs.shape == (4, 6) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, model.predict_on_batch(batch), atol=1e-5)
    # Frames past num_frames do not change the served predictions.
    batch["rgb"][1, 7:] = 255 - batch["rgb"][1, 7:]
    np.testing.assert_allclose(
        served.serve(batch).numpy()[1], probs[1], atol=1e-5
    )
