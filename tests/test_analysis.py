"""keras_gmsa.analysis: the papers' figures as numbers and PNGs."""

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import analysis
from keras_gmsa import cli
from keras_gmsa import masks
from tests.helpers import write_tiny_records

T = 12
SMALL = dict(
    num_classes=5,
    max_frames=T,
    features={"rgb": 16, "audio": 8},
    num_heads=2,
    hidden_dim=8,
    compile=False,
)


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(0)
    return {
        "rgb": rng.integers(0, 256, (T, 16), dtype="uint8"),
        "audio": rng.integers(0, 256, (T, 8), dtype="uint8"),
        "num_frames": np.int32(10),
    }


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {
        "baseline": keras_gmsa.build_model("baseline", **SMALL),
        # Every head local (TP2): a local-only model.
        "local": keras_gmsa.build_model(
            "shareatt", mask=["tp2", "tp2"], **SMALL
        ),
        "shareatt": keras_gmsa.build_model("shareatt", mask="tp", W=2, **SMALL),
        "gateop": keras_gmsa.build_model("gateop", mask="bd", W=3, **SMALL),
    }


def test_attention_maps_are_row_stochastic_and_local(models, video):
    n = 10
    base = analysis.attention_maps(models["baseline"], video)
    assert "local" not in base and base["num_frames"].tolist() == [n]
    np.testing.assert_allclose(base["maps"][0, :, :n].sum(-1), 1, atol=1e-5)
    assert np.all(base["maps"][0, :, n:] == 0)  # padded rows
    assert np.all(base["maps"][0, :, :, n:] == 0)  # padded keys
    share = analysis.attention_maps(models["shareatt"], video)
    outside = ~masks.local_mask("tp2", T)
    assert share["global"].shape[1] == 1 and share["local"].shape[1] == 1
    assert np.all(share["local"][0, 0][outside] == 0)
    assert np.any(share["global"][0, 0, :n, :n][outside[:n, :n]] > 0)
    gated = analysis.attention_maps(models["gateop"], video)
    assert np.all(gated["local"][0][:, ~masks.local_mask("bd3", T)] == 0)


def test_similarity_and_profiles_with_pngs(models, video, tmp_path):
    fig1 = tmp_path / "fig1.png"
    result = analysis.similarity_and_attention(
        models["baseline"], video, heads=(0, 1), path=fig1
    )
    sim = result["similarity"]
    assert sim.shape == (10, 10) and result["attention"].shape == (2, 10, 10)
    np.testing.assert_allclose(np.diag(sim), 1, atol=1e-6)
    np.testing.assert_allclose(sim, sim.T, atol=1e-12)
    assert fig1.stat().st_size > 1000
    fig3 = tmp_path / "fig3.png"
    profiles = analysis.attention_profiles(
        models["gateop"], video, baseline=models["baseline"], path=fig3
    )
    for kind in ("global", "local"):
        # Row-stochastic maps: a profile is a distribution over frames.
        assert profiles[kind].shape == (10,)
        np.testing.assert_allclose(profiles[kind].sum(), 1, atol=1e-5)
    assert set(profiles["predictions"]) == {"gateop", "baseline"}
    assert len(profiles["predictions"]["gateop"]) == 3
    assert fig3.stat().st_size > 1000
    with pytest.raises(ValueError, match="no local attention"):
        analysis.attention_profiles(models["baseline"], video)


def test_input_gradient_on_this_backend():
    x = np.array([[1.0, -2.0, 3.0]], "float32")
    grad = analysis.input_gradient(lambda v: keras.ops.square(v), x)
    np.testing.assert_allclose(grad, 2 * x)


def test_local_sensitivity_separates_local_from_global(models, video, tmp_path):
    G = analysis.gradient_norms(models["local"], video, probes=1)
    assert G.shape == (10, 10)
    # A local-only block cannot see outside its window: exact zeros.
    assert np.all(G[~masks.local_mask("tp2", 10)] == 0)
    short = dict(video, num_frames=np.int32(7))
    fig4 = tmp_path / "fig4.png"
    result = analysis.local_sensitivity(
        {"local": models["local"], "global": models["baseline"]},
        [video, short],
        neighbourhood="tp2",
        probes=1,
        path=fig4,
    )
    np.testing.assert_allclose(result["local"], 1.0)
    assert np.all((result["global"] >= 0) & (result["global"] <= 1))
    assert result["global"].mean() < result["local"].mean() - 0.1
    assert fig4.stat().st_size > 1000


def test_cluster_weight_maps(video, tmp_path):
    model = keras_gmsa.build_model(
        "attention_cluster",
        num_classes=5,
        max_frames=T,
        features={"rgb": 16, "audio": 8},
        num_units=3,
        compile=False,
    )
    fig5 = tmp_path / "fig5.png"
    maps = analysis.cluster_weight_maps(model, video, path=fig5)
    assert set(maps) == {"rgb", "audio"}
    for weights in maps.values():
        assert weights.shape == (3, 10)
        np.testing.assert_allclose(weights.sum(1), 1, atol=1e-5)
    assert fig5.stat().st_size > 1000
    with pytest.raises(ValueError, match="no AttentionCluster"):
        analysis.cluster_weight_maps(
            keras_gmsa.build_model("baseline", **SMALL), video
        )


