"""Mixed precision computes the same function as float32, to rounding.

Each case builds a float32 layer or model and a mixed one of the same
config, gives both the same weights and compares their outputs on the
same inputs. The tolerances are stated relative to the float32 output's
largest magnitude (layers) or absolute on probabilities (models); the
measured worst cases on the three backends are in the comments, a few
times below the bars.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_gmsa.layers import GatedAttentionMaps
from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers

POLICIES = ("mixed_float16", "mixed_bfloat16")
# float16 keeps 11 significant bits, bfloat16 8: a relative rounding of
# 2^-11 and 2^-8 per operation, a few operations deep. Outputs, relative
# to their largest magnitude: worst measured 1.0e-3 (float16) and 9.3e-3
# (bfloat16), GatedContextMHA. Attention maps, absolute: 5.4e-4 and
# 4.5e-3.
LAYER_TOLERANCE = {"mixed_float16": 3e-3, "mixed_bfloat16": 2.5e-2}
MAPS_TOLERANCE = {"mixed_float16": 2e-3, "mixed_bfloat16": 1.5e-2}
# Probabilities: worst measured 4.3e-4 (float16) and 4.5e-3 (bfloat16),
# the baseline on TensorFlow.
MODEL_TOLERANCE = {"mixed_float16": 2e-3, "mixed_bfloat16": 1.5e-2}

T = 12
LAYERS = {
    "local_masked_mha": lambda **kw: LocalMaskedMHA(
        4, 8, head_masks="tp2", **kw
    ),
    "gated_attention_maps": lambda **kw: GatedAttentionMaps(
        4, 8, local_mask="bd4", sequence_length=T, **kw
    ),
    "gated_context_mha": lambda **kw: GatedContextMHA(
        4, 8, local_mask="tp2", **kw
    ),
}


def _float32(x):
    return helpers.to_numpy(ops.cast(x, "float32"))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_gmsa_layer_under_mixed_precision_matches_float32(rng, name, policy):
    x, frame_mask = helpers.frames_and_mask(rng, 3, T, 16, [T, 7, 1])
    reference = LAYERS[name]()
    out32, maps32 = reference(
        x, frame_mask=frame_mask, return_attention_scores=True
    )
    mixed = LAYERS[name](dtype=policy)
    mixed(x, frame_mask=frame_mask)
    mixed.set_weights(reference.get_weights())
    out, maps = mixed(x, frame_mask=frame_mask, return_attention_scores=True)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    out32 = _float32(out32)
    tolerance = LAYER_TOLERANCE[policy] * np.abs(out32).max()
    # With maps (the dense path) and without (the path training and
    # inference take: banded, lean or fast).
    for result in (out, mixed(x, frame_mask=frame_mask)):
        result = _float32(result)
        assert np.abs(result - out32).max() <= tolerance
        assert (result[~frame_mask] == 0).all()
    maps_error = np.abs(_float32(maps) - _float32(maps32)).max()
    assert maps_error <= MAPS_TOLERANCE[policy]


def _inputs(model, rng, n=8):
    frames = helpers.SMALL_FRAMES
    inputs = {}
    for key, tensor in model.input.items():
        shape = (n,) + tuple(tensor.shape[1:])
        if key == "num_frames":
            counts = rng.integers(1, frames + 1, size=n).astype("int32")
            counts[0] = frames
            inputs[key] = counts
        elif key == "given_labels":
            inputs[key] = np.zeros(shape, "float32")
        elif tensor.dtype == "uint8":
            inputs[key] = rng.integers(0, 256, size=shape).astype("uint8")
        else:
            inputs[key] = rng.normal(size=shape).astype("float32")
    return inputs


# The GMSA layers under mixed precision on every backend:
# test_a_gmsa_layer_under_mixed_precision_matches_float32.
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", helpers.models_in_turn())
def test_every_model_under_mixed_precision_matches_float32(rng, name, policy):
    reference = helpers.build_small(name, compile=False)
    mixed = helpers.build_small(name, compile=False, dtype_policy=policy)
    mixed.set_weights(reference.get_weights())
    inputs = _inputs(reference, rng)
    want = _float32(reference(inputs))
    got = _float32(mixed(inputs))
    assert np.abs(got - want).max() <= MODEL_TOLERANCE[policy], name


# torch.compile takes over a minute for this small model on 2 CPU cores:
# on PyTorch the case runs in the slow job (`make test-slow`). Dynamo warns
# about what it traces inside Keras (its dtype caches, its custom_gradient
# Function, torch's own deprecated jit helpers): those warnings are torch's
# about Keras, not this package's, and stay warnings.
_TORCH_COMPILE = (
    [
        pytest.mark.slow,
        pytest.mark.filterwarnings("default::UserWarning"),
        pytest.mark.filterwarnings("default::DeprecationWarning"),
    ]
    if keras.backend.backend() == "torch"
    else []
)


# mixed_float16: the policy with loss scaling, the one XLA could get wrong
# (mixed_bfloat16 under jit is the demo's GPU setting, timed in
# benchmarks/).
@pytest.mark.parametrize(
    "policy", [pytest.param("mixed_float16", marks=_TORCH_COMPILE)]
)
def test_jit_compiled_mixed_precision_trains_and_predicts_like_eager(
    rng, policy, xla_optimized
):
    # build_model(dtype_policy=..., jit_compile=True): XLA on TensorFlow,
    # jax.jit on JAX, torch.compile on PyTorch; against the same model run
    # without compilation, from the same weights.
    # No dropout: the two models must see the same function.
    options = dict(learning_rate=1e-3, dropout=0.0, hidden_dropout=0.0)
    compiled = helpers.build_small(
        "gateop", dtype_policy=policy, jit_compile=True, **options
    )
    assert compiled.jit_compile is True
    assert (
        compiled.get_layer("rgb_encoder_0").compute_dtype
        == (policy.split("_")[1])
    )
    eager = helpers.build_small(
        "gateop", dtype_policy=policy, jit_compile=False, **options
    )
    eager.set_weights(compiled.get_weights())
    inputs = _inputs(compiled, rng)
    labels = (rng.random((8, helpers.SMALL_CLASSES)) < 0.3).astype("float32")
    tolerance = MODEL_TOLERANCE[policy]
    before = _float32(compiled.predict_on_batch(inputs))
    np.testing.assert_allclose(
        before, _float32(eager.predict_on_batch(inputs)), atol=tolerance
    )
    start = compiled.get_weights()
    losses = [m.train_on_batch(inputs, labels) for m in (compiled, eager)]
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses[0], losses[1], rtol=tolerance)
    # One Adam step moves each weight by about the learning rate, in the
    # direction of its gradient's sign; where a gradient is near zero the
    # rounding can flip it, so after the step the bar is looser.
    moved = [
        not np.allclose(a, b)
        for a, b in zip(compiled.get_weights(), start, strict=True)
    ]
    assert sum(moved) > len(moved) // 2
    after = [_float32(m.predict_on_batch(inputs)) for m in (compiled, eager)]
    np.testing.assert_allclose(after[0], after[1], atol=2e-2)
