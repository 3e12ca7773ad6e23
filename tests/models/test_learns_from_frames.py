"""Every registered model learns what only its frames can tell.

The records come from the synthetic generator: a video's labels are the
classes whose prototypes were added to its frames, so the features decide
the labels. A model that ignores its frames can do no better than the best
constant predictor, the label marginals; on held-out videos every model,
after a short training, must be clearly better than that.
"""

import keras
import numpy as np
import pytest

from keras_gmsa import data
from keras_gmsa.data import synthetic
from tests import helpers

# The bar: held-out BCE at most this fraction of the constant predictor's.
# Every model reaches 0.33-0.74 here on all backends; a model that ignores
# its frames stays at 1.0 or above.
BAR = 0.85
STEPS = 40
LEARNING_RATE = {"video_logistic": 0.03, "video_conditional": 0.03}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames_decide")
    gen = synthetic.SyntheticYT8M(
        num_classes=helpers.SMALL_CLASSES,
        max_frames=helpers.SMALL_FRAMES,
        min_frames=4,
        signal=1.0,
        feature_sizes={"rgb": 16, "audio": 8},
        seed=0,
    )
    synthetic.write_dataset(root, 256, num_shards=2, generator=gen, seed=0)
    synthetic.write_dataset(
        root,
        256,
        num_shards=1,
        split="validate",
        generator=gen,
        seed=1,
        start_index=256,
    )
    return root


def bce(probs, labels):
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())


def test_the_bar_is_the_best_constant_predictor():
    # The marginals minimise BCE among constants: nudging any class's
    # constant away from its marginal can only raise it.
    labels = (np.random.default_rng(0).random((200, 6)) < 0.3).astype(float)
    marginal = labels.mean(0)
    best = bce(np.broadcast_to(marginal, labels.shape), labels)
    for c in range(6):
        for step in (-0.05, 0.05):
            other = marginal.copy()
            other[c] += step
            assert bce(np.broadcast_to(other, labels.shape), labels) > best


# Every model is held to the bar; every backend trains seven of them.
@pytest.mark.parametrize("name", helpers.models_in_turn())
def test_every_model_beats_the_best_constant_predictor(name, records):
    keras.utils.set_random_seed(0)
    model = helpers.build_small(
        name, learning_rate=LEARNING_RATE.get(name, 0.01)
    )
    layout = "video" if name.startswith("video") else "frame"
    train = data.dataset_for_model(
        model,
        str(records / layout / "train*.tfrecord"),
        batch_size=32,
        shuffle=True,
        seed=0,
        deterministic=True,  # the same batches on every run
        repeat=True,
        sample_given_labels=True,
    )
    model.fit(train, steps_per_epoch=STEPS, epochs=1, verbose=0)

    held_out = data.dataset_for_model(
        model, str(records / layout / "validate*.tfrecord"), batch_size=128
    )
    probs, labels = [], []
    for features, y in held_out.as_numpy_iterator():
        probs.append(helpers.to_numpy(model.predict_on_batch(features)))
        labels.append(y)
    probs, labels = np.concatenate(probs), np.concatenate(labels)
    assert len(labels) == 256
    constant = bce(np.broadcast_to(labels.mean(0), labels.shape), labels)
    learned = bce(probs, labels)
    assert learned < BAR * constant, (learned / constant, learned, constant)
