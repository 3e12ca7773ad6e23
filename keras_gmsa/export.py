"""Serving artifacts of trained models: TensorFlow SavedModel, ONNX, LiteRT.

(About 750 lines: three formats and three serving signatures share one
round-trip check; splitting them would write that check three times.)

`export` writes a model in one of three formats, with Keras' own
`Model.export` (or its `ExportArchive`), then runs the file in its own
runtime on a random batch and returns the largest difference from the
Keras model:

================  =========================================================
``saved_model``   a directory; signatures below. TensorFlow and JAX
                  backends (JAX through jax2tf).
``onnx``          a ``.onnx`` file taking the model's inputs. TensorFlow
                  (tf2onnx), PyTorch (torch.onnx) and JAX (jax2onnx, not
                  in keras-gmsa's extras) backends; checked in onnxruntime.
``litert``        a ``.tflite`` file taking the model's inputs, LiteRT's
                  builtin ops only. TensorFlow backend (PyTorch with
                  litert-torch, not in keras-gmsa's extras); checked in
                  ai-edge-litert's interpreter.
================  =========================================================

SavedModel signatures (``signature=``):

- ``"keras"``: ``serve`` (and ``serving_default``) takes the model's inputs
  as the records hold them: uint8 frames ``(B, T, D)`` per modality and
  int32 ``num_frames`` ``(B,)`` (video-level models: float32 features).
- ``"starter"``: the YouTube-8M starter's ``export_model.py`` signature.
  ``serving_default`` (and ``serve``) takes ``example_bytes``, string
  ``(B,)`` serialized SequenceExamples (frame-level models) or Examples
  (video-level), parsed by the readers' own parser, and returns
  ``video_id`` ``(B,)``, ``class_indexes`` int32 ``(B, K)`` and
  ``predictions`` float32 ``(B, K)``: the top K = min(20, classes) scores,
  best first (``tf.nn.top_k``, as the starter).
- ``"mediapipe"``: the signature of the starter's
  ``export_model_mediapipe.py``, which MediaPipe's YouTube-8M inference
  graph feeds. ``serving_default`` (and ``serve``) takes ``rgb_and_audio``,
  float32 ``(B, T', sum D)`` dequantized frames (the model's features
  concatenated in its order: rgb 1024 then audio 128), and
  ``num_frames``, int32 ``(B, 1)``; returns ``predictions`` ``(B, C)``.
  Frames past ``num_frames`` are zeroed, then the frames are cropped or
  zero-padded to the model's T, as the reader does. The floats reach the
  model's `Dequantize` layers, which pass floats through unchanged: the
  uint8 step is skipped, not inverted, so dequantized bytes give the
  predictions of the bytes.

Both compatible SavedModels also hold ``serve_model``, the model's own
inputs (uint8 frames for ``starter``, float frames for ``mediapipe``).

What refuses, in one line saying why (`ExportError`): a SavedModel from
PyTorch (Keras converts PyTorch through torch_xla), LiteRT from JAX (Keras
has no JAX path), a converter package that is not installed, and a model
a converter cannot translate (TensorFlow ops with no ONNX or LiteRT
builtin equivalent, say, or a shape PyTorch's exporter cannot trace).
"""

import contextlib
import logging
import os
import re
import tempfile
import warnings

from keras_gmsa import names

FORMATS = ("saved_model", "onnx", "litert")
SIGNATURES = ("keras", "starter", "mediapipe")
NAMES = {"saved_model": "SavedModel", "onnx": "ONNX", "litert": "LiteRT"}
SUFFIXES = {"onnx": ".onnx", "litert": ".tflite"}
# The starter's export_model.py keeps each video's top 20 classes.
TOP_K = 20

# (format, backend) -> the packages it needs: (module, pip name). The
# runtimes that check the file are needed too.
_NEEDS = {
    ("onnx", "tensorflow"): (
        ("tf2onnx", "tf2onnx"),
        ("onnx", "onnx"),
        ("onnxruntime", "onnxruntime"),
    ),
    ("onnx", "jax"): (("jax2onnx", "jax2onnx"), ("onnxruntime", "onnxruntime")),
    ("onnx", "torch"): (("onnxruntime", "onnxruntime"),),
    ("litert", "tensorflow"): (("ai_edge_litert", "ai-edge-litert"),),
    ("litert", "torch"): (
        ("litert_torch", "litert-torch"),
        ("ai_edge_litert", "ai-edge-litert"),
    ),
}
# Packages keras-gmsa's `export` extra installs; the others are named.
_EXTRA = {"tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"}


