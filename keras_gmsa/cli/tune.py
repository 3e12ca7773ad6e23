"""`keras-gmsa tune`: KerasTuner search of the GMSA masks."""

from keras_gmsa.cli._common import parse_options
from keras_gmsa.cli._common import positive_int
from keras_gmsa.log import parse_verbose
from keras_gmsa.log import set_verbosity


def add_parser(sub, parents):
    from keras_gmsa import search_space as space

    p = sub.add_parser(
        "tune",
        parents=[parents["shape"], parents["options"]],
        help="KerasTuner search of combination, mask, W, L, learning rate",
        description="Searches the GMSA masks with KerasTuner, scored by the "
        "exact validation GAP. Run it again with the same --directory and "
        "--project to resume.",
    )
    p.add_argument("--directory", required=True, help="the tuner's directory")
    p.add_argument("--project", default="gmsa", help="the tuner's project")
    p.add_argument("--train", required=True, help="frame-level records")
    p.add_argument("--validation", required=True, help="validation records")
    p.add_argument(
        "--tuner", choices=space.TUNERS, default="random", help="KerasTuner"
    )
    p.add_argument("--max-trials", type=positive_int, default=20, help="trials")
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=3,
        help="epochs per trial (Hyperband: of the longest bracket)",
    )
    p.add_argument(
        "--steps-per-epoch", type=positive_int, default=500, help="steps"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=64, help="training batch"
    )
    p.add_argument(
        "--validation-batch-size",
        type=positive_int,
        default=256,
        help="validation batch",
    )
    p.add_argument(
        "--validation-steps",
        type=positive_int,
        default=None,
        help="validation batches per epoch (default: all)",
    )
    p.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="early stopping within a trial (default: none)",
    )
    p.add_argument(
        "--combinations",
        nargs="+",
        choices=space.COMBINATIONS,
        default=list(space.COMBINATIONS),
        help="GMSA combinations searched",
    )
    p.add_argument(
        "--masks",
        nargs="+",
        choices=space.MASK_KINDS,
        default=list(space.MASK_KINDS),
        help="mask kinds searched",
    )
    p.add_argument(
        "--w-values",
        nargs="+",
        type=positive_int,
        default=list(space.W_VALUES),
        help="W searched",
    )
    p.add_argument(
        "--l-values",
        nargs="+",
        type=positive_int,
        default=list(space.L_VALUES),
        help="L searched (td masks)",
    )
    p.add_argument(
        "--learning-rate",
        nargs="+",
        type=float,
        default=[1e-4, 1e-3],
        help="LOW HIGH (log-uniform), or one fixed value",
    )
    p.add_argument("--seed", type=int, default=0, help="the tuner's seed")
    p.add_argument(
        "--num-best", type=positive_int, default=10, help="trials summarised"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="start the search again"
    )
    p.add_argument(
        "--verbose",
        type=parse_verbose,
        default=1,
        metavar="{auto,0,1,2}",
        help="Model.fit's and KerasTuner's: 1, progress bars; 2, one line "
        "per epoch (for log files); 0, silent (the keras_gmsa logger's "
        "messages too)",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa import tuning

    set_verbosity(args.verbose)
    learning_rate = (
        args.learning_rate[0]
        if len(args.learning_rate) == 1
        else tuple(args.learning_rate)
    )
    tuning.run_search(
        args.train,
        args.validation,
        args.directory,
        project_name=args.project,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        validation_batch_size=args.validation_batch_size,
        validation_steps=args.validation_steps,
        patience=args.patience,
        combinations=args.combinations,
        mask_kinds=args.masks,
        w_values=args.w_values,
        l_values=args.l_values,
        learning_rate=learning_rate,
        num_classes=args.num_classes,
        max_frames=args.max_frames,
        features=args.features,
        model_options=parse_options(args.option),
        seed=args.seed,
        overwrite=args.overwrite,
        num_best=args.num_best,
        verbose=args.verbose,
    )
