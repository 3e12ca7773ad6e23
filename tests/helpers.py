"""Shared checks for layer tests (in the spirit of Keras' run_layer_test)."""

import keras
import numpy as np
import pytest
from keras import ops


def to_numpy(x):
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return ops.convert_to_numpy(x)


def named_weights(layer):
    """``{"query/kernel": array, ...}`` keyed by the last two path parts."""
    return {
        "/".join(w.path.split("/")[-2:]): to_numpy(w) for w in layer.weights
    }


def frames_and_mask(rng, batch, length, dim, valid):
    x = rng.normal(size=(batch, length, dim)).astype("float32")
    mask = np.arange(length)[None, :] < np.asarray(valid)[:, None]
    return x, mask


def check_config_round_trip(layer, x, frame_mask):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x, frame_mask=frame_mask)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(clone(x, frame_mask=frame_mask)),
        to_numpy(layer(x, frame_mask=frame_mask)),
        atol=1e-6,
    )


def check_symbolic_and_eager(layer_factory, x, frame_mask):
    inputs = keras.Input(x.shape[1:])
    mask_in = keras.Input(frame_mask.shape[1:], dtype="bool")
    symbolic = layer_factory()(inputs, frame_mask=mask_in)
    assert tuple(symbolic.shape) == (None,) + x.shape[1:]
    eager = layer_factory()(x, frame_mask=frame_mask)
    assert tuple(eager.shape) == x.shape


def check_training_step(layer_factory, x, frozen=("key/bias",)):
    """One optimizer step moves every trainable weight; the loss is finite.

    `frozen` lists weights with a provably zero gradient: a key bias adds
    q.b_k to every score of a query row, which the softmax cancels.
    """
    inputs = keras.Input(x.shape[1:])
    layer = layer_factory()
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    target = np.random.default_rng(1).normal(size=x.shape).astype("float32")
    history = model.fit(x, target, batch_size=len(x), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in layer.trainable_weights]
    for w, b, a in zip(layer.trainable_weights, before, after, strict=True):
        if w.path.endswith(frozen):
            continue
        assert not np.allclose(a, b), f"{w.path} did not move"


def check_mixed_precision(
    layer_factory, x, frame_mask, policies=("mixed_float16", "mixed_bfloat16")
):
    """Outputs in the compute dtype, finite, padded rows exactly zero."""
    for policy in policies:
        keras.config.set_dtype_policy(policy)
        try:
            layer = layer_factory()
            out, maps = layer(
                x, frame_mask=frame_mask, return_attention_scores=True
            )
            expected = policy.split("_")[1]
            assert keras.backend.standardize_dtype(out.dtype) == expected
            out = to_numpy(ops.cast(out, "float32"))
            assert np.isfinite(out).all(), policy
            assert (out[~frame_mask] == 0).all(), policy
            # Keras' contract: the maps in the compute dtype.
            assert keras.backend.standardize_dtype(maps.dtype) == expected
            maps = to_numpy(ops.cast(maps, "float32"))
            assert np.isfinite(maps).all(), policy
        finally:
            keras.config.set_dtype_policy("float32")


def lean_and_automatic_steps(layer, x, frame_mask, target):
    """One SGD(1.0) step through each path of a GMSA layer, same weights.

    Training without maps takes the lean path (a written-out gradient);
    asking for the maps takes automatic differentiation. Returns the two
    lists of weight changes, in `layer.weights` order.
    """
    frames = keras.Input(x.shape[1:])
    valid = keras.Input(frame_mask.shape[1:], dtype="bool")
    lean = keras.Model([frames, valid], layer(frames, frame_mask=valid))
    output, _ = layer(frames, frame_mask=valid, return_attention_scores=True)
    automatic = keras.Model([frames, valid], output)
    start = [to_numpy(w).copy() for w in layer.weights]
    steps = []
    for model in (lean, automatic):
        for w, value in zip(layer.weights, start, strict=True):
            w.assign(value)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        model.train_on_batch([x, frame_mask], target)
        steps.append(
            [s - to_numpy(w) for w, s in zip(layer.weights, start, strict=True)]
        )
    return steps


def assert_same_steps(layer, lean, automatic, tol):
    largest = max(np.abs(b).max() for b in automatic)
    for w, a, b in zip(layer.weights, lean, automatic, strict=True):
        if w.path.endswith("key/bias"):
            # A zero gradient (the softmax cancels it): rounding only.
            assert max(np.abs(a).max(), np.abs(b).max()) <= 1e-2 * largest
            continue
        assert np.abs(a - b).max() <= tol * np.abs(b).max(), w.path


def mha_weights(layer):
    """The q/k/v/o kernels and biases of a Keras-MHA-based layer, by role."""
    w = named_weights(layer)
    out = {}
    for short, name in (
        ("q", "query"),
        ("k", "key"),
        ("v", "value"),
        ("o", "attention_output"),
    ):
        out[f"w{short}"] = w[f"{name}/kernel"]
        out[f"b{short}"] = w[f"{name}/bias"]
    return out


