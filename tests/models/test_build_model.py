import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa.models.gmsa import resolve_masks
from tests import helpers

SMALL = dict(
    num_classes=10,
    max_frames=24,
    features={"rgb": 16, "audio": 8},
    num_heads=4,
    hidden_dim=16,
)
# Every combination and every mask kind at least once (each combination x
# kind is checked at the layer level, against the NumPy reference).
CASES = [
    ("baseline", {}),
    ("shareatt", dict(mask="bd", W=4)),
    ("gateatt", dict(mask="td", W=4, L=2)),
    ("gateop", dict(mask="bd", W=4)),
    ("gateop", dict(mask="tp", W=3)),
]


def small_batch(rng, n=8, T=24, classes=10, dtype="uint8"):
    counts = rng.integers(1, T + 1, size=n).astype("int32")
    counts[0] = T
    features = {
        "rgb": rng.integers(0, 256, size=(n, T, 16)).astype("uint8"),
        "audio": rng.integers(0, 256, size=(n, T, 8)).astype("uint8"),
        "num_frames": counts,
    }
    for key in ("rgb", "audio"):
        features[key][np.arange(T)[None, :] >= counts[:, None]] = 0
    labels = (rng.random((n, classes)) < 0.3).astype("float32")
    return features, labels


def test_list_models_names_the_gmsa_family():
    names = keras_gmsa.list_models()
    assert {"baseline", "shareatt", "gateatt", "gateop"} <= set(names)
    described = keras_gmsa.list_models(with_descriptions=True)
    assert "T x T" in described["gateatt"]


_TRAINED = {}


def trained(case):
    """Builds and trains CASES[case] once per session; returns the pieces.

    Tracing a train step costs seconds per model on TensorFlow and JAX, so
    the tests below share one trained model per (name, mask) case.
    """
    if case not in _TRAINED:
        name, kwargs = CASES[case]
        keras.utils.set_random_seed(case)
        model = keras_gmsa.build_model(
            name,
            learning_rate=3e-3,
            dropout=0.0,
            hidden_dropout=0.0,
            **kwargs,
            **SMALL,
        )
        features, labels = small_batch(np.random.default_rng(case))
        history = model.fit(
            features, labels, batch_size=8, epochs=12, verbose=0
        )
        _TRAINED[case] = (model, features, labels, history.history["loss"])
    return _TRAINED[case]


IDS = [f"{n}-{k.get('mask', 'none')}" for n, k in CASES]


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_every_model_fits_and_its_loss_goes_down(case):
    model, features, _, losses = trained(case)
    assert isinstance(model, keras.Model)
    assert set(model.input) == {"rgb", "audio", "num_frames"}
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.95 * losses[0], losses
    probs = helpers.to_numpy(model.predict(features, verbose=0))
    assert probs.shape == (8, 10) and ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_padded_frames_do_not_change_predictions(case):
    model, features, _, _ = trained(case)
    features = {k: v.copy() for k, v in features.items()}
    features["num_frames"][1] = 0  # a video without frames: no NaN
    before = helpers.to_numpy(model.predict(features, verbose=0))
    noisy = {k: v.copy() for k, v in features.items()}
    pad = np.arange(24)[None, :] >= features["num_frames"][:, None]
    noisy["rgb"][pad] = 255
    noisy["audio"][pad] = 17
    after = helpers.to_numpy(model.predict(noisy, verbose=0))
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert np.isfinite(before).all()


def test_float_frames_give_the_same_predictions_as_uint8(rng):
    quantized = trained(3)[0]  # gateop, bd4
    floats = keras_gmsa.build_model(
        "gateop", mask="bd", W=4, frame_dtype="float32", **SMALL
    )
    floats.set_weights(quantized.get_weights())
    features, _ = small_batch(rng)
    deq = dict(features)
    for key in ("rgb", "audio"):
        deq[key] = features[key].astype("float32") * np.float32(
            4 / 255
        ) + np.float32(4 / 512 - 2)
    np.testing.assert_allclose(
        helpers.to_numpy(floats.predict(deq, verbose=0)),
        helpers.to_numpy(quantized.predict(features, verbose=0)),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "case", [0, 1, 2, 3], ids=[IDS[i] for i in (0, 1, 2, 3)]
)
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, case):
    model, features, _, _ = trained(case)
    expected = helpers.to_numpy(model.predict(features, verbose=0))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        helpers.to_numpy(loaded.predict(features, verbose=0)), expected
    )
    assert (
        loaded.get_layer("rgb_encoder_0").get_config()["masks"]
        == model.get_layer("rgb_encoder_0").get_config()["masks"]
    )
    assert loaded.optimizer.iterations.numpy() == 12


