"""Train a GMSA model with `build_model` + `model.fit` on native records.

The Keras way, end to end: tf.data readers of the YouTube-8M records, a
Functional model from the zoo, and the paper's schedule as callbacks
(exact validation GAP every N steps, early stopping, learning rate x0.1 on
plateau, best checkpoint, CSV + TensorBoard logs, resume after an
interruption).

    python examples/train.py                       # synthetic data
    python examples/train.py --train 'gs://.../train*.tfrecord' \\
        --validation 'gs://.../validate*.tfrecord' --num-classes 3862 \\
        --max-frames 300 --model gateop --mask tp --W 30

Respects KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH (smoke tests).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras_gmsa  # noqa: E402
from keras_gmsa import data  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", help="frame-level records (pattern)")
    parser.add_argument("--validation", help="held-out records (pattern)")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--model", default="gateop")
    parser.add_argument("--mask", default="tp")
    parser.add_argument("--W", type=int, default=2)
    parser.add_argument("--L", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps-per-validation", type=int, default=50)
    parser.add_argument("--max-validations", type=int, default=20)
    parser.add_argument("--run-dir", default="runs/example-train")
    parser.add_argument("--data-dir", default="runs/example-data")
    parser.add_argument(
        "--videos", type=int, default=1024, help="synthetic training videos"
    )
    args = parser.parse_args()
    # tf.data feeds the model; keep TensorFlow off the GPUs of JAX/PyTorch.
    data.hide_gpus_from_tensorflow()

    options = {}
    if args.train is None:
        from _synthetic import MAX_FRAMES
        from _synthetic import NUM_CLASSES
        from _synthetic import synthetic_records

        patterns, _ = synthetic_records(
            args.data_dir, args.videos, args.videos // 4
        )
        args.train, args.validation = patterns["train"], patterns["validate"]
        args.num_classes = args.num_classes or NUM_CLASSES
        args.max_frames = args.max_frames or MAX_FRAMES
        # Small widths for CPU-sized synthetic runs.
        options = dict(projection_dim=32, num_heads=4, hidden_dim=64)
    shape = dict(
        num_classes=args.num_classes or 3862,
        max_frames=args.max_frames or 300,
    )

    train = data.frame_dataset(
        args.train,
        batch_size=args.batch_size,
        shuffle=True,
        repeat=True,
        drop_remainder=True,
        **shape,
    )
    validation = data.frame_dataset(args.validation, batch_size=256, **shape)
    model = keras_gmsa.build_model(
        args.model, mask=args.mask, W=args.W, L=args.L, **shape, **options
    )
    model.summary()
    model.fit(
        train,
        steps_per_epoch=args.steps_per_validation,
        epochs=args.max_validations,
        callbacks=keras_gmsa.callbacks.paper_schedule(validation, args.run_dir),
    )
    print(f"Best model: {os.path.join(args.run_dir, 'best.keras')}")


if __name__ == "__main__":
    main()
