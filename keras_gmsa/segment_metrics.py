"""The 2019 segment metric (Kaggle "MAP@100,000") and its streaming
evaluator.

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

`SegmentEvaluator` builds the ranked lists from batches of segment scores
keeping only each class's ``top_n`` best segments, so its memory is
O(classes x top_n) whatever the number of segments: every segment is
ranked for every class by its float32 score; ties in score keep the
segment that came first (a later segment must score strictly higher to
displace one at the cut).

`StarterSegmentLists` builds the lists the starter's ``inference.py``
writes instead (``--ranking starter``), to reproduce a starter
submission: each segment is listed only under its own ``top_k`` classes,
with its score written at six significant digits, and each class keeps
its best ``top_n`` segments in a heap of ``(score, segment id)`` pairs.

Both rank the segments they are given; the metric cuts each class's list
at ``top_n`` *before* it drops the unrated segments, so the segments
given must be every segment of the records, not only the rated ones.
"""

import heapq

import numpy as np

from keras_gmsa import constants

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


class SegmentEvaluator:
    """Streams segment scores into per-class top-n rankings.

    Call `update` with batches of segment ids and ``(S, C)`` scores (or
    `update_from_model`), then `ranked` for the ranked lists (a 2019
    submission) or `result(ratings)` for `segment_map`.

    Every class is handled at once: each segment's scores become int64
    `ranking_keys` (score, then arrival), batches wait until
    ``merge_size`` segments have come, and a merge keeps each class's
    ``top_n`` smallest keys by a partial selection (`np.argpartition`),
    a block of classes at a time. Memory: ``classes x (top_n +
    merge_size)`` keys and scores plus the ids; the ranking is exactly
    the full sort's, ties included.

    Args:
        num_classes: width of the score matrices.
        top_n: segments kept per class.
        classes: the class indices ranked (e.g. the 1000 of
            ``segment_label_ids.csv``); None: all.
        merge_size: segments gathered between merges (None: ``top_n``,
            at least 4096).
    """

    # Classes selected together in a merge (bounds its temporaries).
    BLOCK = 64

    def __init__(self, num_classes, top_n=TOP_N, classes=None, merge_size=None):
        if not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive int; got {top_n!r}.")
        self.num_classes = int(num_classes)
        self.top_n = top_n
        self.classes = checked_classes(classes, self.num_classes)
        self.merge_size = merge_size or max(top_n, 4096)
        self.reset()

    def reset(self):
        self._ids = []
        # (classes, kept) keys of each class's best segments so far, and
        # the (segments, classes) score batches not yet merged into them.
        self._kept = np.zeros((len(self.classes), 0), np.int64)
        self._pending = []
        self._pending_size = 0
        return self

    def update(self, segment_ids, scores):
        """Adds ``len(segment_ids)`` segments and their ``(S, C)`` scores."""
        scores = checked_scores(scores, len(segment_ids), self.num_classes)
        if len(self._ids) + len(segment_ids) >= 2**31:
            raise ValueError("A SegmentEvaluator ranks < 2**31 segments.")
        self._ids.extend(
            s.decode() if isinstance(s, bytes) else str(s) for s in segment_ids
        )
        if len(self.classes) != self.num_classes:
            scores = scores[:, self.classes]
        self._pending.append(scores)
        self._pending_size += len(scores)
        if self._pending_size >= self.merge_size:
            self._merge()
        return self

    def _merge(self):
        if not self._pending:
            return
        scores = np.concatenate(self._pending)
        first = len(self._ids) - len(scores)
        arrival = np.arange(first, len(self._ids), dtype=np.int64)
        self._pending, self._pending_size = [], 0
        kept = []
        for b in range(0, len(self.classes), self.BLOCK):
            new = ranking_keys(scores[:, b : b + self.BLOCK].T, arrival)
            block = np.concatenate([self._kept[b : b + self.BLOCK], new], 1)
            if block.shape[1] > self.top_n:
                cut = np.argpartition(block, self.top_n - 1, axis=1)
                block = np.take_along_axis(block, cut[:, : self.top_n], 1)
            kept.append(block)
        self._kept = np.concatenate(kept) if kept else self._kept

    def update_from_model(self, model, dataset, steps=None, progress=None):
        """Scores the segments of `dataset` with `model` and adds them.

        `dataset` yields ``(features, segment ids)`` or ``(features,
        anything, segment ids)`` batches, e.g. `keras_gmsa.data`'s segment
        windows; `progress` (a `keras_gmsa.progress.Progress`) counts the
        segments.
        """
        import keras

        for step, batch in enumerate(_numpy_batches(dataset)):
            if steps is not None and step >= steps:
                break
            features, ids = batch[0], batch[-1]
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(features))
            self.update(ids, probs)
            if progress is not None:
                progress.add(len(ids))
        if progress is not None:
            progress.close()
        return self

    def ranked(self):
        """``{class: [segment id, ...]}``, each class's best first.

        Raises:
            ValueError: a segment id came twice (the same video read
                twice), which would list it twice for a class.
        """
        self._merge()
        if len(set(self._ids)) != len(self._ids):
            seen = set()
            twice = next(s for s in self._ids if s in seen or seen.add(s))
            raise ValueError(
                f"Segment {twice!r} was scored twice (are some records read "
                "twice, e.g. by overlapping patterns?); each segment is "
                "ranked once."
            )
        order = np.sort(self._kept, axis=1) & (2**31 - 1)
        ids = np.asarray(self._ids, dtype=object)
        return {c: ids[order[i]].tolist() for i, c in enumerate(self.classes)}

    def result(self, ratings):
        """`segment_map` of the rankings against `ratings`, computed on
        the kept arrays (no per-segment Python): equal to
        ``segment_map(self.ranked(), ratings, self.top_n)``."""
        self._merge()
        if len(set(self._ids)) != len(self._ids):
            # segment_map names the repeated segment.
            return segment_map(self.ranked(), ratings, self.top_n)
        arrival = {sid: i for i, sid in enumerate(self._ids)}
        rated = {}  # class -> (arrivals, ratings) of its rated segments
        positives = {}
        for (sid, c), score in ratings.items():
            c = int(c)
            positives[c] = positives.get(c, 0) + (score > 0)
            if sid in arrival:
                rated.setdefault(c, ([], []))
                rated[c][0].append(arrival[sid])
                rated[c][1].append(score > 0)
        order = np.sort(self._kept, axis=1) & (2**31 - 1)
        aps = []
        for i, c in enumerate(self.classes):
            if not positives.get(c):
                continue
            if c not in rated:
                aps.append(0.0)
                continue
            where, hit = (np.asarray(x) for x in rated[c])
            sort = np.argsort(where)
            where, hit = where[sort], hit[sort]
            at = np.searchsorted(where, order[i]).clip(max=len(where) - 1)
            found = where[at] == order[i]
            hits = hit[at[found]]
            precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
            aps.append(float(precision[hits].sum()) / positives[c])
        return float(np.mean(aps)) if aps else 0.0


