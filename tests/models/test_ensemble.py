"""An ensemble's members predict in inference mode while it trains."""

import keras
import numpy as np

import keras_gmsa
from tests import helpers


def _members():
    # Dropout 0.5 everywhere, and a conditional head whose training path
    # (teacher forcing on the given labels) differs from its inference.
    dropout = helpers.build_small("baseline", dropout=0.5, hidden_dropout=0.5)
    dropout.name = "dropout"
    conditional = helpers.build_small(
        "gateop",
        head="conditional",
        conditional_steps=2,
        conditional_rank=4,
        hidden_dropout=0.5,
    )
    conditional.name = "conditional"
    return dropout, conditional


def _batch(rng, n=8):
    t = helpers.SMALL_FRAMES
    return {
        "rgb": rng.integers(0, 256, (n, t, 16)).astype("uint8"),
        "audio": rng.integers(0, 256, (n, t, 8)).astype("uint8"),
        "num_frames": rng.integers(1, t + 1, n).astype("int32"),
        # Labels the conditional member would see when training.
        "given_labels": (rng.random((n, helpers.SMALL_CLASSES)) < 0.5).astype(
            "float32"
        ),
    }


def test_members_run_in_inference_mode_when_the_ensemble_trains(rng, tmp_path):
    members = _members()
    ensemble = keras_gmsa.build_ensemble(members)
    x = _batch(rng)
    inference = [
        helpers.to_numpy(m({k: x[k] for k in m.input}, training=False)).astype(
            "float64"
        )
        for m in members
    ]
    clipped = [np.clip(p, 1e-6, 1 - 1e-6) for p in inference]
    logits = [np.log(p) - np.log1p(-p) for p in clipped]
    expected = 1 / (1 + np.exp(-(0.5 * logits[0] + 0.5 * logits[1])))
    for training in (True, True, False):
        out = helpers.to_numpy(ensemble(x, training=training))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)

    # A training step moves the mixing weights only, from inference-mode
    # members; the file keeps that.
    y = (rng.random((8, helpers.SMALL_CLASSES)) < 0.3).astype("float32")
    ensemble.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(ensemble.trainable_weights) == 1
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        helpers.to_numpy(loaded(x, training=True)),
        helpers.to_numpy(ensemble(x, training=False)),
        atol=1e-6,
    )
    assert loaded.trainable_weights[0].path.endswith("theta")
    assert len(loaded.trainable_weights) == 1
