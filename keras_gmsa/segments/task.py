"""What a training run does differently for the 2019 segment task.

A run with ``segments=True`` (``keras-gmsa train --segments``) fine-tunes
a model on the rated 5-frame segments of segment-rated records, usually
starting from a model trained on video labels. It differs from a
video-level run in four places, each named here:

- records: both patterns must be segment-rated (`check_records`, before
  anything is written);
- training data: each rated segment as a short video with its label
  weights (`training_data`);
- loss: `LabelWeightedBinaryCrossentropy` (unrated pairs weigh 0);
- validation: `SegmentMetrics` (the segment MAP, which reads the
  validation records itself), followed as `MONITOR`.
"""

from keras_gmsa.segments.callback import SegmentMetrics  # noqa: F401
from keras_gmsa.segments.loss import LabelWeightedBinaryCrossentropy  # noqa: F401

# The log key a segment run's schedule follows and checkpoints by.
MONITOR = "val_segment_map"


def check_records(patterns, loader="auto"):
    """Raises, naming the file, unless the first record of each pattern
    is segment-rated (frame-level records have no ratings to train on)."""
    from keras_gmsa import loaders

    for pattern in patterns:
        loaders.check_segment_rated(pattern, loader)


def training_data(model, pattern, **reader):
    """The rated segments of `pattern` shaped for `model`, with label
    weights: ``(features, labels, label_weights)`` batches for `fit`.

    ``reader``: `keras_gmsa.loaders.segments_loader_for_model`'s options
    (``loader``, ``batch_size``, ``shuffle``, ``seed``, ``on_error``, ...).
    """
    from keras_gmsa import loaders

    return loaders.segments_loader_for_model(
        model, pattern, weighted=True, **reader
    )
