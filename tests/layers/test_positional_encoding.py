"""PositionalEncoding against its formula; GMSA models that see order."""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import PositionalEncoding
from tests import helpers


def _sinusoids(length, dim):
    t = np.arange(length)[:, None]
    i = np.arange(dim)[None, :]
    angle = t / 10000.0 ** ((i - i % 2) / dim)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle))


def test_sinusoidal_codes_follow_vaswani_and_skip_padded_frames(rng):
    x = rng.normal(size=(2, 7, 6)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([[7], [4]])
    y = helpers.to_numpy(PositionalEncoding()(x, frame_mask=mask))
    expected = x + _sinusoids(7, 6)[None] * mask[:, :, None]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    np.testing.assert_array_equal(y[1, 4:], x[1, 4:])


def test_learned_codes_are_the_rows_of_a_trained_table(rng):
    layer = PositionalEncoding("learned", max_length=9)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    y = helpers.to_numpy(layer(x))
    table = helpers.to_numpy(layer.embeddings)
    assert table.shape == (9, 4) and np.std(table) > 0
    np.testing.assert_allclose(y, x + table[None, :5], atol=1e-6)
    clone = PositionalEncoding.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(helpers.to_numpy(clone(x)), y, atol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        PositionalEncoding("learned", max_length=3)(x)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        PositionalEncoding("rotary")


def _full_length_batch(rng, n=4):
    t = helpers.SMALL_FRAMES
    return {
        "rgb": rng.integers(0, 256, (n, t, 16)).astype("uint8"),
        "audio": rng.integers(0, 256, (n, t, 8)).astype("uint8"),
        "num_frames": np.full((n,), t, "int32"),
    }


@pytest.mark.parametrize("kind", [None, "sinusoidal", "learned"])
def test_only_an_encoded_baseline_sees_frame_order(kind, rng, tmp_path):
    # Global attention then a mean over frames is permutation-invariant;
    # position codes make the prediction depend on the order.
    model = helpers.build_small(
        "baseline", positional_encoding=kind, compile=False
    )
    x = _full_length_batch(rng)
    order = rng.permutation(helpers.SMALL_FRAMES)
    shuffled = {k: v[:, order] if v.ndim == 3 else v for k, v in x.items()}
    before = helpers.to_numpy(model.predict_on_batch(x))
    after = helpers.to_numpy(model.predict_on_batch(shuffled))
    if kind is None:
        np.testing.assert_allclose(after, before, atol=1e-5)
    else:
        assert np.abs(after - before).max() > 1e-4
        # Saved in the .keras config, and padding still invisible.
        path = tmp_path / "encoded.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            helpers.to_numpy(loaded.predict_on_batch(x)), before, atol=1e-6
        )
        layer = loaded.get_layer("rgb_positional_encoding")
        assert layer.kind == kind
        short = {k: v.copy() for k, v in x.items()}
        short["num_frames"][:] = 6
        noisy = {k: v.copy() for k, v in short.items()}
        noisy["rgb"][:, 6:] = 255 - noisy["rgb"][:, 6:]
        np.testing.assert_allclose(
            helpers.to_numpy(loaded.predict_on_batch(noisy)),
            helpers.to_numpy(loaded.predict_on_batch(short)),
            atol=1e-5,
        )
