"""The segment lists of the starter's ``inference.py``.

`StarterSegmentLists` builds the lists the starter's ``inference.py``
writes instead (``--ranking starter``), to reproduce a starter
submission: each segment is listed only under its own ``top_k`` classes,
with its score written at six significant digits, and each class keeps
its best ``top_n`` segments in a heap of ``(score, segment id)`` pairs.
"""

import heapq

import numpy as np

from keras_gmsa.segments.evaluator import SegmentEvaluator
from keras_gmsa.segments.metric import TOP_N
from keras_gmsa.segments.metric import checked_classes
from keras_gmsa.segments.metric import checked_scores
from keras_gmsa.segments.metric import segment_map


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