_SAVE_SCRIPT = """
import sys, numpy as np, keras, keras_gmsa
from tests.models.test_build_model import SMALL, small_batch
out = sys.argv[1]
keras.utils.set_random_seed(7)
model = keras_gmsa.build_model("gateop", mask="td", W=4, L=2,
                               compile=False, **SMALL)
features, labels = small_batch(np.random.default_rng(3))
model.save(out + "/model.keras")
np.savez(out + "/io.npz", expected=keras.ops.convert_to_numpy(
    model.predict(features, verbose=0)), **features)
print(keras.backend.backend())
"""


def test_keras_file_saved_on_another_backend_loads_with_same_outputs(tmp_path):
    import importlib.util

    backends = ["tensorflow", "jax", "torch"]
    current = keras.backend.backend()
    # The next installed backend after this one (all three in CI).
    others = backends[backends.index(current) + 1 :] + backends
    others = [
        b
        for b in others
        if b != current and importlib.util.find_spec(b) is not None
    ]
    if not others:
        pytest.skip("no other Keras backend is installed")
    other = others[0]
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    env = dict(
        os.environ, KERAS_BACKEND=other, PYTHONPATH=os.path.abspath(root)
    )
    result = subprocess.run(
        [sys.executable, "-c", _SAVE_SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(other)
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    data = np.load(tmp_path / "io.npz")
    features = {k: data[k] for k in ("rgb", "audio", "num_frames")}
    np.testing.assert_allclose(
        helpers.to_numpy(loaded.predict(features, verbose=0)),
        data["expected"],
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "name, params, mib",
    [
        ("baseline", 12_824_342, 48.92),
        ("shareatt", 12_824_342, 48.92),
        ("gateatt", 13_184_342, 50.29),
        ("gateop", 16_020_374, 61.11),
    ],
)
def test_default_widths_reproduce_the_paper_sizes(name, params, mib):
    model = keras_gmsa.build_model(name, compile=False)
    assert model.count_params() == params
    assert round(params * 4 / 2**20, 2) == mib
    assert model.output_shape == (None, 3862)
    assert model.get_layer("rgb").output.dtype == "uint8"


@pytest.mark.parametrize("name, mib", [("baseline", 48.92), ("gateop", 61.11)])
def test_the_sizes_do_not_fix_the_feed_forward_and_hidden_widths(name, mib):
    # docs/faithfulness.md: twice the feature width in the feed-forward and
    # a 855-unit hidden layer weigh what the defaults weigh (to 0.01 MiB),
    # and the number of heads changes no weight.
    other = keras_gmsa.build_model(
        name, ff_multiplier=2, hidden_dim=855, compile=False
    )
    assert round(other.count_params() * 4 / 2**20, 2) == mib
    heads = keras_gmsa.build_model(name, num_heads=4, compile=False)
    default = keras_gmsa.build_model(name, compile=False)
    assert heads.count_params() == default.count_params()


def test_gmsa_adam_epsilon_is_an_option():
    # Keras' Adam epsilon (1e-7) by default; the paper's PyTorch Adam has
    # 1e-8. The option reaches the optimizer and its config (what a .keras
    # file stores).
    default = helpers.build_small("gateop")
    assert default.optimizer.epsilon == pytest.approx(1e-7)
    model = helpers.build_small("gateop", adam_epsilon=1e-8)
    assert model.optimizer.epsilon == pytest.approx(1e-8)
    assert model.optimizer.get_config()["epsilon"] == pytest.approx(1e-8)


@pytest.mark.slow
def test_users_script_gateop_tp30_trains_at_full_size(rng):
    model = keras_gmsa.build_model("gateop", mask="tp", W=30)
    assert model.get_layer("rgb_encoder_0").get_config()["masks"] == "tp30"
    n = 2
    features = {
        "rgb": rng.integers(0, 256, (n, 300, 1024)).astype("uint8"),
        "audio": rng.integers(0, 256, (n, 300, 128)).astype("uint8"),
        "num_frames": np.array([300, 120], "int32"),
    }
    labels = np.zeros((n, 3862), "float32")
    labels[0, [3, 17]] = labels[1, 5] = 1
    history = model.fit(features, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_resolve_masks_follows_the_paper():
    assert resolve_masks("shareatt", "tp") == [None] * 4 + [
        "tp10",
        "tp30",
        "tp60",
        "tp80",
    ]
    assert resolve_masks("shareatt", "td", 20, 4)[4:] == ["td20/4"] * 4
    assert resolve_masks("gateatt", "td") == "td80/5"
    assert resolve_masks("gateop", "bd") == "bd20"
    assert resolve_masks("gateop") == "tp30"
    assert resolve_masks("gateop", "td60/4") == "td60/4"
    assert resolve_masks("baseline") is None


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("nope",), {}, "Unknown model 'nope'. Allowed: .*gateop"),
        (("gateop",), dict(heads=3), "Unknown option.*Allowed: .*num_heads"),
        (("baseline",), dict(mask="tp"), "global attention only"),
        (("gateop",), dict(mask="td", W=10), "needs a dilation L"),
        (("gateop",), dict(mask="tp", W=10, L=2), "Only mask='td' takes L"),
        (("gateop",), dict(mask="tp30", W=10), "full spec"),
        (("gateop",), dict(mask="global"), "needs a local mask kind"),
        (("shareatt",), dict(mask="tp", num_heads=4), "made for 8"),
        (("gateop",), dict(num_classes=0), "positive integer"),
        (("gateop",), dict(frame_dtype="int64"), "frame_dtype"),
        (("gateop",), dict(max_frames=20, mask="bd"), "global attention"),
    ],
)
def test_bad_names_and_options_raise(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_gmsa.build_model(*args, **kwargs)


def test_one_entry_point_per_name_and_compiled_once(monkeypatch):
    from keras_gmsa.models import baselines
    from keras_gmsa.models import gmsa
    from keras_gmsa.models import registry

    # Each name is registered on its own entry point, where it is defined.
    builders = {n: e.builder for n, e in registry._REGISTRY.items()}
    assert builders["dbof"] is baselines.dbof
    assert builders["gateop"] is gmsa.gateop
    assert len(set(builders.values())) == len(builders)
    for name, builder in builders.items():
        assert builder.__name__ == name
    # Only the GMSA entry points take mask, W and L.
    takes = {n for n, e in registry._REGISTRY.items() if e.takes_masks}
    assert takes == set(gmsa.GMSA_NAMES)
    calls = []
    compile_ = keras.Model.compile

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("jit_compile"))
        return compile_(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", counted)
    model = keras_gmsa.build_model(
        "gateop", mask="tp", W=3, jit_compile=True, **SMALL
    )
    assert calls == [True]
    assert model.jit_compile is True


@pytest.mark.parametrize("name", sorted(helpers.SMALL_MODELS))
def test_dtype_policy_reaches_every_layer_not_the_global_policy(name):
    model = helpers.build_small(
        name, dtype_policy="mixed_bfloat16", compile=False
    )
    assert keras.config.dtype_policy().name == "float32"
    policies = {
        layer.name: layer.dtype_policy.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    }
    assert policies.pop("predictions") == "float32"
    assert set(policies.values()) == {"mixed_bfloat16"}, policies
    # A model built with a policy has a config (it can be saved), and the
    # policies come back from it.
    clone = keras.Model.from_config(model.get_config())
    assert {
        layer.name: layer.dtype_policy.name
        for layer in clone.layers
        if not isinstance(layer, keras.layers.InputLayer)
    } == dict(policies, predictions="float32")


def test_a_models_typed_options_are_its_option_list(monkeypatch):
    import dataclasses

    from keras_gmsa.models import common
    from keras_gmsa.models import gmsa
    from keras_gmsa.models import kakao
    from keras_gmsa.models import registry

    shared = set(common.Shared().options())
    for options, name in (
        (gmsa.GMSAOptions, "gateop"),
        (kakao.NetvladOptions, "kakao_netvlad"),
    ):
        own = {f.name: f.default for f in dataclasses.fields(options)}
        defaults = registry.model_defaults(name)
        # Its family's own options with their defaults, then the shared.
        assert {k: defaults[k] for k in own} == own
        assert set(defaults) == set(own) | shared
    assert registry.model_defaults("gateop")["learning_rate"] == 2e-4
    assert registry.model_defaults("kakao_netvlad")["num_clusters"] == 64
    assert registry.model_defaults("kakao_netvlad")["num_mixtures"] == 4
    assert registry.model_defaults("video_moe")["head"] == "moe"
    # A preset's options over its model's defaults.
    assert (
        registry.model_defaults("kakao_mc_netvlad_c128_moe4")["num_clusters"]
        == 128
    )

    # The entry point reads typed, frozen objects: the caller's options
    # land in their groups.
    seen = {}

    def spy(options, shared, mask=None, W=None, L=None):
        seen.update(options=options, shared=shared, masks=(mask, W, L))
        return "built"

    entry = registry._REGISTRY["gateop"]
    monkeypatch.setitem(
        registry._REGISTRY, "gateop", dataclasses.replace(entry, builder=spy)
    )
    assert (
        keras_gmsa.build_model(
            "gateop", mask="tp", W=30, num_heads=4, head="moe", max_frames=9
        )
        == "built"
    )
    assert seen["masks"] == ("tp", 30, None)
    assert seen["options"].num_heads == 4
    assert seen["shared"].head.head == "moe"
    assert seen["shared"].head.l2 == 0.0  # the GMSA default
    assert seen["shared"].inputs.max_frames == 9
    assert seen["shared"].training.learning_rate == 2e-4
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen["options"].num_heads = 2


def test_the_models_package_has_no_import_cycle():
    # keras_gmsa.models imports the families; the registry imports none
    # of them, so no module of the package imports one that imports it.
    import ast
    from pathlib import Path

    import keras_gmsa.models as package

    root = Path(package.__file__).parent
    graph = {}
    for path in root.glob("*.py"):
        name = f"keras_gmsa.models.{path.stem}"
        if path.stem == "__init__":
            continue
        imported = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "keras_gmsa.models":
                    imported |= {
                        f"keras_gmsa.models.{a.name}" for a in node.names
                    }
                elif node.module.startswith("keras_gmsa.models."):
                    imported.add(node.module)
        graph[name] = imported
    assert "keras_gmsa.models.gmsa" not in graph["keras_gmsa.models.registry"]

    def reaches(start, target, seen=()):
        return any(
            n == target or (n not in seen and reaches(n, target, seen + (n,)))
            for n in graph.get(start, ())
        )

    cycles = [name for name in graph if reaches(name, name)]
    assert not cycles, cycles


def test_mixed_float16_trains_with_loss_scaling(rng):
    # build_model(dtype_policy="mixed_float16") leaves the global policy
    # alone, so the loss scaling Keras adds for a mixed_float16 model must
    # come from build_model itself.
    model = keras_gmsa.build_model(
        "gateop",
        mask="tp",
        W=3,
        dtype_policy="mixed_float16",
        learning_rate=1e-3,
        **SMALL,
    )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("rgb_encoder_0").compute_dtype == "float16"
    features, labels = small_batch(rng)
    before = [helpers.to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(features, labels, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    moved = [
        not np.allclose(helpers.to_numpy(w), b)
        for w, b in zip(model.trainable_weights, before, strict=True)
    ]
    assert sum(moved) > len(moved) // 2
