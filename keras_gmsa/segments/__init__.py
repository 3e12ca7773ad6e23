"""The 2019 segment task: rank every 5-second segment for each class.

YouTube-8M's 2019 challenge rates some 5-frame segments of the validate
videos per class and scores, per class, a ranked list of segments by
MAP@100,000 (yt8m-format.md 8.6). Everything about the task is here
except reading the records, which stays with the other readers
(`keras_gmsa.data.segment_dataset`, `keras_gmsa.data.segments_for_model`,
`keras_gmsa.loaders`):

=======================  ================================================
`metric`                 `segment_map`, segment ids, the submission CSV
`evaluator`              `SegmentEvaluator`: every segment ranked for
                         every class in O(classes x top_n) memory
`starter_lists`          `StarterSegmentLists`: the starter's lists
`scoring`                `rank_segments` / `evaluate_segments` with the
                         ``"windows"`` or ``"pooled"`` scorer,
                         `pooled_segment_model`, `ratings_of`
`loss`                   `LabelWeightedBinaryCrossentropy`
`callback`               `SegmentMetrics` (``val_segment_map``)
`task`                   what a ``--segments`` training run changes
=======================  ================================================

The pooled scorer's layer is `keras_gmsa.layers.SegmentMeanPooling`; the
layers it finds in a model are named in `keras_gmsa.names`.
"""

from keras_gmsa.layers.segment_mean_pooling import SegmentMeanPooling
from keras_gmsa.segments.callback import SegmentMetrics
from keras_gmsa.segments.evaluator import SegmentEvaluator
from keras_gmsa.segments.loss import LabelWeightedBinaryCrossentropy
from keras_gmsa.segments.metric import TOP_N
from keras_gmsa.segments.metric import segment_id
from keras_gmsa.segments.metric import segment_map
from keras_gmsa.segments.metric import submission_lines
from keras_gmsa.segments.scoring import RANKINGS
from keras_gmsa.segments.scoring import SCORERS
from keras_gmsa.segments.scoring import evaluate_segments
from keras_gmsa.segments.scoring import frame_features
from keras_gmsa.segments.scoring import pooled_segment_model
from keras_gmsa.segments.scoring import rank_segments
from keras_gmsa.segments.scoring import ratings_of
from keras_gmsa.segments.scoring import segment_lists
from keras_gmsa.segments.starter_lists import StarterSegmentLists

__all__ = [
    "RANKINGS",
    "SCORERS",
    "TOP_N",
    "LabelWeightedBinaryCrossentropy",
    "SegmentEvaluator",
    "SegmentMeanPooling",
    "SegmentMetrics",
    "StarterSegmentLists",
    "evaluate_segments",
    "frame_features",
    "pooled_segment_model",
    "rank_segments",
    "ratings_of",
    "segment_id",
    "segment_lists",
    "segment_map",
    "submission_lines",
]
