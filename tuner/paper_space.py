"""A grid around the paper's Table 1 settings, with KerasTuner's GridSearch.

Sahu and Goyal (2022) report GateAtt with BD10, TP10, TD80/5 and GateOp
with BD20, TP30, TD60/4 (300-frame videos). This grid crosses GateAtt and
GateOp with BD / TP / TD and the widths and dilations those settings use,
so it contains all six and their neighbours. The learning rate is fixed at
the paper's 2e-4; trials are scored by the exact validation GAP and the
summary table is written at the end. Resumes when run again.

    python tuner/paper_space.py --directory runs/paper-grid \\
        --train 'data/frame/train*.tfrecord' \\
        --validation 'data/frame/validate*.tfrecord'
"""

import argparse

import keras_tuner

from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa import tuning

# (combination, mask, W, L): Table 1 settings of the paper.
GRID = {
    "combination": ["gateatt", "gateop"],
    "mask": ["bd", "tp", "td"],
    "W": [10, 20, 30, 60, 80],
    "L": [4, 5],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--validation", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=1000)
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--num-classes", type=int, default=3862)
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument("--w-values", type=int, nargs="+", default=GRID["W"])
    parser.add_argument("--l-values", type=int, nargs="+", default=GRID["L"])
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a build_model option (JSON value), e.g. num_heads=4",
    )
    args = parser.parse_args()

    shape = dict(num_classes=args.num_classes, max_frames=args.max_frames)
    train = data.frame_dataset(
        args.train, shuffle=True, repeat=True, drop_remainder=True, **shape
    )
    validation = data.frame_dataset(args.validation, batch_size=256, **shape)
    options = cli.parse_options(args.option)
    hypermodel = tuning.GMSAHyperModel(
        combinations=GRID["combination"],
        mask_kinds=GRID["mask"],
        w_values=args.w_values,
        l_values=args.l_values,
        learning_rate=2e-4,
        **shape,
        **options,
    )
    tuner = keras_tuner.GridSearch(
        hypermodel,
        objective=tuning.OBJECTIVE,
        max_trials=args.max_trials,
        directory=args.directory,
        project_name="paper_grid",
    )
    tuner.search(
        train,
        steps_per_epoch=args.steps_per_epoch,
        epochs=args.epochs,
        validation_data=validation,
    )
    tuning.write_summary(tuner, num_trials=50)


if __name__ == "__main__":
    main()