class StarterSegmentLists:
    """The per-class segment lists of the starter's ``inference.py``.

    For each segment, in the order given: the scores are multiplied by a
    0/1 mask of `classes` (when given, as the starter's
    ``segment_label_ids.csv`` whitelist), its ``top_k`` classes are
    picked with ``np.argpartition`` and sorted best first, each score is
    written with ``%g`` (six significant digits) and read back, classes
    off the whitelist (masked to 0, yet picked when fewer than ``top_k``
    whitelisted classes score above 0) are skipped, and each pair
    ``(score, segment id)`` goes into its class's heap, which keeps the
    ``top_n`` largest pairs (at equal scores the larger segment id).
    `ranked` sorts each heap by score alone, a stable sort of the heap's
    array, best first; classes come in the order they were first seen.

    Differences from `SegmentEvaluator` (docs/faithfulness.md): a segment
    outside its own ``top_k`` classes is never listed for the others,
    rounded scores tie more often, and ties come out in the heap's order.
    The same `update` / `update_from_model` / `ranked` / `result` calls.

    Args:
        num_classes: width of the score matrices.
        top_k: classes listed per segment (the starter's ``--top_k``, 20).
        top_n: segments kept per class (``--segment_max_pred``; 100,000
            as on Kaggle).
        classes: the whitelisted class indices; None: no mask.
    """

    def __init__(self, num_classes, top_k=20, top_n=TOP_N, classes=None):
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int; got {top_k!r}.")
        if not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive int; got {top_n!r}.")
        self.num_classes = int(num_classes)
        self.top_k = min(top_k, self.num_classes)
        self.top_n = top_n
        self.mask = None
        if classes is not None:
            self.mask = np.zeros(self.num_classes, np.float32)
            self.mask[checked_classes(classes, self.num_classes)] = 1.0
        self.heaps = {}

    def update(self, segment_ids, scores):
        """Adds ``len(segment_ids)`` segments and their ``(S, C)`` scores."""
        # A copy: the whitelist mask multiplies it in place.
        scores = checked_scores(scores, len(segment_ids), self.num_classes)
        scores = scores.copy()
        if self.mask is not None:
            scores *= self.mask
        k = self.top_k
        for sid, row in zip(segment_ids, scores, strict=True):
            sid = sid.decode() if isinstance(sid, bytes) else str(sid)
            # Its line: the top k, best first (a stable sort of the
            # partition); classes off the whitelist are not listed.
            top = sorted(np.argpartition(row, -k)[-k:], key=lambda c: -row[c])
            for c in top:
                if self.mask is not None and not self.mask[c]:
                    continue
                # "%g": the starter writes the score so and reads it back.
                pair = (float(f"{float(row[c]):g}"), sid)
                heap = self.heaps.setdefault(int(c), [])
                if len(heap) >= self.top_n:
                    heapq.heappushpop(heap, pair)
                else:
                    heapq.heappush(heap, pair)
        return self

    update_from_model = SegmentEvaluator.update_from_model

    def ranked(self):
        """``{class: [segment id, ...]}``, each class's best first."""
        out = {}
        for c, heap in self.heaps.items():
            ordered = sorted(heap, key=lambda pair: pair[0], reverse=True)
            out[c] = [sid for _, sid in ordered]
        return out

    def result(self, ratings):
        """`segment_map` of the lists against `ratings`."""
        return segment_map(self.ranked(), ratings, self.top_n)


def _numpy_batches(dataset):
    if hasattr(dataset, "as_numpy_iterator"):
        return dataset.as_numpy_iterator()
    return iter(dataset)


def submission_lines(ranked, sort_classes=True):
    """The 2019 Kaggle CSV, a line at a time: header ``Class,Segments``,
    then per class its segment ids, best first, space separated (classes
    in increasing order, or in `ranked`'s order)."""
    yield "Class,Segments\n"
    for c in sorted(ranked) if sort_classes else ranked:
        yield f"{c}," + " ".join(ranked[c]) + "\n"


# The 2019 task scores 1000 classes of the 3862; its top_n.
SEGMENT_TOP_N = TOP_N
SEGMENT_SIZE = constants.SEGMENT_SIZE
