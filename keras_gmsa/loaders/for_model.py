"""The records a model reads, by whichever loader (`choice`)."""

import numpy as np

from keras_gmsa.loaders.choice import resolve_loader
from keras_gmsa.names import GIVEN_LABELS
from keras_gmsa.names import LABEL_WEIGHTS
from keras_gmsa.names import NUM_FRAMES
from keras_gmsa.names import feature_inputs


def _inputs(model):
    inputs = model.input if isinstance(model.input, dict) else {}
    return inputs, feature_inputs(inputs)


def _native(loader, model, inputs):
    if GIVEN_LABELS in inputs:
        raise ValueError(
            f"Model {model.name!r} takes {GIVEN_LABELS!r} (a conditional-"
            f"inference head): its labels are sampled by tf.data; read its "
            f"records with loader='tf', not {loader!r}."
        )


def loader_for_model(model, pattern, loader="auto", num_workers=0, **kwargs):
    """`keras_gmsa.data.dataset_for_model` by any loader.

    ``loader``: ``"auto"``, ``"tf"``, ``"grain"`` or ``"torch"``
    (`resolve_loader`); ``num_workers``: worker processes of the Grain
    and PyTorch loaders. Other arguments as `dataset_for_model`'s.
    """
    loader = resolve_loader(loader)
    if loader == "tf":
        from keras_gmsa.data import dataset_for_model

        return dataset_for_model(model, pattern, **kwargs)
    from keras_gmsa.loaders import readers

    inputs, frames = _inputs(model)
    _native(loader, model, inputs)
    kwargs.pop("sample_given_labels", None)
    kwargs.update(
        features={name: int(t.shape[-1]) for name, t in frames.items()},
        num_classes=int(model.output_shape[-1]),
        framework=loader,
        num_workers=num_workers,
    )
    if NUM_FRAMES in inputs:
        kwargs["max_frames"] = int(next(iter(frames.values())).shape[1])
        return readers.frame_loader(pattern, **kwargs)
    kwargs.pop("allow_zero_frames", None)
    return readers.video_loader(pattern, **kwargs)


class _ForModel:
    """Segments padded to a model's frames (`segments_for_model`'s
    `shape`), picklable for worker processes."""

    def __init__(self, names, length, weighted):
        self.names, self.length, self.weighted = names, length, weighted

    def __call__(self, element):
        features, labels, *rest = element
        out = {}
        for name in self.names:
            x = features[name]
            pad = np.zeros(
                (x.shape[0], self.length - x.shape[1], x.shape[2]), x.dtype
            )
            out[name] = np.concatenate([x, pad], axis=1)
        out[NUM_FRAMES] = features[NUM_FRAMES]
        if self.weighted:
            return out, labels, features[LABEL_WEIGHTS]
        return (out, labels, *rest)


def segments_loader_for_model(
    model, pattern, weighted=False, loader="auto", num_workers=0, **kwargs
):
    """`keras_gmsa.data.segments_for_model` by any loader (arguments as
    there, and `loader_for_model`'s ``loader`` and ``num_workers``)."""
    loader = resolve_loader(loader)
    if loader == "tf":
        from keras_gmsa.data import segments_for_model

        return segments_for_model(model, pattern, weighted=weighted, **kwargs)
    from keras_gmsa.loaders import readers

    inputs, frames = _inputs(model)
    _native(loader, model, inputs)
    if NUM_FRAMES not in inputs:
        raise ValueError(
            f"Model {model.name!r} has no num_frames input: segments are "
            "scored by frame-level models."
        )
    if weighted and kwargs.get("with_ids"):
        raise ValueError("Pass either weighted=True or with_ids=True.")
    length = int(next(iter(frames.values())).shape[1])
    kwargs.setdefault("segment_size", 5)
    if length < kwargs["segment_size"]:
        raise ValueError(
            f"Model {model.name!r} reads {length} frames, fewer than a "
            f"segment's {kwargs['segment_size']}."
        )
    return readers.segment_loader(
        pattern,
        features={name: int(t.shape[-1]) for name, t in frames.items()},
        num_classes=int(model.output_shape[-1]),
        framework=loader,
        num_workers=num_workers,
        transform=_ForModel(list(frames), length, weighted),
        **kwargs,
    )


def check_segment_rated(pattern, loader="auto"):
    """`keras_gmsa.data.records.check_segment_rated` by any loader: raises
    unless the first record of `pattern` carries segment ratings."""
    if resolve_loader(loader) == "tf":
        from keras_gmsa.data.records import check_segment_rated as check

        return check(pattern)
    from keras_gmsa.loaders import schema
    from keras_gmsa.loaders.tfrecord import Payloads
    from keras_gmsa.loaders.tfrecord import RecordFileError
    from keras_gmsa.loaders.tfrecord import resolve_files
    from keras_gmsa.loaders.tfrecord import scan_framing

    for path in resolve_files(pattern):
        records, _ = scan_framing(path)
        if not records:
            continue
        payloads = Payloads()
        try:
            payload = payloads.read(path, 0, *records[0])
        finally:
            payloads.close()
        example = schema.SequenceExample.FromString(payload)
        if "segment_start_times" not in example.context.feature:
            raise RecordFileError(
                f"{path}: record 0 has no segment_start_times: --segments "
                "trains on 2019 segment-rated records (the validate "
                "records of partition 3/, or `keras-gmsa synth --layouts "
                "segment`), not on frame-level records."
            )
        return


def numpy_batches(dataset):
    """The batches of any loader's dataset as NumPy (a tf.data dataset
    through ``as_numpy_iterator``, torch tensors through ``numpy()``;
    anything else as it comes). The one place batches become NumPy for
    the metrics, the segment scorers and the command line."""
    if hasattr(dataset, "as_numpy_iterator"):
        yield from dataset.as_numpy_iterator()
        return

    def convert(x):
        if isinstance(x, dict):
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, np.ndarray):
            return x
        numpy = getattr(x, "numpy", None)
        return numpy() if callable(numpy) else x

    for batch in dataset:
        yield tuple(convert(part) for part in batch)
