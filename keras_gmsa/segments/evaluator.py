"""Every segment ranked for every class, in O(classes x top_n) memory.

`SegmentEvaluator` builds the ranked lists from batches of segment scores
keeping only each class's ``top_n`` best segments, so its memory is
O(classes x top_n) whatever the number of segments: every segment is
ranked for every class by its float32 score; ties in score keep the
segment that came first (a later segment must score strictly higher to
displace one at the cut).
"""

import numpy as np

from keras_gmsa.segments.metric import TOP_N
from keras_gmsa.segments.metric import checked_classes
from keras_gmsa.segments.metric import checked_scores
from keras_gmsa.segments.metric import numpy_batches
from keras_gmsa.segments.metric import ranking_keys
from keras_gmsa.segments.metric import segment_map


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

        for step, batch in enumerate(numpy_batches(dataset)):
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
