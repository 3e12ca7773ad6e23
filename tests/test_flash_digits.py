"""A small Flash-digits study (examples/flash_digits.py) on every backend.

The full table (6 digits, N up to 32) is in the README; here 4 digits
keep it to seconds, and the ordering the paper
argues with must already show: attention clusters with shifting beat
average pooling by far, and N = 8 units beat a single one.
"""

import importlib.util
import os

import pytest

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, "examples", "flash_digits.py"
)


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("flash_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_videos_and_labels_follow_the_recipe(study):
    import numpy as np

    train_pool, test_pool = study.digit_pools(10)
    rng = np.random.default_rng(0)
    videos, labels = study.make_videos(train_pool, 50, 10, 0.6, rng)
    assert videos.shape == (50, 25, 8, 8)
    assert labels.min() >= 0 and labels.max() < 1024
    # Separate image pools for train and test videos.
    train_images = {im.tobytes() for d in train_pool.values() for im in d}
    test_images = {im.tobytes() for d in test_pool.values() for im in d}
    assert not train_images & test_images
    # A frame shows a digit only if its bit is set; 1-2 flashes per digit.
    for video, label in zip(videos, labels, strict=True):
        digits = bin(int(label)).count("1")
        flashed = (video.max(axis=(1, 2)) > 0.6).sum()
        assert digits <= flashed <= 2 * digits


def test_small_study_shows_the_papers_ordering(study):
    table = study.run_study(
        num_digits=4,
        units=(1, 8),
        variants=("average", "fc1+shift"),
        train_videos=2048,
        test_videos=512,
        epochs=6,
        encoder_epochs=2,
        encoder_samples=4096,
        verbose=False,
    )
    assert table[8]["fc1+shift"] > table[8]["average"] + 10, table
    assert table[8]["fc1+shift"] > table[1]["fc1+shift"], table
    markdown = study.markdown(table, 4)
    assert markdown.startswith("| N | average |")
