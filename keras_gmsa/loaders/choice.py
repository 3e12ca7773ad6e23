"""Which reader reads records: tf.data, Grain or PyTorch."""

LOADERS = ("auto", "tf", "grain", "torch")
_INSTALL = {
    "tf": "pip install 'keras-gmsa[tensorflow-cpu]' (or [tensorflow])",
    "grain": "pip install 'keras-gmsa[jax]' (Grain comes with it)",
    "torch": "pip install 'keras-gmsa[torch]'",
}
_MODULES = {"tf": "tensorflow", "grain": "grain", "torch": "torch"}


def _importable(loader):
    import importlib

    try:
        importlib.import_module(_MODULES[loader])
    except ImportError:
        return False
    return True


def resolve_loader(loader="auto"):
    """``"tf"``, ``"grain"`` or ``"torch"``: the reader of records.

    ``"auto"``: tf.data when TensorFlow is installed (the readers of
    `keras_gmsa.data`); otherwise the loader of the Keras backend's
    framework (Grain on JAX, a DataLoader on PyTorch), or whichever of
    the two is installed. A named loader whose package is missing is an
    ImportError saying what to install.
    """
    if loader not in LOADERS:
        raise ValueError(f"loader must be one of {LOADERS}; got {loader!r}.")
    if loader != "auto":
        if not _importable(loader):
            raise ImportError(
                f"loader={loader!r} needs {_MODULES[loader]}: "
                f"{_INSTALL[loader]}"
            )
        return loader
    if _importable("tf"):
        return "tf"
    import keras

    order = ("grain", "torch")
    if keras.backend.backend() == "torch":
        order = ("torch", "grain")
    for name in order:
        if _importable(name):
            return name
    raise ImportError(
        "reading records needs TensorFlow, Grain or PyTorch: "
        f"{_INSTALL['grain']}, {_INSTALL['torch']} or {_INSTALL['tf']}"
    )


def tensorboard_choice(requested):
    """Whether a run writes TensorBoard logs (TensorFlow's summaries).

    ``None``: when TensorFlow is installed. ``True`` without TensorFlow is
    an ImportError in one line (before anything is written).
    """
    available = _importable("tf")
    if requested is None:
        return available
    if requested and not available:
        raise ImportError(
            "TensorBoard logs need TensorFlow (its summary writer): "
            f"{_INSTALL['tf']}, or train with --no-tensorboard (tensorboard "
            "= false)"
        )
    return bool(requested)
