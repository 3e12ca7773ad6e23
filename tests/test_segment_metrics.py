"""The 2019 segment metric (yt8m-format.md 8.6) on hand-computed cases and
its edge cases, and the streaming evaluator against the exact metric."""

import numpy as np
import pytest

from keras_gmsa import segments
from keras_gmsa.segments import submission_lines

# the segment metric is NumPy: one backend.
pytestmark = pytest.mark.backends("torch")

# Class 0: a and c positive, b a rated negative, d unrated.
# Class 1: e positive, f positive. Class 2: only a rated negative (g).
RATINGS = {
    ("v1:0", 0): 1.0,  # a
    ("v1:5", 0): 0.0,  # b
    ("v2:10", 0): 1.0,  # c
    ("v3:0", 1): 1.0,  # e
    ("v3:5", 1): 1.0,  # f
    ("v4:0", 2): 0.0,  # g
}


def test_a_hand_computed_case():
    ranked = {
        # d (unrated) dropped: b, a, c -> hits at ranks 2 and 3 of D_0 = 2:
        # (1/2 + 2/3) / 2.
        0: ["v9:0", "v1:5", "v1:0", "v2:10"],
        # f at rank 1, e missed: (1/1) / 2.
        1: ["v3:5"],
    }
    expected = ((1 / 2 + 2 / 3) / 2 + 1 / 2) / 2
    assert segments.segment_map(ranked, RATINGS) == pytest.approx(expected)


def test_unrated_segments_are_neither_hits_nor_misses():
    base = {0: ["v1:0", "v1:5", "v2:10"], 1: ["v3:0", "v3:5"]}
    noisy = {
        0: ["u:0", "v1:0", "u:5", "v1:5", "u:10", "v2:10", "u:15"],
        1: ["v3:0", "u:0", "v3:5"],
    }
    assert segments.segment_map(noisy, RATINGS) == segments.segment_map(
        base, RATINGS
    )
    # A segment rated for another class only is unrated for this one.
    assert segments.segment_map({1: ["v1:0", "v3:0", "v3:5"]}, RATINGS) == 1.0


def test_classes_without_positives_or_not_submitted_are_not_averaged():
    one = {1: ["v3:0", "v3:5"]}
    assert segments.segment_map(one, RATINGS) == 1.0
    # Class 2 has a rating but no positive; class 7 no rating at all.
    more = {1: ["v3:0", "v3:5"], 2: ["v4:0"], 7: ["v1:0"]}
    assert segments.segment_map(more, RATINGS) == 1.0
    assert segments.segment_map({2: ["v4:0"]}, RATINGS) == 0.0
    assert segments.segment_map({}, RATINGS) == 0.0


def test_the_lists_are_cut_at_top_n_before_unrated_segments_are_dropped():
    ranked = {1: ["u:0", "v3:0", "v3:5"]}
    # Ranks 1-2 count: u (unrated, dropped) and e: 1/1 of D_1 = 2.
    assert segments.segment_map(ranked, RATINGS, top_n=2) == 0.5
    assert segments.segment_map(ranked, RATINGS, top_n=3) == 1.0
    assert segments.segment_map(ranked, RATINGS, top_n=1) == 0.0


def test_a_segment_twice_in_one_class_is_refused():
    with pytest.raises(ValueError, match="'v3:0' is ranked twice for class 1"):
        segments.segment_map({1: ["v3:0", "v3:5", "v3:0"]}, RATINGS)
    with pytest.raises(ValueError, match="top_n"):
        segments.segment_map({}, RATINGS, top_n=0)


def test_ties_keep_the_segment_that_came_first():
    evaluator = segments.SegmentEvaluator(2, top_n=2)
    evaluator.update(["a:0", "b:0"], [[0.5, 0.1], [0.5, 0.2]])
    # c ties a and b on class 0 and comes later: it does not enter.
    evaluator.update(["c:0"], [[0.5, 0.9]])
    ranked = evaluator.ranked()
    assert ranked[0] == ["a:0", "b:0"]
    assert ranked[1] == ["c:0", "b:0"]


