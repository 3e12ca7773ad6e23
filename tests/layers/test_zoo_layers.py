"""The zoo's layers against NumPy written from the papers' equations."""

import keras
import numpy as np
import pytest

from keras_gmsa import layers
from keras_gmsa.layers import guided_fusion
from tests.helpers import frames_and_mask
from tests.helpers import to_numpy


def _masked_softmax(scores, mask):
    """Softmax over allowed entries; rows with none allowed give zeros."""
    scores = np.where(mask, scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(scores - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)


# ---------------------------------------------------------------- clusters


@pytest.mark.parametrize("position_bias", [False, True])
@pytest.mark.parametrize("scoring", ["fc1", "fc2", "average"])
def test_attention_cluster_matches_equations_2_to_5(
    rng, scoring, position_bias
):
    x, mask = frames_and_mask(rng, 3, 7, 5, [7, 4, 1])
    layer = layers.AttentionCluster(
        4, scoring=scoring, shifting=False, position_bias=position_bias
    )
    layer(x, frame_mask=mask)
    # Random values everywhere (the position biases start at zero).
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
    )
    out, weights = layer(x, frame_mask=mask, return_attention=True)
    w = {v.path.split("/")[-1]: to_numpy(v) for v in layer.weights}
    # Eq. 4-5's L-dimensional b, only with position_bias (never for the
    # average, which has no scores).
    assert ("b" in w) == (position_bias and scoring != "average")
    bias = w.get("b", 0.0)
    if scoring == "fc1":
        scores = x @ w["w"] + bias
    elif scoring == "fc2":
        hidden = np.tanh(x @ w["w1"] + w["b1"]).reshape(3, 7, 4, 10)
        scores = (hidden * w["w2"]).sum(-1) + bias
    else:
        scores = np.zeros((3, 7, 4))
    expected_a = _masked_softmax(scores.transpose(0, 2, 1), mask[:, None, :])
    np.testing.assert_allclose(to_numpy(weights), expected_a, atol=1e-6)
    expected = np.einsum("bnt,btd->bnd", expected_a, x).reshape(3, 20)
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-5)
    if scoring == "average":
        # The paper's control: the masked mean, repeated N times.
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        np.testing.assert_allclose(
            to_numpy(out), np.tile(mean, (1, 4)), atol=1e-5
        )


@pytest.mark.parametrize("num_units", [1, 4, 9])
def test_shifting_gives_every_unit_norm_one_over_sqrt_n(rng, num_units):
    x, mask = frames_and_mask(rng, 4, 6, 8, [6, 3, 1, 2])
    layer = layers.AttentionCluster(num_units, scoring="fc2")
    layer(x, frame_mask=mask)
    layer.alpha.assign(rng.normal(size=num_units).astype("float32") * 3)
    layer.beta.assign(rng.normal(size=num_units).astype("float32"))
    out = to_numpy(layer(x, frame_mask=mask)).reshape(4, num_units, 8)
    norms = np.linalg.norm(out, axis=-1)
    np.testing.assert_allclose(norms, 1 / np.sqrt(num_units), rtol=1e-5)
    # ... and it is eq. 7 applied to the unshifted pooling.
    plain = layers.AttentionCluster(num_units, scoring="fc2", shifting=False)
    plain(x, frame_mask=mask)
    plain.set_weights(layer.get_weights()[:-2])
    v = to_numpy(plain(x, frame_mask=mask)).reshape(4, num_units, 8)
    alpha, beta = to_numpy(layer.alpha), to_numpy(layer.beta)
    u = alpha[:, None] * v + beta[:, None]
    expected = u / (np.sqrt(num_units) * np.linalg.norm(u, axis=-1))[..., None]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_attention_cluster_ignores_padding_and_round_trips(rng):
    x, mask = frames_and_mask(rng, 2, 6, 4, [6, 3])
    layer = layers.AttentionCluster(3)
    before = to_numpy(layer(x, frame_mask=mask))
    noisy = x.copy()
    noisy[1, 3:] = 100.0
    np.testing.assert_allclose(
        to_numpy(layer(noisy, frame_mask=mask)), before, atol=1e-6
    )
    clone = layers.AttentionCluster.from_config(layer.get_config())
    clone(x, frame_mask=mask)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(clone(x, frame_mask=mask)), before, atol=1e-6
    )
    with pytest.raises(ValueError, match="scoring"):
        layers.AttentionCluster(2, scoring="fc3")
    with pytest.raises(ValueError, match="known number of frames"):
        layers.AttentionCluster(2, position_bias=True)(keras.Input((None, 4)))
    # The order-free default takes any number of frames.
    assert layers.AttentionCluster(2)(keras.Input((None, 4))).shape == (
        None,
        8,
    )


