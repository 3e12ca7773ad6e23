import numpy as np
import pytest

from keras_gmsa import masks
from keras_gmsa.layers import GatedContextMHA
from tests import helpers
from tests import reference


def _weights(layer):
    w = helpers.mha_weights(layer)
    named = helpers.named_weights(layer)
    w.update(
        wol=named["local_attention_output/kernel"],
        bol=named["local_attention_output/bias"],
        gate_g=named["global_gate/kernel"],
        gate_l=named["local_gate/kernel"],
    )
    return w


@pytest.mark.parametrize("spec", ["bd4", "tp2", "td4/2"])
def test_matches_numpy_reference_of_equations_9_to_13(rng, spec):
    T = 12
    x, frame_mask = helpers.frames_and_mask(rng, 3, T, 16, [12, 5, 0])
    layer = GatedContextMHA(num_heads=4, key_dim=4, local_mask=spec)
    layer(x, frame_mask=frame_mask)
    for v in layer.weights:  # decisive gates, so the test can fail
        if v.path.endswith("gate/kernel"):
            v.assign(rng.normal(size=v.shape).astype("float32"))
    out, scores = layer(x, frame_mask=frame_mask, return_attention_scores=True)
    maps = helpers.to_numpy(layer.attention_maps(x, frame_mask=frame_mask))
    out, scores = helpers.to_numpy(out), helpers.to_numpy(scores)
    # MHA's contract returns the maps of the Y^g term: A^g.
    np.testing.assert_allclose(scores, maps["global"], atol=1e-6)
    structural = masks.head_masks(masks.parse_head_masks(spec, 4), T)
    w = _weights(layer)
    for b in range(3):
        ref, (ag, al) = reference.gated_context_mha(
            x[b], w, structural, frame_mask[b]
        )
        np.testing.assert_allclose(out[b], ref, atol=1e-5)
        np.testing.assert_allclose(maps["global"][b], ag, atol=1e-6)
        np.testing.assert_allclose(maps["local"][b], al, atol=1e-6)
    assert (maps["local"][:, :, ~structural[0]] == 0).all()
    assert (out[1, 5:] == 0).all() and (out[2] == 0).all()


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_written_out_gradient_equals_automatic_gradient(rng, policy):
    x, frame_mask = helpers.frames_and_mask(rng, 3, 10, 16, [10, 6, 0])
    target = rng.normal(size=x.shape).astype("float32")
    # The written-out gradient on every backend (PyTorch would otherwise
    # train through its fused kernels: tests/layers/test_fused_attention.py).
    layer = GatedContextMHA(
        num_heads=4,
        key_dim=4,
        local_mask="td4/2",
        dtype=policy,
        flash_attention=False,
    )
    lean, automatic = helpers.lean_and_automatic_steps(
        layer, x, frame_mask, target
    )
    tol = 1e-5 if policy == "float32" else 2e-2
    helpers.assert_same_steps(layer, lean, automatic, tol)
    assert all(
        d.any()
        for w, d in zip(layer.weights, lean, strict=True)
        if "key" not in w.path
    )


def test_padding_is_invisible(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 10, 8, [10, 3])
    layer = GatedContextMHA(num_heads=2, key_dim=4, local_mask="bd2")
    out = helpers.to_numpy(layer(x, frame_mask=frame_mask))
    noisy = x.copy()
    noisy[~frame_mask] = -70.0
    out2 = helpers.to_numpy(layer(noisy, frame_mask=frame_mask))
    np.testing.assert_allclose(out2[frame_mask], out[frame_mask], atol=1e-6)
    assert (out[~frame_mask] == 0).all()


def test_config_weights_calls_training_and_mixed_precision(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 16, [12, 5])

    def factory():
        return GatedContextMHA(num_heads=4, key_dim=4, local_mask="tp2")

    layer = factory()
    layer(x, frame_mask=frame_mask)
    # q, k, v, o (kernel + bias), W^ol (kernel + bias), two gate kernels.
    assert len(layer.trainable_weights) == 12
    assert (
        layer.count_params()
        == 4 * (16 * 16 + 16) + (16 * 16 + 16) + 2 * 16 * 16
    )
    helpers.check_config_round_trip(layer, x, frame_mask)
    helpers.check_symbolic_and_eager(factory, x, frame_mask)
    helpers.check_training_step(factory, x)
    helpers.check_mixed_precision(factory, x, frame_mask)


def test_paper_delta_three_d_by_d_matrices():
    base = GatedContextMHA(num_heads=8, key_dim=128, local_mask="tp30")
    base.build((None, 300, 1024))
    extra = base.count_params() - 4 * (1024 * 1024 + 1024)
    assert extra == 3 * 1024 * 1024 + 1024  # W^ol (+ bias), W^g_g, W^l_g
    with_bias = GatedContextMHA(
        num_heads=8, key_dim=128, local_mask="tp30", gate_use_bias=True
    )
    with_bias.build((None, 300, 1024))
    assert with_bias.count_params() == base.count_params() + 2 * 1024


def test_needs_a_local_mask():
    with pytest.raises(ValueError, match="needs a local mask"):
        GatedContextMHA(num_heads=2, key_dim=4, local_mask="global")
