"""Ensembles of trained models, saved as one `.keras` file.

`build_ensemble` wraps trained members (frozen) in one Functional model
whose only trainable weights are the `LogitEnsemble` mixing weights; fit
it on a validation split (the Kakao Brain recipe, sec. 5) with
`keras.Model.fit` like any model, then save it.
"""

import keras

from keras_gmsa.layers import FrozenMember
from keras_gmsa.layers import LogitEnsemble


def build_ensemble(members, name="ensemble", compile=True, learning_rate=0.05):
    """One model mixing `members`' predictions with learned logit weights.

    Args:
        members: trained `keras.Model`s with dict inputs (any mix of frame-
            and video-level models); inputs with the same name must have
            the same shape and dtype, and every member must predict the
            same number of classes. The ensemble holds frozen, uncompiled
            copies of them; the members themselves are not changed.
        name: the model's name.
        compile: compile with Adam(`learning_rate`) and binary
            cross-entropy, ready for ``fit`` on validation data.

    Returns:
        A `keras.Model` over the union of the members' inputs.

    Example:
    >>> ensemble = build_ensemble([model_a, model_b])  # doctest: +SKIP
    >>> ensemble.fit(validation_data, epochs=3)  # doctest: +SKIP
    >>> ensemble.save("ensemble.keras")  # doctest: +SKIP
    """
    members = list(members)
    if not members:
        raise ValueError("An ensemble needs at least one member model.")
    inputs = {}
    classes = set()
    for member in members:
        if not isinstance(member.input, dict):
            raise ValueError(
                f"Member {member.name!r} must take a dict of named inputs."
            )
        classes.add(int(member.output_shape[-1]))
        for key, tensor in member.input.items():
            shape = tuple(tensor.shape[1:])
            if key in inputs:
                known = inputs[key]
                if (
                    tuple(known.shape[1:]) != shape
                    or known.dtype != tensor.dtype
                ):
                    raise ValueError(
                        f"Input {key!r}: member {member.name!r} takes "
                        f"{shape} {tensor.dtype}, another member "
                        f"{tuple(known.shape[1:])} {known.dtype}."
                    )
            else:
                inputs[key] = keras.Input(shape, dtype=tensor.dtype, name=key)
    if len(classes) != 1:
        raise ValueError(
            f"Members predict different numbers of classes: {sorted(classes)}."
        )
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Member names must be unique (they name the sub-models): {names}."
        )
    outputs = []
    for member in members:
        # A weight-sharing copy would drag the member's optimizer into the
        # file; an uncompiled clone with the same weights does not.
        copy = keras.Model.from_config(member.get_config())
        copy.set_weights(member.get_weights())
        # Frozen layer by layer: layer configs keep `trainable`, so the
        # members stay frozen in a loaded ensemble too.
        for layer in copy.layers:
            layer.trainable = False
        copy.trainable = False
        # Inference mode whatever the ensemble's training flag: a frozen
        # member must not run dropout, frame sampling or teacher forcing.
        frozen = FrozenMember(copy, name=member.name)
        outputs.append(frozen({key: inputs[key] for key in member.input}))
    mixed = LogitEnsemble(len(members), name="predictions")(outputs)
    model = keras.Model(inputs, mixed, name=name)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.BinaryCrossentropy(),
        )
    return model


def ensemble_weights(model):
    """The mixing weights (softmax(theta)) of an ensemble, by member name."""
    layer = model.get_layer("predictions")
    members = [
        layer_.name
        for layer_ in model.layers
        if isinstance(layer_, (keras.Model, FrozenMember))
    ]
    return dict(zip(members, layer.weights_normalized.tolist(), strict=True))
