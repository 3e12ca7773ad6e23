"""Ensembles: members in inference mode, presets as members, and the
beam search that chooses them."""

import itertools
import math

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import metrics
from keras_gmsa.models import ensemble as ensemble_lib
from tests import helpers


def _members():
    # Dropout 0.5 everywhere, and a conditional head whose training path
    # (teacher forcing on the given labels) differs from its inference.
    dropout = helpers.build_small("baseline", dropout=0.5, hidden_dropout=0.5)
    dropout.name = "dropout"
    conditional = helpers.build_small(
        "gateop",
        head="conditional",
        conditional_steps=2,
        conditional_rank=4,
        hidden_dropout=0.5,
    )
    conditional.name = "conditional"
    return dropout, conditional


def _batch(rng, n=8):
    t = helpers.SMALL_FRAMES
    return {
        "rgb": rng.integers(0, 256, (n, t, 16)).astype("uint8"),
        "audio": rng.integers(0, 256, (n, t, 8)).astype("uint8"),
        "num_frames": rng.integers(1, t + 1, n).astype("int32"),
        # Labels the conditional member would see when training.
        "given_labels": (rng.random((n, helpers.SMALL_CLASSES)) < 0.5).astype(
            "float32"
        ),
    }


def test_members_run_in_inference_mode_when_the_ensemble_trains(rng, tmp_path):
    members = _members()
    ensemble = keras_gmsa.build_ensemble(members)
    x = _batch(rng)
    inference = [
        helpers.to_numpy(m({k: x[k] for k in m.input}, training=False)).astype(
            "float64"
        )
        for m in members
    ]
    clipped = [np.clip(p, 1e-6, 1 - 1e-6) for p in inference]
    logits = [np.log(p) - np.log1p(-p) for p in clipped]
    expected = 1 / (1 + np.exp(-(0.5 * logits[0] + 0.5 * logits[1])))
    for training in (True, True, False):
        out = helpers.to_numpy(ensemble(x, training=training))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)

    # A training step moves the mixing weights only, from inference-mode
    # members; the file keeps that.
    y = (rng.random((8, helpers.SMALL_CLASSES)) < 0.3).astype("float32")
    ensemble.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(ensemble.trainable_weights) == 1
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        helpers.to_numpy(loaded(x, training=True)),
        helpers.to_numpy(ensemble(x, training=False)),
        atol=1e-6,
    )
    assert loaded.trainable_weights[0].path.endswith("theta")
    assert len(loaded.trainable_weights) == 1


def _tiny_preset(name, **overrides):
    """A Kakao preset at test sizes (its fusion, head and clipping kept)."""
    from keras_gmsa.models import presets

    options = dict(
        features={"rgb": 16, "audio": 8},
        max_frames=helpers.SMALL_FRAMES,
        num_classes=helpers.SMALL_CLASSES,
        compile=False,
    )
    if presets.PRESETS[name].model == "kakao_blstm":
        options.update(lstm_units=4)
    else:
        options.update(num_clusters=3, hidden_dim=8)
    return keras_gmsa.build_model(name, **options, **overrides)