class ExportError(ValueError):
    """An export that cannot work here; the message says why, in one line."""


def export(model, path, format="saved_model", signature="keras", check=True):
    """Writes a model as a SavedModel, an ONNX file or a LiteRT file.

    Args:
        model: a `keras.Model`, or a .keras path.
        path: the SavedModel's directory, or the ``.onnx`` / ``.tflite``
            file (local or on any `tf.io.gfile` filesystem).
        format: ``"saved_model"``, ``"onnx"`` or ``"litert"``.
        signature: the SavedModel's serving signature, ``"keras"`` (the
            model's inputs), ``"starter"`` (serialized records) or
            ``"mediapipe"`` (dequantized float frames); see the module
            docstring. ONNX and LiteRT take the model's inputs.
        check: run the written file on a random batch in its runtime and
            compare with the Keras model.

    Returns:
        max |served - Keras| on the random batch (None without `check`);
        for the starter's signature, over the top-K scores and the Keras
        scores of the classes served.

    Raises:
        ExportError: the export cannot work on this backend or for this
            model, or a package it needs is missing; the message says why.
    """
    import keras

    import keras_gmsa  # noqa: F401  (registers the layers)

    backend = keras.backend.backend()
    check_request(format, signature, str(path), backend)
    if not isinstance(model, keras.Model):
        model = keras.saving.load_model(model)
    layout = _Layout(model)
    if signature == "mediapipe" and not layout.frames:
        raise ExportError(
            "signature 'mediapipe' serves frame-level models (MediaPipe's "
            f"YouTube-8M graph feeds frames); {model.name} reads video-level "
            "features"
        )
    batch = _random_batch(layout)
    # An eager call: the reference, and Keras' ONNX export on JAX needs a
    # model that has been called.
    expected = keras.ops.convert_to_numpy(model(batch.inputs, training=False))
    try:
        with _quiet():
            if format == "saved_model":
                _write_saved_model(model, layout, str(path), signature)
            else:
                _write_file(model, str(path), format)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(
            f"{NAMES[format]} export of {model.name} on the {backend} "
            f"backend fails: {_reason(error)}{_elsewhere(backend)}"
        ) from error
    if format == "onnx":
        _check_onnx_ops(str(path), model.name)
    if not check:
        return None
    try:
        served = _run(str(path), format, signature, layout, batch)
    except Exception as error:
        raise ExportError(
            f"the {NAMES[format]} file of {model.name} does not run in its "
            f"runtime: {_reason(error)}"
        ) from error
    if signature == "starter":
        return _top_k_difference(served, expected, batch.ids)
    return float(abs(served - expected).max())


def export_saved_model(model_path, directory, check=True):
    """`export` with ``format="saved_model", signature="keras"``.

    Args:
        model_path: a .keras path, or a `keras.Model`.
        directory: the SavedModel's directory.
        check: compare the served outputs with the model's.

    Returns:
        max |served - Keras| on a random batch (None without `check`).
    """
    return export(model_path, directory, "saved_model", "keras", check)


