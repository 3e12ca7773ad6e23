"""Presets that carry weights: a trained model saved as a directory and
loaded by handle, as keras-hub shares its models.

A preset directory holds keras-hub's files (the layout Keras' own
``model.save(dir, zipped=False)`` and ``model.save("hf://...")`` write, so
``keras.saving.load_model(directory)`` reads one too)::

    config.json           keras.saving.serialize_keras_object(model)
    model.weights.h5      the model's weights (model.save_weights; no
                          optimizer state)
    metadata.json         versions, backend, date, description, classes,
                          inputs, the configuration it was built from
    vocabulary.csv        the class names, 2018 layout (if given)
    metrics.json          what the model scored (if given)
    training_config.json  how it was trained (if given)

A handle is a configuration preset's name (``"gateop_tp30"``: the paper's
configuration, built without weights), a local directory, a Hugging Face
repository (``hf://owner/name``, with ``huggingface_hub``), a Kaggle model
(``kaggle://owner/model/keras/variant[/version]``, with ``kagglehub``) or a
directory on any `tf.io.gfile` filesystem (``gs://bucket/dir``).
Fetching from those stores is `keras_gmsa.models._preset_stores`'s.

Example:
>>> keras_gmsa.save_to_preset(model, "my_gateop")  # doctest: +SKIP
>>> model = keras_gmsa.from_preset("my_gateop")  # doctest: +SKIP
"""

import datetime
import json
import os

import keras

from keras_gmsa.models import presets as presets_lib
from keras_gmsa.models._preset_stores import HF_PREFIX
from keras_gmsa.models._preset_stores import KAGGLE_PREFIX
from keras_gmsa.models._preset_stores import GfileFiles
from keras_gmsa.models._preset_stores import LocalFiles
from keras_gmsa.models._preset_stores import PresetError
from keras_gmsa.models._preset_stores import first_line
from keras_gmsa.models._preset_stores import resolve

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
VOCABULARY_FILE = "vocabulary.csv"
METRICS_FILE = "metrics.json"
TRAINING_CONFIG_FILE = "training_config.json"
# What `save_to_preset` writes (and replaces with overwrite=True).
PRESET_FILES = (
    CONFIG_FILE,
    WEIGHTS_FILE,
    METADATA_FILE,
    VOCABULARY_FILE,
    METRICS_FILE,
    TRAINING_CONFIG_FILE,
)
# The JSON files `load_preset_json` reads, by short name.
JSON_FILES = {
    "metadata": METADATA_FILE,
    "metrics": METRICS_FILE,
    "training_config": TRAINING_CONFIG_FILE,
}
# The version of this layout, in metadata.json.
FORMAT_VERSION = 1


def is_configuration(handle):
    """Whether `handle` names one of the papers' configurations
    (`keras_gmsa.list_presets()`: built without weights)."""
    return isinstance(handle, str) and handle in presets_lib.PRESETS


def is_preset_handle(handle):
    """Whether `handle` is a saved preset's place rather than a file: a
    local directory, ``hf://``, ``kaggle://``, or a directory on another
    `tf.io.gfile` filesystem. (Nothing is downloaded to decide.)"""
    handle = os.fspath(handle)
    if handle.startswith((HF_PREFIX, KAGGLE_PREFIX)):
        return True
    if "://" in handle:
        if handle.endswith(".keras"):
            return False
        try:
            import tensorflow as tf

            return tf.io.gfile.isdir(handle)
        except Exception:  # an unknown scheme: not ours to name
            return False
    return os.path.isdir(handle)


