"""The official YouTube-8M metrics: GAP@k, MAP, PERR, Hit@1.

(About 460 lines: the exact NumPy metrics and their streaming Keras
forms are kept side by side so that each form is checked against the
other.)

Exact NumPy functions follow the starter code's ``eval_util.py`` and its
calculators (see yt8m-format.md 8): predictions ``P`` float ``(N, C)``,
labels ``Y`` ``(N, C)`` with positives where ``Y > 0``.

Ties. The official calculators shuffle pooled lists with a seeded random
permutation before sorting, so with tied scores their value depends on the
input order; no independent implementation can match it exactly on ties
(the official value lies between the "positives first" and "positives
last" orders). Here ties are broken by a stable sort on the input order
(video-major, then by class rank within a video) - deterministic, and exact
whenever scores are distinct.

`Evaluator` accumulates the metrics over batches keeping only each video's
top-k (N * k pairs), never the whole (N, C) score matrix.

The Keras metric classes (`GlobalAveragePrecision`, `PrecisionAtEqualRecall`,
`HitAtOne`, `MeanAveragePrecision`) stream over batches on every backend:
Hit@1 and PERR exactly, GAP and MAP through score histograms on a logit
scale (see `GlobalAveragePrecision` for the error bound).
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_gmsa import constants


def _check(predictions, labels, top_k=None):
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if predictions.ndim != 2 or predictions.shape != labels.shape:
        raise ValueError(
            "predictions and labels must both be (N, C) with the same "
            f"shape; got {predictions.shape} and {labels.shape}."
        )
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be positive; got {top_k}.")
    return predictions, labels


def average_precision(scores, labels, num_positives=None):
    """Non-interpolated AP of a list ranked by descending score.

    ``AP = (1 / D) * sum over ranks r holding a positive of (positives in
    ranks 1..r) / r``, D = `num_positives` (default: the positives in the
    list). D = 0 gives 0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if num_positives is None:
        num_positives = float((labels > 0).sum())
    if num_positives <= 0 or scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] > 0
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / num_positives)


def _top_k(predictions, k):
    """Indices of each row's k best classes, best first (stable on ties)."""
    return np.argsort(-predictions, axis=1, kind="stable")[:, :k]


def gap(predictions, labels, top_k=constants.TOP_K):
    """Global average precision at `top_k` (the 2017/2018 Kaggle metric).

    Each video contributes its k = min(top_k, C) best (score, label) pairs;
    all pairs are pooled and ranked; the divisor is the number of positive
    labels in the whole label matrix (positives outside a top-k cap recall).
    """
    predictions, labels = _check(predictions, labels, top_k)
    k = min(top_k, predictions.shape[1])
    idx = _top_k(predictions, k)
    scores = np.take_along_axis(predictions, idx, 1).ravel()
    hits = np.take_along_axis(labels, idx, 1).ravel()
    return average_precision(scores, hits, float(labels.sum()))


def hit_at_one(predictions, labels):
    """Fraction of videos whose best-scored class is a positive."""
    predictions, labels = _check(predictions, labels)
    best = np.argmax(predictions, axis=1)
    return float(np.mean(labels[np.arange(len(labels)), best] > 0))


def perr(predictions, labels):
    """Precision at equal recall rate, averaged over all videos.

    For a video with K positives: the fraction of its K best classes that
    are positive *and* scored above 0 (an official quirk: feed
    probabilities). Videos without positives count as 0.
    """
    predictions, labels = _check(predictions, labels)
    total = 0.0
    order = np.argsort(-predictions, axis=1, kind="stable")
    for row in range(len(labels)):
        k = int((labels[row] > 0).sum())
        if k == 0:
            continue
        top = order[row, :k]
        good = (labels[row, top] > 0) & (predictions[row, top] > 0)
        total += good.sum() / k
    return float(total / len(labels))


