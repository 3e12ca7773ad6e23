"""Every non-GMSA system of the zoo: build, train on real records, save/load.

The GMSA family has its own tests (test_build_model.py); here each other
name of `list_models()` (and the heads and fusions worth a case of their
own) trains a few steps on real TFRecords read by `dataset_for_model`,
its loss goes down, and a `.keras` round trip gives the same predictions.
Padding must stay invisible to frame-level models.
"""

import json

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import data
from keras_gmsa.data import synthetic
from keras_gmsa.models import gmsa

CLASSES = 6
FRAMES = 10

# Small widths; the defaults are the papers' (see each model's module).
CASES = {
    "video_logistic": {},
    "video_moe": {},
    "video_conditional": dict(conditional_rank=16, conditional_steps=2),
    "frame_logistic": dict(head="cg_moe"),
    "dbof": dict(num_samples=6, cluster_size=32, hidden_dim=16),
    "frame_lstm": dict(lstm_units=8, head="cg_logistic"),
    "attention_cluster": dict(num_units=3),
    "kakao_blstm": dict(lstm_units=8, window=3),
    "kakao_netvlad": dict(
        num_clusters=4,
        hidden_dim=16,
        differential=True,
        fusion="audio_guided",
        window=None,
    ),
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES, max_frames=FRAMES, min_frames=3, seed=0
    )
    synthetic.write_dataset(
        root, 96, num_shards=1, generator=gen, layouts=("frame", "video")
    )
    return root


def test_every_registered_name_has_a_case_here_or_in_the_gmsa_tests():
    covered = {case.split("-")[0] for case in CASES} | set(gmsa.GMSA_NAMES)
    assert covered == set(keras_gmsa.list_models())


@pytest.mark.parametrize("case", sorted(CASES))
def test_trains_on_records_saves_and_loads(case, records, tmp_path):
    name = case.split("-")[0]
    options = dict(num_classes=CLASSES, learning_rate=0.02, **CASES[case])
    if not name.startswith("video"):
        options["max_frames"] = FRAMES
    model = keras_gmsa.build_model(name, **options)
    # The traced train step a user gets (no run_eagerly).
    assert not model.run_eagerly
    layout = "video" if name.startswith("video") else "frame"
    pattern = str(records / layout / "*.tfrecord")
    train = data.dataset_for_model(
        model,
        pattern,
        batch_size=32,
        shuffle=True,
        seed=0,
        repeat=True,
        sample_given_labels=True,
    )
    history = model.fit(train, steps_per_epoch=3, epochs=4, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < loss[0], loss

    features, _ = next(
        data.dataset_for_model(
            model, pattern, batch_size=32
        ).as_numpy_iterator()
    )
    before = keras.ops.convert_to_numpy(model.predict_on_batch(features))
    assert before.shape == (32, CLASSES)
    assert np.isfinite(before).all()
    assert before.min() >= 0 and before.max() <= 1
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = keras.ops.convert_to_numpy(loaded.predict_on_batch(features))
    np.testing.assert_allclose(after, before, atol=1e-5)

    if layout == "frame":
        # Frames past num_frames do not count.
        short = int(np.argmin(features["num_frames"]))
        n = int(features["num_frames"][short])
        assert n < FRAMES
        changed = {k: v.copy() for k, v in features.items()}
        for key in ("rgb", "audio"):
            changed[key][short, n:] = 255 - changed[key][short, n:]
        moved = keras.ops.convert_to_numpy(loaded.predict_on_batch(changed))
        np.testing.assert_allclose(moved[short], before[short], atol=1e-5)


def test_attention_clusters_are_order_free_by_default(records):
    # The paper's sets of local features (and the authors' code) have no
    # per-position bias: shuffling each video's real frames leaves its
    # prediction unchanged, whatever the weights.
    model = keras_gmsa.build_model(
        "attention_cluster",
        num_classes=CLASSES,
        max_frames=FRAMES,
        compile=False,
        **CASES["attention_cluster"],
    )
    for key in ("rgb", "audio"):
        cluster = model.get_layer(f"{key}_cluster")
        names = [w.path.split("/")[-1] for w in cluster.weights]
        assert names == ["w", "alpha", "beta"]
    rng = np.random.default_rng(1)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    features, _ = next(
        data.dataset_for_model(
            model, str(records / "frame/*.tfrecord"), batch_size=8
        ).as_numpy_iterator()
    )
    shuffled = {key: value.copy() for key, value in features.items()}
    for i, count in enumerate(features["num_frames"]):
        order = rng.permutation(count)
        for key in ("rgb", "audio"):
            shuffled[key][i, :count] = features[key][i, order]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.predict_on_batch(shuffled)),
        keras.ops.convert_to_numpy(model.predict_on_batch(features)),
        atol=1e-5,
    )


@pytest.mark.parametrize("head", ["logistic", "moe", "cg_moe", "conditional"])
def test_any_head_on_a_gmsa_model(head):
    options = dict(
        num_classes=CLASSES,
        max_frames=FRAMES,
        features={"rgb": 16, "audio": 8},
        num_heads=2,
        hidden_dim=12,
        conditional_rank=4,
        compile=False,
    )
    plain = keras_gmsa.build_model("gateop", mask="tp", W=2, **options)
    model = keras_gmsa.build_model(
        "gateop", mask="tp", W=2, head=head, **options
    )
    hidden = plain.get_layer("predictions").input.shape[-1]
    assert hidden == 12
    extra = model.count_params() - plain.count_params()
    logistic = (hidden + 1) * CLASSES
    expected = {
        "logistic": 0,
        # gate (no bias) over 3 options, 2 experts with bias, minus logistic
        "moe": hidden * CLASSES * 3 + (hidden + 1) * CLASSES * 2 - logistic,
        "cg_moe": hidden * (hidden + 1)
        + hidden * CLASSES * 3
        + (hidden + 1) * CLASSES * 2
        - logistic,
        # u, v, gating, classifier at rank 4
        "conditional": (hidden + 1) * 4
        + (CLASSES + 1) * 4
        + 5 * 4
        + 5 * CLASSES
        - logistic,
    }[head]
    assert extra == expected
    assert ("given_labels" in model.input) == (head == "conditional")


