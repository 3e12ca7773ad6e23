"""`keras-gmsa train`: train (or resume) one run in a run directory."""

from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import parse_features
from keras_gmsa.cli._common import parse_options
from keras_gmsa.log import parse_verbose
from keras_gmsa.log import set_verbosity

# Config keys set by flags: (key, type, help). Their defaults are
# `keras_gmsa.training.DEFAULTS`; a preset's training recipe, then a config
# file's values come between.
FLAGS = (
    ("model", str, "a name of `keras-gmsa models` (models or presets)"),
    ("mask", str, "GMSA local mask kind: bd, tp or td (or a spec: tp30)"),
    ("W", int, "width of the local mask"),
    ("L", int, "dilation of a td mask"),
    ("train", str, "file pattern of the training records (gs:// works)"),
    ("validation", str, "file pattern of the validation records"),
    (
        "train_id_split",
        str,
        "PART:FRACTION of a split of --train by video id (holdout or rest)",
    ),
    (
        "validation_id_split",
        str,
        "PART:FRACTION of --validation (the paper: holdout:32000/N)",
    ),
    ("features", parse_features, "NAME:SIZE,... of the records"),
    ("num_classes", int, "vocabulary size"),
    ("max_frames", int, "frames per video"),
    ("batch_size", int, "videos per training step (global)"),
    ("validation_batch_size", int, "videos per validation batch"),
    ("learning_rate", float, "initial learning rate (None: the model's)"),
    ("steps_per_validation", int, "training steps per validation interval"),
    ("max_validations", int, "at most this many intervals"),
    ("validation_steps", int, "validation batches per interval (None: all)"),
    ("patience", int, "intervals without a better GAP before stopping"),
    ("lr_patience", int, "intervals without a better GAP before a drop"),
    ("lr_factor", float, "learning-rate drop factor"),
    (
        "plateau",
        str,
        "keras or pytorch: whose rules time the plateau drops (pytorch: one "
        "interval later, relative threshold; the GMSA paper's framework)",
    ),
    ("lr_decay", float, "--schedule decay: factor per --lr-decay-examples"),
    ("lr_decay_examples", int, "--schedule decay: videos per decay step"),
    ("schedule", str, "paper (plateau drops), constant or decay"),
    ("mixed_precision", str, "float16 or bfloat16 (mixed precision)"),
    ("seed", int, "seed of the weights and the data order"),
    ("shuffle_buffer", int, "records in the shuffle buffer"),
    ("on_error", str, "raise or skip bad records"),
    (
        "loader",
        str,
        "auto, tf, grain or torch: what reads the records (auto: tf.data "
        "where TensorFlow is installed, else the Keras backend's)",
    ),
    ("loader_workers", int, "worker processes of the grain/torch loaders"),
    (
        "init_from",
        str,
        "a .keras model or a preset (directory or handle) to start from "
        "(e.g. RUN/best.keras of a video-level run, to fine-tune on "
        "segments)",
    ),
)


def add_parser(sub, parents):
    from keras_gmsa import training

    p = sub.add_parser(
        "train",
        parents=[parents["options"]],
        help="train or resume one model (config file and/or flags)",
        description="Trains one model on native records with the paper's "
        "schedule. Running the same command again resumes the run. Flags "
        "win over --config, which wins over a preset's training recipe "
        "(e.g. --model kakao_mc_blstm_moe2: Adam 1e-3, x0.95 every 4M "
        "videos, no early stopping, 5 epochs of 3.9M videos), which wins "
        "over the defaults shown.",
    )
    p.add_argument("--run-dir", required=True, help="the run's directory")
    p.add_argument("--config", help="a JSON or TOML file of config keys")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run directory and start again",
    )
    for key, kind, text in FLAGS:
        p.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            type=kind,
            default=None,
            help=f"{text} (default: {training.DEFAULTS[key]})",
        )
    p.add_argument(
        "--distribute",
        action="store_true",
        help="data-parallel over all devices (JAX, TensorFlow)",
    )
    p.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="split the CPU into N devices (to try --distribute on CPU)",
    )
    p.add_argument(
        "--segments",
        action="store_true",
        help="the 2019 segment task: train on the rated segments of --train "
        "(label weights), validate by the segment MAP of --validation",
    )
    p.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="write no TensorBoard logs",
    )
    p.add_argument(
        "--verbose",
        type=parse_verbose,
        default="auto",
        metavar="{auto,0,1,2}",
        help="Model.fit's: auto or 1, progress bars (on a terminal); 2, one "
        "line per validation interval (for log files); 0, silent (the "
        "keras_gmsa logger's messages too)",
    )
    p.set_defaults(run=run)
    return p


def config_from_args(args):
    from keras_gmsa import training

    layers = []
    if args.config:
        try:
            layers.append(training.load_config_file(args.config))
        except OSError as error:
            raise UserError(f"{args.config}: {error.strerror}") from error
    flags = {
        key: getattr(args, key)
        for key, _, _ in FLAGS
        if getattr(args, key) is not None
    }
    if args.distribute:
        flags["distribute"] = True
    if args.no_tensorboard:
        flags["tensorboard"] = False
    if args.segments:
        flags["segments"] = True
    if args.option:
        flags["model_options"] = parse_options(args.option)
    layers.append(flags)
    return training.resolve_config(*layers)


def run(args):
    from keras_gmsa import training

    training.setup_devices(args.cpu_devices)
    config = config_from_args(args)
    set_verbosity(args.verbose)
    training.train(
        config, args.run_dir, overwrite=args.overwrite, verbose=args.verbose
    )
