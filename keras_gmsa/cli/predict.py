"""`keras-gmsa predict`: top-k labels, a Kaggle CSV or JSON lines."""

import json
import sys

from keras_gmsa.cli._records import add_model_and_pattern
from keras_gmsa.cli._records import model_and_records


def add_parser(sub, parents):
    p = sub.add_parser(
        "predict",
        parents=[parents["records"]],
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
    p.add_argument("--vocabulary", help="vocabulary.csv, for names (jsonl)")
    p.add_argument("--output", help="file to write (default: stdout)")
    p.set_defaults(run=run)
    return p


def run(args):
    import keras

    from keras_gmsa import data

    model, dataset, _ = model_and_records(args)
    vocab = data.Vocabulary.load(args.vocabulary) if args.vocabulary else None
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        if args.format == "kaggle":
            out.write(data.vocabulary.SUBMISSION_HEADER)
        for features, _, ids in dataset.as_numpy_iterator():
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(features))
            if args.format == "kaggle":
                for line in data.vocabulary.submission_lines(
                    ids, probs, args.top_k
                ):
                    out.write(line)
                continue
            for vid, pairs in zip(
                ids, data.top_k(probs, args.top_k, vocab), strict=True
            ):
                row = {
                    "id": vid.decode(),
                    "labels": [
                        [label, round(score, 6)] for label, score in pairs
                    ],
                }
                out.write(json.dumps(row) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