def mean_ap(predictions, labels, top_k=constants.TOP_K):
    """MAP as the official eval reports it.

    Per class: the (score, label) pairs of the videos whose top-k holds the
    class, divisor = positives of the class over *all* videos; classes
    without any positive are dropped; a class with positives but no
    candidates has AP 0. NaN (with a warning) when no class has a positive.
    With top_k >= C this is the plain per-class MAP.
    """
    predictions, labels = _check(predictions, labels, top_k)
    if predictions.shape[1] <= 1:
        raise ValueError(
            "MAP needs at least 2 classes (as the official calculator does)."
        )
    k = min(top_k, predictions.shape[1])
    idx = _top_k(predictions, k)
    return _map_from_pairs(
        idx.ravel(),
        np.take_along_axis(predictions, idx, 1).ravel(),
        np.take_along_axis(labels, idx, 1).ravel(),
        labels.sum(0),
    )


def _map_from_pairs(classes, scores, hits, positives):
    aps = []
    for c in np.flatnonzero(positives > 0):
        sel = classes == c
        aps.append(average_precision(scores[sel], hits[sel], positives[c]))
    if not aps:
        warnings.warn(
            "MAP: no class has a positive label; returning NaN.",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(np.mean(aps))


class Evaluator:
    """Accumulates GAP, MAP, PERR and Hit@1 over batches.

    Memory is O(N * top_k): each batch keeps only its videos' top-k pairs
    and per-video PERR/Hit@1 sums.

    Example:
    >>> ev = Evaluator(num_classes=4)
    >>> ev.update(np.array([[0.9, 0.1, 0.2, 0.3]]), np.array([[1, 0, 0, 0]]))
    >>> ev.result()["gap"]
    1.0
    """

    def __init__(self, num_classes, top_k=constants.TOP_K):
        if top_k <= 0:
            raise ValueError(f"top_k must be positive; got {top_k}.")
        self.num_classes = num_classes
        self.top_k = min(top_k, num_classes)
        self.reset()

    def reset(self):
        self._classes, self._scores, self._hits = [], [], []
        self._positives = np.zeros(self.num_classes)
        self._perr = self._hit = 0.0
        self.num_videos = 0

    def update(self, predictions, labels):
        predictions, labels = _check(predictions, labels)
        idx = _top_k(predictions, self.top_k)
        self._classes.append(idx.ravel().astype(np.int32))
        self._scores.append(np.take_along_axis(predictions, idx, 1).ravel())
        self._hits.append(np.take_along_axis(labels, idx, 1).ravel())
        self._positives += labels.sum(0)
        n = len(labels)
        self._perr += perr(predictions, labels) * n
        self._hit += hit_at_one(predictions, labels) * n
        self.num_videos += n

    def update_from_model(self, model, dataset, steps=None, progress=None):
        """Runs `model` over `dataset` of (features, labels[, ids]);
        `progress` (a `keras_gmsa.progress.Progress`) counts the videos."""
        for step, batch in enumerate(dataset):
            if steps is not None and step >= steps:
                break
            features, labels = _to_numpy(batch[0]), _to_numpy(batch[1])
            predictions = model.predict_on_batch(features)
            self.update(ops.convert_to_numpy(predictions), np.asarray(labels))
            if progress is not None:
                progress.add(len(labels))
        if progress is not None:
            progress.close()
        return self

    def result(self):
        if not self.num_videos:
            raise ValueError("No video was evaluated.")
        classes = np.concatenate(self._classes)
        scores = np.concatenate(self._scores)
        hits = np.concatenate(self._hits)
        return {
            "gap": average_precision(scores, hits, self._positives.sum()),
            "map": _map_from_pairs(classes, scores, hits, self._positives),
            "perr": self._perr / self.num_videos,
            "hit_at_one": self._hit / self.num_videos,
            "num_videos": self.num_videos,
        }


def _to_numpy(x):
    """tf.data tensors -> NumPy, so any backend's model can take them."""
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


# --------------------------------------------------------------------------
# Keras metrics (streaming, every backend)
# --------------------------------------------------------------------------

_LOGIT_RANGE = 16.0


def _bin_index(scores, num_bins):
    """Bins on a logit scale: fine where sigmoid scores crowd near 0 and 1."""
    p = ops.clip(ops.cast(scores, "float32"), 1e-7, 1.0 - 1e-7)
    logit = ops.log(p) - ops.log1p(-p)
    unit = (ops.clip(logit, -_LOGIT_RANGE, _LOGIT_RANGE) + _LOGIT_RANGE) / (
        2 * _LOGIT_RANGE
    )
    return ops.cast(ops.minimum(unit * num_bins, num_bins - 1), "int32")


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GlobalAveragePrecision(keras.metrics.Metric):
    """Streaming GAP@k for `model.compile(metrics=[...])`.

    Each batch adds its videos' top-k (score, label) pairs to histograms of
    positives and negatives over `num_bins` bins on a logit scale (bins of
    32 / num_bins logits between logit -16 and 16). GAP is then computed
    from the histograms, ranking bins by score; only the order *inside* a
    bin is lost, and each bin is scored at the expected ranks of its
    positives. The result lies between the values of the positives-first
    and positives-last orders within bins; measured against the exact `gap`
    (64 to 20,000 videos; `python benchmarks/metrics_error.py`) the error
    was at most 1.1e-4 with the default 16384 bins, 2.8e-4 with 1024.
    tests/test_metrics.py checks 1e-3.

    Args:
        top_k: pairs kept per video (20).
        num_bins: histogram resolution.
    """

    def __init__(
        self, top_k=constants.TOP_K, num_bins=16384, name="gap", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.top_k = top_k
        self.num_bins = num_bins
        self.pos = self.add_variable((num_bins,), "zeros", name="pos")
        self.neg = self.add_variable((num_bins,), "zeros", name="neg")
        self.positives = self.add_variable((), "zeros", name="positives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        k = min(self.top_k, y_pred.shape[-1])
        scores, idx = ops.top_k(y_pred, k)
        hits = ops.cast(
            ops.take_along_axis(y_true, idx, axis=-1) > 0, "float32"
        )
        bins = ops.reshape(_bin_index(scores, self.num_bins), (-1,))
        hits = ops.reshape(hits, (-1,))
        self.pos.assign_add(ops.segment_sum(hits, bins, self.num_bins))
        self.neg.assign_add(ops.segment_sum(1.0 - hits, bins, self.num_bins))
        self.positives.assign_add(ops.sum(y_true))

    def result(self):
        return _histogram_ap(self.pos, self.neg, self.positives)

    def get_config(self):
        config = super().get_config()
        config.update(top_k=self.top_k, num_bins=self.num_bins)
        return config


def _histogram_ap(pos, neg, total_positives):
    """AP of rankings known only as per-bin positive/negative counts.

    `pos` and `neg` are ``(..., num_bins)`` counts with bins in ascending
    score order; returns the AP of each leading index, ``(...)``.

    The order inside a bin is unknown: in a random order of its n items
    the j-th of its p positives has expected rank R + j (n + 1) / (p + 1)
    (R items ranked above the bin, H positives among them). The bin adds
    p times the precision of its middle positive, (H + (p + 1) / 2) /
    (R + (n + 1) / 2): exact when the bin holds a single item.
    """
    pos = ops.flip(pos, -1)
    neg = ops.flip(neg, -1)
    n = pos + neg
    before = ops.cumsum(n, axis=-1) - n
    hits_before = ops.cumsum(pos, axis=-1) - pos
    mean_j = (pos + 1.0) / 2.0
    precision = (hits_before + mean_j) / ops.maximum(
        before + mean_j * (n + 1.0) / (pos + 1.0), 1.0
    )
    ap = ops.sum(ops.where(pos > 0, pos * precision, 0.0), axis=-1)
    return ops.where(
        total_positives > 0, ap / ops.maximum(total_positives, 1.0), 0.0
    )


@keras.saving.register_keras_serializable(package="keras_gmsa")
class HitAtOne(keras.metrics.MeanMetricWrapper):
    """Streaming Hit@1: exact (a mean of per-video hits)."""

    def __init__(self, name="hit_at_one", **kwargs):
        super().__init__(fn=_hit_at_one, name=name, **kwargs)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _hit_at_one(y_true, y_pred):
    best = ops.argmax(y_pred, axis=-1)
    picked = ops.take_along_axis(
        ops.cast(y_true, "float32"), ops.expand_dims(best, -1), axis=-1
    )
    return ops.cast(picked[:, 0] > 0, "float32")


@keras.saving.register_keras_serializable(package="keras_gmsa")
class PrecisionAtEqualRecall(keras.metrics.MeanMetricWrapper):
    """Streaming PERR: exact (a mean of per-video precisions)."""

    def __init__(self, name="perr", **kwargs):
        super().__init__(fn=_perr, name=name, **kwargs)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _perr(y_true, y_pred):
    y_true = ops.cast(ops.cast(y_true, "float32") > 0, "float32")
    y_pred = ops.cast(y_pred, "float32")
    k = ops.sum(y_true, axis=-1)
    # rank[c] = number of classes scored above c (stable: earlier index
    # wins ties), so the K best classes are those with rank < K.
    order = ops.argsort(-y_pred, axis=-1)
    ranks = ops.argsort(order, axis=-1)
    chosen = ops.cast(ranks < ops.cast(k[:, None], ranks.dtype), "float32")
    good = chosen * y_true * ops.cast(y_pred > 0, "float32")
    return ops.where(k > 0, ops.sum(good, axis=-1) / ops.maximum(k, 1.0), 0.0)


@keras.saving.register_keras_serializable(package="keras_gmsa")
class MeanAveragePrecision(keras.metrics.Metric):
    """Streaming MAP (official top-k form) via per-class histograms.

    Classes without positives are dropped as in the official eval.

    Measured error against the exact `mean_ap` (64 to 20,000 videos, 6
    to 300 classes; `python benchmarks/metrics_error.py` and
    tests/test_metrics.py): at most 8e-5 with the default 4096 bins, but up
    to 1.4e-3 with 1024 bins when scores crowd into a narrow range. Memory
    is ``num_classes x num_bins`` floats twice: 126 MB at 3862 classes, so
    `keras_metrics` adds it only when asked; `Evaluator` gives the exact
    MAP at O(N * k) memory.
    """

    def __init__(
        self,
        num_classes,
        top_k=constants.TOP_K,
        num_bins=4096,
        name="map",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.top_k = top_k
        self.num_bins = num_bins
        size = num_classes * num_bins
        self.pos = self.add_variable((size,), "zeros", name="pos")
        self.neg = self.add_variable((size,), "zeros", name="neg")
        self.positives = self.add_variable(
            (num_classes,), "zeros", name="positives"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        k = min(self.top_k, self.num_classes)
        scores, idx = ops.top_k(ops.cast(y_pred, "float32"), k)
        hits = ops.cast(
            ops.take_along_axis(y_true, idx, axis=-1) > 0, "float32"
        )
        cells = ops.reshape(
            ops.cast(idx, "int32") * self.num_bins
            + _bin_index(scores, self.num_bins),
            (-1,),
        )
        hits = ops.reshape(hits, (-1,))
        size = self.num_classes * self.num_bins
        self.pos.assign_add(ops.segment_sum(hits, cells, size))
        self.neg.assign_add(ops.segment_sum(1.0 - hits, cells, size))
        self.positives.assign_add(ops.sum(y_true, axis=0))

    def result(self):
        shape = (self.num_classes, self.num_bins)
        ap = _histogram_ap(
            ops.reshape(self.pos, shape),
            ops.reshape(self.neg, shape),
            self.positives,
        )
        has = ops.cast(self.positives > 0, "float32")
        count = ops.sum(has)
        return ops.where(
            count > 0, ops.sum(ap * has) / ops.maximum(count, 1.0), 0.0
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            top_k=self.top_k,
            num_bins=self.num_bins,
        )
        return config


def keras_metrics(num_classes, top_k=constants.TOP_K, with_map=False):
    """The official metrics as Keras metrics, for `model.compile`.

    GAP (histogram, within 1e-3), Hit@1 and PERR (exact); with
    `with_map=True` also the streaming MAP (126 MB of state at 3862
    classes, see `MeanAveragePrecision`).
    """
    out = [
        GlobalAveragePrecision(top_k=top_k),
        HitAtOne(),
        PrecisionAtEqualRecall(),
    ]
    if with_map:
        out.append(MeanAveragePrecision(num_classes=num_classes, top_k=top_k))
    return out


# The 2019 segment task (yt8m-format.md 8.6).
# It lives in `keras_gmsa.segments`; these names stay importable here.
from keras_gmsa.segments import SegmentEvaluator  # noqa: E402,F401
from keras_gmsa.segments import StarterSegmentLists  # noqa: E402,F401
from keras_gmsa.segments import segment_map  # noqa: E402,F401
