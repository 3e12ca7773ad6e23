import keras
import numpy as np
import pytest

from keras_gmsa import masks
from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers
from tests import reference

HEADS = [None, "tp2", "bd3", "td4/2"]


def _weights(layer):
    return helpers.mha_weights(layer)


def test_all_global_heads_equal_keras_multi_head_attention(rng):
    x = rng.normal(size=(3, 11, 16)).astype("float32")
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    expected = helpers.to_numpy(mha(x, x))
    layer = LocalMaskedMHA(num_heads=4, key_dim=4)
    layer(x)
    layer.set_weights(mha.get_weights())
    np.testing.assert_allclose(helpers.to_numpy(layer(x)), expected, atol=1e-5)
    # With padding, valid rows still agree with Keras' own masking.
    mask = np.arange(11)[None] < np.array([[11], [6], [1]])
    expected = helpers.to_numpy(mha(x, x, query_mask=mask, value_mask=mask))
    got = helpers.to_numpy(layer(x, frame_mask=mask))
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-5)
    assert (got[~mask] == 0).all()


def test_matches_numpy_reference_of_the_paper(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 3, 12, 16, [12, 7, 1])
    layer = LocalMaskedMHA(num_heads=4, key_dim=4, head_masks=HEADS)
    out, maps = layer(x, frame_mask=frame_mask, return_attention_scores=True)
    out, maps = helpers.to_numpy(out), helpers.to_numpy(maps)
    w = _weights(layer)
    structural = masks.head_masks(masks.parse_head_masks(HEADS, 4), 12)
    for b in range(3):
        ref_out, ref_maps = reference.local_masked_mha(
            x[b], w, structural, frame_mask[b]
        )
        np.testing.assert_allclose(out[b], ref_out, atol=1e-5)
        np.testing.assert_allclose(maps[b], ref_maps, atol=1e-5)


@pytest.mark.parametrize("spec", ["bd4", "tp2", "td4/2"])
def test_output_frame_ignores_frames_outside_its_neighbourhood(rng, spec):
    T = 16
    layer = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks=spec)
    x = rng.normal(size=(1, T, 8)).astype("float32")
    base = helpers.to_numpy(layer(x))
    allowed = masks.local_mask(spec, T)
    for i in (0, 5, 10, 15):
        outside = ~allowed[i]
        changed = x.copy()
        changed[0, outside] = rng.normal(size=(outside.sum(), 8))
        np.testing.assert_allclose(
            helpers.to_numpy(layer(changed))[0, i], base[0, i], atol=1e-6
        )
        # ...and does depend on a frame inside it (the test can fail).
        inside = x.copy()
        j = np.flatnonzero(allowed[i] & (np.arange(T) != i))[0]
        inside[0, j] += 5.0
        assert not np.allclose(
            helpers.to_numpy(layer(inside))[0, i], base[0, i], atol=1e-4
        )


def test_block_diagonal_boundaries_are_exact(rng):
    layer = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks="bd5")
    x = rng.normal(size=(1, 20, 8)).astype("float32")
    base = helpers.to_numpy(layer(x))
    changed = x.copy()
    changed[0, 5] += 3.0  # first frame of the second block
    out = helpers.to_numpy(layer(changed))
    np.testing.assert_allclose(out[0, :5], base[0, :5], atol=1e-6)
    np.testing.assert_allclose(out[0, 10:], base[0, 10:], atol=1e-6)
    # Every frame of the changed block, up to its last one, sees frame 5.
    assert (np.abs(out[0, 5:10] - base[0, 5:10]).max(-1) > 1e-4).all()


def test_padding_is_invisible_and_padded_rows_are_zero(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 3, 10, 8, [10, 4, 0])
    layer = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks=[None, "tp1"])
    out, maps = layer(x, frame_mask=frame_mask, return_attention_scores=True)
    out, maps = helpers.to_numpy(out), helpers.to_numpy(maps)
    noisy = x.copy()
    noisy[~frame_mask] = rng.normal(size=(int((~frame_mask).sum()), 8)) * 50
    out2 = helpers.to_numpy(layer(noisy, frame_mask=frame_mask))
    np.testing.assert_allclose(out2[frame_mask], out[frame_mask], atol=1e-6)
    assert (out[~frame_mask] == 0).all() and np.isfinite(out).all()
    assert (maps[1][:, 4:] == 0).all() and (maps[1][:, :, 4:] == 0).all()
    assert (maps[2] == 0).all()  # zero-frame video: no NaN, all zeros
    np.testing.assert_allclose(maps[1][:, :4].sum(-1), 1.0, atol=1e-6)


def test_config_weights_calls_training_and_mixed_precision(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 16, [12, 5])

    def factory():
        return LocalMaskedMHA(
            num_heads=4, key_dim=4, head_masks=HEADS, dropout=0.1
        )

    layer = factory()
    layer(x, frame_mask=frame_mask)
    assert len(layer.trainable_weights) == 8
    assert layer.count_params() == 4 * (16 * 16 + 16)
    assert layer.get_config()["head_masks"] == HEADS
    helpers.check_config_round_trip(layer, x, frame_mask)
    helpers.check_symbolic_and_eager(factory, x, frame_mask)
    helpers.check_training_step(factory, x)
    helpers.check_mixed_precision(factory, x, frame_mask)


def test_unknown_length_builds_masks_at_run_time(rng):
    inputs = keras.Input((None, 8))
    layer = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks="tp1")
    model = keras.Model(inputs, layer(inputs))
    for T in (5, 9):
        x = rng.normal(size=(1, T, 8)).astype("float32")
        fixed = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks="tp1")
        fixed(x)
        fixed.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            helpers.to_numpy(model(x)), helpers.to_numpy(fixed(x)), atol=1e-6
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(head_masks=["tp1"] * 3), "one mask spec per head"),
        (dict(head_masks="zz3"), "Unknown mask spec"),
        (dict(head_masks="tp2", flash_attention=True), "fused"),
        (dict(attention_axes=(2,)), "frame axis"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer = LocalMaskedMHA(num_heads=4, key_dim=4, **kwargs)
        layer(np.zeros((1, 6, 3, 8), "float32"))  # a second attention axis


def test_mask_longer_than_video_is_refused_at_build():
    layer = LocalMaskedMHA(num_heads=2, key_dim=4, head_masks="bd60")
    with pytest.raises(ValueError, match="global attention"):
        layer(np.zeros((1, 30, 8), "float32"))
