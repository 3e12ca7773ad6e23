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


def _keep_gpus_for_the_backend():
    # tf.data feeds JAX/PyTorch models too; a TensorFlow that sees the GPUs
    # would reserve their memory. Hide them from TensorFlow unless it is the
    # Keras backend (too late once TensorFlow has initialised its devices).
    import keras

    if keras.backend.backend() != "tensorflow":
        try:
            tensorflow.config.set_visible_devices([], "GPU")
        except RuntimeError:
            pass


_keep_gpus_for_the_backend()

from keras_gmsa.data import synthetic  # noqa: E402
from keras_gmsa.data.id_split import IdSplit  # noqa: E402
from keras_gmsa.data.id_split import in_split  # noqa: E402
from keras_gmsa.data.readers import dataset_for_model  # noqa: E402
from keras_gmsa.data.readers import dequantize  # noqa: E402
from keras_gmsa.data.readers import frame_dataset  # noqa: E402
from keras_gmsa.data.readers import sample_label_subsets  # noqa: E402
from keras_gmsa.data.readers import segment_dataset  # noqa: E402
from keras_gmsa.data.readers import video_dataset  # noqa: E402
from keras_gmsa.data.readers import with_given_labels  # noqa: E402
from keras_gmsa.data.records import ReadStats  # noqa: E402
from keras_gmsa.data.records import RecordFileError  # noqa: E402
from keras_gmsa.data.records import resolve_files  # noqa: E402
from keras_gmsa.data.records import verify_records  # noqa: E402
from keras_gmsa.data.vocabulary import Vocabulary  # noqa: E402
from keras_gmsa.data.vocabulary import top_k  # noqa: E402
from keras_gmsa.data.vocabulary import write_submission  # noqa: E402

__all__ = [
    "IdSplit",
    "in_split",
    "ReadStats",
    "RecordFileError",
    "Vocabulary",
    "dataset_for_model",
    "dequantize",
    "frame_dataset",
    "resolve_files",
    "segment_dataset",
    "synthetic",
    "top_k",
    "verify_records",
    "video_dataset",
    "with_given_labels",
    "sample_label_subsets",
    "write_submission",
]
