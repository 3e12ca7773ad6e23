"""The heads against NumPy references; composite layers keep their dtype."""

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa.layers import ContextGating
from keras_gmsa.layers import MixtureOfExperts
from tests.helpers import to_numpy


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _moe_reference(x, gate_kernel, expert_kernel, expert_bias, classes, m):
    gates = (x @ gate_kernel).reshape(len(x), classes, m + 1)
    gates = np.exp(gates - gates.max(-1, keepdims=True))
    gates /= gates.sum(-1, keepdims=True)
    experts = _sigmoid(x @ expert_kernel + expert_bias)
    experts = experts.reshape(len(x), classes, m)
    # The (m + 1)-th option is the dummy expert, fixed at 0.
    return (gates[:, :, :m] * experts).sum(-1)


def test_mixture_of_experts_matches_the_starter_formula(rng):
    layer = MixtureOfExperts(7, num_mixtures=3)
    x = rng.normal(size=(5, 12)).astype("float32")
    out = to_numpy(layer(x))
    assert out.shape == (5, 7) and out.dtype == np.float32
    assert not layer.gate.use_bias and layer.experts.use_bias
    expert_bias = rng.normal(size=(21,)).astype("float32")
    layer.experts.bias.assign(expert_bias)
    expected = _moe_reference(
        x.astype("float64"),
        to_numpy(layer.gate.kernel).astype("float64"),
        to_numpy(layer.experts.kernel).astype("float64"),
        expert_bias,
        7,
        3,
    )
    np.testing.assert_allclose(to_numpy(layer(x)), expected, atol=1e-6)
    # The dummy expert keeps every probability strictly below 1.
    assert np.all(to_numpy(layer(x)) < 1)
    # L2 on both kernels, as in the starter code.
    assert len(layer.losses) == 2


def test_mixture_of_experts_config_round_trip_and_errors(rng):
    layer = MixtureOfExperts(4, num_mixtures=2, l2=1e-6, name="moe")
    x = rng.normal(size=(3, 6)).astype("float32")
    out = to_numpy(layer(x))
    clone = MixtureOfExperts.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x)), out, atol=1e-7)
    with pytest.raises(ValueError, match="num_mixtures"):
        MixtureOfExperts(4, num_mixtures=0)
    with pytest.raises(ValueError, match="num_classes"):
        MixtureOfExperts(0)


@pytest.mark.parametrize("batch_normalization", [False, True])
def test_context_gating_matches_its_equation(rng, batch_normalization):
    layer = ContextGating(batch_normalization=batch_normalization)
    x = rng.normal(size=(6, 10)).astype("float32")
    out = to_numpy(layer(x, training=False))
    pre = x @ to_numpy(layer.dense.kernel)
    if batch_normalization:
        norm = layer.norm
        mean, var = to_numpy(norm.moving_mean), to_numpy(norm.moving_variance)
        pre = (pre - mean) / np.sqrt(var + norm.epsilon)
        pre = pre * to_numpy(norm.gamma) + to_numpy(norm.beta)
    else:
        pre = pre + to_numpy(layer.dense.bias)
    np.testing.assert_allclose(out, x * _sigmoid(pre), atol=1e-5)
    clone = ContextGating.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(clone(x, training=False)), out, atol=1e-6
    )


def test_heads_train_in_a_model(rng):
    inputs = keras.Input((8,))
    x = ContextGating()(inputs)
    outputs = MixtureOfExperts(3)(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :3] > 0).astype("float32")
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def _sub_layers(layer):
    return [s for s in layer._flatten_layers(include_self=False)]


COMPOSITES = {
    "MixtureOfExperts": (
        lambda **kw: MixtureOfExperts(5, **kw),
        lambda rng: (rng.normal(size=(4, 8)).astype("float32"),),
    ),
    "ContextGating": (
        lambda **kw: ContextGating(batch_normalization=True, **kw),
        lambda rng: (rng.normal(size=(4, 8)).astype("float32"),),
    ),
    "ConditionalInference": (
        lambda **kw: keras_gmsa.layers.ConditionalInference(
            5, steps=2, rank=6, **kw
        ),
        lambda rng: (
            rng.normal(size=(4, 8)).astype("float32"),
            np.zeros((4, 5), "float32"),
        ),
    ),
    "NetVLAD": (
        lambda **kw: keras_gmsa.layers.NetVLAD(3, **kw),
        lambda rng: (rng.normal(size=(4, 6, 8)).astype("float32"),),
    ),
    "MultimodalFusion": (
        lambda **kw: keras_gmsa.layers.MultimodalFusion(
            "audio_guided", window=3, **kw
        ),
        lambda rng: (
            rng.normal(size=(4, 6, 8)).astype("float32"),
            rng.normal(size=(4, 6, 3)).astype("float32"),
        ),
    ),
}


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_a_float32_composite_layer_computes_in_float32_all_the_way(
    name, policy, rng
):
    # A head declared float32 inside a mixed-precision model (as the
    # models' output heads are) keeps every sub-layer in float32, so it
    # gives the float32 result of the same weights.
    factory, make_inputs = COMPOSITES[name]
    inputs = make_inputs(rng)
    reference = factory()
    expected = to_numpy(reference(*inputs))
    keras.config.set_dtype_policy(policy)
    layer = factory(dtype="float32")
    layer(*inputs)
    subs = _sub_layers(layer)
    assert subs, name
    assert {s.name: s.dtype_policy.name for s in subs} == {
        s.name: "float32" for s in subs
    }
    layer.set_weights(reference.get_weights())
    out = layer(*inputs)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5, atol=1e-6)
