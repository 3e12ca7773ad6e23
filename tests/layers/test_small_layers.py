"""Dequantize, FrameMask, MaskedMeanPooling."""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import Dequantize
from keras_gmsa.layers import FrameMask
from keras_gmsa.layers import MaskedMeanPooling
from tests import helpers


def test_dequantize_uses_the_official_constants():
    q = np.arange(256, dtype="uint8").reshape(1, 2, 128)
    got = helpers.to_numpy(Dequantize()(q))
    # utils.Dequantize: q * (4 / 255) + 4 / 512 - 2, in float32.
    expected = q.astype("float32") * np.float32(4.0 / 255.0) + np.float32(
        4.0 / 512.0 - 2.0
    )
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32
    assert got[0, 0, 0] == np.float32(-1.9921875)
    assert got[0, 1, -1] == np.float32(2.0078125)


def test_dequantize_passes_floats_through_and_round_trips_config():
    x = np.linspace(-2, 2, 12, dtype="float32").reshape(1, 3, 4)
    np.testing.assert_array_equal(helpers.to_numpy(Dequantize()(x)), x)
    layer = Dequantize(max_quantized_value=1.0, min_quantized_value=-1.0)
    clone = Dequantize.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    q = np.array([[0, 255]], "uint8")
    np.testing.assert_allclose(
        helpers.to_numpy(clone(q)), [[-1 + 2 / 512, 1 + 2 / 512]], rtol=1e-6
    )
    with pytest.raises(ValueError, match="greater than"):
        Dequantize(max_quantized_value=-1, min_quantized_value=1)


def test_dequantize_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    out = Dequantize()(np.array([[0, 128, 255]], "uint8"))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


def test_frame_mask_from_counts():
    frames = np.zeros((3, 5, 2), "uint8")
    got = helpers.to_numpy(FrameMask()(frames, np.array([0, 3, 7])))
    assert got.tolist() == [[False] * 5, [True] * 3 + [False] * 2, [True] * 5]
    inputs = keras.Input((5, 2), dtype="uint8")
    counts = keras.Input((), dtype="int32")
    out = FrameMask()(inputs, counts)
    assert out.dtype == "bool" and tuple(out.shape) == (None, 5)


def test_masked_mean_ignores_padding_and_never_divides_by_zero():
    x = np.array(
        [
            [[1.0, 2.0], [3.0, 4.0], [9e9, -9e9]],
            [[5.0, 5.0], [7.0, 7.0], [1.0, 1.0]],
            [[8.0, 8.0], [8.0, 8.0], [8.0, 8.0]],
        ],
        "float32",
    )
    mask = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 0]], bool)
    got = helpers.to_numpy(MaskedMeanPooling()(x, frame_mask=mask))
    np.testing.assert_allclose(
        got, [[2, 3], [13 / 3, 13 / 3], [0, 0]], rtol=1e-6
    )
    assert np.isfinite(got).all()
    np.testing.assert_allclose(
        helpers.to_numpy(MaskedMeanPooling()(x[1:2])),
        [[13 / 3, 13 / 3]],
        rtol=1e-6,
    )


def test_masked_mean_accumulates_in_float32_under_bfloat16():
    # 257 real frames of 100.0: in bfloat16 (8 significant bits) neither
    # the count 257 nor the sum 25700 is representable; in float32 the
    # mean is exactly 100.
    x = np.full((1, 300, 1), 100.0, "float32")
    mask = np.zeros((1, 300), bool)
    mask[0, :257] = True
    layer = MaskedMeanPooling(dtype="mixed_bfloat16")
    got = layer(x, frame_mask=mask)
    assert "bfloat16" in str(got.dtype)
    assert float(helpers.to_numpy(got).astype("float32")[0, 0]) == 100.0
