"""Where a saved preset's files live: the local disk, the Hugging Face Hub,
Kaggle or any `tf.io.gfile` filesystem (private; `preset_io` reads and
writes the preset format over these).
"""

import os

HF_PREFIX = "hf://"
KAGGLE_PREFIX = "kaggle://"


class PresetError(ValueError):
    """A handle that names no loadable preset, or a preset that cannot be
    written; the message is one line that says what is wrong."""


# Remote presets already fetched by this process: handle -> local directory.
_FETCHED = {}


def resolve(handle):
    """The local directory that holds a saved preset's files, fetched
    first if it is remote (once per process).

    Args:
        handle: a local directory, ``hf://...``, ``kaggle://...`` or a
            `tf.io.gfile` directory (``gs://...``).

    Returns:
        A local directory path.
    """
    handle = os.fspath(handle)
    if "://" not in handle:
        if os.path.isdir(handle):
            return handle
        if os.path.exists(handle):
            raise PresetError(
                f"{handle}: a file, not a preset directory (a .keras file "
                "loads with keras.saving.load_model)."
            )
        raise PresetError(
            f"{handle}: no such preset (neither a directory nor one of "
            "keras_gmsa.list_presets())."
        )
    if handle not in _FETCHED:
        if handle.startswith(HF_PREFIX):
            _FETCHED[handle] = _fetch_hf(handle)
        elif handle.startswith(KAGGLE_PREFIX):
            _FETCHED[handle] = _fetch_kaggle(handle)
        else:
            _FETCHED[handle] = _fetch_gfile(handle)
    return _FETCHED[handle]


def _fetch_hf(handle):
    try:
        import huggingface_hub
    except ImportError:
        raise PresetError(
            f"{handle}: the model cannot be loaded (the Hugging Face Hub "
            "needs huggingface_hub: pip install huggingface_hub)"
        ) from None
    from keras_gmsa.version import __version__

    repo_id = handle.removeprefix(HF_PREFIX)
    try:
        return huggingface_hub.snapshot_download(
            repo_id=repo_id,
            library_name="keras-gmsa",
            library_version=__version__,
        )
    except Exception as error:  # network, validation, offline, missing
        raise PresetError(
            f"{handle}: the model cannot be loaded (Hugging Face Hub: "
            f"{first_line(error)})"
        ) from error


def _fetch_kaggle(handle):
    try:
        import kagglehub
    except ImportError:
        raise PresetError(
            f"{handle}: the model cannot be loaded (Kaggle needs kagglehub: "
            "pip install kagglehub)"
        ) from None
    kaggle_handle = handle.removeprefix(KAGGLE_PREFIX)
    if len(kaggle_handle.split("/")) not in (4, 5):
        raise PresetError(
            f"{handle}: a Kaggle handle is kaggle://owner/model/keras/"
            "variant[/version]."
        )
    try:
        return kagglehub.model_download(kaggle_handle)
    except Exception as error:  # network, credentials, missing
        raise PresetError(
            f"{handle}: the model cannot be loaded (Kaggle: "
            f"{first_line(error)})"
        ) from error


def _fetch_gfile(handle):
    import atexit
    import shutil
    import tempfile

    import tensorflow as tf

    try:
        if not tf.io.gfile.isdir(handle):
            raise PresetError(f"{handle}: no such preset directory.")
        names = [
            name
            for name in tf.io.gfile.listdir(handle)
            if not tf.io.gfile.isdir(os.path.join(handle, name))
        ]
        local = tempfile.mkdtemp(prefix="keras_gmsa_preset_")
        atexit.register(shutil.rmtree, local, ignore_errors=True)
        for name in names:
            tf.io.gfile.copy(
                os.path.join(handle, name), os.path.join(local, name)
            )
    except tf.errors.OpError as error:
        raise PresetError(
            f"{handle}: the model cannot be loaded ({first_line(error)})"
        ) from error
    return local


def first_line(error):
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


class LocalFiles:
    """The file operations `save_to_preset` needs, on the local disk."""

    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    remove = staticmethod(os.remove)

    @staticmethod
    def makedirs(path):
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def write_text(path, text):
        with open(path, "w") as f:
            f.write(text)


class GfileFiles:
    """The same on any `tf.io.gfile` filesystem."""

    def __init__(self):
        import tensorflow as tf

        self.gfile = tf.io.gfile

    def exists(self, path):
        return self.gfile.exists(path)

    def isdir(self, path):
        return self.gfile.isdir(path)

    def listdir(self, path):
        return self.gfile.listdir(path)

    def remove(self, path):
        self.gfile.remove(path)

    def makedirs(self, path):
        self.gfile.makedirs(path)

    def write_text(self, path, text):
        with self.gfile.GFile(path, "w") as f:
            f.write(text)

    def copy(self, source, target):
        self.gfile.copy(source, target, overwrite=True)