def write_tiny_records(root, train, validate, classes, frames):
    """Frame-level train / validate shards of one synthetic world.

    Returns the ``frame/`` directory under ``root``.
    """
    from keras_gmsa.data import synthetic

    gen = synthetic.SyntheticYT8M(
        num_classes=classes, max_frames=frames, min_frames=4, seed=0
    )
    synthetic.write_dataset(
        root, train, num_shards=2, generator=gen, layouts=("frame",), seed=0
    )
    synthetic.write_dataset(
        root,
        validate,
        num_shards=1,
        split="validate",
        generator=gen,
        layouts=("frame",),
        seed=1,
        start_index=train,
    )
    return root / "frame"


# Small options that build every registered model in well under a second
# (the defaults are the papers' widths). Frame-level models read 10 frames
# of 16 + 8 bytes; video-level ones 16 + 8 floats.
SMALL_FRAMES = 10
SMALL_CLASSES = 6
_SMALL_GMSA = dict(features={"rgb": 16, "audio": 8}, num_heads=2, hidden_dim=12)
SMALL_MODELS = {
    "baseline": dict(_SMALL_GMSA),
    "shareatt": dict(_SMALL_GMSA, mask="tp", W=2),
    "gateatt": dict(_SMALL_GMSA, mask="tp", W=2),
    "gateop": dict(_SMALL_GMSA, mask="tp", W=2),
    "video_logistic": dict(features={"mean_rgb": 16, "mean_audio": 8}),
    "video_moe": dict(features={"mean_rgb": 16, "mean_audio": 8}),
    "video_conditional": dict(
        features={"mean_rgb": 16, "mean_audio": 8},
        conditional_rank=8,
        conditional_steps=2,
    ),
    "frame_logistic": dict(features={"rgb": 16, "audio": 8}, head="cg_moe"),
    "dbof": dict(
        features={"rgb": 16, "audio": 8},
        num_samples=6,
        cluster_size=32,
        hidden_dim=16,
    ),
    "frame_lstm": dict(features={"rgb": 16, "audio": 8}, lstm_units=8),
    "attention_cluster": dict(features={"rgb": 16, "audio": 8}, num_units=3),
    "kakao_blstm": dict(
        features={"rgb": 16, "audio": 8}, lstm_units=8, window=3
    ),
    "kakao_netvlad": dict(
        features={"rgb": 16, "audio": 8},
        num_clusters=4,
        hidden_dim=16,
        differential=True,
        fusion="image_guided",
        window=3,
    ),
}


def build_small(model, /, **overrides):
    """`keras_gmsa.build_model(model)` at the sizes of `SMALL_MODELS`."""
    import keras_gmsa

    options = dict(SMALL_MODELS[model], num_classes=SMALL_CLASSES)
    if not model.startswith("video"):
        options["max_frames"] = SMALL_FRAMES
    options.update(overrides)
    return keras_gmsa.build_model(model, **options)


def log_an_interval_without_backup(run_dir, backed_up):
    """Leaves ``run_dir`` as a kill between CSVLogger and BackupAndRestore
    does: history.csv holds a row for interval `backed_up`, which has no
    backup (the backup holds `backed_up` intervals, 0 .. backed_up - 1).

    A run killed at that moment wrote the row itself; otherwise the row is
    written here as CSVLogger writes it (the columns of the header, the
    excel dialect), with the values of the row before it. Either way the
    resumed run trains that interval again and must log it once.

    Returns:
        The epoch column of the history before the resume.
    """
    import csv
    import os

    path = os.path.join(run_dir, "history.csv")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    epochs = [int(r["epoch"]) for r in rows]
    if epochs == list(range(backed_up + 1)):
        return epochs  # the kill landed between the two
    assert epochs == list(range(backed_up)) and rows, (backed_up, epochs)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
        writer.writerow(dict(rows[-1], epoch=backed_up))
    return epochs + [backed_up]


def models_in_turn():
    """Every registered model as a pytest parameter: the four GMSA models
    under every backend, each other model of the zoo under one, in turn
    (for checks about a model more than a backend: learning from frames,
    the whole model under mixed precision; every zoo model is still
    built, trained, saved and loaded under every backend in
    tests/models/test_zoo.py)."""
    import keras_gmsa
    from keras_gmsa.models.gmsa import GMSA_NAMES

    backends = ("tensorflow", "jax", "torch")
    others = [n for n in keras_gmsa.list_models() if n not in GMSA_NAMES]
    return list(GMSA_NAMES) + [
        pytest.param(name, marks=pytest.mark.backends(backends[i % 3]))
        for i, name in enumerate(others)
    ]
