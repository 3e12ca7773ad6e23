"""Can local attention see what global attention cannot? A small check.

Writes synthetic native-format shards where most labels are *local events*
(two motif frames close together; the same motifs far apart in other videos
as distractors, see `keras_gmsa.data.synthetic`), trains a global-attention
baseline and GMSA models with the same budget, and prints the GAP on the
local-event classes. A model that ignores where frames are in time cannot
beat chance-level ranking of the event classes there.

    python examples/local_events.py [--epochs 12] [--videos 2048]

Respects KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH for smoke tests.
"""

import argparse
import os
import tempfile

import keras
import numpy as np

import keras_gmsa
from keras_gmsa import data
from keras_gmsa import metrics
from keras_gmsa.data import synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--videos", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    # tf.data feeds the model; keep TensorFlow off the GPUs of JAX/PyTorch.
    data.hide_gpus_from_tensorflow()
    epochs = min(
        args.epochs, int(os.environ.get("KERAS_MAX_EPOCHS", args.epochs))
    )
    steps = os.environ.get("KERAS_MAX_STEPS_PER_EPOCH")
    root = args.data_dir or tempfile.mkdtemp(prefix="local_events_")
    classes, local = 20, 16
    gen = synthetic.SyntheticYT8M(
        num_classes=classes,
        num_local_classes=local,
        max_frames=args.frames,
        min_frames=args.frames // 2,
        local_rate=1.0,
        event_span=2,
        distractor_gap=args.frames // 3,
        labels_per_video=1.0,
    )
    if not os.path.exists(os.path.join(root, "frame")):
        synthetic.write_dataset(
            root, args.videos, num_shards=4, generator=gen, layouts=("frame",)
        )
        synthetic.write_dataset(
            root,
            args.videos // 4,
            num_shards=1,
            split="test",
            generator=gen,
            layouts=("frame",),
            seed=1,
            start_index=args.videos,
        )
    common = dict(num_classes=classes, max_frames=args.frames)
    train = data.frame_dataset(
        os.path.join(root, "frame", "train*"),
        batch_size=32,
        shuffle=True,
        seed=0,
        **common,
    )
    test = data.frame_dataset(
        os.path.join(root, "frame", "test*"), batch_size=256, **common
    )
    event = np.arange(classes - local, classes)
    options = dict(
        projection_dim=32,
        num_heads=4,
        hidden_dim=64,
        learning_rate=2e-3,
        dropout=0.0,
        **common,
    )
    print(f"{'model':<22} {'local-event GAP':>15}")
    for name, masks in [
        ("baseline", {}),
        ("shareatt", dict(mask=["tp2"] * 4)),
        ("gateop", dict(mask="tp", W=2)),
    ]:
        keras.utils.set_random_seed(0)
        model = keras_gmsa.build_model(name, **masks, **options)
        model.fit(
            train,
            epochs=epochs,
            verbose=0,
            steps_per_epoch=int(steps) if steps else None,
        )
        ev = metrics.Evaluator(local)
        for features, labels in test.as_numpy_iterator():
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(features))
            ev.update(probs[:, event], labels[:, event])
        label = name + (
            " (all heads tp2)"
            if name == "shareatt"
            else " (tp2)"
            if masks
            else ""
        )
        print(f"{label:<22} {100 * ev.result()['gap']:15.2f}")


if __name__ == "__main__":
    main()
