"""The fused path (Keras' `ops.dot_product_attention` with the additive
per-head mask) computes what the package's own maps compute.

PyTorch takes the fused path by default (``implementation="auto"``);
``implementation="fused"`` forces it on every backend and ``"maps"``
forbids it, so both are checked on every backend: outputs, padded rows,
one training step, and the dtype policies.
"""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers

LAYERS = {
    "shareatt": lambda **kw: LocalMaskedMHA(
        num_heads=4,
        key_dim=4,
        head_masks=[None, "tp2", "bd4", "td4/2"],
        **kw,
    ),
    "gateop": lambda **kw: GatedContextMHA(
        num_heads=4, key_dim=4, local_mask="tp2", **kw
    ),
}


def _decisive(layer, rng):
    # Larger weights: peaked maps and decisive gates, so that a wrong mask
    # or a wrong context changes the output well above rounding.
    for v in layer.weights:
        if v.path.endswith("kernel"):
            v.assign(2.0 * rng.normal(size=v.shape).astype("float32"))


def _steps(layers, x, frame_mask, target):
    """One SGD step through the fused path forced, then one through the
    package's maps, from the same weights: the two outputs and weight
    changes."""
    start = [helpers.to_numpy(w).copy() for w in layers[0].weights]
    outputs, changes = [], []
    for layer in layers:
        for w, value in zip(layer.weights, start, strict=True):
            w.assign(value)
        outputs.append(helpers.to_numpy(layer(x, frame_mask=frame_mask)))
        frames = keras.Input(x.shape[1:])
        valid = keras.Input(frame_mask.shape[1:], dtype="bool")
        model = keras.Model([frames, valid], layer(frames, frame_mask=valid))
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        model.train_on_batch([x, frame_mask], target)
        changes.append(
            [
                s - helpers.to_numpy(w)
                for w, s in zip(layer.weights, start, strict=True)
            ]
        )
    return outputs, changes


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_fused_path_equals_the_explicit_maps(rng, kind):
    x, frame_mask = helpers.frames_and_mask(rng, 3, 12, 16, [12, 5, 0])
    target = rng.normal(size=x.shape).astype("float32")
    layers = [LAYERS[kind](implementation=i) for i in ("fused", "maps")]
    for layer in layers:
        layer(x, frame_mask=frame_mask)
    layer = layers[0]
    _decisive(layer, rng)
    (fused, explicit), (d_fused, d_explicit) = _steps(
        layers, x, frame_mask, target
    )
    np.testing.assert_allclose(fused, explicit, atol=2e-5 * abs(explicit).max())
    assert (fused[~frame_mask] == 0).all()
    largest = max(np.abs(d).max() for d in d_explicit)
    for w, a, b in zip(layer.weights, d_fused, d_explicit, strict=True):
        if w.path.endswith("key/bias"):
            continue  # zero gradient (the softmax cancels it): rounding
        assert np.abs(a - b).max() <= 1e-4 * largest, w.path
        assert np.abs(b).max() > 0, w.path


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fused_path_under_mixed_precision(rng, kind, policy):
    # Rows of padded frames whose every key is masked: with the -1e9 of the
    # additive mask in float16 (-inf) they would be NaN before zeroing.
    x, frame_mask = helpers.frames_and_mask(rng, 3, 12, 16, [12, 3, 0])
    reference = LAYERS[kind]()
    reference(x, frame_mask=frame_mask)
    layer = LAYERS[kind](dtype=policy, implementation="fused")
    layer(x, frame_mask=frame_mask)
    layer.set_weights(reference.get_weights())
    out = helpers.to_numpy(
        keras.ops.cast(layer(x, frame_mask=frame_mask), "float32")
    )
    expected = helpers.to_numpy(reference(x, frame_mask=frame_mask))
    assert np.isfinite(out).all()
    assert (out[~frame_mask] == 0).all()
    tol = 3e-3 if policy == "mixed_float16" else 2.5e-2
    np.testing.assert_allclose(out, expected, atol=tol * abs(expected).max())
