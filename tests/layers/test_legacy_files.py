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


def _cluster_settings(model):
    return {
        layer.name: layer.position_bias
        for layer in model.layers
        if type(layer).__name__ == "AttentionCluster"
    }


def test_attention_clusters_saved_with_position_biases_keep_them():
    # Saved (TensorFlow backend) when position_bias=True was the default,
    # with nonzero per-position biases: it loads with them, and the same
    # outputs, now that the default is order-free.
    data = np.load(os.path.join(LEGACY, "attention_cluster_io.npz"))
    features = {k: data[k] for k in ("rgb", "audio", "num_frames")}
    path = os.path.join(LEGACY, "attention_cluster.keras")
    model = keras.saving.load_model(path)
    assert _cluster_settings(model) == {
        "rgb_cluster": True,
        "audio_cluster": True,
    }
    np.testing.assert_allclose(
        helpers.to_numpy(model.predict_on_batch(features)),
        data["out"],
        atol=1e-5,
    )


@pytest.mark.parametrize("saved, loaded", [(None, True), (False, False)])
def test_an_attention_cluster_config_loads_with_its_setting(saved, loaded):
    # Every config the layer writes holds position_bias; one without it
    # predates the order-free default and loads with the old one (True).
    config = keras_gmsa.layers.AttentionCluster(3).get_config()
    assert config["position_bias"] is False
    if saved is None:
        del config["position_bias"]
    layer = keras_gmsa.layers.AttentionCluster.from_config(config)
    assert layer.position_bias is loaded
    layer(np.ones((2, 5, 4), "float32"))
    names = [w.path.split("/")[-1] for w in layer.weights]
    assert ("b" in names) is loaded
