"""The starter baselines: build, train on real records, save and load."""

import keras
import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import data
from keras_gmsa.data import synthetic

CLASSES = 6
FRAMES = 10


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES, max_frames=FRAMES, min_frames=3, seed=0
    )
    synthetic.write_dataset(
        root, 128, num_shards=1, generator=gen, layouts=("frame", "video")
    )
    return root


def _dataset(name, root):
    if name.startswith("video"):
        return data.video_dataset(
            str(root / "video" / "*.tfrecord"),
            batch_size=32,
            num_classes=CLASSES,
        )
    return data.frame_dataset(
        str(root / "frame" / "*.tfrecord"),
        batch_size=32,
        num_classes=CLASSES,
        max_frames=FRAMES,
    )


@pytest.mark.parametrize(
    "name", ["video_logistic", "video_moe", "frame_logistic"]
)
def test_baseline_trains_saves_and_loads(name, records, tmp_path):
    options = dict(num_classes=CLASSES, learning_rate=0.05)
    if name == "frame_logistic":
        options["max_frames"] = FRAMES
    model = keras_gmsa.build_model(name, **options)
    assert name in keras_gmsa.list_models()
    dataset = _dataset(name, records)
    history = model.fit(
        dataset.repeat(), steps_per_epoch=4, epochs=4, verbose=0
    )
    loss = history.history["loss"]
    assert loss[-1] < loss[0]
    features, _ = next(dataset.as_numpy_iterator())
    before = keras.ops.convert_to_numpy(model.predict_on_batch(features))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = keras.ops.convert_to_numpy(loaded.predict_on_batch(features))
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert np.isfinite(before).all()
    assert before.min() >= 0 and before.max() <= 1
    if name == "frame_logistic":
        # Frames past num_frames do not count.
        short = int(np.argmin(features["num_frames"]))
        n = int(features["num_frames"][short])
        assert n < FRAMES
        features = dict(features, rgb=features["rgb"].copy())
        features["rgb"][short, n:] = 255 - features["rgb"][short, n:]
        changed = keras.ops.convert_to_numpy(model.predict_on_batch(features))
        np.testing.assert_allclose(changed[short], before[short], atol=1e-6)


def test_baselines_refuse_masks_and_bad_options():
    with pytest.raises(ValueError, match="has no attention mask"):
        keras_gmsa.build_model("video_moe", mask="tp", W=3)
    with pytest.raises(ValueError, match="num_mixtures"):
        keras_gmsa.build_model("video_moe", num_mixtures=0)
    with pytest.raises(ValueError, match="Unknown option"):
        keras_gmsa.build_model("video_logistic", max_frames=300)


def test_starter_sizes():
    sizes = {
        name: keras_gmsa.build_model(name, compile=False).count_params()
        for name in ("video_logistic", "video_moe", "frame_logistic")
    }
    # 1152 inputs x 3862 classes (+ bias); MoE: 3 gate options, 2 experts.
    assert sizes["video_logistic"] == 1152 * 3862 + 3862
    assert sizes["frame_logistic"] == sizes["video_logistic"]
    assert sizes["video_moe"] == 1152 * 3862 * 3 + (1152 + 1) * 3862 * 2
