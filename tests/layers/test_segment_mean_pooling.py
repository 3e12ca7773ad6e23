"""SegmentMeanPooling: the masked mean per 5-frame segment."""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import SegmentMeanPooling
from tests import helpers


def _reference(frames, mask, size):
    """Per video and segment, the mean of the real frames (0 if none)."""
    b, t, d = frames.shape
    out = np.zeros((b, -(-t // size), d), np.float32)
    for v in range(b):
        for s in range(out.shape[1]):
            rows = [i for i in range(s * size, min(s * size + size, t))]
            real = [frames[v, i] for i in rows if mask[v, i]]
            if real:
                out[v, s] = np.mean(real, axis=0)
    return out


@pytest.mark.parametrize("length", [15, 13])
def test_the_mean_of_each_segments_real_frames(length):
    rng = np.random.default_rng(0)
    # 13 frames: a short last segment; counts leave whole segments empty.
    x, mask = helpers.frames_and_mask(rng, 3, length, 4, [length, 7, 0])
    got = helpers.to_numpy(SegmentMeanPooling()(x, mask))
    np.testing.assert_allclose(got, _reference(x, mask, 5), atol=1e-6)
    assert got.shape == (3, 3, 4)
    # Padded frames never count: changing them changes nothing.
    noisy = np.where(mask[..., None], x, 1e6).astype("float32")
    np.testing.assert_allclose(
        helpers.to_numpy(SegmentMeanPooling()(noisy, mask)), got, atol=1e-6
    )
    # A segment without a real frame is exactly zero, not NaN.
    assert np.all(got[1, 2] == 0) and np.all(got[2] == 0)


def test_symbolic_shape_config_and_bad_size():
    frames = keras.Input((12, 4))
    mask = keras.Input((12,), dtype="bool")
    layer = SegmentMeanPooling(segment_size=4)
    assert tuple(layer(frames, mask).shape) == (None, 3, 4)
    clone = SegmentMeanPooling.from_config(layer.get_config())
    assert clone.segment_size == 4
    x, m = helpers.frames_and_mask(np.random.default_rng(1), 2, 12, 4, [12, 5])
    np.testing.assert_allclose(
        helpers.to_numpy(clone(x, m)), _reference(x, m, 4), atol=1e-6
    )
    with pytest.raises(ValueError, match="segment_size"):
        SegmentMeanPooling(segment_size=0)
