"""tf.data readers of the native YouTube-8M records, and synthetic data.

This subpackage needs TensorFlow (for tf.data and record I/O) whatever the
Keras backend; the datasets it returns feed models on every backend.
Without TensorFlow only its TensorFlow-free modules import
(`keras_gmsa.data.options`, `keras_gmsa.data.id_split`, for
`keras_gmsa.loaders`); any other name raises the ImportError below.
"""

_FREE_OF_TENSORFLOW = ("options", "id_split", "vocabulary")

try:
    import tensorflow
except ImportError as error:  # pragma: no cover
    _MISSING = ImportError(
        "reading records needs TensorFlow (keras_gmsa.data is built on "
        "tf.data, whatever the Keras backend): "
        "pip install 'keras-gmsa[tensorflow-cpu]' (or [tensorflow] on GPUs), "
        "or read them without it with keras_gmsa.loaders (Grain or PyTorch)"
    )
    _MISSING.__cause__ = error

    def __getattr__(name):
        if name.startswith("__") or name in _FREE_OF_TENSORFLOW:
            # The import machinery asks before importing a submodule.
            raise AttributeError(name)
        raise _MISSING

else:
    _MISSING = None


def hide_gpus_from_tensorflow():
    """Keeps TensorFlow off the GPUs unless it is the Keras backend.

    tf.data feeds JAX and PyTorch models too, and a TensorFlow that sees
    the GPUs reserves their memory. Call this before TensorFlow first uses
    a device (the command line and the example scripts do); importing
    `keras_gmsa.data` changes nothing by itself. Returns True if the GPUs
    are hidden (or there were none to hide), False if it came too late.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return False
    try:
        tensorflow.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow has initialised its devices
        return False
    return True


if _MISSING is None:
    from keras_gmsa.data import synthetic  # noqa: E402
    from keras_gmsa.data.conditional import sample_label_subsets  # noqa: E402
    from keras_gmsa.data.conditional import with_given_labels  # noqa: E402
    from keras_gmsa.data.for_model import dataset_for_model  # noqa: E402
    from keras_gmsa.data.for_model import segments_for_model  # noqa: E402
    from keras_gmsa.data.frame import frame_dataset  # noqa: E402
    from keras_gmsa.data.id_split import IdSplit  # noqa: E402
    from keras_gmsa.data.id_split import in_split  # noqa: E402
    from keras_gmsa.data.options import ReaderOptions  # noqa: E402
    from keras_gmsa.data.pipeline import dequantize  # noqa: E402
    from keras_gmsa.data.records import ReadStats  # noqa: E402
    from keras_gmsa.data.records import RecordFileError  # noqa: E402
    from keras_gmsa.data.records import find_wrong_types  # noqa: E402
    from keras_gmsa.data.records import resolve_files  # noqa: E402
    from keras_gmsa.data.records import verify_records  # noqa: E402
    from keras_gmsa.data.segment import segment_dataset  # noqa: E402
    from keras_gmsa.data.video import video_dataset  # noqa: E402
    from keras_gmsa.data.vocabulary import Vocabulary  # noqa: E402
    from keras_gmsa.data.vocabulary import top_k  # noqa: E402
    from keras_gmsa.data.vocabulary import write_submission  # noqa: E402

__all__ = [
    "IdSplit",
    "ReaderOptions",
    "in_split",
    "ReadStats",
    "RecordFileError",
    "Vocabulary",
    "dataset_for_model",
    "segments_for_model",
    "hide_gpus_from_tensorflow",
    "dequantize",
    "find_wrong_types",
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
