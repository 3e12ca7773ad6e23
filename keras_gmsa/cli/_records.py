"""A saved model and the records it reads (evaluate, predict; private)."""

from keras_gmsa import constants
from keras_gmsa.cli._common import MODEL_HELP
from keras_gmsa.cli._common import load_model
from keras_gmsa.cli._common import positive_int


def model_and_records(args):
    """``(model, dataset with ids, num_classes)`` for MODEL and PATTERN."""
    from keras_gmsa import loaders

    model = load_model(args.model)
    dataset = loaders.loader_for_model(
        model,
        args.pattern,
        loader=args.loader,
        num_workers=args.loader_workers,
        batch_size=args.batch_size,
        with_ids=True,
        on_error=args.on_error,
        allow_zero_frames=args.on_error == "skip",
        id_split=args.id_split,
    )
    return model, dataset, int(model.output_shape[-1])


def add_model_and_pattern(p, top_k_help):
    """MODEL, PATTERN, --top-k and --quiet, as evaluate and predict take
    them."""
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("pattern", help="frame- or video-level records")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (one is drawn on standard error when it is "
        "a terminal)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        default=constants.TOP_K,
        help=top_k_help,
    )


def add_segments(p, what):
    """--segments and its options, as evaluate and predict take them."""
    from keras_gmsa.segments import RANKINGS
    from keras_gmsa.segments import SCORERS

    p.add_argument(
        "--segments",
        action="store_true",
        help=f"the 2019 segment task: {what}",
    )
    p.add_argument(
        "--scorer",
        choices=SCORERS,
        default="windows",
        help="--segments: the model on each 5-frame window, or one pass "
        "over the video pooled per segment (GMSA models)",
    )
    p.add_argument(
        "--ranking",
        choices=RANKINGS,
        default="exact",
        help="--segments: exact: every segment ranked for every class by "
        "its float32 score; starter: the lists of the starter's "
        "inference.py (a segment listed under its own --top-k classes "
        "only, scores at 6 significant digits), to reproduce a starter "
        "submission",
    )
    p.add_argument(
        "--segment-classes",
        help="--segments: a segment_label_ids.csv (header Index, then one "
        "class per line) of the classes ranked (default: every class; "
        "with --ranking starter, the starter's whitelist)",
    )