def check_request(format, signature, path, backend):
    """Refuses an export that cannot work, before any model is loaded.

    Args:
        format, signature, path: as `export` takes them.
        backend: the Keras backend (``keras.backend.backend()``).

    Raises:
        ExportError: one line saying why it cannot work.
    """
    if format not in FORMATS:
        raise ExportError(
            f"format must be one of {', '.join(FORMATS)}; got {format!r}"
        )
    if signature not in SIGNATURES:
        raise ExportError(
            f"signature must be one of {', '.join(SIGNATURES)}; got "
            f"{signature!r}"
        )
    if signature != "keras" and format != "saved_model":
        raise ExportError(
            f"signature {signature!r} is a SavedModel signature; "
            f"{NAMES[format]} files take the model's own inputs (signature "
            "'keras')"
        )
    suffix = SUFFIXES.get(format)
    if suffix and not path.lower().endswith(suffix):
        raise ExportError(
            f"{path}: a {NAMES[format]} file's name ends in {suffix}"
        )
    for other, ending in SUFFIXES.items():
        if format == "saved_model" and path.lower().endswith(ending):
            raise ExportError(
                f"{path}: a SavedModel is a directory; pass format "
                f"{other!r} for a {ending} file"
            )
    if format == "saved_model" and backend == "torch":
        raise ExportError(
            "a TensorFlow SavedModel cannot be written from the torch "
            "backend (Keras converts PyTorch through torch_xla, which "
            "keras-gmsa does not install); run with KERAS_BACKEND="
            "tensorflow or jax (the .keras file loads on either)"
        )
    if format == "litert" and backend == "jax":
        raise ExportError(
            "LiteRT cannot be written from the jax backend (Keras converts "
            "to LiteRT from TensorFlow or PyTorch only); run with "
            "KERAS_BACKEND=tensorflow (the .keras file loads there)"
        )
    missing = []
    for module, package in _NEEDS.get((format, backend), ()):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        extra = (
            "pip install 'keras-gmsa[export]'"
            if set(missing) <= _EXTRA
            else f"pip install {' '.join(missing)}"
        )
        raise ExportError(
            f"{NAMES[format]} export on the {backend} backend needs "
            f"{', '.join(missing)}, which is not installed ({extra})"
            f"{_elsewhere(backend)}"
        )


def _elsewhere(backend):
    if backend == "tensorflow":
        return ""
    return (
        "; the tensorflow backend may convert it (KERAS_BACKEND=tensorflow;"
        " the .keras file loads there)"
    )


class _Layout:
    """What a model reads: its features, frame count and classes."""

    def __init__(self, model):
        inputs = model.input if isinstance(model.input, dict) else None
        if inputs is None:
            raise ExportError(
                f"{model.name} does not take named inputs (a dict of "
                "features), as the models of the zoo do"
            )
        self.model = model
        self.inputs = inputs
        self.given_labels = (
            names.GIVEN_LABELS if names.GIVEN_LABELS in inputs else None
        )
        self.frames = names.NUM_FRAMES in inputs
        self.features = {
            name: int(t.shape[-1])
            for name, t in names.feature_inputs(inputs).items()
        }
        self.dtypes = {name: str(inputs[name].dtype) for name in self.features}
        self.max_frames = (
            int(inputs[next(iter(self.features))].shape[1])
            if self.frames
            else None
        )
        self.num_classes = int(model.output_shape[-1])

    def specs(self, dtypes=None):
        """The input signature of the model (one dict argument)."""
        import keras

        dtypes = dtypes or {}
        return [
            {
                name: keras.InputSpec(
                    shape=(None,) + tuple(t.shape[1:]),
                    dtype=dtypes.get(name, t.dtype),
                    name=name,
                )
                for name, t in self.inputs.items()
            }
        ]


class _Batch:
    """A random batch: what the records hold, and the model's inputs."""

    def __init__(self, stored, inputs, num_frames, ids):
        self.stored = stored
        self.inputs = inputs
        self.num_frames = num_frames
        self.ids = ids