def _exact_ranking(ids, scores, c, top_n):
    order = sorted(range(len(ids)), key=lambda i: (-scores[i, c], i))
    return [ids[i] for i in order[:top_n]]


def test_the_streaming_evaluator_equals_the_exact_metric(rng):
    num, classes, top_n = 600, 5, 40
    ids = [f"v{i // 7}:{5 * (i % 7)}" for i in range(num)]
    # Scores on a coarse grid: many ties, broken by arrival; negative
    # scores, -0.0 (equal to 0.0) and extremes too.
    scores = np.round(rng.random((num, classes)) * 2 - 1, 1).astype("float32")
    scores[::11, 0] = -0.0
    scores[1::13, 1] = np.float32(3.4e38)
    scores[2::17, 2] = np.float32(-3.4e38)
    ratings = {}
    for i in rng.choice(num, 300, replace=False):
        ratings[(ids[i], int(rng.integers(classes)))] = float(
            rng.random() < 0.5
        )
    evaluator = segments.SegmentEvaluator(classes, top_n=top_n, merge_size=50)
    evaluator.BLOCK = 2  # merges by blocks of classes, as at full size
    for start in range(0, num, 37):  # uneven batches
        evaluator.update(ids[start : start + 37], scores[start : start + 37])
        # Memory: at most top_n kept per class, plus less than merge_size
        # segments waiting to be merged.
        assert evaluator._kept.shape[1] <= top_n
        assert evaluator._pending_size < 50
    ranked = evaluator.ranked()
    exact = {c: _exact_ranking(ids, scores, c, top_n) for c in range(classes)}
    assert ranked == exact
    assert evaluator.result(ratings) == segments.segment_map(
        exact, ratings, top_n=top_n
    )
    # Against the whole ranking: the cut at top_n is the metric's own.
    whole = {c: _exact_ranking(ids, scores, c, num) for c in range(classes)}
    assert evaluator.result(ratings) == segments.segment_map(
        whole, ratings, top_n=top_n
    )


def test_only_the_chosen_classes_are_ranked():
    evaluator = segments.SegmentEvaluator(4, top_n=3, classes=[3, 1])
    evaluator.update(["a:0", "b:0"], np.eye(2, 4))
    assert sorted(evaluator.ranked()) == [1, 3]
    with pytest.raises(ValueError, match="outside"):
        segments.SegmentEvaluator(4, classes=[4])
    with pytest.raises(ValueError, match=r"scores must be \(2, 4\)"):
        evaluator.update(["a:0", "b:0"], np.zeros((2, 3)))


def test_the_2019_submission_format():
    lines = list(submission_lines({7: ["v1:0", "v2:5"], 3: ["v9:295"]}))
    assert lines == ["Class,Segments\n", "3,v9:295\n", "7,v1:0 v2:5\n"]


SCORES = np.array(
    [
        [0.9000001, 0.8, 0.1, 0.0],  # a:0
        [0.9, 0.2, 0.7, 0.0],  # b:0
        [0.95, 0.85, 0.1, 0.9],  # c:0
        [0.1, 0.85, 0.2, 0.3],  # d:5
    ],
    "float32",
)
IDS = ["a:0", "b:0", "c:0", "d:5"]


