"""What the commands share: parent parsers, errors, loading (private)."""

import argparse
import json

from keras_gmsa import constants

# The help of a MODEL argument: every command that reads a trained model
# takes a .keras file or a saved preset (`load_model`).
MODEL_HELP = (
    "a .keras file, or a preset: its directory, hf://owner/name, "
    "kaggle://owner/model/keras/variant or gs://bucket/dir"
)


class UserError(ValueError):
    """A mistake of the user's (a file, a pattern, a record, an option):
    the command line prints its message in one line and exits with 2."""


def parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(items):
    """``["key=value", ...]`` (JSON values) -> dict, for ``--option``."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--option expects KEY=VALUE, got {item!r}")
        options[key] = parse_value(value)
    return options


def parse_features(text):
    """``rgb:1024,audio:128`` -> ``{"rgb": 1024, "audio": 128}``."""
    features = {}
    for part in text.split(","):
        name, _, size = part.partition(":")
        if not name.strip() or not size.isdigit():
            raise argparse.ArgumentTypeError(
                f"expected NAME:SIZE[,NAME:SIZE], got {text!r}"
            )
        features[name.strip()] = int(size)
    return features


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each flag's default, where it has one: a flag whose
    default comes from elsewhere says so in its own help."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default:" in text
            or action.default in (None, argparse.SUPPRESS, False)
            or not action.option_strings
        ):
            return text
        return text + " (default: %(default)s)"


def parents():
    """The argparse parents that give commands the same flags."""
    records = argparse.ArgumentParser(add_help=False)
    records.add_argument(
        "--batch-size",
        type=positive_int,
        default=256,
        help="videos per batch",
    )
    records.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="a bad record stops the command naming its file and index "
        "(raise), or is skipped and counted (skip)",
    )
    records.add_argument(
        "--id-split",
        default=None,
        metavar="PART:FRACTION",
        help="read one part of a deterministic split by video id, PART "
        "holdout or rest (e.g. rest:0.03: the GMSA paper's test set is the "
        "validate videos not held out)",
    )
    shape = argparse.ArgumentParser(add_help=False)
    shape.add_argument(
        "--num-classes",
        type=positive_int,
        default=constants.NUM_CLASSES,
        help="vocabulary size (3862: the 2018 data)",
    )
    shape.add_argument(
        "--max-frames",
        type=positive_int,
        default=constants.MAX_FRAMES,
        help="frames per video (longer ones are cropped, shorter padded)",
    )
    shape.add_argument(
        "--features",
        type=parse_features,
        default=None,
        metavar="NAME:SIZE,...",
        help="feature names and sizes (default: the model's; rgb:1024,"
        "audio:128 for frame-level records)",
    )
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a build_model option (JSON value), e.g. num_heads=4; repeat "
        "for more",
    )
    loader = argparse.ArgumentParser(add_help=False)
    loader.add_argument(
        "--loader",
        choices=["auto", "tf", "grain", "torch"],
        default="auto",
        help="what reads the records: tf.data, Grain or a PyTorch "
        "DataLoader (auto: tf.data where TensorFlow is installed, else "
        "the Keras backend's)",
    )
    loader.add_argument(
        "--loader-workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes that parse records (grain and torch "
        "loaders; 0: this process)",
    )
    return {
        "records": records,
        "shape": shape,
        "options": options,
        "loader": loader,
    }


def load_model(path):
    """A trained model, or a `UserError` that says what is wrong with it.

    `path` is a .keras file, local or on any `tf.io.gfile` filesystem
    (``gs://...``), or a saved preset: a directory (local or ``gs://``),
    ``hf://owner/name`` or ``kaggle://...``
    (`keras_gmsa.models.preset_io`).
    """
    import keras

    import keras_gmsa  # noqa: F401  (registers the layers)
    from keras_gmsa import paths
    from keras_gmsa.models import preset_io

    if preset_io.is_preset_handle(path):
        try:
            return preset_io.from_preset(path)
        except preset_io.PresetError as error:
            raise UserError(str(error)) from error
    if not paths.is_hub(path):
        if not paths.exists(path):
            raise UserError(f"{path}: no such file")
        if paths.isdir(path) or not paths.is_zip(path):
            raise UserError(
                f"{path}: not a .keras model file (a .keras file is a zip "
                "archive; this one is not: truncated or another format?)"
            )
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds here
        raise UserError(
            f"{path}: the model cannot be loaded ({one_line(error)})"
        ) from error


def one_line(error):
    """The first line that says something of an exception's message."""
    text = str(error)
    for line in text.splitlines():
        # Our readers' checks name the file and record after this marker.
        if "keras_gmsa:" in line:
            start = line.index("keras_gmsa:") + len("keras_gmsa:")
            # (TensorFlow's assertion wraps the message in brackets.)
            return line[start:].strip().rstrip("]").strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