@pytest.mark.parametrize("scoring", ["fc1", "fc2"])
def test_attention_cluster_is_order_free_by_default(rng, scoring):
    # The paper's local features are a set (sec. 3.1): permuting a video's
    # frames must not change its representation, whatever the weights.
    # With position_bias=True (eq. 4-5's per-position b) it does.
    x, mask = frames_and_mask(rng, 2, 6, 4, [6, 4])
    order = np.array([3, 0, 2, 1, 5, 4])  # real frames of both stay real
    order_2 = np.array([2, 0, 3, 1, 4, 5])
    shuffled = np.stack([x[0, order], x[1, order_2]])
    for position_bias, free in ((None, True), (True, False)):
        options = {} if position_bias is None else dict(position_bias=True)
        layer = layers.AttentionCluster(3, scoring=scoring, **options)
        layer(x, frame_mask=mask)
        layer.set_weights(
            [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
        )
        out = to_numpy(layer(x, frame_mask=mask))
        moved = to_numpy(layer(shuffled, frame_mask=mask))
        assert np.allclose(out, moved, atol=1e-5) == free, position_bias


def test_random_frame_subset_samples_real_frames_only_in_training():
    mask = np.arange(10)[None, :] < np.array([[10], [5], [1], [0]])
    layer = layers.RandomFrameSubset(0.8, seed=3)
    np.testing.assert_array_equal(to_numpy(layer(mask)), mask)
    draws = [to_numpy(layer(mask, training=True)) for _ in range(20)]
    for kept in draws:
        assert not (kept & ~mask).any()
        np.testing.assert_array_equal(kept.sum(1), [8, 4, 1, 0])
    # Different frames on different draws.
    assert len({d[0].tobytes() for d in draws}) > 1
    counted = layers.RandomFrameSubset(count=3)(mask, training=True)
    np.testing.assert_array_equal(to_numpy(counted).sum(1), [3, 3, 1, 0])


def test_sample_frames_evenly_at_inference_at_random_in_training(rng):
    x = np.arange(12, dtype="float32").reshape(1, 12, 1).repeat(3, 0)
    counts = np.array([12, 4, 0])
    layer = layers.SampleFrames(4, seed=1)
    out = to_numpy(layer(x, counts))[..., 0]
    np.testing.assert_array_equal(out[0], [1, 4, 7, 10])
    np.testing.assert_array_equal(out[1], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[2], 0)  # no real frame
    drawn = to_numpy(layer(x, counts, training=True))[..., 0]
    assert drawn.shape == (3, 4)
    assert (drawn[1] < 4).all() and (drawn[0] < 12).all()


# ------------------------------------------------------------------ fusion


@pytest.mark.parametrize("method", ["image_guided", "audio_guided"])
@pytest.mark.parametrize("window", [3, 5, None])
def test_guided_attention_matches_equations_3_and_4(rng, method, window):
    v, mask = frames_and_mask(rng, 2, 9, 6, [9, 5])
    a = rng.normal(size=(2, 9, 3)).astype("float32")
    layer = layers.MultimodalFusion(method, window=window)
    out, weights = layer(v, a, frame_mask=mask, return_attention=True)
    kernel = to_numpy(layer.attention_kernel)
    proj = layer.audio_projection
    a_exp = a @ to_numpy(proj.kernel) + to_numpy(proj.bias)
    if method == "image_guided":
        query, keys, values = v, a, a_exp
    else:
        query, keys, values = a_exp, v, v
    allowed = guided_fusion.window_mask(window, 9)[None] & mask[:, None, :]
    att = _masked_softmax(query @ kernel @ keys.transpose(0, 2, 1), allowed)
    att = att * mask[:, :, None]
    expected = (query + att @ values) * mask[..., None]
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-4)
    np.testing.assert_allclose(
        to_numpy(weights) * mask[:, :, None], att, atol=1e-6
    )


