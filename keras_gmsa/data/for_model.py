"""The records a model reads, shaped by its inputs."""

from keras_gmsa.data.conditional import GIVEN_LABELS
from keras_gmsa.data.conditional import with_given_labels
from keras_gmsa.data.frame import frame_dataset
from keras_gmsa.data.video import video_dataset


def dataset_for_model(model, pattern, **kwargs):
    """Reads the records a model takes, shaped by its inputs.

    A model with a ``num_frames`` input reads frame-level records
    (`frame_dataset`, ``max_frames`` from its inputs); any other reads
    video-level records (`video_dataset`). Features and ``num_classes`` come
    from the model; ``kwargs`` go to the reader (``batch_size``,
    ``shuffle``, ``with_ids``, ``on_error``, ...; ``allow_zero_frames`` is
    dropped for video-level records). A model with a ``given_labels``
    input (a conditional-inference head) gets it from `with_given_labels`:
    random subsets of the true labels with ``sample_given_labels=True``
    (training), zeros otherwise.
    """
    inputs = model.input if isinstance(model.input, dict) else {}
    sample_given = kwargs.pop("sample_given_labels", False)
    frames = {
        k: t for k, t in inputs.items() if k not in ("num_frames", GIVEN_LABELS)
    }
    kwargs.update(
        features={name: int(t.shape[-1]) for name, t in frames.items()},
        num_classes=int(model.output_shape[-1]),
    )
    if "num_frames" in inputs:
        kwargs["max_frames"] = int(next(iter(frames.values())).shape[1])
        dataset = frame_dataset(pattern, **kwargs)
    else:
        kwargs.pop("allow_zero_frames", None)
        dataset = video_dataset(pattern, **kwargs)
    if GIVEN_LABELS in inputs:
        steps = _conditional_steps(model)
        dataset = with_given_labels(
            dataset, training=sample_given, max_given=steps
        )
    return dataset


def _conditional_steps(model):
    """The chain length of the model's conditional-inference head."""
    from keras_gmsa.layers import ConditionalInference

    def layers(layer):
        # Models hold layers; an ensemble's FrozenMember holds a model.
        yield layer
        for sub in getattr(layer, "layers", None) or ():
            yield from layers(sub)
        inner = getattr(layer, "model", None)
        if inner is not None and inner is not layer:
            yield from layers(inner)

    for layer in layers(model):
        if isinstance(layer, ConditionalInference):
            return layer.steps
    raise ValueError(
        f"Model {model.name!r} has a {GIVEN_LABELS!r} input but no "
        "ConditionalInference layer."
    )