def save_to_preset(
    model,
    directory,
    vocabulary=None,
    metrics=None,
    training_config=None,
    description=None,
    overwrite=False,
):
    """Saves a (trained) model as a preset directory.

    The model's config is written with `keras.saving.serialize_keras_object`
    (its compile config included, so `from_preset` compiles it the same
    way), its weights with ``model.save_weights`` (the weights only: a
    compiled model's optimizer state stays out), and `metadata.json`.

    Args:
        model: a Functional `keras.Model` (any model of the zoo).
        directory: where to write: a local path or any `tf.io.gfile`
            filesystem's (``gs://...``); to publish on a hub, upload the
            directory (``huggingface_hub.upload_folder``,
            ``kagglehub.model_upload``).
        vocabulary: the class names: a vocabulary.csv path or a
            `keras_gmsa.data.Vocabulary`; None: none.
        metrics: a JSON-serialisable dict (e.g. a run's ``done.json``).
        training_config: a JSON-serialisable dict (e.g. a run's
            ``config.json``); its ``"model"`` names the configuration the
            model was built from in the metadata.
        description: one line for the metadata (default: the model's
            name and size).
        overwrite: replace the preset files of a non-empty `directory`
            (other files there are left alone); otherwise a non-empty
            `directory` is an error.

    Returns:
        The metadata written (a dict).
    """
    directory = os.fspath(directory)
    if directory.startswith((HF_PREFIX, KAGGLE_PREFIX)):
        raise PresetError(
            f"{directory}: save the preset to a local directory, then "
            "upload it (huggingface_hub.upload_folder or "
            "kagglehub.model_upload)."
        )
    if not isinstance(model, keras.Model):
        raise PresetError(
            f"save_to_preset takes a keras.Model; got {type(model).__name__}."
        )
    num_classes = int(model.output_shape[-1])
    vocabulary_text = _vocabulary_text(vocabulary, num_classes)
    remote = "://" in directory
    fs = GfileFiles() if remote else LocalFiles()
    if fs.isdir(directory) and fs.listdir(directory):
        if not overwrite:
            raise PresetError(
                f"{directory} is not empty: choose another directory, or "
                "overwrite (--overwrite) to replace its preset files."
            )
        for name in PRESET_FILES:
            path = os.path.join(directory, name)
            if fs.exists(path):
                fs.remove(path)
    elif fs.exists(directory) and not fs.isdir(directory):
        raise PresetError(f"{directory}: a file, not a directory.")
    fs.makedirs(directory)

    metadata = _metadata(model, description, training_config)
    config = _backend_neutral(keras.saving.serialize_keras_object(model))
    texts = {
        CONFIG_FILE: _dumps(config),
        METADATA_FILE: _dumps(metadata),
    }
    if vocabulary_text is not None:
        texts[VOCABULARY_FILE] = vocabulary_text
    if metrics is not None:
        texts[METRICS_FILE] = _dumps(metrics)
    if training_config is not None:
        texts[TRAINING_CONFIG_FILE] = _dumps(training_config)
    for name, text in texts.items():
        fs.write_text(os.path.join(directory, name), text)
    if remote:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, WEIGHTS_FILE)
            _save_weights(model, local)
            fs.copy(local, os.path.join(directory, WEIGHTS_FILE))
    else:
        _save_weights(model, os.path.join(directory, WEIGHTS_FILE))
    return metadata


def from_preset(handle, compile=True, **options):
    """A model from a preset: a configuration, or a saved model's weights.

    Args:
        handle: a configuration preset's name (``"gateop_tp30"``: built by
            `keras_gmsa.build_model` with `options`, fresh weights), or a
            saved preset: a local directory, ``hf://owner/name``,
            ``kaggle://owner/model/keras/variant[/version]`` or
            ``gs://bucket/dir`` (any `tf.io.gfile` filesystem).
        compile: compile the model: a saved preset as it was compiled when
            saved (optimizer settings and loss; the optimizer's state
            starts anew), a configuration as `build_model` does. False:
            uncompiled.
        **options: `build_model` options of a configuration preset. A
            saved preset's configuration is its own: options are an error.

    Returns:
        The `keras.Model`.

    Raises:
        PresetError: the handle names no preset, or the preset is
            incomplete; the message is one line.
    """
    if is_configuration(handle):
        from keras_gmsa.models.registry import build_model

        return build_model(handle, compile=compile, **options)
    if options:
        raise PresetError(
            f"{handle}: a saved preset's configuration is its own; options "
            f"{sorted(options)} apply to configuration presets only."
        )
    directory = resolve(handle)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            hint = ""
            if os.path.isfile(os.path.join(directory, "best.keras")):
                hint = (
                    "; a training run: its model is best.keras, or make "
                    "a preset of it with keras-gmsa preset save"
                )
            raise PresetError(
                f"{handle}: not a complete preset ({name} is missing; a "
                f"preset holds {CONFIG_FILE} and {WEIGHTS_FILE}{hint})."
            )
    config = _read_json(handle, directory, CONFIG_FILE)
    compile_config = config.pop("compile_config", None)
    try:
        model = keras.saving.deserialize_keras_object(config)
    except Exception as error:  # Keras raises many kinds here
        raise PresetError(
            f"{handle}: {CONFIG_FILE} does not build a model "
            f"({first_line(error)})"
        ) from error
    if not isinstance(model, keras.Model):
        raise PresetError(
            f"{handle}: {CONFIG_FILE} holds a {type(model).__name__}, "
            "not a model."
        )
    try:
        model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    except Exception as error:  # h5py and Keras raise many kinds here
        raise PresetError(
            f"{handle}: {WEIGHTS_FILE} does not fit the model in "
            f"{CONFIG_FILE} ({first_line(error)})"
        ) from error
    if compile and compile_config:
        compile_config = _backend_neutral(compile_config)
        metadata = load_preset_json(handle, "metadata") or {}
        if metadata.get("backend", keras.backend.backend()) != (
            keras.backend.backend()
        ):
            # The saved choice was its backend's (XLA on JAX and
            # TensorFlow, torch.compile on PyTorch): this backend's own.
            compile_config["jit_compile"] = "auto"
        # After the weights: compiling first would build an optimizer that
        # load_weights then finds without saved state.
        model.compile_from_config(compile_config)
    return model


def load_model(handle, compile=True):
    """A trained model from a ``.keras`` file or a saved preset's handle
    (what every command that reads a model takes).

    Args:
        handle: a ``.keras`` path (local, ``gs://``, ``hf://`` as Keras
            reads it) or a saved preset (`is_preset_handle`).
        compile: as `keras.saving.load_model` and `from_preset` take it.

    Returns:
        The `keras.Model`.
    """
    handle = os.fspath(handle)
    if is_preset_handle(handle):
        return from_preset(handle, compile=compile)
    return keras.saving.load_model(handle, compile=compile)


