import keras
import numpy as np
import pytest

from keras_gmsa import metrics

P = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.6]])
Y = np.array([[1, 0, 0], [0, 0, 1]])


def test_hand_computed_gap_hit_perr_map():
    # Pooled top-2: 0.9(+) 0.8(-) 0.7(-) 0.6(+); D = 2 -> (1/1 + 2/4) / 2.
    assert metrics.gap(P, Y, top_k=2) == pytest.approx(0.75)
    # A positive outside the top-2 still counts in D: (1 + 2/4) / 3.
    y = np.array([[1, 0, 0], [0, 1, 1]])
    assert metrics.gap(P, y, top_k=2) == pytest.approx(0.5)
    assert metrics.hit_at_one(P, Y) == 0.5
    assert metrics.perr(P, Y) == 0.5
    # Class 0: v0 (0.9, +), v1 (0.7, -) -> 1; class 1 has no positive
    # (dropped); class 2: v1 (0.6, +) -> 1.
    assert metrics.mean_ap(P, Y, top_k=2) == 1.0
    # Top-1: class 0 holds both of its positives (AP 1); class 2's only
    # positive is outside v1's top-1 (kept, AP 0).
    y = np.array([[1, 0, 0], [1, 0, 1]])
    assert metrics.mean_ap(P, y, top_k=1) == pytest.approx(0.5)


def test_edge_cases_of_the_official_code():
    no_labels = np.array([[1, 0, 0], [0, 0, 0]])
    assert metrics.hit_at_one(P, no_labels) == 0.5
    assert metrics.perr(P, no_labels) == 0.5  # the empty video counts as 0
    # Its top-k are negatives in GAP: 0.9(+) 0.8(-) 0.7(-) 0.6(-) -> 1.
    assert metrics.gap(P, no_labels, top_k=2) == 1.0
    zeros = np.zeros_like(Y)
    assert metrics.gap(P, zeros) == 0 and metrics.hit_at_one(P, zeros) == 0
    assert metrics.perr(P, zeros) == 0
    with pytest.warns(RuntimeWarning, match="no class has a positive"):
        assert np.isnan(metrics.mean_ap(P, zeros))
    assert metrics.gap(P, Y, top_k=50) == metrics.gap(P, Y, top_k=3)
    with pytest.raises(ValueError, match="top_k must be positive"):
        metrics.gap(P, Y, top_k=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        metrics.mean_ap(P[:, :1], Y[:, :1])
    assert metrics.gap(P[:1], Y[:1]) == 1.0  # N = 1
    # Scores <= 0: PERR ignores such hits, ranks elsewhere unaffected.
    logits = np.array([[-0.1, -2.0, -3.0]])
    assert metrics.perr(logits, np.array([[1, 0, 0]])) == 0.0
    assert metrics.hit_at_one(logits, np.array([[1, 0, 0]])) == 1.0


def test_ties_are_broken_by_input_order_within_official_bounds():
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    y = np.array([[0, 1], [1, 0]])
    value = metrics.gap(p, y, top_k=2)
    first = metrics.average_precision([4, 3, 2, 1], [1, 1, 0, 0])
    last = metrics.average_precision([4, 3, 2, 1], [0, 0, 1, 1])
    assert last <= value <= first
    # Stable order: (v0,c0 -) (v0,c1 +) (v1,c0 +) (v1,c1 -).
    assert value == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_plain_map_with_top_k_at_least_c(rng):
    p = rng.random((30, 5))
    y = (rng.random((30, 5)) < 0.3).astype(int)
    y[0, 4] = 1
    expected = np.mean(
        [
            metrics.average_precision(p[:, c], y[:, c])
            for c in range(5)
            if y[:, c].any()
        ]
    )
    assert metrics.mean_ap(p, y, top_k=5) == pytest.approx(expected)


def synthetic_scores(rng, n=3000, c=300):
    labels = (rng.random((n, c)) < 0.01).astype(np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    logits = rng.normal(-4, 1.5, size=(n, c)) + 4.0 * labels
    return (1 / (1 + np.exp(-logits))).astype(np.float32), labels


def test_evaluator_accumulates_exactly(rng):
    p, y = synthetic_scores(rng, n=500, c=50)
    ev = metrics.Evaluator(num_classes=50)
    for start in range(0, 500, 64):
        ev.update(p[start : start + 64], y[start : start + 64])
    got = ev.result()
    assert got["num_videos"] == 500
    assert got["gap"] == pytest.approx(metrics.gap(p, y), abs=1e-12)
    assert got["map"] == pytest.approx(metrics.mean_ap(p, y), abs=1e-12)
    assert got["perr"] == pytest.approx(metrics.perr(p, y), abs=1e-12)
    assert got["hit_at_one"] == pytest.approx(metrics.hit_at_one(p, y))
    with pytest.raises(ValueError, match="No video"):
        metrics.Evaluator(5).result()


def test_keras_metrics_stream_within_1e_3_of_exact(rng):
    p, y = synthetic_scores(rng)
    streaming = metrics.keras_metrics(num_classes=300, with_map=True)
    for m in streaming:
        for start in range(0, len(p), 128):
            m.update_state(y[start : start + 128], p[start : start + 128])
    got = {
        m.name: float(keras.ops.convert_to_numpy(m.result())) for m in streaming
    }
    assert abs(got["gap"] - metrics.gap(p, y)) < 1e-3
    assert abs(got["map"] - metrics.mean_ap(p, y)) < 1e-3
    assert got["hit_at_one"] == pytest.approx(
        metrics.hit_at_one(p, y), abs=1e-6
    )
    assert got["perr"] == pytest.approx(metrics.perr(p, y), abs=1e-6)


def test_keras_metrics_in_compile_and_fit(rng):
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (rng.random((64, 6)) < 0.3).astype("float32")
    inputs = keras.Input((8,))
    model = keras.Model(
        inputs, keras.layers.Dense(6, activation="sigmoid")(inputs)
    )
    model.compile(
        "adam",
        "binary_crossentropy",
        metrics=metrics.keras_metrics(num_classes=6, with_map=True),
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    probs = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    assert abs(result["gap"] - metrics.gap(probs, y)) < 1e-3
    assert abs(result["map"] - metrics.mean_ap(probs, y)) < 1e-3
    assert result["perr"] == pytest.approx(metrics.perr(probs, y), abs=1e-5)
    assert result["hit_at_one"] == pytest.approx(
        metrics.hit_at_one(probs, y), abs=1e-6
    )
