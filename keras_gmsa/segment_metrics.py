"""Moved to `keras_gmsa.segments` (metric, evaluator, starter_lists);
these names stay importable from here."""

from keras_gmsa.constants import SEGMENT_SIZE  # noqa: F401
from keras_gmsa.segments.evaluator import SegmentEvaluator  # noqa: F401
from keras_gmsa.segments.metric import TOP_N  # noqa: F401
from keras_gmsa.segments.metric import TOP_N as SEGMENT_TOP_N  # noqa: F401
from keras_gmsa.segments.metric import checked_classes  # noqa: F401
from keras_gmsa.segments.metric import checked_scores  # noqa: F401
from keras_gmsa.segments.metric import ranking_keys  # noqa: F401
from keras_gmsa.segments.metric import segment_id  # noqa: F401
from keras_gmsa.segments.metric import segment_map  # noqa: F401
from keras_gmsa.segments.metric import submission_lines  # noqa: F401
from keras_gmsa.segments.starter_lists import StarterSegmentLists  # noqa: F401
