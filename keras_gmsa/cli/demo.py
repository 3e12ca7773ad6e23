"""`keras-gmsa demo`: the paper's Table 1 on synthetic data, in minutes."""

import os

from keras_gmsa.cli._common import positive_int

# The demo's rows (keras_gmsa.demo.MODELS), named here so that the parser
# needs neither TensorFlow nor Keras.
ROWS = ("baseline", "baseline+sin", "shareatt", "gateatt", "gateop")


def add_parser(sub, parents):
    p = sub.add_parser(
        "demo",
        help="train and compare the GMSA models on synthetic data",
        description="Writes synthetic shards (cached), trains the baseline "
        "(with and without positional encodings), ShareAtt, GateAtt and "
        "GateOp, and prints a table shaped like the paper's Table 1.",
    )
    p.add_argument(
        "--cache-dir",
        default=os.path.join(
            os.path.expanduser("~"), ".cache", "keras-gmsa", "demo"
        ),
        help="where the synthetic shards are kept",
    )
    p.add_argument(
        "--output-dir", default="runs/demo", help="models and report"
    )
    p.add_argument(
        "--epochs", type=positive_int, default=12, help="epochs per model"
    )
    p.add_argument(
        "--train-videos", type=positive_int, default=2048, help="videos"
    )
    p.add_argument(
        "--test-videos", type=positive_int, default=512, help="videos"
    )
    p.add_argument("--seed", type=int, default=0, help="data and weights")
    p.add_argument(
        "--models",
        nargs="+",
        choices=ROWS,
        default=None,
        help="rows to run (default: all of them)",
    )
    p.add_argument("--quiet", action="store_true", help="print the table only")
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa import demo

    demo.run(
        cache_dir=args.cache_dir,
        output_dir=args.output_dir,
        epochs=args.epochs,
        train_videos=args.train_videos,
        test_videos=args.test_videos,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
        models=args.models,
    )
