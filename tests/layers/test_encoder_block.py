import keras
import numpy as np
import pytest

from keras_gmsa.layers import EncoderBlock
from keras_gmsa.layers import GatedAttentionMaps
from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers

KINDS = [
    ("global", None, LocalMaskedMHA),
    ("shareatt", [None, None, "tp1", "bd3"], LocalMaskedMHA),
    ("gateatt", "td4/2", GatedAttentionMaps),
    ("gateop", "bd3", GatedContextMHA),
]


@pytest.mark.parametrize("attention, masks, layer_class", KINDS)
def test_block_is_post_norm_transformer_with_padding(
    rng, attention, masks, layer_class
):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 16, [12, 5])

    def factory():
        return EncoderBlock(
            num_heads=4,
            ff_dim=24,
            attention=attention,
            masks=masks,
            dropout=0.0,
        )

    block = factory()
    out = helpers.to_numpy(block(x, frame_mask=frame_mask))
    assert isinstance(block._attention_layer, layer_class)
    assert (out[~frame_mask] == 0).all()
    # Post-norm: every valid row is layer-normalised (gamma=1, beta=0).
    np.testing.assert_allclose(out[frame_mask].mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[frame_mask].std(-1), 1.0, atol=1e-3)
    # Hand-computed block from its own sublayers.
    attn = block._attention_layer(x, frame_mask=frame_mask)
    h = block._attention_norm(keras.ops.add(x, attn))
    ff = block._ff_outer(keras.ops.relu(block._ff_inner(h)))
    expected = helpers.to_numpy(block._ff_norm(keras.ops.add(h, ff)))
    np.testing.assert_allclose(out[frame_mask], expected[frame_mask], atol=1e-5)
    noisy = x.copy()
    noisy[~frame_mask] = 33.0
    np.testing.assert_allclose(
        helpers.to_numpy(block(noisy, frame_mask=frame_mask))[frame_mask],
        out[frame_mask],
        atol=1e-5,
    )
    helpers.check_config_round_trip(block, x, frame_mask)
    helpers.check_symbolic_and_eager(factory, x, frame_mask)


def test_block_returns_the_attention_maps(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 16, [12, 5])
    block = EncoderBlock(
        num_heads=4, ff_dim=24, attention="gateop", masks="tp2"
    )
    out, maps = block(x, frame_mask=frame_mask, return_attention_scores=True)
    assert tuple(maps.shape) == (2, 4, 12, 12)
    every = block.attention_layer.attention_maps(x, frame_mask=frame_mask)
    assert set(every) == {"global", "local"}
    np.testing.assert_allclose(
        helpers.to_numpy(maps), helpers.to_numpy(every["global"]), atol=1e-6
    )
    inputs = keras.Input((12, 16))
    sym_out, sym_maps = EncoderBlock(
        num_heads=4, ff_dim=24, attention="gateatt", masks="tp2"
    )(inputs, return_attention_scores=True)
    assert tuple(sym_maps.shape) == (None, 4, 12, 12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention="nope"), "Unknown attention"),
        (dict(attention="global", masks="tp3"), "takes no masks"),
        (dict(num_heads=0), "positive integer"),
        (dict(dropout=1.5), r"\[0, 1\)"),
        (dict(renormalize=True), "renormalize"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(num_heads=2, ff_dim=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        EncoderBlock(**args)


def test_feature_size_must_divide_by_heads():
    with pytest.raises(ValueError, match="divide by num_heads"):
        EncoderBlock(num_heads=3, ff_dim=8)(np.zeros((1, 4, 8), "float32"))
