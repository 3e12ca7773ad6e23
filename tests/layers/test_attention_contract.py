"""The GMSA layers keep MultiHeadAttention's call contract (beyond Keras'
own tests in test_keras_mha_contract.py): causal masks composed with local
ones, sliding windows as Toeplitz masks, MHA's gate, any length."""

import keras
import numpy as np
import pytest

from keras_gmsa import masks
from keras_gmsa.layers import GatedAttentionMaps
from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers

T = 12

LAYERS = {
    "local": lambda **kw: LocalMaskedMHA(2, 4, head_masks="tp2", **kw),
    "gateatt": lambda **kw: GatedAttentionMaps(
        2, 4, local_mask="tp2", sequence_length=T, **kw
    ),
    "gateop": lambda **kw: GatedContextMHA(2, 4, local_mask="tp2", **kw),
}


def _sees(layer, x, i, **call):
    """The frames j whose change moves output frame i."""
    base = helpers.to_numpy(layer(x, **call))[0, i]
    seen = []
    for j in range(x.shape[1]):
        changed = x.copy()
        changed[0, j] += 3.0
        if not np.allclose(
            helpers.to_numpy(layer(changed, **call))[0, i], base
        ):
            seen.append(j)
    return seen


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_causal_toeplitz_head_is_a_streaming_local_head(rng, name):
    x = rng.normal(size=(1, T, 8)).astype("float32")
    layer = LAYERS[name]()
    layer(x)
    if name == "local":
        # TP2 and causal: frame i sees frames i - 2 .. i (not i + 1, i + 2).
        assert _sees(layer, x, 7, use_causal_mask=True) == [5, 6, 7]
        assert _sees(layer, x, 7) == [5, 6, 7, 8, 9]
    else:
        # Global and local maps both causal: frame i sees 0 .. i.
        assert _sees(layer, x, 7, use_causal_mask=True) == list(range(8))
        assert _sees(layer, x, 7) == list(range(T))


def test_sliding_window_is_the_toeplitz_mask_keras_means(rng):
    x = rng.normal(size=(2, T, 8)).astype("float32")
    windowed = LocalMaskedMHA(2, 4, sliding_window=3)
    toeplitz = LocalMaskedMHA(2, 4, head_masks="tp2")
    windowed(x)
    toeplitz(x)
    toeplitz.set_weights(windowed.get_weights())
    np.testing.assert_allclose(
        helpers.to_numpy(windowed(x)), helpers.to_numpy(toeplitz(x)), atol=1e-6
    )
    # On a local head the window is ANDed: bd4 inside |i - j| < 2.
    both = LocalMaskedMHA(2, 4, head_masks="bd4", sliding_window=2)
    _, scores = both(x, return_attention_scores=True)
    allowed = masks.local_mask("bd4", T) & masks.local_mask("tp1", T)
    assert (helpers.to_numpy(scores)[:, :, ~allowed] == 0).all()
    assert (helpers.to_numpy(scores)[:, :, allowed] > 0).all()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_use_gate_is_mhas_gate_on_local_layers(rng, name):
    x, frame_mask = helpers.frames_and_mask(rng, 2, T, 8, [T, 7])
    plain = LAYERS[name]()
    gated = LAYERS[name](use_gate=True)
    plain(x)
    gated(x)
    assert len(gated.trainable_weights) == len(plain.trainable_weights) + 2
    by_path = {w.path.split("/", 1)[1]: w for w in gated.weights}
    for w in plain.weights:
        by_path[w.path.split("/", 1)[1]].assign(w)
    # A gate that is open everywhere changes nothing; a closed one leaves
    # the output bias (MHA's gate multiplies the heads' contexts).
    by_path["gate/kernel"].assign(np.zeros(by_path["gate/kernel"].shape))
    by_path["gate/bias"].assign(np.full(by_path["gate/bias"].shape, 30.0))
    expected = helpers.to_numpy(plain(x, query_mask=frame_mask))
    open_ = helpers.to_numpy(gated(x, query_mask=frame_mask))
    np.testing.assert_allclose(open_, expected, atol=1e-5)
    by_path["gate/bias"].assign(np.full(by_path["gate/bias"].shape, -30.0))
    closed = helpers.to_numpy(gated(x, query_mask=frame_mask))
    assert np.abs(closed - expected).max() > 1e-3
    assert (closed[1, 7:] == 0).all()


