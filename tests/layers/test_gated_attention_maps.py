import keras
import numpy as np
import pytest

from keras_gmsa import masks
from keras_gmsa.layers import GatedAttentionMaps
from tests import helpers
from tests import reference


def _weights(layer):
    w = helpers.mha_weights(layer)
    w["gate_g"] = _find(helpers.named_weights(layer), "global_gate_kernel")
    w["gate_l"] = _find(helpers.named_weights(layer), "local_gate_kernel")
    return w


def _find(w, suffix):
    (key,) = [k for k in w if k.endswith(suffix)]
    return w[key]


def _randomise_gates(layer, rng):
    # Glorot gates start near 0.5; make them decisive so the test can fail.
    for v in layer.weights:
        if v.path.endswith("gate_kernel"):
            v.assign(rng.normal(size=v.shape).astype("float32") * 3)


@pytest.mark.parametrize("renormalize", [False, True])
@pytest.mark.parametrize("spec", ["bd4", "tp2", "td4/2"])
def test_matches_numpy_reference_of_equation_7(rng, spec, renormalize):
    T = 12
    x, frame_mask = helpers.frames_and_mask(rng, 3, T, 16, [12, 7, 0])
    layer = GatedAttentionMaps(
        num_heads=4, key_dim=4, local_mask=spec, renormalize=renormalize
    )
    layer(x, frame_mask=frame_mask)
    _randomise_gates(layer, rng)
    out, scores = layer(x, frame_mask=frame_mask, return_attention_scores=True)
    # MHA's contract: one (B, M, T, S) tensor, the maps the output uses,
    # in the compute dtype; every map through `attention_maps`.
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    maps = helpers.to_numpy(layer.attention_maps(x, frame_mask=frame_mask))
    out, scores = helpers.to_numpy(out), helpers.to_numpy(scores)
    np.testing.assert_allclose(scores, maps["combined"], atol=1e-6)
    w = _weights(layer)
    structural = masks.head_masks(masks.parse_head_masks(spec, 4), T)
    for b in range(3):
        ref_out, ref_a = reference.gated_attention_maps(
            x[b], w, structural, frame_mask[b], renormalize
        )
        np.testing.assert_allclose(out[b], ref_out, atol=1e-5)
        np.testing.assert_allclose(maps["combined"][b], ref_a, atol=1e-5)
    # Local maps are zero outside the window; padded rows/columns are zero.
    assert (maps["local"][:, :, ~structural[0]] == 0).all()
    assert (maps["combined"][1][:, 7:] == 0).all()
    assert (maps["combined"][1][:, :, 7:] == 0).all()
    assert (maps["combined"][2] == 0).all() and (out[2] == 0).all()
    row_sums = maps["combined"][0].sum(-1)
    if renormalize:
        np.testing.assert_allclose(row_sums, 1.0, atol=1e-5)
    else:
        # The paper's claim that rows sum to one does not hold.
        assert np.abs(row_sums - 1.0).max() > 1e-3


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_written_out_gradient_equals_automatic_gradient(rng, policy):
    # Training without maps takes the lean path (a hand-written gradient
    # that keeps fewer tensors); asking for the maps takes the automatic
    # one. One SGD step of each, from the same weights, must agree.
    T = 10
    x, frame_mask = helpers.frames_and_mask(rng, 3, T, 16, [10, 6, 0])
    target = rng.normal(size=x.shape).astype("float32")
    layer = GatedAttentionMaps(
        num_heads=4, key_dim=4, local_mask="tp2", dtype=policy
    )
    layer(x, frame_mask=frame_mask)
    _randomise_gates(layer, rng)
    steps = helpers.lean_and_automatic_steps(layer, x, frame_mask, target)
    tol = 1e-5 if policy == "float32" else 2e-2
    helpers.assert_same_steps(layer, *steps, tol)
    moved = [
        w.path for w, d in zip(layer.weights, steps[0], strict=True) if d.any()
    ]
    assert any(p.endswith("global_gate_kernel") for p in moved)
    assert any(p.endswith("local_gate_kernel") for p in moved)


def test_padding_is_invisible(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 10, 8, [10, 6])
    layer = GatedAttentionMaps(num_heads=2, key_dim=4, local_mask="tp1")
    out = helpers.to_numpy(layer(x, frame_mask=frame_mask))
    noisy = x.copy()
    noisy[~frame_mask] = 100.0
    out2 = helpers.to_numpy(layer(noisy, frame_mask=frame_mask))
    np.testing.assert_allclose(out2[frame_mask], out[frame_mask], atol=1e-6)
    assert (out[~frame_mask] == 0).all()


def test_config_weights_calls_training_and_mixed_precision(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 16, [12, 5])

    def factory():
        return GatedAttentionMaps(
            num_heads=4,
            key_dim=4,
            local_mask="td4/2",
            gate_use_bias=True,
            renormalize=True,
        )

    layer = factory()
    layer(x, frame_mask=frame_mask)
    assert len(layer.trainable_weights) == 12
    assert layer.count_params() == 4 * (16 * 16 + 16) + 2 * (12 * 12 + 12)
    config = layer.get_config()
    assert config["local_mask"] == "td4/2" and config["renormalize"]
    helpers.check_config_round_trip(layer, x, frame_mask)
    helpers.check_symbolic_and_eager(factory, x, frame_mask)
    helpers.check_training_step(factory, x)
    helpers.check_mixed_precision(factory, x, frame_mask)


def test_paper_sizes_of_the_gates():
    layer = GatedAttentionMaps(num_heads=8, key_dim=128, local_mask="tp10")
    layer.build((None, 300, 1024))
    gates = [w for w in layer.weights if w.path.endswith("gate_kernel")]
    assert [tuple(w.shape) for w in gates] == [(300, 300), (300, 300)]


def test_needs_static_length_and_a_local_mask():
    layer = GatedAttentionMaps(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match="needs its number of frames"):
        layer.build((None, None, 8))
    fixed = GatedAttentionMaps(num_heads=2, key_dim=4, sequence_length=10)
    with pytest.raises(ValueError, match="sequence_length=10"):
        fixed.build((None, 12, 8))
    with pytest.raises(ValueError, match="needs a local mask"):
        GatedAttentionMaps(num_heads=2, key_dim=4, local_mask=None)
