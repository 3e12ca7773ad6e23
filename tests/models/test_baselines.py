"""The starter baselines: options and sizes (training: test_zoo.py)."""

import pytest

import keras_gmsa

CLASSES = 6
FRAMES = 10


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