@pytest.mark.parametrize("length", [7, None])
def test_a_one_frame_window_attends_to_the_frame_itself(rng, length):
    # w = 1: softmax over one frame is 1, so eq. 3 is v(t) + a_exp(t) and
    # eq. 4 is a_exp(t) + v(t), with a fixed or a run-time length.
    v, mask = frames_and_mask(rng, 2, 7, 6, [7, 4])
    a = rng.normal(size=(2, 7, 3)).astype("float32")
    for method in ("image_guided", "audio_guided"):
        layer = layers.MultimodalFusion(method, window=1)
        visual = keras.Input((length, 6))
        audio = keras.Input((length, 3))
        valid = keras.Input((length,), dtype="bool")
        model = keras.Model(
            [visual, audio, valid], layer(visual, audio, frame_mask=valid)
        )
        out = to_numpy(model.predict_on_batch([v, a, mask]))
        proj = layer.audio_projection
        a_exp = a @ to_numpy(proj.kernel) + to_numpy(proj.bias)
        np.testing.assert_allclose(
            out, (v + a_exp) * mask[..., None], atol=1e-5
        )


@pytest.mark.parametrize("method", ["image_guided", "audio_guided"])
def test_guided_attention_never_looks_outside_its_window(rng, method):
    v = rng.normal(size=(1, 12, 6)).astype("float32")
    a = rng.normal(size=(1, 12, 3)).astype("float32")
    layer = layers.MultimodalFusion(method, window=5)  # t-2 .. t+2
    before = to_numpy(layer(v, a))
    t = 6
    for s in range(12):
        v2, a2 = v.copy(), a.copy()
        # Change the attended stream only (the guide at t stays the same).
        if method == "image_guided":
            a2[0, s] += 5.0
        else:
            v2[0, s] += 5.0
        if s == t:
            continue
        after = to_numpy(layer(v2, a2))
        changed = not np.allclose(after[0, t], before[0, t], atol=1e-6)
        assert changed == (abs(s - t) <= 2), s


def test_sum_and_concat_fusions(rng):
    v, mask = frames_and_mask(rng, 2, 4, 6, [4, 2])
    a = rng.normal(size=(2, 4, 3)).astype("float32")
    summed = layers.MultimodalFusion("sum")
    out = to_numpy(summed(v, a, frame_mask=mask))
    proj = summed.audio_projection
    expected = v + a @ to_numpy(proj.kernel) + to_numpy(proj.bias)
    np.testing.assert_allclose(out, expected * mask[..., None], atol=1e-5)
    cat = to_numpy(layers.MultimodalFusion("concat")(v, a, frame_mask=mask))
    np.testing.assert_allclose(
        cat, np.concatenate([v, a], -1) * mask[..., None], atol=1e-6
    )


# ----------------------------------------------------------------- NetVLAD


def test_netvlad_matches_its_definition_and_ignores_padding(rng):
    x, mask = frames_and_mask(rng, 2, 6, 4, [6, 3])
    layer = layers.NetVLAD(3)
    out = to_numpy(layer(x, frame_mask=mask))
    kernel = to_numpy(layer.assignment.kernel)
    bias = to_numpy(layer.assignment.bias)
    centers = to_numpy(layer.centers)
    logits = x @ kernel + bias
    assign = np.exp(logits - logits.max(-1, keepdims=True))
    assign = assign / assign.sum(-1, keepdims=True) * mask[..., None]
    vlad = (
        np.einsum("btk,btd->bkd", assign, x)
        - assign.sum(1)[..., None] * centers[None]
    )
    vlad /= np.linalg.norm(vlad, axis=-1, keepdims=True)
    vlad = vlad.reshape(2, -1)
    vlad /= np.linalg.norm(vlad, axis=-1, keepdims=True)
    np.testing.assert_allclose(out, vlad, atol=1e-5)
    noisy = x.copy()
    noisy[1, 3:] = 50.0
    np.testing.assert_allclose(
        to_numpy(layer(noisy, frame_mask=mask)), out, atol=1e-6
    )


