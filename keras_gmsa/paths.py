"""Paths a user gives, on any filesystem TensorFlow reads.

Every file or directory a user names (records, models, configs,
vocabularies, class lists, outputs, run directories) goes through
`tf.io.gfile` here, or through Keras' saving code for models (which reads
``hf://`` as well), so that ``gs://...`` (or any other filesystem
TensorFlow has) works wherever a local path does. TensorFlow is imported
when a function is first called, not with this module; without
TensorFlow, local paths work through the standard library and a
``scheme://`` path is refused in one line.
"""

import errno
import os

# Models Keras fetches itself (Hugging Face Hub); tf.io.gfile has no such
# filesystem.
HUB_PREFIXES = ("hf://",)


class MissingFileError(FileNotFoundError):
    """A file to read does not exist: ``"PATH: no such file"``."""

    def __init__(self, path):
        super().__init__(errno.ENOENT, "no such file", str(path))

    def __str__(self):
        return f"{self.filename}: {self.strerror}"


class NotAFileError(IsADirectoryError):
    """A file to read is a directory: ``"PATH: a directory, not a file"``."""

    def __init__(self, path):
        super().__init__(errno.EISDIR, "a directory, not a file", str(path))

    def __str__(self):
        return f"{self.filename}: {self.strerror}"


class _LocalFiles:
    """The part of `tf.io.gfile` used here, for local paths: what a
    process without TensorFlow (`keras_gmsa.loaders`) reads and writes
    through. A ``scheme://`` path needs TensorFlow's filesystems."""

    @staticmethod
    def _local(path):
        if is_remote(path):
            raise ValueError(
                f"{path}: a {str(path).split('://')[0]}:// path needs "
                "TensorFlow's filesystems (pip install "
                "'keras-gmsa[tensorflow-cpu]'); without TensorFlow, local "
                "paths only."
            )
        return str(path)

    def exists(self, path):
        return os.path.exists(self._local(path))

    def isdir(self, path):
        return os.path.isdir(self._local(path))

    def makedirs(self, path):
        os.makedirs(self._local(path), exist_ok=True)

    def rmtree(self, path):
        import shutil

        shutil.rmtree(self._local(path))

    def GFile(self, path, mode="r"):  # noqa: N802 - tf.io.gfile's name
        return open(self._local(path), mode)

    def rename(self, source, target, overwrite=False):
        if not overwrite and os.path.exists(self._local(target)):
            raise FileExistsError(errno.EEXIST, "file exists", str(target))
        os.replace(self._local(source), self._local(target))


def _gfile():
    try:
        import tensorflow as tf
    except ImportError:
        return _LocalFiles()
    return tf.io.gfile


def is_remote(path):
    """Whether `path` names another filesystem than the local one
    (``scheme://...``)."""
    return "://" in str(path)


def is_hub(path):
    """Whether `path` is a model Keras fetches itself (``hf://``)."""
    return str(path).startswith(HUB_PREFIXES)


def exists(path):
    """Whether `path` exists (a file or a directory)."""
    return _gfile().exists(str(path))


def isdir(path):
    """Whether `path` is a directory."""
    return _gfile().isdir(str(path))


def makedirs(path):
    """Creates `path` and its parents (nothing if it exists)."""
    _gfile().makedirs(str(path))


def rmtree(path):
    """Deletes the directory `path` and everything under it."""
    _gfile().rmtree(str(path))


def join(path, *parts):
    """`os.path.join` that keeps a ``scheme://`` prefix whole."""
    return os.path.join(str(path), *parts)


def open_file(path, mode="r"):
    """`tf.io.gfile.GFile`; a missing file to read is a `MissingFileError`
    (a `FileNotFoundError` whose message is ``"PATH: no such file"``).

    Args:
        path: a local path or any `tf.io.gfile` filesystem's.
        mode: ``"r"``, ``"rb"``, ``"w"``, ``"wb"``, ``"a"``.

    Returns:
        The open file (a context manager).
    """
    path = str(path)
    gfile = _gfile()
    if mode.startswith("r") and not gfile.exists(path):
        raise MissingFileError(path)
    if mode.startswith("r") and gfile.isdir(path):
        raise NotAFileError(path)
    f = gfile.GFile(path, mode)
    if not mode.startswith("r"):
        # GFile opens on its first write: an unwritable path fails now,
        # not after the work whose output it was to hold.
        f.write(b"" if "b" in mode else "")
    return f


def read_text(path):
    """The text of a file (see `open_file`)."""
    with open_file(path, "r") as f:
        return f.read()


def write_text(path, text):
    """Writes `text` to `path` whole: to ``path.tmp``, then renamed over
    `path` (one rename on local disks; a remote copy is written once)."""
    path = str(path)
    tmp = path + ".tmp"
    with _gfile().GFile(tmp, "w") as f:
        f.write(text)
    _gfile().rename(tmp, path, overwrite=True)


def is_zip(path):
    """Whether the file `path` is a zip archive (a ``.keras`` file is)."""
    import zipfile

    with _gfile().GFile(str(path), "rb") as f:
        return zipfile.is_zipfile(f)
