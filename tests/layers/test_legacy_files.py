"""`.keras` files saved by keras-gmsa before the attention layers moved
(commit 6d3b605, TensorFlow backend) still load with the same outputs."""

import os

import keras
import numpy as np
import pytest

import keras_gmsa  # noqa: F401  (registers the layers)
from tests import helpers

LEGACY = os.path.join(os.path.dirname(__file__), "legacy")


@pytest.mark.parametrize("name", ["shareatt", "gateatt", "gateop"])
def test_files_from_before_load_with_the_same_outputs(name):
    data = np.load(os.path.join(LEGACY, "inputs_and_outputs.npz"))
    features = {k: data[k] for k in ("rgb", "audio", "num_frames")}
    model = keras.saving.load_model(os.path.join(LEGACY, f"{name}.keras"))
    np.testing.assert_allclose(
        helpers.to_numpy(model.predict_on_batch(features)),
        data[f"out_{name}"],
        atol=1e-5,
    )
