"""`keras-gmsa ensemble-select`: Kakao Brain's beam search over members."""

import json

from keras_gmsa import constants
from keras_gmsa import paths
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import load_model
from keras_gmsa.cli._common import positive_int


def add_parser(sub, parents):
    from keras_gmsa.models.ensemble import COMBINES

    p = sub.add_parser(
        "ensemble-select",
        parents=[parents["records"]],
        help="choose ensemble members by beam search on validation GAP",
        description="Each model predicts the validation records once; a "
        "beam search then extends the best ensembles one member at a time, "
        "scored by their exact validation GAP, up to --size members (Kakao "
        "Brain's selection, Kim et al. 2018, sec. 5). Prints the best "
        "ensemble of each size and the one chosen; build it with "
        "keras_gmsa.build_ensemble and fit its weights on validation data.",
    )
    p.add_argument("models", nargs="+", help="the candidates: .keras files")
    p.add_argument(
        "--validation",
        required=True,
        metavar="PATTERN",
        help="file pattern of the validation records",
    )
    p.add_argument(
        "--beam-width",
        type=positive_int,
        default=3,
        help="ensembles kept at each size",
    )
    p.add_argument(
        "--size",
        type=positive_int,
        default=6,
        help="the most members in an ensemble (Kakao Brain's: 6)",
    )
    p.add_argument(
        "--combine",
        choices=COMBINES,
        default="logits",
        help="how an ensemble's prediction is scored: the mean of the "
        "members' logits (build_ensemble at equal weights) or of their "
        "probabilities",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        default=constants.TOP_K,
        help="classes per video kept for GAP (GAP@20)",
    )
    p.add_argument("--json", help="also write the selection to this file")
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa.models import ensemble

    twice = sorted({m for m in args.models if args.models.count(m) > 1})
    if twice:
        raise UserError(f"{twice[0]} is given twice; each model once.")
    selection = ensemble.select_members(
        {path: path for path in args.models},
        args.validation,
        beam_width=args.beam_width,
        size=args.size,
        top_k=args.top_k,
        combine=args.combine,
        batch_size=args.batch_size,
        on_error=args.on_error,
        id_split=args.id_split,
        load=load_model,
    )
    print(
        f"{len(selection.singles)} candidates, {selection.num_videos} "
        f"validation videos, beam width {args.beam_width}, GAP@"
        f"{selection.top_k} of the mean {selection.combine}"
    )
    for size, beam in enumerate(selection.beams, start=1):
        members, gap = beam[0]
        print(f"size {size:<3} gap {gap:.6f}  {' '.join(members)}")
    print(f"chosen: {len(selection.members)} members, gap {selection.gap:.6f}")
    for member in selection.members:
        print(f"  {member}")
    if args.json:
        with paths.open_file(args.json, "w") as f:
            json.dump(selection.as_dict(), f, indent=1)