def _random_batch(layout, size=3):
    import numpy as np

    from keras_gmsa import constants

    rng = np.random.default_rng(0)
    stored, inputs = {}, {}
    num_frames = None
    if layout.frames:
        t = layout.max_frames
        num_frames = np.array([t, t // 2, 0][:size], "int32")
        inputs[names.NUM_FRAMES] = num_frames
    for name, dim in layout.features.items():
        if layout.frames:
            q = rng.integers(0, 256, (size, layout.max_frames, dim), "uint8")
            q[np.arange(layout.max_frames) >= num_frames[:, None]] = 0
            stored[name] = q
            x = q
            if layout.dtypes[name] != "uint8":
                x = q.astype("float32") * np.float32(
                    constants.DEQUANTIZE_SCALE
                ) + np.float32(constants.DEQUANTIZE_BIAS)
                x = x.astype(layout.dtypes[name])
        else:
            x = rng.normal(size=(size, dim)).astype(layout.dtypes[name])
            stored[name] = x
        inputs[name] = x
    if layout.given_labels:
        # No labels are given at inference (what the readers feed).
        inputs[layout.given_labels] = np.zeros(
            (size, layout.num_classes), "float32"
        )
    ids = [f"video{i}" for i in range(size)]
    return _Batch(stored, inputs, num_frames, ids)


@contextlib.contextmanager
def _quiet():
    """Converters' warnings and log lines, hidden (they go to stderr
    otherwise, and pytest turns warnings into errors)."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# --------------------------------------------------------------- SavedModel


def _endpoint_kwargs():
    import keras

    if keras.backend.backend() == "jax":
        # jax2tf also converts the gradient by default, and the SavedModel
        # saves it: GateAtt and GateOp's written-out gradient
        # (ops.custom_gradient, whose backward closes over forward tensors)
        # cannot be re-traced by jax2tf. Serving never differentiates.
        return {"jax2tf_kwargs": {"with_gradient": False}}
    return {}


def _write_saved_model(model, layout, directory, signature):
    import keras

    if signature == "keras":
        model.export(
            directory,
            format="tf_saved_model",
            verbose=False,
            input_signature=layout.specs(),
            **_endpoint_kwargs(),
        )
        return
    archive = keras.export.ExportArchive()
    if signature == "starter":
        model_fn = archive.track_and_add_endpoint(
            "serve_model", model, layout.specs(), **_endpoint_kwargs()
        )
        serve, resources = _starter_function(layout, model_fn)
        for resource in resources:
            archive.track(resource)
    else:
        floats = _with_float_frames(model, layout)
        model_fn = archive.track_and_add_endpoint(
            "serve_model",
            floats,
            layout.specs({n: "float32" for n in layout.features}),
            **_endpoint_kwargs(),
        )
        serve = _mediapipe_function(layout, model_fn)
    serve.get_concrete_function()
    archive.add_endpoint("serving_default", serve)
    archive.add_endpoint("serve", serve)
    archive.write_out(directory, verbose=False)


def _starter_function(layout, model_fn):
    """``example_bytes -> video_id, class_indexes, predictions``, parsing
    with the readers' own parsers; returns it and the resources it uses."""
    import tensorflow as tf

    from keras_gmsa.data.checks import RecordChecker
    from keras_gmsa.data.frame import FrameParser
    from keras_gmsa.data.records import ReadStats
    from keras_gmsa.data.video import VideoParser

    stats = ReadStats()
    # A bad record fails the call, naming its index.
    checker = RecordChecker("raise", stats)
    if layout.frames:
        parser = FrameParser(
            layout.features,
            layout.num_classes,
            layout.max_frames,
            # A model with float frame inputs gets the reader's floats.
            any(d != "uint8" for d in layout.dtypes.values()),
            allow_zero_frames=True,  # served, with num_frames 0
            checker=checker,
        )
    else:
        parser = VideoParser(
            layout.features, layout.num_classes, checker=checker
        )
    k = min(TOP_K, layout.num_classes)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, "example_bytes")]
    )
    def serve(example_bytes):
        count = tf.shape(example_bytes)[0]
        parsed = parser.parse(
            tf.fill([count], "example_bytes"),
            tf.range(count, dtype=tf.int64),
            example_bytes,
        )
        inputs = {}
        for name, spec in layout.inputs.items():
            if name == layout.given_labels:
                inputs[name] = tf.zeros([count, layout.num_classes], spec.dtype)
            else:
                inputs[name] = tf.cast(parsed[name], spec.dtype)
        probs = tf.cast(model_fn(inputs), tf.float32)
        scores, classes = tf.nn.top_k(probs, k)
        return {
            "video_id": parsed["_id"],
            "class_indexes": tf.cast(classes, tf.int32),
            "predictions": scores,
        }

    holder = tf.Module(name="read_stats")
    holder.counters = [stats.read, *stats._vars.values()]
    return serve, [holder]


def _with_float_frames(model, layout):
    """The model on float32 frames, sharing its layers and weights: its
    `Dequantize` layers pass floats through unchanged."""
    import keras

    if all(d == "float32" for d in layout.dtypes.values()):
        return model
    inputs = {
        name: keras.Input(
            t.shape[1:],
            dtype="float32" if name in layout.features else t.dtype,
            name=name,
        )
        for name, t in layout.inputs.items()
    }
    return keras.models.clone_model(
        model, input_tensors=inputs, clone_function=lambda layer: layer
    )


