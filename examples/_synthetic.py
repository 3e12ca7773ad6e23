"""Small native-format synthetic shards for the examples (written once)."""

import os

from keras_gmsa.data import synthetic

NUM_CLASSES = 40
MAX_FRAMES = 48


def synthetic_records(root, train_videos=1024, validation_videos=256):
    """Writes train / validate / test frame-level shards under ``root``.

    Returns ``{split: file pattern}`` and the vocabulary.csv path.
    """
    frame = os.path.join(root, "frame")
    if not os.path.exists(os.path.join(root, "complete")):
        gen = synthetic.SyntheticYT8M(
            num_classes=NUM_CLASSES,
            num_local_classes=16,
            max_frames=MAX_FRAMES,
            min_frames=MAX_FRAMES // 2,
            seed=0,
        )
        start = 0
        for split, videos, shards in (
            ("train", train_videos, 4),
            ("validate", validation_videos, 1),
            ("test", validation_videos, 1),
        ):
            synthetic.write_dataset(
                root,
                videos,
                num_shards=shards,
                split=split,
                generator=gen,
                layouts=("frame",),
                seed=start,
                start_index=start,
            )
            start += videos
        open(os.path.join(root, "complete"), "w").close()
    patterns = {
        split: os.path.join(frame, f"{split}*.tfrecord")
        for split in ("train", "validate", "test")
    }
    return patterns, os.path.join(root, "vocabulary.csv")
