"""TensorFlow SavedModels of trained models, for serving."""


def export_saved_model(model_path, directory, check=True):
    """Exports a .keras model (or a model) as a TensorFlow SavedModel.

    The SavedModel's ``serve`` signature takes the model's inputs as they
    come from the records: uint8 frames (B, T, D) per modality and int32
    ``num_frames``. With ``check``, the exported function is run on a
    random batch and compared with the Keras model.

    Args:
        model_path: a .keras path, or a `keras.Model` (e.g. from
            `keras_gmsa.from_preset`).
        directory: the SavedModel's directory.
        check: compare the served outputs with the model's.

    Returns:
        max |served - Keras| on the random batch (None without `check`).
    """
    import keras
    import numpy as np

    import keras_gmsa  # noqa: F401  (registers the layers)

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "export writes a TensorFlow SavedModel and needs "
            "KERAS_BACKEND=tensorflow; a .keras file saved on any backend "
            "loads there."
        )
    import tensorflow as tf

    if isinstance(model_path, keras.Model):
        model = model_path
    else:
        model = keras.saving.load_model(model_path)
    model.export(directory, format="tf_saved_model", verbose=False)
    if not check:
        return None
    rng = np.random.default_rng(0)
    batch = {}
    for name, tensor in model.input.items():
        shape = (3,) + tuple(tensor.shape[1:])
        if name == "num_frames":
            frames = int(next(iter(model.input.values())).shape[1])
            batch[name] = np.array([frames, frames // 2, 0], "int32")
        elif tensor.dtype == "uint8":
            batch[name] = rng.integers(0, 256, shape).astype("uint8")
        else:
            batch[name] = rng.normal(size=shape).astype(tensor.dtype)
    reloaded = tf.saved_model.load(directory)  # keep it: it owns the weights
    served = reloaded.serve(batch)
    served = served.numpy() if hasattr(served, "numpy") else served
    expected = keras.ops.convert_to_numpy(model.predict_on_batch(batch))
    return float(np.abs(served - expected).max())