def _mediapipe_function(layout, model_fn):
    """``rgb_and_audio, num_frames -> predictions``, MediaPipe's graph."""
    import tensorflow as tf

    width = sum(layout.features.values())
    length = layout.max_frames

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, width], tf.float32, "rgb_and_audio"),
            tf.TensorSpec([None, 1], tf.int32, "num_frames"),
        ]
    )
    def serve(rgb_and_audio, num_frames):
        count = tf.shape(rgb_and_audio)[0]
        frames = rgb_and_audio[:, :length]
        real = tf.range(tf.shape(frames)[1])[None, :] < num_frames
        frames = tf.where(real[:, :, None], frames, 0.0)
        frames = tf.pad(
            frames, [[0, 0], [0, length - tf.shape(frames)[1]], [0, 0]]
        )
        parts = tf.split(frames, list(layout.features.values()), axis=-1)
        inputs = dict(zip(layout.features, parts, strict=True))
        inputs[names.NUM_FRAMES] = tf.minimum(num_frames[:, 0], length)
        if layout.given_labels:
            inputs[layout.given_labels] = tf.zeros(
                [count, layout.num_classes],
                layout.inputs[layout.given_labels].dtype,
            )
        return {"predictions": tf.cast(model_fn(inputs), tf.float32)}

    return serve


# ------------------------------------------------------------ ONNX, LiteRT


def _write_file(model, path, format):
    """Keras' ONNX or LiteRT export, to a local file then `path`."""
    import keras

    from keras_gmsa import paths

    kwargs = {}
    if format == "litert" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Builtin ops only: a file that needs TensorFlow's Flex delegate
        # runs in no stock LiteRT runtime, and the converter then names
        # the ops it lacks.
        kwargs["target_spec"] = {
            "supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]
        }
    if paths.is_remote(path):
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, os.path.basename(path))
            model.export(local, format=format, verbose=False, **kwargs)
            paths._gfile().copy(local, path, overwrite=True)
        return
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    model.export(path, format=format, verbose=False, **kwargs)


def _reason(error):
    """The cause of a converter's failure, in a sentence."""
    text = str(error)
    if "lite" in type(error).__module__:
        flex = re.findall(
            r"'tf\.(\w+)' op is neither a custom op nor a flex op"
            r"|failed to legalize operation 'tf\.(\w+)'",
            text,
        )
        ops = sorted({a or b for a, b in flex})
        if ops:
            return (
                f"LiteRT has no builtin op for TensorFlow's {', '.join(ops)} "
                "(a file with it would need the Flex delegate, which "
                "LiteRT's runtime does not ship)"
            )
        failed = re.search(r"'tf\.(\w+)' op ([^\n]+)", text)
        if failed:
            return (
                f"the LiteRT converter fails on TensorFlow's "
                f"{failed.group(1)}: {failed.group(2)}"
            )
    place = re.search(r"# (\S+\.py):(\d+)", text)
    if "because it is not constant" in text and place:
        where = place.group(1).split("site-packages/")[-1]
        return (
            "PyTorch's TorchScript ONNX exporter (Keras' exporter for a "
            "dynamic batch) cannot export a shape computed from the input "
            f"at {where}:{place.group(2)}"
        )
    lines = [
        line.strip()
        for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
        if line.strip()
    ]
    layer = re.match(r"Exception encountered when calling (\S+)\(\)", text)
    if layer and len(lines) > 1:
        # Keras names the layer; the cause is the next line.
        lines = [f"in {layer.group(1)}: {lines[1]}"]
    if not lines:
        return type(error).__name__
    line = lines[0].rstrip(".")
    return line if len(line) <= 240 else line[:237] + "..."