def test_the_starters_lists_by_hand():
    # top_k 2: a -> {0, 1}, b -> {0, 2}, c -> {0, 3}, d -> {1, 3}.
    # Class 0: a and b both read back as 0.9 (six significant digits);
    # the heap of two keeps (0.95, c) and, of the tie, the larger id b.
    # Class 1: c's 0.85 is outside c's own top 2, so c is not listed.
    lists = segments.StarterSegmentLists(4, top_k=2, top_n=2)
    lists.update(IDS[:2], SCORES[:2]).update(IDS[2:], SCORES[2:])
    assert lists.ranked() == {
        0: ["c:0", "b:0"],
        1: ["d:5", "a:0"],
        2: ["b:0"],
        3: ["c:0", "d:5"],
    }
    # Every segment ranked for every class by its float32 score.
    exact = segments.SegmentEvaluator(4, top_n=2).update(IDS, SCORES)
    assert exact.ranked() == {
        0: ["c:0", "a:0"],
        1: ["c:0", "d:5"],
        2: ["b:0", "d:5"],
        3: ["c:0", "d:5"],
    }
    # A whitelist masks the scores before the top-k (top_k 1 here).
    listed = segments.StarterSegmentLists(4, top_k=1, top_n=2, classes=[1, 3])
    assert listed.update(IDS, SCORES).ranked() == {
        1: ["d:5", "a:0"],
        3: ["c:0"],
    }
    # top_k 3 with two whitelisted classes: the partition picks masked
    # classes (score 0) too, and the starter skips them (class 1 now
    # lists c, whose 0.85 is within its top 3 of the masked scores).
    listed = segments.StarterSegmentLists(4, top_k=3, top_n=2, classes=[1, 3])
    ranked = listed.update(IDS, SCORES).ranked()
    assert ranked == {1: ["c:0", "d:5"], 3: ["c:0", "d:5"]}
    # Classes come in the order of the first line's scores, best first.
    first = segments.StarterSegmentLists(4, top_k=4, top_n=2)
    assert list(first.update(IDS[:1], SCORES[:1]).ranked()) == [0, 1, 2, 3]
    first = segments.StarterSegmentLists(4, top_k=4, top_n=2)
    assert list(first.update(["x:0"], [[0.1, 0.9, 0.5, 0.7]]).ranked()) == [
        1,
        3,
        2,
        0,
    ]


def test_nan_scores_rank_last_and_a_segment_scored_twice_is_refused():
    evaluator = segments.SegmentEvaluator(1, top_n=3)
    scores = np.array([[0.5], [np.nan], [0.9], [-np.inf]], "float32")
    evaluator.update(["a:0", "n:0", "b:0", "i:0"], scores)
    assert evaluator.ranked() == {0: ["b:0", "a:0", "i:0"]}
    evaluator.update(["a:0"], [[0.1]])
    with pytest.raises(ValueError, match="'a:0' was scored twice"):
        evaluator.ranked()


def test_the_starters_ties_come_out_in_its_heaps_order():
    # Equal scores pushed as v:5, v:15, v:10 (as strings v:10 < v:15 <
    # v:5) leave the heap array [v:10, v:5, v:15]; the final sort is by
    # score alone (stable): neither arrival nor id order.
    pushed = ["v:5", "v:15", "v:10"]
    ties = np.full((3, 1), 0.5, "float32")
    lists = segments.StarterSegmentLists(1, top_k=1, top_n=3)
    assert lists.update(pushed, ties).ranked() == {0: ["v:10", "v:5", "v:15"]}
    # The exact ranking keeps the order they came in.
    exact = segments.SegmentEvaluator(1, top_n=3).update(pushed, ties)
    assert exact.ranked() == {0: pushed}


def test_the_old_import_paths_name_the_packages_objects():
    # Earlier versions had these in modules of their own; code written
    # against them keeps working.
    from keras_gmsa import callbacks
    from keras_gmsa import layers
    from keras_gmsa import losses
    from keras_gmsa import metrics
    from keras_gmsa import segment_metrics

    assert metrics.segment_map is segments.segment_map
    assert metrics.SegmentEvaluator is segments.SegmentEvaluator
    assert metrics.StarterSegmentLists is segments.StarterSegmentLists
    assert segment_metrics.submission_lines is submission_lines
    assert segment_metrics.SEGMENT_TOP_N == segments.TOP_N == 100_000
    assert callbacks.SegmentMetrics is segments.SegmentMetrics
    loss = segments.LabelWeightedBinaryCrossentropy
    assert losses.LabelWeightedBinaryCrossentropy is loss
    assert layers.SegmentMeanPooling is segments.SegmentMeanPooling