def test_the_six_kakao_presets_make_an_ensemble_as_they_are(tmp_path):
    from keras_gmsa.models import presets

    members = [_tiny_preset(name) for name in presets.KAKAO_MEMBERS]
    # Each preset's model is named after the preset ...
    assert [m.name for m in members] == list(presets.KAKAO_MEMBERS)
    # ... and a second run of one preset (other weights) is told apart.
    keras.utils.set_random_seed(7)
    members.append(_tiny_preset("kakao_mc_blstm_moe2"))
    ensemble = keras_gmsa.build_ensemble(members, compile=False)
    names = [*presets.KAKAO_MEMBERS, "kakao_mc_blstm_moe2_2"]
    weights = keras_gmsa.models.ensemble_weights(ensemble)
    assert list(weights) == names
    np.testing.assert_allclose(list(weights.values()), [1 / 7] * 7, rtol=1e-6)
    # Each member's own weights, the two runs of one preset apart, in the
    # file too.
    path = tmp_path / "kakao.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    for member, name in zip(members, names, strict=True):
        inner = loaded.get_layer(name).model
        for a, b in zip(inner.get_weights(), member.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    first, second = (loaded.get_layer(n).model for n in (names[0], names[-1]))
    assert not np.array_equal(first.get_weights()[0], second.get_weights()[0])


# ------------------------------------------------------------ beam search


def _handmade(seed=7, n=40, c=6):
    """Five members whose best ensemble a greedy search misses.

    ``a`` ranks each video's classes well but adds a per-video offset,
    which spoils GAP's ranking across videos; ``b`` and ``c`` are each
    sure of half the classes and guess on the rest; ``d`` is weak and
    ``e`` guesses. ``a`` is the best single member, ``b + c`` the best
    ensemble, and every ensemble with ``a`` is worse.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.3).astype("float32")
    signed = 2 * labels - 1
    half = np.arange(c) < c // 2
    logits = {
        "a": 3 * signed + rng.normal(0, 3, (n, 1)) + rng.normal(0, 0.5, (n, c)),
        "b": np.where(half, 3 * signed, 0) + rng.normal(0, 1, (n, c)),
        "c": np.where(~half, 3 * signed, 0) + rng.normal(0, 1, (n, c)),
        "d": 0.5 * signed + rng.normal(0, 1.5, (n, c)),
        "e": rng.normal(0, 1.5, (n, c)),
    }
    predictions = {
        k: (1 / (1 + np.exp(-v))).astype("float32") for k, v in logits.items()
    }
    return predictions, labels


def _ensemble_gap(predictions, labels, members, combine="logits", top_k=20):
    """The GAP of `build_ensemble`'s model at equal weights (or of the mean
    probability), computed directly."""
    p = np.stack([predictions[m] for m in members]).astype("float64")
    if combine == "logits":
        p = np.clip(p, 1e-6, 1 - 1e-6)
        mixed = 1 / (1 + np.exp(-np.mean(np.log(p) - np.log1p(-p), axis=0)))
    else:
        mixed = p.mean(axis=0)
    return metrics.gap(mixed, labels, top_k=top_k)


def _reference_beam(score, names, width, size):
    """The beam search as the issue defines it, written plainly."""

    def key(members):
        return (
            -score(members),
            len(members),
            [names.index(m) for m in members],
        )

    beam = sorted(((m,) for m in names), key=key)[:width]
    seen = list(beam)
    for _ in range(1, size):
        grown = {
            tuple(sorted({*members, m}, key=names.index))
            for members in beam
            for m in names
            if m not in members
        }
        if not grown:
            break
        beam = sorted(grown, key=key)[:width]
        seen += beam
    return min(seen, key=key)


def _exhaustive(score, names, size):
    subsets = [
        s for k in range(1, size + 1) for s in itertools.combinations(names, k)
    ]
    return max(subsets, key=lambda s: (score(s), -len(s)))


@pytest.mark.parametrize("combine", ["logits", "probabilities"])
def test_beam_search_finds_what_an_exhaustive_search_finds(combine):
    predictions, labels = _handmade()
    names = list(predictions)
    cache = {}

    def score(members):
        key = tuple(sorted(members))
        if key not in cache:
            cache[key] = _ensemble_gap(predictions, labels, members, combine)
        return cache[key]

    for size in range(1, 6):
        # A beam of C(5, 2) = 10 keeps every ensemble of every size: the
        # search is exhaustive.
        wide = ensemble_lib.beam_search(
            predictions, labels, beam_width=10, size=size, combine=combine
        )
        best = _exhaustive(score, names, size)
        assert wide.members == best, size
        assert wide.gap == pytest.approx(score(best), abs=1e-9)
        for width in (1, 2, 3):
            found = ensemble_lib.beam_search(
                predictions,
                labels,
                beam_width=width,
                size=size,
                combine=combine,
            )
            assert found.members == _reference_beam(score, names, width, size)
            assert found.gap == pytest.approx(score(found.members), abs=1e-9)
            assert [len(b) for b in found.beams] == [
                min(width, math.comb(5, k)) for k in range(1, size + 1)
            ]
            for beam in found.beams:
                gaps = [g for _, g in beam]
                assert gaps == sorted(gaps, reverse=True)
    assert wide.singles == pytest.approx({m: score((m,)) for m in names})
    assert wide.num_videos == len(labels)


def test_a_wider_beam_finds_the_ensemble_greedy_selection_misses():
    predictions, labels = _handmade()
    greedy = ensemble_lib.beam_search(predictions, labels, beam_width=1, size=3)
    beam = ensemble_lib.beam_search(predictions, labels, beam_width=2, size=3)
    singles = greedy.singles
    assert max(singles, key=singles.get) == "a"
    # Greedy starts from the best single member and only ever adds one.
    path = [set(b[0][0]) for b in greedy.beams]
    assert path[0] == {"a"}
    assert path[0] < path[1] < path[2]
    assert "a" in greedy.members
    assert beam.members == ("b", "c")
    assert beam.gap > greedy.gap + 0.01
    # The scores are those of the ensemble build_ensemble makes of them.
    assert beam.gap == pytest.approx(
        _ensemble_gap(predictions, labels, ("b", "c")), abs=1e-9
    )
    with pytest.raises(ValueError, match="beam_width"):
        ensemble_lib.beam_search(predictions, labels, beam_width=0)
    with pytest.raises(ValueError, match="combine"):
        ensemble_lib.beam_search(predictions, labels, combine="votes")
    with pytest.raises(ValueError, match="same \\(N, C\\)"):
        ensemble_lib.beam_search(
            dict(predictions, f=predictions["a"][:3]), labels, size=2
        )


def test_the_search_scores_exactly_the_official_gap(rng):
    # Ties at and inside the top-k, signed zeros, a row of NaN, k >= C.
    scores = np.round(rng.random((64, 30)), 1)
    scores[3, :] = 0.5
    scores[5, :4] = [0.0, -0.0, 0.0, -0.0]
    labels = (rng.random((64, 30)) < 0.2).astype("float32")
    for k in (1, 3, 20, 30, 40):
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        found = ensemble_lib.top_k_classes(scores, k)
        np.testing.assert_array_equal(found, expected)
        assert ensemble_lib._gap(
            scores, labels.astype("float64"), float(labels.sum()), k
        ) == metrics.gap(scores, labels, top_k=k)
    with_nan = scores.copy()
    with_nan[7, 2] = np.nan
    np.testing.assert_array_equal(
        ensemble_lib.top_k_classes(with_nan, 5),
        np.argsort(-with_nan, axis=1, kind="stable")[:, :5],
    )
