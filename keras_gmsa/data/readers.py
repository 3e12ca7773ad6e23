"""Kept for imports: the readers live in `frame.py`, `video.py`,
`segment.py` (one parser per record layout) over `pipeline.py`, with their
shared options in `options.py`."""

from keras_gmsa.data.conditional import GIVEN_LABELS
from keras_gmsa.data.conditional import sample_label_subsets
from keras_gmsa.data.conditional import with_given_labels
from keras_gmsa.data.for_model import dataset_for_model
from keras_gmsa.data.frame import frame_dataset
from keras_gmsa.data.pipeline import dequantize
from keras_gmsa.data.segment import segment_dataset
from keras_gmsa.data.video import video_dataset

__all__ = [
    "GIVEN_LABELS",
    "dataset_for_model",
    "dequantize",
    "frame_dataset",
    "sample_label_subsets",
    "segment_dataset",
    "video_dataset",
    "with_given_labels",
]
