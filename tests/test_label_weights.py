"""Training with label weights: unrated (segment, class) pairs change
neither the loss nor the gradients (the 2019 segment task's loss)."""

import keras
import numpy as np
import pytest

from keras_gmsa.segments import LabelWeightedBinaryCrossentropy
from tests import helpers


def test_the_loss_is_the_mean_over_the_rated_pairs(rng):
    y = (rng.random((6, 5)) < 0.4).astype("float32")
    p = rng.uniform(0.05, 0.95, (6, 5)).astype("float32")
    w = (rng.random((6, 5)) < 0.5).astype("float32")
    w[0, 0] = 1.0
    elementwise = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    loss = LabelWeightedBinaryCrossentropy()
    got = float(helpers.to_numpy(loss(y, p, sample_weight=w)))
    assert got == pytest.approx((elementwise * w).sum() / w.sum(), rel=1e-5)
    # Without weights: Keras' binary cross-entropy.
    plain = keras.losses.BinaryCrossentropy()(y, p)
    assert float(helpers.to_numpy(loss(y, p))) == pytest.approx(
        float(helpers.to_numpy(plain)), rel=1e-5
    )
    config = loss.get_config()
    assert type(loss).from_config(config).get_config() == config


def _one_step(x, y, w, weights):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, activation="sigmoid")]
    )
    model.set_weights(weights)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=LabelWeightedBinaryCrossentropy(),
    )
    loss = model.train_on_batch(x, y, sample_weight=w)
    return loss, model.get_weights()


def test_unrated_pairs_change_neither_the_loss_nor_the_gradients(rng):
    x = rng.normal(size=(8, 4)).astype("float32")
    y = (rng.random((8, 5)) < 0.5).astype("float32")
    w = (rng.random((8, 5)) < 0.4).astype("float32")
    w[:, 0] = 1.0
    start = [
        rng.normal(size=(4, 5)).astype("float32"),
        np.zeros(5, "float32"),
    ]
    loss, after = _one_step(x, y, w, start)
    # Any labels on the unrated pairs: the same loss, the same step.
    flipped = np.where(w > 0, y, 1 - y)
    loss2, after2 = _one_step(x, flipped, w, start)
    assert loss2 == pytest.approx(loss, rel=1e-6)
    for a, b in zip(after, after2, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The rated pairs do move it.
    loss3, _ = _one_step(x, np.where(w > 0, 1 - y, y), w, start)
    assert abs(loss3 - loss) > 1e-3
    # A class no example has rated gets no gradient at all.
    w[:, 4] = 0.0
    _, moved = _one_step(x, y, w, start)
    np.testing.assert_array_equal(moved[0][:, 4], start[0][:, 4])
    np.testing.assert_array_equal(moved[1][4], start[1][4])
