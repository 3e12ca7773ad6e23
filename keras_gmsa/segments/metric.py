"""The 2019 segment metric (Kaggle "MAP@100,000"), segment ids and the
submission file.

`segment_map` is the metric of the starter's ``segment_eval_inference.py``
as yt8m-format.md 8.6 defines it:

- the ground truth is the ratings: ``{(segment id, class): score}``, with
  segment ids ``"<video id>:<start frame>"``; ``D_c`` is the number of
  ratings of class ``c`` with a score > 0;
- each submitted class's ranked list (best first) is cut to its first
  ``top_n`` segments, then every segment not rated for that class is
  dropped (an unrated pair is neither a hit nor a miss);
- AP of what is left, in its order, with divisor ``D_c`` (positives the
  list misses lower it); the mean over the submitted classes that have at
  least one positive rating.

Choices the definition leaves open (docs/faithfulness.md): a submitted
class without a positive rating is left out of the mean (the official
script raises a KeyError on it); a class not submitted is not averaged
(as in the script); a segment listed twice for one class is an error.

The ranked lists come from `SegmentEvaluator` (every segment ranked for
every class) or `StarterSegmentLists` (the starter's ``inference.py``
lists); both rank the segments they are given, and since the metric cuts
each class's list at ``top_n`` *before* it drops the unrated segments,
the segments given must be every segment of the records, not only the
rated ones.
"""

import numpy as np

TOP_N = 100_000


def segment_id(video_id, start):
    """``"<video id>:<start frame>"``, the 2019 task's segment id."""
    if isinstance(video_id, bytes):
        video_id = video_id.decode()
    return f"{video_id}:{int(start)}"


def segment_map(ranked, ratings, top_n=TOP_N):
    """Mean AP over classes of ranked segment lists (2019 "MAP@top_n").

    Args:
        ranked: ``{class index: [segment id, ...]}``, best first.
        ratings: ``{(segment id, class index): score}``; a score > 0 is a
            positive, any other a rated negative.
        top_n: the ranks of each list that count (100,000 on Kaggle).

    Returns:
        The metric, a float in [0, 1]; 0.0 when no submitted class has a
        positive rating.
    """
    if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
        raise ValueError(f"top_n must be a positive int; got {top_n!r}.")
    positives = {}
    for (_, c), score in ratings.items():
        if score > 0:
            positives[int(c)] = positives.get(int(c), 0) + 1
    aps = []
    for c, segments in ranked.items():
        c = int(c)
        if not positives.get(c):
            continue
        segments = list(segments)
        if len(set(segments)) != len(segments):
            seen = set()
            twice = next(s for s in segments if s in seen or seen.add(s))
            raise ValueError(
                f"Segment {twice!r} is ranked twice for class {c}; each "
                "class lists a segment at most once."
            )
        if top_n is not None:
            segments = segments[:top_n]
        hits = [ratings[(s, c)] > 0 for s in segments if (s, c) in ratings]
        found = np.cumsum(hits)
        ranks = np.arange(1, len(hits) + 1)
        precision = found / ranks if len(hits) else np.zeros(0)
        aps.append(
            float(precision[np.asarray(hits, bool)].sum()) / positives[c]
        )
    return float(np.mean(aps)) if aps else 0.0


def checked_classes(classes, num_classes):
    """The sorted class indices of `classes` (None: all), each in
    ``[0, num_classes)``."""
    if classes is None:
        return list(range(num_classes))
    classes = sorted({int(c) for c in classes})
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"classes {bad[:5]} are outside [0, {num_classes}).")
    return classes


def checked_scores(scores, num_segments, num_classes):
    """`scores` as a float32 ``(num_segments, num_classes)`` array."""
    scores = np.asarray(scores, np.float32)
    if scores.shape != (num_segments, num_classes):
        raise ValueError(
            f"scores must be ({num_segments}, {num_classes}); got "
            f"{scores.shape}."
        )
    return scores


def ranking_keys(scores, arrival):
    """int64 keys whose ascending order is the ranking: higher score
    first, then earlier arrival.

    A float32's bits, flipped so that unsigned order is float order
    (-0.0 counts as 0.0; NaN below -inf, so a NaN ranks last), reversed
    for "higher first", fill bits 31-62; the arrival number (< 2**31) the
    low ones.

    Args:
        scores: float32 array of any shape.
        arrival: int64 array broadcastable to it.
    """
    scores = np.asarray(scores, np.float32) + np.float32(0.0)
    bits = scores.view(np.int32).astype(np.int64)
    ordered = np.where(bits >= 0, bits + 2**31, -1 - bits)  # [0, 2**32)
    # -inf is 2**23 - 1 here; every NaN becomes 0, below it.
    ordered = np.where(np.isnan(scores), 0, ordered)
    return ((2**32 - 1 - ordered) << 31) | np.asarray(arrival, np.int64)


def submission_lines(ranked, sort_classes=True):
    """The 2019 Kaggle CSV, a line at a time: header ``Class,Segments``,
    then per class its segment ids, best first, space separated (classes
    in increasing order, or in `ranked`'s order)."""
    yield "Class,Segments\n"
    for c in sorted(ranked) if sort_classes else ranked:
        yield f"{c}," + " ".join(ranked[c]) + "\n"


def numpy_batches(dataset):
    """NumPy batches of a `tf.data.Dataset`, a PyTorch loader or any
    iterable (`keras_gmsa.loaders.numpy_batches`)."""
    from keras_gmsa.loaders.for_model import numpy_batches as batches

    return batches(dataset)
