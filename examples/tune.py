"""Search the GMSA masks with KerasTuner.

`keras_gmsa.tuning.GMSAHyperModel` is the search space (combination, mask
kind, W, L for the dilated mask only, learning rate); trials are scored by
the exact validation GAP. Run it again with the same --directory and it
resumes.

    python examples/tune.py --tuner bayesian --max-trials 20

Respects KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH (smoke tests).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _synthetic import MAX_FRAMES  # noqa: E402
from _synthetic import NUM_CLASSES  # noqa: E402
from _synthetic import synthetic_records  # noqa: E402

from keras_gmsa import data  # noqa: E402
from keras_gmsa import tuning  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tuner", choices=tuning.TUNERS, default="random")
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=30)
    parser.add_argument("--directory", default="runs/example-tune")
    parser.add_argument("--data-dir", default="runs/example-data")
    parser.add_argument(
        "--videos", type=int, default=1024, help="synthetic training videos"
    )
    args = parser.parse_args()
    # tf.data feeds the model; keep TensorFlow off the GPUs of JAX/PyTorch.
    data.hide_gpus_from_tensorflow()

    patterns, _ = synthetic_records(
        args.data_dir, args.videos, args.videos // 4
    )
    shape = dict(num_classes=NUM_CLASSES, max_frames=MAX_FRAMES)
    train = data.frame_dataset(
        patterns["train"],
        batch_size=32,
        shuffle=True,
        repeat=True,
        drop_remainder=True,
        **shape,
    )
    validation = data.frame_dataset(patterns["validate"], **shape)
    hypermodel = tuning.GMSAHyperModel(
        w_values=(2, 4, 8, 16),  # 48-frame synthetic videos
        l_values=(2,),
        projection_dim=32,
        num_heads=4,
        hidden_dim=64,
        **shape,
    )
    tuner = tuning.make_tuner(
        args.tuner,
        hypermodel,
        args.directory,
        max_trials=args.max_trials,
        max_epochs=args.epochs,
    )
    tuner.search(
        train,
        steps_per_epoch=args.steps_per_epoch,
        epochs=args.epochs,
        validation_data=validation,
    )
    tuning.write_summary(tuner)


if __name__ == "__main__":
    main()