def _check_onnx_ops(path, name):
    """Refuses (and deletes) an ONNX file that holds ops its opsets do not
    define (tf2onnx writes a TensorFlow op it cannot convert as is)."""
    try:
        import onnx
    except ImportError:  # (PyTorch's exporter does not need it)
        return

    from keras_gmsa import paths

    with paths.open_file(path, "rb") as f:
        proto = onnx.load_model_from_string(f.read())
    opsets = {i.domain or "": i.version for i in proto.opset_import}
    unknown = set()

    def walk(graph):
        for node in graph.node:
            domain = node.domain or ""
            try:
                onnx.defs.get_schema(
                    node.op_type, opsets.get(domain, 1), domain
                )
            except onnx.defs.SchemaError:
                unknown.add(node.op_type)
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    walk(attribute.g)
                for sub in attribute.graphs:
                    walk(sub)

    walk(proto.graph)
    if unknown:
        paths._gfile().remove(path)
        raise ExportError(
            f"ONNX export of {name} fails: the file's ONNX opsets have no "
            f"{', '.join(sorted(unknown))} (the converter wrote ops ONNX "
            "does not define; onnxruntime refuses the file)"
        )


# ------------------------------------------------------------------ checks


def _run(path, format, signature, layout, batch):
    """The written file's outputs on `batch`, in its own runtime."""
    import numpy as np

    from keras_gmsa import paths

    if format == "onnx":
        import onnxruntime

        with paths.open_file(path, "rb") as f:
            session = onnxruntime.InferenceSession(
                f.read(), providers=["CPUExecutionProvider"]
            )
        feed = {i.name: batch.inputs[i.name] for i in session.get_inputs()}
        return session.run(None, feed)[0]
    if format == "litert":
        from ai_edge_litert.interpreter import Interpreter

        with paths.open_file(path, "rb") as f:
            interpreter = Interpreter(model_content=f.read())
        runner = interpreter.get_signature_runner()
        outputs = runner(**batch.inputs)
        return next(iter(outputs.values()))
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # keep it: it owns the weights
    serve = loaded.signatures["serving_default"]
    if signature == "keras":
        out = serve(**{k: tf.constant(v) for k, v in batch.inputs.items()})
        return np.asarray(next(iter(out.values())))
    if signature == "mediapipe":
        frames = np.concatenate(
            [_dequantized(batch.stored[n]) for n in layout.features], -1
        )
        out = serve(
            rgb_and_audio=tf.constant(frames),
            num_frames=tf.constant(batch.num_frames[:, None]),
        )
        return out["predictions"].numpy()
    records = _serialized(layout, batch)
    return {k: v.numpy() for k, v in serve(example_bytes=records).items()}


def _dequantized(q):
    import numpy as np

    from keras_gmsa import constants

    return q.astype("float32") * np.float32(
        constants.DEQUANTIZE_SCALE
    ) + np.float32(constants.DEQUANTIZE_BIAS)


def _serialized(layout, batch):
    """The batch as the records that hold it (no labels)."""
    import tensorflow as tf

    def feature(**kind):
        return tf.train.Feature(**kind)

    out = []
    for i, video_id in enumerate(batch.ids):
        context = {
            "id": feature(
                bytes_list=tf.train.BytesList(value=[video_id.encode()])
            )
        }
        if layout.frames:
            count = int(batch.num_frames[i])
            lists = {
                name: tf.train.FeatureList(
                    feature=[
                        feature(bytes_list=tf.train.BytesList(value=[row]))
                        for row in map(bytes, batch.stored[name][i, :count])
                    ]
                )
                for name in layout.features
            }
            record = tf.train.SequenceExample(
                context=tf.train.Features(feature=context),
                feature_lists=tf.train.FeatureLists(feature_list=lists),
            )
        else:
            for name in layout.features:
                context[name] = feature(
                    float_list=tf.train.FloatList(value=batch.stored[name][i])
                )
            record = tf.train.Example(
                features=tf.train.Features(feature=context)
            )
        out.append(record.SerializeToString())
    return tf.constant(out)


def _top_k_difference(served, expected, ids):
    """max |served - Keras| of the starter's outputs: the top-K scores,
    and the Keras scores of the classes served; ids must match."""
    import numpy as np

    if [v.decode() for v in served["video_id"]] != ids:
        raise ExportError(
            "the starter signature returns other video ids than the records'"
        )
    k = served["predictions"].shape[1]
    best = -np.sort(-expected, axis=1)[:, :k]
    picked = np.take_along_axis(expected, served["class_indexes"], axis=1)
    return float(
        max(
            np.abs(served["predictions"] - best).max(),
            np.abs(served["predictions"] - picked).max(),
        )
    )
