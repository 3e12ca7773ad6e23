"""Class names from vocabulary.csv, top-k lists and Kaggle submissions."""

import csv
import io

import numpy as np

from keras_gmsa import paths

VOCABULARY_COLUMNS = (
    "Index",
    "TrainVideoCount",
    "KnowledgeGraphId",
    "Name",
    "WikiUrl",
    "Vertical1",
    "Vertical2",
    "Vertical3",
    "WikiDescription",
)


class Vocabulary:
    """The label vocabulary of YouTube-8M (2018 ``vocabulary.csv``).

    Example:
    >>> vocab = Vocabulary.load("vocabulary.csv")  # doctest: +SKIP
    >>> vocab.name(0)  # doctest: +SKIP
    'Game'
    """

    def __init__(self, rows):
        self.rows = {int(r["Index"]): r for r in rows}
        self.num_classes = max(self.rows) + 1 if self.rows else 0

    @classmethod
    def load(cls, path):
        """Reads vocabulary.csv (any `tf.io.gfile` filesystem)."""
        text = paths.read_text(path)
        reader = csv.DictReader(io.StringIO(text))
        missing = {"Index", "Name"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: not a vocabulary.csv, missing columns "
                f"{sorted(missing)} (expected {', '.join(VOCABULARY_COLUMNS)})"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                int(row["Index"])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}, line {line}: Index {row['Index']!r} is not an "
                    "integer"
                ) from None
            rows.append(row)
        return cls(rows)

    def name(self, index):
        row = self.rows.get(int(index))
        return row["Name"] if row else f"class {int(index)}"

    def names(self, indices):
        return [self.name(i) for i in indices]

    def to_csv(self):
        """vocabulary.csv's text: the columns the rows were read with (the
        2018 columns for an empty vocabulary), rows by Index; `load` reads
        it back to the same rows."""
        rows = [self.rows[index] for index in sorted(self.rows)]
        columns = list(rows[0]) if rows else list(VOCABULARY_COLUMNS)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(
            text, fieldnames=columns, restval="", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue()


def top_k(predictions, k=20, vocabulary=None):
    """Per video, the k best ``(label, score)`` pairs, best first.

    Labels are class indices, or names when a `Vocabulary` is given.
    """
    predictions = np.asarray(predictions)
    k = min(k, predictions.shape[1])
    part = np.argpartition(-predictions, k - 1, axis=1)[:, :k]
    order = np.argsort(
        -np.take_along_axis(predictions, part, 1), axis=1, kind="stable"
    )
    best = np.take_along_axis(part, order, 1)
    out = []
    for row, idx in zip(predictions, best, strict=True):
        labels = (
            vocabulary.names(idx) if vocabulary is not None else idx.tolist()
        )
        out.append(list(zip(labels, row[idx].tolist(), strict=True)))
    return out


def submission_lines(video_ids, predictions, top=20):
    """Rows of the 2018 Kaggle CSV (no header), one per video."""
    for vid, pairs in zip(video_ids, top_k(predictions, top), strict=True):
        if isinstance(vid, bytes):
            vid = vid.decode()
        text = " ".join(f"{label} {score:.6f}" for label, score in pairs)
        yield f"{vid},{text}\n"


def write_submission(path, video_ids, predictions, top=20):
    """Writes the 2018 Kaggle CSV: ``VideoId,LabelConfidencePairs``.

    Each row holds the `top` best ``label score`` pairs, space separated,
    by descending score.
    """
    with paths.open_file(path, "w") as f:
        f.write(SUBMISSION_HEADER)
        for line in submission_lines(video_ids, predictions, top):
            f.write(line)


SUBMISSION_HEADER = "VideoId,LabelConfidencePairs\n"