def load_preset_vocabulary(handle):
    """The class names a preset carries, as a `keras_gmsa.data.Vocabulary`
    (None: it has none; a configuration preset has none)."""
    if is_configuration(handle):
        return None
    directory = resolve(handle)
    path = os.path.join(directory, VOCABULARY_FILE)
    if not os.path.isfile(path):
        return None
    from keras_gmsa.data.vocabulary import Vocabulary

    try:
        return Vocabulary.load(path)
    except ValueError as error:
        raise PresetError(
            f"{handle}: {VOCABULARY_FILE}: {first_line(error)}"
        ) from error


def load_preset_metadata(handle):
    """A preset's metadata.json as a dict ({} if it has none). For a
    configuration preset: its name, model, options and description."""
    if is_configuration(handle):
        preset = presets_lib.PRESETS[handle]
        return {
            "preset": handle,
            "model": preset.model,
            "options": dict(preset.options),
            "description": preset.description,
            "weights": False,
        }
    return load_preset_json(handle, "metadata") or {}


def load_preset_json(handle, name):
    """One of a saved preset's JSON files, as a dict.

    Args:
        handle: a saved preset's handle.
        name: ``"metadata"``, ``"metrics"`` or ``"training_config"``.

    Returns:
        The file's contents, or None if the preset has no such file.
    """
    if name not in JSON_FILES:
        raise ValueError(
            f"name must be one of {sorted(JSON_FILES)}; got {name!r}."
        )
    directory = resolve(handle)
    if not os.path.isfile(os.path.join(directory, JSON_FILES[name])):
        return None
    return _read_json(handle, directory, JSON_FILES[name])


def _save_weights(model, path):
    """``model.save_weights`` without the optimizer's state: a compiled
    model whose optimizer holds variables is saved through an uncompiled
    twin with the same weights."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.variables:
        model.save_weights(path)
        return
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    twin = keras.saving.deserialize_keras_object(config)
    twin.set_weights(model.get_weights())
    twin.save_weights(path)


def _backend_neutral(config):
    """`config` with each optimizer named by its public class: Keras
    serialises a PyTorch or TensorFlow optimizer with its backend's module
    (``keras.src.backend.torch.optimizers.torch_adam``), which another
    backend would import and fail to train with."""
    if isinstance(config, list):
        return [_backend_neutral(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: _backend_neutral(value) for key, value in config.items()}
    module = config.get("module")
    if (
        isinstance(module, str)
        and module.startswith("keras.src.backend.")
        and hasattr(keras.optimizers, str(config.get("class_name")))
    ):
        config.update(module="keras.optimizers", registered_name=None)
    return config


def _metadata(model, description, training_config):
    from keras_gmsa.version import __version__

    built_from = (training_config or {}).get("model")
    preset = next(
        (
            name
            for name in (built_from, model.name)
            if name in presets_lib.PRESETS
        ),
        None,
    )
    parameters = int(model.count_params())
    if description is None:
        description = f"{model.name}, {parameters:,} parameters"
    inputs = {
        name: {
            "shape": list(tensor.shape),
            "dtype": keras.backend.standardize_dtype(tensor.dtype),
        }
        for name, tensor in _named_inputs(model)
    }
    return {
        "format_version": FORMAT_VERSION,
        "keras_version": keras.version(),
        "keras_gmsa_version": __version__,
        "backend": keras.backend.backend(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "description": description,
        "name": model.name,
        "model": built_from,
        "preset": preset,
        "num_classes": int(model.output_shape[-1]),
        "inputs": inputs,
        "parameter_count": parameters,
    }


def _named_inputs(model):
    if isinstance(model.input, dict):
        return list(model.input.items())
    return [(tensor.name, tensor) for tensor in model.inputs]


def _vocabulary_text(vocabulary, num_classes):
    """vocabulary.csv's text for `vocabulary` (checked: the official
    columns, and no class the model does not score)."""
    if vocabulary is None:
        return None
    from keras_gmsa.data.vocabulary import Vocabulary

    if isinstance(vocabulary, Vocabulary):
        vocab = vocabulary
        text = vocab.to_csv()
    else:
        path = os.fspath(vocabulary)
        try:
            vocab = Vocabulary.load(path)
        except (OSError, ValueError) as error:
            raise PresetError(first_line(error)) from error
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    if vocab.num_classes > num_classes:
        raise PresetError(
            f"the vocabulary names class {vocab.num_classes - 1}; the model "
            f"scores {num_classes} classes."
        )
    return text


def _read_json(handle, directory, name):
    try:
        with open(os.path.join(directory, name)) as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise PresetError(f"{handle}: {name} is not JSON ({error})") from None


def _dumps(value):
    return json.dumps(value, indent=2, sort_keys=True, default=_plain) + "\n"


def _plain(value):
    # NumPy scalars and arrays (metrics often are).
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
