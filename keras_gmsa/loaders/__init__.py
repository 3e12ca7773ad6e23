"""The native records read without TensorFlow: Grain datasets (JAX
users) and PyTorch DataLoaders, batch for batch what `keras_gmsa.data`'s
tf.data readers yield.

A package of its own (not under `keras_gmsa.data`, which needs
TensorFlow): "loaders" as Grain and PyTorch call the objects that feed
`fit`. It imports neither TensorFlow nor, until a loader of theirs is
made, Grain or PyTorch.
"""

from keras_gmsa.loaders.choice import LOADERS
from keras_gmsa.loaders.choice import resolve_loader
from keras_gmsa.loaders.choice import tensorboard_choice
from keras_gmsa.loaders.for_model import check_segment_rated
from keras_gmsa.loaders.for_model import loader_for_model
from keras_gmsa.loaders.for_model import numpy_batches
from keras_gmsa.loaders.for_model import segments_loader_for_model
from keras_gmsa.loaders.readers import frame_loader
from keras_gmsa.loaders.readers import segment_loader
from keras_gmsa.loaders.readers import video_loader
from keras_gmsa.loaders.tfrecord import ReadStats
from keras_gmsa.loaders.tfrecord import RecordError
from keras_gmsa.loaders.tfrecord import RecordFileError
from keras_gmsa.loaders.tfrecord import resolve_files

__all__ = [
    "LOADERS",
    "ReadStats",
    "RecordError",
    "RecordFileError",
    "check_segment_rated",
    "frame_loader",
    "loader_for_model",
    "numpy_batches",
    "resolve_files",
    "resolve_loader",
    "segment_loader",
    "segments_loader_for_model",
    "tensorboard_choice",
    "video_loader",
]