def test_differential_features_follow_equation_9_within_real_frames(rng):
    x, mask = frames_and_mask(rng, 2, 5, 3, [5, 3])
    out = to_numpy(layers.DifferentialFeatures()(x, frame_mask=mask))
    for b, n in enumerate([5, 3]):
        real = x[b, :n]
        prev = np.concatenate([real[:1], real[:-1]])
        nxt = np.concatenate([real[1:], real[-1:]])
        np.testing.assert_allclose(out[b, :n, :3], real, atol=1e-6)
        np.testing.assert_allclose(
            out[b, :n, 3:], (2 * real - prev - nxt) / 2, atol=1e-5
        )
        np.testing.assert_array_equal(out[b, n:], 0)


# ----------------------------------------------------- conditional inference


def test_conditional_inference_picks_k_distinct_labels_deterministically(rng):
    x = rng.normal(size=(5, 7)).astype("float32")
    zeros = np.zeros((5, 9), "float32")
    head = layers.ConditionalInference(9, steps=4, rank=6)
    scores, picks = head(x, zeros, return_chosen=True)
    scores, picks = to_numpy(scores), to_numpy(picks)
    again = to_numpy(head(x, zeros))
    np.testing.assert_array_equal(scores, again)
    assert picks.shape == (5, 4)
    for row in picks:
        assert len(set(row.tolist())) == 4
    # Replay the chain with f(x, l) to check each pick and each score.
    chosen = np.zeros((5, 9), "float32")
    expected = np.zeros((5, 9), "float32")
    for step in range(4):
        probs = to_numpy(head.conditional(x, chosen))
        best = np.where(chosen > 0, -1, probs).argmax(-1)
        np.testing.assert_array_equal(best, picks[:, step])
        expected[np.arange(5), best] = probs[np.arange(5), best]
        chosen[np.arange(5), best] = 1
    final = to_numpy(head.conditional(x, chosen))
    expected = np.where(chosen > 0, expected, final)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    # Given labels are never chosen again and score 1.
    given = zeros.copy()
    given[:, 2] = 1
    seeded, picks = head(x, given, return_chosen=True)
    assert not (to_numpy(picks) == 2).any()
    np.testing.assert_array_equal(to_numpy(seeded)[:, 2], 1)
    # Training is one pass conditioned on the given labels.
    np.testing.assert_allclose(
        to_numpy(head(x, given, training=True)),
        to_numpy(head.conditional(x, given)),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="cannot exceed"):
        layers.ConditionalInference(3, steps=4)


def test_label_subsets_for_conditional_training():
    from keras_gmsa import data

    labels = np.zeros((200, 12), "float32")
    labels[:, :6] = 1  # six positives per row
    labels[::2, 9] = 1
    subsets = data.sample_label_subsets(labels, max_given=4, seed=7).numpy()
    assert ((subsets == 1) <= (labels == 1)).all()
    sizes = subsets.sum(1)
    assert sizes.max() == 4 and sizes.min() == 0
    assert set(np.unique(sizes)) == {0, 1, 2, 3, 4}
    again = data.sample_label_subsets(labels, max_given=4, seed=7).numpy()
    np.testing.assert_array_equal(again, subsets)


# ---------------------------------------------------------------- ensemble


def test_logit_ensemble_is_a_weighted_mean_of_logits():
    p1 = np.array([[0.2, 0.9]], "float32")
    p2 = np.array([[0.6, 0.5]], "float32")
    layer = layers.LogitEnsemble(2)
    layer([p1, p2])
    layer.theta.assign(np.array([0.0, np.log(3.0)], "float32"))
    w = np.array([0.25, 0.75])
    logit = np.log(p1 / (1 - p1)) * w[0] + np.log(p2 / (1 - p2)) * w[1]
    np.testing.assert_allclose(
        to_numpy(layer([p1, p2])), 1 / (1 + np.exp(-logit)), atol=1e-6
    )
    np.testing.assert_allclose(layer.weights_normalized, w, atol=1e-6)
