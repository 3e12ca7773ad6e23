"""Predict with a saved model and write a Kaggle submission CSV.

Streams the test records through the model (one batch at a time, so the
whole test set never sits in memory), keeps the top 20 labels per video and
writes the 2018 competition format ``VideoId,LabelConfidencePairs``. Also
prints the first videos with label names from vocabulary.csv.

    python examples/predict_submission.py runs/example-train/best.keras \\
        --test 'runs/example-data/frame/test*.tfrecord' \\
        --vocabulary runs/example-data/vocabulary.csv
"""

import argparse

import keras

import keras_gmsa  # noqa: F401  (registers the layers for loading)
from keras_gmsa import data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .keras file")
    parser.add_argument("--test", required=True, help="records (pattern)")
    parser.add_argument("--vocabulary", default=None)
    parser.add_argument("--output", default="submission.csv")
    parser.add_argument("--top-k", type=int, default=20)
    args = parser.parse_args()
    # tf.data feeds the model; keep TensorFlow off the GPUs of JAX/PyTorch.
    data.hide_gpus_from_tensorflow()

    model = keras.saving.load_model(args.model)
    test = data.dataset_for_model(
        model, args.test, batch_size=256, with_ids=True
    )
    vocabulary = (
        data.Vocabulary.load(args.vocabulary) if args.vocabulary else None
    )
    rows = 0
    with open(args.output, "w") as out:
        out.write(data.vocabulary.SUBMISSION_HEADER)
        for batch, _, ids in test.as_numpy_iterator():
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(batch))
            for line in data.vocabulary.submission_lines(
                ids, probs, args.top_k
            ):
                out.write(line)
            if rows == 0:
                for vid, pairs in zip(
                    ids[:3], data.top_k(probs[:3], 3, vocabulary), strict=True
                ):
                    names = ", ".join(f"{n} ({s:.2f})" for n, s in pairs)
                    print(f"{vid.decode()}: {names}")
            rows += len(ids)
    print(f"Wrote {rows} videos to {args.output}")


if __name__ == "__main__":
    main()