def test_unknown_heads_fusions_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="`head` must be one of"):
        keras_gmsa.build_model("dbof", head="svm")
    with pytest.raises(ValueError, match="`method` must be one of"):
        keras_gmsa.build_model("kakao_blstm", fusion="product")
    with pytest.raises(ValueError, match="odd positive integer"):
        keras_gmsa.build_model("kakao_blstm", window=4)
    with pytest.raises(ValueError, match="has no attention mask"):
        keras_gmsa.build_model("attention_cluster", mask="tp", W=3)
    with pytest.raises(ValueError, match="num_units"):
        keras_gmsa.build_model("attention_cluster", num_units={"rgb": 4})
    with pytest.raises(ValueError, match="'rgb' and 'audio'"):
        keras_gmsa.build_model(
            "kakao_netvlad", features={"rgb": 8}, num_clusters=2
        )
    with pytest.raises(ValueError, match="`lstm_units`"):
        keras_gmsa.build_model("frame_lstm", lstm_units=0)


def test_ensemble_learns_logit_weights_on_validation_and_saves(
    records, tmp_path
):
    pattern = str(records / "video" / "*.tfrecord")
    members = []
    for name in ("video_logistic", "video_moe"):
        member = keras_gmsa.build_model(
            name, num_classes=CLASSES, learning_rate=0.05
        )
        train = data.dataset_for_model(
            member, pattern, batch_size=32, repeat=True
        )
        member.fit(train, steps_per_epoch=3, epochs=1, verbose=0)
        members.append(member)
    ensemble = keras_gmsa.build_ensemble(members, learning_rate=0.2)
    assert len(ensemble.trainable_weights) == 1  # the mixing weights only
    frozen = [m.get_weights() for m in members]
    validation = data.dataset_for_model(
        ensemble, pattern, batch_size=32, repeat=True
    )
    history = ensemble.fit(validation, steps_per_epoch=3, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for member, weights in zip(members, frozen, strict=True):
        for now, before in zip(member.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(now, before)
    mix = keras_gmsa.models.ensemble_weights(ensemble)
    assert set(mix) == {"video_logistic", "video_moe"}
    assert abs(sum(mix.values()) - 1) < 1e-6
    assert abs(mix["video_logistic"] - 0.5) > 1e-3  # it learned something
    features, _ = next(
        data.dataset_for_model(
            ensemble, pattern, batch_size=32
        ).as_numpy_iterator()
    )
    before = keras.ops.convert_to_numpy(ensemble.predict_on_batch(features))
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict_on_batch(features)),
        before,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="different numbers of classes"):
        keras_gmsa.build_ensemble(
            [members[0], keras_gmsa.build_model("video_moe", num_classes=3)]
        )


@pytest.mark.parametrize(
    "layer",
    [
        lambda: keras_gmsa.layers.MixtureOfExperts(3),
        lambda: keras_gmsa.layers.ContextGating(batch_normalization=True),
        lambda: keras_gmsa.layers.ConditionalInference(3, steps=1, rank=2),
        lambda: keras_gmsa.layers.NetVLAD(2),
        lambda: keras_gmsa.layers.EncoderBlock(num_heads=2, ff_dim=4),
    ],
)
def test_frozen_composite_layers_load_frozen(layer):
    layer = layer()
    layer.trainable = False
    clone = type(layer).from_config(layer.get_config())
    args = {
        "ConditionalInference": (
            (np.ones((2, 4), "float32"), np.zeros((2, 3))),
        ),
        "NetVLAD": ((np.ones((2, 3, 4), "float32"),),),
        "EncoderBlock": ((np.ones((2, 3, 4), "float32"),),),
    }.get(type(layer).__name__, ((np.ones((2, 4), "float32"),),))
    clone(*args[0])
    assert clone.trainable_weights == []
    assert all(not v.trainable for v in clone.weights)


def test_keras_gmsa_train_runs_a_video_level_conditional_model(
    records, tmp_path, capsys
):
    from keras_gmsa import cli

    pattern = str(records / "video" / "*.tfrecord")
    run_dir = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--model",
            "video_conditional",
            "--train",
            pattern,
            "--validation",
            pattern,
            "--num-classes",
            str(CLASSES),
            "--batch-size",
            "16",
            "--steps-per-validation",
            "2",
            "--max-validations",
            "2",
            "--option",
            "conditional_rank=8",
            "--option",
            "conditional_steps=2",
            "--no-tensorboard",
        ]
    )
    assert code == 0
    done = json.loads((run_dir / "done.json").read_text())
    assert done["intervals"] == 2
    assert 0 < done["best"]["val_gap"] <= 1
    model = keras.saving.load_model(run_dir / "best.keras")
    assert "given_labels" in model.input
    # The model's own learning rate (the starter's 0.01), not the GMSA one.
    assert np.isclose(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 0.01
    )