def test_inspect_command_writes_the_figures(tmp_path, capsys):
    records = write_tiny_records(tmp_path, 8, 4, 5, T)
    pattern = str(records / "validate*.tfrecord")
    # The records' real feature sizes (1024 and 128).
    options = dict(SMALL, features={"rgb": 1024, "audio": 128})
    path = tmp_path / "gateop.keras"
    keras_gmsa.build_model("gateop", mask="tp", W=2, **options).save(path)
    other = tmp_path / "baseline.keras"
    keras_gmsa.build_model("baseline", **options).save(other)
    for kind, extra in (
        ("profiles", ["--baseline", str(other)]),
        ("sensitivity", ["--compare", str(other), "--videos", "2"]),
    ):
        out = tmp_path / f"{kind}.png"
        code = cli.main(
            ["inspect", kind, str(path), pattern, "--out", str(out), *extra]
        )
        assert code == 0 and out.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert '"gateop"' in printed and '"baseline"' in printed


# Exact small references (issue 16, item 6).


def test_cosine_similarity_of_hand_made_frames():
    frames = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    h = 1 / np.sqrt(2)
    expected = np.array(
        [[1, h, 0, 0], [h, 1, h, 0], [0, h, 1, 0], [0, 0, 0, 0]]
    )
    np.testing.assert_allclose(
        analysis.cosine_similarity(frames), expected, atol=1e-12
    )


def test_sensitivity_statistic_follows_equation_14_on_a_hand_made_g():
    G = np.array(
        [
            [4.0, 2.0, 1.0, 1.0],
            [2.0, 4.0, 2.0, 0.0],
            [0.0, 3.0, 3.0, 3.0],
            [1.0, 1.0, 1.0, 5.0],
        ]
    )
    # N_i = tp1: |i - j| <= 1.
    local = [(4 + 2) / 2, (2 + 4 + 2) / 3, (3 + 3 + 3) / 3, (1 + 5) / 2]
    other = [(1 + 1) / 2, 0 / 1, 0 / 1, (1 + 1) / 2]
    expected = np.array(local) / (np.array(local) + np.array(other))
    np.testing.assert_allclose(
        analysis.sensitivity_statistic(G, "tp1"), expected, atol=1e-12
    )


def test_probed_gradient_norms_match_the_exact_jacobian(models, video):
    model = models["gateop"]
    estimate = analysis.gradient_norms(model, video, probes=300, seed=0)
    encoder, frames, mask = analysis._encoder_inputs(model, video, "rgb")
    x = analysis._np(frames)[:1].astype("float32")
    n, dim = estimate.shape[0], x.shape[-1]
    # The exact Jacobian in one gradient call: row (i, d) of d out / d x
    # is the gradient of out[i, d] alone, so a batch of n * dim copies of
    # the video, copy (i, d) picking out[i, d], gives every row at once
    # (the encoder treats the videos of a batch independently).
    rows = n * dim
    picks = np.zeros((rows, T, dim), "float32")
    picks[
        np.arange(rows),
        np.repeat(np.arange(n), dim),
        np.tile(np.arange(dim), n),
    ] = 1.0
    copies = np.repeat(x, rows, axis=0)
    masks_ = keras.ops.repeat(mask[:1], rows, axis=0)

    def fn(v):
        return keras.ops.multiply(encoder(v, frame_mask=masks_), picks)

    grad = analysis.input_gradient(fn, copies)[:, :n]
    exact = (grad.astype("float64") ** 2).sum(-1).reshape(n, dim, n).sum(1)
    exact = np.sqrt(exact)
    assert exact.max() > 0
    # A Monte Carlo estimate of ||J_ij||_F with 300 probes.
    np.testing.assert_allclose(
        estimate, exact, rtol=0.2, atol=1e-3 * exact.max()
    )


@pytest.mark.backends("torch")
def test_probes_sharing_a_pass_give_the_norms_of_one_probe_per_pass(
    models, video, monkeypatch
):
    # Seven probes two to a pass (the last pass holds one) against one
    # per pass: the same directions, in the same order.
    model = models["gateop"]
    one = analysis.gradient_norms(model, video, probes=7, seed=3)
    _, frames, _ = analysis._encoder_inputs(model, video, "rgb")
    copies = 4 * 10 * T * frames.shape[-1]  # one probe's copies (n = 10)
    monkeypatch.setattr(analysis, "_PASS_BYTES", 2 * copies)
    shared = analysis.gradient_norms(model, video, probes=7, seed=3)
    monkeypatch.setattr(analysis, "_PASS_BYTES", 1)
    alone = analysis.gradient_norms(model, video, probes=7, seed=3)
    np.testing.assert_allclose(shared, alone, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one, alone, rtol=1e-5, atol=1e-7)
