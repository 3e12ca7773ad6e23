"""The records a model reads, shaped by its inputs."""

from keras_gmsa.data.conditional import GIVEN_LABELS
from keras_gmsa.data.conditional import with_given_labels
from keras_gmsa.data.frame import frame_dataset
from keras_gmsa.data.video import video_dataset
from keras_gmsa.names import LABEL_WEIGHTS
from keras_gmsa.names import NUM_FRAMES
from keras_gmsa.names import feature_inputs


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
    frames = feature_inputs(inputs)
    kwargs.update(
        features={name: int(t.shape[-1]) for name, t in frames.items()},
        num_classes=int(model.output_shape[-1]),
    )
    if NUM_FRAMES in inputs:
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


def segments_for_model(model, pattern, weighted=False, **kwargs):
    """The 5-frame segments of 2019 records, shaped for a frame-level model.

    Each segment (`segment_dataset`) is given to the model as a video of
    its frames, zero-padded to the model's ``max_frames`` with
    ``num_frames`` the frames it holds; padding is invisible to every
    model of the zoo, so this is exactly the model run on the window (the
    starter's segment inference).

    Args:
        model: a frame-level model (a ``num_frames`` input).
        pattern: segment-rated records (``rated_only=True``, the default)
            or any frame-level records (``rated_only=False``: consecutive
            windows of every video).
        weighted: yield ``(features, labels, label_weights)``, the
            weights 1 for the rated (segment, class) pairs: what `fit`
            takes with `keras_gmsa.segments.LabelWeightedBinaryCrossentropy`.
        **kwargs: `segment_dataset`'s (``rated_only``, ``batch_size``,
            ``shuffle``, ``with_ids``, ``on_error``, ...).

    Returns:
        A `tf.data.Dataset` of ``(features, labels)``, ``(features, labels,
        ids)`` with ``with_ids`` (ids ``"<video id>:<start>"``) or
        ``(features, labels, label_weights)`` with `weighted`.
    """
    import tensorflow as tf

    from keras_gmsa.data.segment import segment_dataset

    inputs = model.input if isinstance(model.input, dict) else {}
    if NUM_FRAMES not in inputs:
        raise ValueError(
            f"Model {model.name!r} has no num_frames input: segments are "
            "scored by frame-level models."
        )
    if weighted and kwargs.get("with_ids"):
        raise ValueError("Pass either weighted=True or with_ids=True.")
    frames = feature_inputs(inputs)
    features = {name: int(t.shape[-1]) for name, t in frames.items()}
    length = int(next(iter(frames.values())).shape[1])
    kwargs.setdefault("segment_size", 5)
    if length < kwargs["segment_size"]:
        raise ValueError(
            f"Model {model.name!r} reads {length} frames, fewer than a "
            f"segment's {kwargs['segment_size']}."
        )
    dataset = segment_dataset(
        pattern,
        features=features,
        num_classes=int(model.output_shape[-1]),
        **kwargs,
    )

    def shape(features, labels, *rest):
        out = {}
        for name in frames:
            x = features[name]
            pad = length - tf.shape(x)[1]
            out[name] = tf.pad(x, [[0, 0], [0, pad], [0, 0]])
            out[name].set_shape([None, length, x.shape[-1]])
        out[NUM_FRAMES] = features[NUM_FRAMES]
        if weighted:
            return out, labels, features[LABEL_WEIGHTS]
        return (out, labels, *rest)

    read_stats = dataset.read_stats
    dataset = dataset.map(shape, num_parallel_calls=tf.data.AUTOTUNE)
    if GIVEN_LABELS in inputs:
        dataset = with_given_labels(
            dataset,
            training=kwargs.get("shuffle", False),
            max_given=_conditional_steps(model),
        )
    dataset.read_stats = read_stats
    return dataset
