"""Every model starts from distinct random weights.

An unseeded Keras initializer draws its seed when it is made, so one
initializer object shared by two weights gives both the same values (the
feed-forward kernels of a GMSA block, GateAtt's two gates). Each layer
must clone its initializer for every weight.
"""

import numpy as np
import pytest

import keras_gmsa
from tests import helpers


def test_every_registered_model_is_covered():
    assert set(helpers.SMALL_MODELS) == set(keras_gmsa.list_models())


def _identical_pairs(model):
    """Pairs of trainable weights of one shape that start equal, leaving
    out weights that start from a constant (zeros, ones: biases, norms)."""
    random_weights = []
    for w in model.trainable_weights:
        value = helpers.to_numpy(w)
        if w.path.endswith("bias") or (value.size > 1 and np.ptp(value) == 0):
            continue  # biases and constant initializers (LSTM: 1s, 0s)
        random_weights.append((w.path, value))
    pairs = []
    for i, (path_a, a) in enumerate(random_weights):
        for path_b, b in random_weights[i + 1 :]:
            if a.shape == b.shape and np.array_equal(a, b):
                pairs.append((path_a, path_b))
    return pairs


@pytest.mark.parametrize("name", sorted(helpers.SMALL_MODELS))
def test_no_two_weights_of_one_shape_start_equal(name):
    model = helpers.build_small(name, compile=False)
    assert _identical_pairs(model) == []


def test_the_check_finds_weights_that_share_an_initializer():
    # The counter-check: a shared unseeded initializer is caught.
    import keras

    shared = keras.initializers.GlorotUniform()
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4, kernel_initializer=shared, name="a")(inputs)
    x = keras.layers.Dense(4, kernel_initializer=shared, name="b")(x)
    pairs = _identical_pairs(keras.Model(inputs, x))
    assert pairs == [("a/kernel", "b/kernel")]