def test_frame_mask_is_an_alias_of_query_mask(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, T, 8, [T, 5])
    layer = LAYERS["gateop"]()
    np.testing.assert_array_equal(
        helpers.to_numpy(layer(x, frame_mask=frame_mask)),
        helpers.to_numpy(layer(x, query_mask=frame_mask)),
    )


@pytest.mark.parametrize("causal", [False, True])
def test_any_length_with_the_same_weights(rng, causal):
    # T = None: the structural masks are built at run time.
    frames = keras.Input((None, 8))
    valid = keras.Input((None,), dtype="bool")
    layer = LocalMaskedMHA(4, 2, head_masks=[None, "tp2", "bd3", "td4/2"])
    model = keras.Model(
        [frames, valid],
        layer(frames, query_mask=valid, use_causal_mask=causal),
    )
    for length in (9, 17):
        x, frame_mask = helpers.frames_and_mask(rng, 2, length, 8, [length, 5])
        fixed = LocalMaskedMHA(4, 2, head_masks=layer.head_masks)
        fixed(x)
        fixed.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            helpers.to_numpy(model.predict_on_batch([x, frame_mask])),
            helpers.to_numpy(
                fixed(x, query_mask=frame_mask, use_causal_mask=causal)
            ),
            atol=1e-5,
        )


def test_return_attention_scores_is_one_tensor_in_the_compute_dtype(rng):
    x = rng.normal(size=(2, T, 8)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    for name, factory in LAYERS.items():
        out, scores = factory()(x, return_attention_scores=True)
        assert tuple(scores.shape) == (2, 2, T, T), name
        assert keras.backend.standardize_dtype(scores.dtype) == "bfloat16"
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


def test_the_docs_encoder_block_with_local_masked_mha_runs():
    # docs/attention.md shows LocalMaskedMHA in place of MHA in a
    # keras-hub-style encoder block; its code runs as written.
    import os
    import re

    path = os.path.join(
        os.path.dirname(__file__), os.pardir, os.pardir, "docs", "attention.md"
    )
    with open(path) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], path, "exec"), namespace)
    block = namespace["block"]
    encoded = helpers.to_numpy(namespace["encoded"])
    assert isinstance(block.attention, LocalMaskedMHA)
    assert np.isfinite(encoded).all()
    # Padded frames are invisible to the real ones.
    frames = namespace["frames"].copy()
    frames[1, 25:] += 10.0
    moved = helpers.to_numpy(block(frames, padding_mask=namespace["valid"]))
    np.testing.assert_allclose(moved[1, :25], encoded[1, :25], atol=1e-4)


@pytest.mark.parametrize("name", ["gateatt", "gateop"])
def test_lora_on_the_gated_layers_trains_and_round_trips(rng, tmp_path, name):
    # Keras' LoRA of the projections is inherited: the base kernels freeze,
    # the low-rank factors train, and a .keras file keeps them.
    x = rng.normal(size=(4, T, 8)).astype("float32")
    y = rng.normal(size=(4, T, 8)).astype("float32")
    layer = LAYERS[name]()
    layer.build(x.shape, x.shape)
    before = len(layer.trainable_weights)
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        dense.enable_lora(2)
    # Each kernel freezes, two factors train.
    assert len(layer.trainable_weights) == before - 3 + 6
    frames = keras.Input((T, 8))
    model = keras.Model(frames, layer(frames))
    model.compile(optimizer="sgd", loss="mse")
    base = helpers.to_numpy(layer.query_dense._kernel).copy()
    model.fit(x, y, epochs=2, verbose=0)
    # The base kernel is frozen; the effective one moved through LoRA.
    np.testing.assert_array_equal(
        helpers.to_numpy(layer.query_dense._kernel), base
    )
    assert np.abs(helpers.to_numpy(layer.query_dense.kernel) - base).max() > 0
    path = tmp_path / "lora.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        helpers.to_numpy(loaded.predict_on_batch(x)),
        helpers.to_numpy(model.predict_on_batch(x)),
        atol=1e-5,
    )
