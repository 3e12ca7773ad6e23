"""`keras-gmsa predict`: top-k labels, a Kaggle CSV or JSON lines."""

import json
import sys

from keras_gmsa import paths
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import load_model
from keras_gmsa.cli._records import add_model_and_pattern
from keras_gmsa.cli._records import add_segments
from keras_gmsa.cli._records import model_and_records
from keras_gmsa.progress import Progress


def add_parser(sub, parents):
    p = sub.add_parser(
        "predict",
        parents=[parents["records"], parents["loader"]],
        help="top-k predictions of a saved model",
        description="Writes each video's top-k classes: the 2018 Kaggle "
        "submission (CSV) or JSON lines with label names.",
    )
    add_model_and_pattern(p, "classes per video")
    p.add_argument(
        "--format",
        choices=["kaggle", "jsonl"],
        default="jsonl",
        help="kaggle: VideoId,LabelConfidencePairs; jsonl: one JSON per video",
    )
    p.add_argument(
        "--vocabulary",
        help="vocabulary.csv, for names (jsonl; default: the preset's, when "
        "MODEL is a preset that carries one)",
    )
    p.add_argument("--output", help="file to write (default: stdout)")
    add_segments(
        p,
        "rank every 5-frame segment per class and write the 2019 submission "
        "(Class,Segments; needs --format kaggle)",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    import keras

    from keras_gmsa import loaders
    from keras_gmsa.data import vocabulary

    if args.segments:
        return _segments(args)
    model, dataset, _ = model_and_records(args)
    vocab = _vocabulary(args)
    out = paths.open_file(args.output, "w") if args.output else sys.stdout
    progress = Progress(enabled=not args.quiet)
    try:
        if args.format == "kaggle":
            out.write(vocabulary.SUBMISSION_HEADER)
        for features, _, ids in loaders.numpy_batches(dataset):
            progress.add(len(ids))
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(features))
            if args.format == "kaggle":
                for line in vocabulary.submission_lines(ids, probs, args.top_k):
                    out.write(line)
                continue
            for vid, pairs in zip(
                ids, vocabulary.top_k(probs, args.top_k, vocab), strict=True
            ):
                row = {
                    "id": vid.decode(),
                    "labels": [
                        [label, round(score, 6)] for label, score in pairs
                    ],
                }
                out.write(json.dumps(row) + "\n")
    finally:
        progress.close()
        if out is not sys.stdout:
            out.close()


def _vocabulary(args):
    """--vocabulary, else the one MODEL carries if it is a preset."""
    from keras_gmsa.data.vocabulary import Vocabulary
    from keras_gmsa.models import preset_io

    if args.vocabulary:
        return Vocabulary.load(args.vocabulary)
    if preset_io.is_preset_handle(args.model):
        try:
            return preset_io.load_preset_vocabulary(args.model)
        except preset_io.PresetError as error:
            raise UserError(str(error)) from error
    return None


def read_segment_classes(path):
    """The class indices of a ``segment_label_ids.csv``-style file."""
    try:
        text = paths.read_text(path)
    except OSError as error:
        raise UserError(str(error)) from error
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "Index":
        raise UserError(f"{path}: expected a header line 'Index'.")
    classes = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.isdigit():
            raise UserError(f"{path}, line {number}: {line!r} is not a class.")
        classes.append(int(line))
    return classes


def segment_classes(args, model):
    """--segment-classes read and checked against `model` (None: all)."""
    if not args.segment_classes:
        return None
    classes = read_segment_classes(args.segment_classes)
    outside = [c for c in classes if c >= int(model.output_shape[-1])]
    if outside:
        raise UserError(
            f"{args.segment_classes}: class {outside[0]} is outside the "
            f"model's {model.output_shape[-1]} classes."
        )
    return classes


def _segments(args):
    from keras_gmsa import segments

    if args.format != "kaggle":
        raise UserError(
            "--segments writes the 2019 submission: add --format kaggle."
        )
    model = load_model(args.model)
    classes = segment_classes(args, model)
    evaluator = segments.rank_segments(
        model,
        args.pattern,
        scorer=args.scorer,
        ranking=args.ranking,
        top_k=args.top_k,
        classes=classes,
        batch_size=args.batch_size,
        on_error=args.on_error,
        id_split=args.id_split,
        loader=args.loader,
        num_workers=args.loader_workers,
        progress=Progress(unit_name="segment", enabled=not args.quiet),
    )
    out = paths.open_file(args.output, "w") if args.output else sys.stdout
    try:
        # The starter writes its classes in the order it first met them.
        lines = segments.submission_lines(
            evaluator.ranked(), sort_classes=args.ranking == "exact"
        )
        for line in lines:
            out.write(line)
    finally:
        if out is not sys.stdout:
            out.close()
