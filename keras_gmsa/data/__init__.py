"""tf.data readers of the native YouTube-8M records, and synthetic data.

This subpackage needs TensorFlow (for tf.data and record I/O) whatever the
Keras backend; the datasets it returns feed models on every backend.
"""

try:
    import tensorflow  # noqa: F401
except ImportError as error:  # pragma: no cover
    raise ImportError(
        "keras_gmsa.data reads TFRecords with tf.data and needs TensorFlow: "
        "pip install 'keras-gmsa[tensorflow]' (or [tensorflow-cpu])."
    ) from error

from keras_gmsa.data import synthetic
from keras_gmsa.data.readers import dequantize
from keras_gmsa.data.readers import frame_dataset
from keras_gmsa.data.readers import segment_dataset
from keras_gmsa.data.readers import video_dataset
from keras_gmsa.data.records import ReadStats
from keras_gmsa.data.records import RecordFileError
from keras_gmsa.data.records import resolve_files
from keras_gmsa.data.records import verify_records
from keras_gmsa.data.vocabulary import Vocabulary
from keras_gmsa.data.vocabulary import top_k
from keras_gmsa.data.vocabulary import write_submission

__all__ = [
    "ReadStats",
    "RecordFileError",
    "Vocabulary",
    "dequantize",
    "frame_dataset",
    "resolve_files",
    "segment_dataset",
    "synthetic",
    "top_k",
    "verify_records",
    "video_dataset",
    "write_submission",
]
