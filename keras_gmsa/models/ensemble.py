"""Ensembles of trained models: which members, and one `.keras` file.

(About 540 lines: the two halves of Kakao Brain's recipe, choosing the
members and combining them, share the members' naming and the logit
combination; `select_members` scores exactly what `build_ensemble`
builds.)

Kakao Brain (Kim et al. 2018, sec. 5) chose six of more than 100 trained
models "by using a beam search method with a validation dataset", then
learned weights over their logits with a single-layer network:

- `select_members` (``keras-gmsa ensemble-select``): the beam search.
  Each member predicts the validation set once (`member_predictions`);
  `beam_search` then scores candidate ensembles from those predictions by
  the exact validation GAP (`keras_gmsa.metrics.gap`).
- `build_ensemble` wraps the chosen members (frozen) in one Functional
  model whose only trainable weights are the `LogitEnsemble` mixing
  weights; fit it on validation data with `keras.Model.fit` like any
  model, then save it.
"""

import dataclasses

import keras
import numpy as np

from keras_gmsa import constants
from keras_gmsa import metrics
from keras_gmsa.layers import FrozenMember
from keras_gmsa.layers import LogitEnsemble
from keras_gmsa.names import PREDICTIONS
from keras_gmsa.names import find_layer

# How `beam_search` combines members' predictions into an ensemble's.
COMBINES = ("logits", "probabilities")


def build_ensemble(members, name="ensemble", compile=True, learning_rate=0.05):
    """One model mixing `members`' predictions with learned logit weights.

    Args:
        members: trained `keras.Model`s with dict inputs (any mix of frame-
            and video-level models); inputs with the same name must have
            the same shape and dtype, and every member must predict the
            same number of classes. The ensemble holds frozen, uncompiled
            copies of them; the members themselves are not changed. Each
            is named in the ensemble by its model's name; members with
            the same name (two runs of one preset) get ``_2``, ``_3``,
            ... after the first.
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
    names = unique_names([m.name for m in members])
    outputs = []
    for member, member_name in zip(members, names, strict=True):
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
        frozen = FrozenMember(copy, name=member_name)
        outputs.append(frozen({key: inputs[key] for key in member.input}))
    mixed = LogitEnsemble(len(members), name=PREDICTIONS)(outputs)
    model = keras.Model(inputs, mixed, name=name)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.BinaryCrossentropy(),
        )
    return model


def ensemble_weights(model):
    """The mixing weights (softmax(theta)) of an ensemble, by member name."""
    layer = find_layer(model, PREDICTIONS, "ensemble_weights")
    members = [
        layer_.name
        for layer_ in model.layers
        if isinstance(layer_, (keras.Model, FrozenMember))
    ]
    return dict(zip(members, layer.weights_normalized.tolist(), strict=True))


def unique_names(names):
    """`names`, with ``_2``, ``_3``, ... added to repeats after the first.

    Example:
    >>> unique_names(["a", "b", "a", "a"])
    ['a', 'b', 'a_2', 'a_3']
    """
    taken = set(names)
    seen = set()
    out = []
    for name in names:
        if name in seen:
            number = 2
            while f"{name}_{number}" in taken:
                number += 1
            name = f"{name}_{number}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


@dataclasses.dataclass(frozen=True)
class Selection:
    """The ensemble a `beam_search` chose, and what it saw on the way.

    Attributes:
        members: the chosen members' names, in the order they were given.
        gap: the chosen ensemble's validation GAP.
        beams: for each ensemble size 1, 2, ..., the beam kept at that
            size: ``(members, gap)`` pairs, best first.
        singles: every member's own validation GAP, by name.
        num_videos: the validation videos scored.
        combine: how members' predictions were combined (`COMBINES`).
        top_k: the GAP's k.
    """

    members: tuple
    gap: float
    beams: tuple
    singles: dict
    num_videos: int
    combine: str
    top_k: int

    def as_dict(self):
        """A JSON-ready dict of the selection."""
        return {
            "members": list(self.members),
            "gap": self.gap,
            "beams": [
                [{"members": list(m), "gap": g} for m, g in beam]
                for beam in self.beams
            ],
            "singles": dict(self.singles),
            "num_videos": self.num_videos,
            "combine": self.combine,
            "top_k": self.top_k,
        }


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")


def beam_search(
    predictions,
    labels,
    beam_width=3,
    size=6,
    top_k=constants.TOP_K,
    combine="logits",
    epsilon=1e-6,
):
    """Chooses an ensemble of members by beam search on validation GAP.

    Starts from the `beam_width` best single members; at each step
    extends each ensemble of the beam by one member it does not hold,
    scores every distinct extension, and keeps the `beam_width` best, up
    to `size` members. Returns the best ensemble seen at any size (a
    larger ensemble that scores lower is not taken). Ties go to the
    smaller ensemble, then to members given earlier. With `beam_width` 1
    this is greedy forward selection; a beam as wide as the number of
    ensembles of each size scores every ensemble of up to `size` members.

    An ensemble's predictions are scored as ``combine`` says:

    - ``"logits"``: ``sigmoid(mean of the members' logits)``, the
      probabilities clipped to ``[epsilon, 1 - epsilon]`` first: exactly
      the model `build_ensemble` builds before its weights are fitted
      (Kakao Brain's mixture, at equal weights). The search scores this
      rather than fitting the weights of every candidate, which would cost
      a training run each.
    - ``"probabilities"``: the mean of the members' probabilities.

    GAP depends only on the order of the scores, so an ensemble is scored
    from the sum of its members' (cached) logits or probabilities; each
    video's top-k is found by a partition (`top_k_classes`: the classes,
    order and ties of `keras_gmsa.metrics.gap`'s sort, faster).

    Args:
        predictions: ``{name: (N, C) probabilities}`` of each member on the
            same N validation videos, in one order; the dict's order breaks
            ties.
        labels: ``(N, C)`` labels of those videos (positives > 0).
        beam_width: ensembles kept at each size.
        size: the most members in an ensemble.
        top_k: the GAP's k (20: the official GAP@20).
        combine: ``"logits"`` or ``"probabilities"``.
        epsilon: the clipping of probabilities before the logit.

    Returns:
        A `Selection`.

    Example:
    >>> labels = np.array([[1, 0], [0, 1]])
    >>> p = {"a": np.array([[0.9, 0.2], [0.6, 0.4]]),
    ...      "b": np.array([[0.7, 0.1], [0.1, 0.8]])}
    >>> beam_search(p, labels, beam_width=2, size=2).members
    ('b',)
    """
    _check_positive("beam_width", beam_width)
    _check_positive("size", size)
    _check_positive("top_k", top_k)
    if combine not in COMBINES:
        raise ValueError(
            f"`combine` must be one of {COMBINES}; got {combine!r}."
        )
    names = list(predictions)
    if not names:
        raise ValueError("The search needs at least one member.")
    labels = np.asarray(labels)
    values = []
    for name in names:
        p = np.asarray(predictions[name])
        if p.shape != labels.shape or p.ndim != 2:
            raise ValueError(
                f"Member {name!r} predicts shape {p.shape}; the labels are "
                f"{labels.shape}. Every member must score the same (N, C)."
            )
        if combine == "logits":
            p = np.clip(p.astype("float64"), epsilon, 1.0 - epsilon)
            p = np.log(p) - np.log1p(-p)
        # Kept in float32 (the members' own precision), summed in float64.
        values.append(np.asarray(p, dtype="float32"))

    # As metrics.gap takes them: float64 labels, their sum the divisor.
    hits = labels.astype("float64")
    positives = float(hits.sum())

    def score(members):
        total = np.zeros(labels.shape, dtype="float64")
        for index in members:
            total += values[index]
        return _gap(total, hits, positives, top_k)

    def rank(item):
        members, gap = item
        return (-gap, len(members), members)

    singles = [((i,), score((i,))) for i in range(len(names))]
    beam = sorted(singles, key=rank)[:beam_width]
    beams = [beam]
    for _ in range(1, size):
        candidates = sorted(
            {
                tuple(sorted((*members, j)))
                for members, _ in beam
                for j in range(len(names))
                if j not in members
            }
        )
        if not candidates:
            break
        beam = sorted(((c, score(c)) for c in candidates), key=rank)
        beam = beam[:beam_width]
        beams.append(beam)
    best = min((item for beam in beams for item in beam), key=rank)

    def named(members):
        return tuple(names[i] for i in members)

    return Selection(
        members=named(best[0]),
        gap=best[1],
        beams=tuple(tuple((named(m), g) for m, g in beam) for beam in beams),
        singles={names[i]: g for (i,), g in singles},
        num_videos=int(labels.shape[0]),
        combine=combine,
        top_k=top_k,
    )


def top_k_classes(scores, k):
    """Each row's `k` best classes, best first, ties to the lower class:
    ``argsort(-scores, kind="stable")[:, :k]`` (`keras_gmsa.metrics`'
    order), found by a partition and a sort of `k` per row. Rows whose
    k-th and (k+1)-th best scores tie (or with NaN) take the full sort."""
    n, c = scores.shape
    if k >= c or np.isnan(scores).any():
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    negated = -scores
    part = np.argpartition(negated, k, axis=1)
    top = part[:, :k]
    values = np.take_along_axis(negated, top, 1)
    following = np.take_along_axis(negated, part[:, k : k + 1], 1)[:, 0]
    # Best first; equal scores by class index, as a stable sort orders them.
    top = np.take_along_axis(top, np.lexsort((top, values), axis=-1), 1)
    tied = values.max(axis=1) == following
    if tied.any():
        top[tied] = np.argsort(negated[tied], axis=1, kind="stable")[:, :k]
    return top


def _gap(scores, hits, positives, top_k):
    """`keras_gmsa.metrics.gap` of `scores`, with the labels (`hits`) and
    their sum converted once per search, and the top-k by a partition."""
    k = min(top_k, scores.shape[1])
    idx = top_k_classes(scores, k)
    return metrics.average_precision(
        np.take_along_axis(scores, idx, 1).ravel(),
        np.take_along_axis(hits, idx, 1).ravel(),
        positives,
    )


def _named_members(members):
    """``{name: model or path}`` from a dict, or a list of models / paths
    (named by their model's name or their path; repeats made unique)."""
    if isinstance(members, dict):
        return dict(members)
    members = list(members)
    names = [m if isinstance(m, str) else m.name for m in members]
    return dict(zip(unique_names(names), members, strict=True))


def member_predictions(
    members,
    validation,
    batch_size=256,
    on_error="raise",
    id_split=None,
    load=None,
):
    """Each member's predictions on the validation videos, computed once.

    Args:
        members: ``{name: model}``, or a list of models, where a model is a
            `keras.Model` or the path of a ``.keras`` file (loaded when its
            turn comes, one at a time with a file pattern). A list names
            models by their name and paths by themselves.
        validation: a file pattern of records (each member reads them as it
            takes them, `keras_gmsa.data.dataset_for_model`, and the rows
            are matched by video id), or batches of ``(features, labels)``
            (or ``(features, labels, ids)``) holding every member's inputs,
            e.g. a `tf.data.Dataset`.
        batch_size: videos per batch (a file pattern).
        on_error: ``"raise"`` or ``"skip"`` bad records (a file pattern).
        id_split: read one part of a split by video id (a file pattern).
        load: how a path becomes a model (default
            `keras.saving.load_model`).

    Returns:
        ``(predictions, labels)``: ``{name: (N, C) float32}`` in the order
        of `members`, and the ``(N, C)`` labels, rows in one video order.
    """
    members = _named_members(members)
    if not members:
        raise ValueError("The search needs at least one member.")
    load = load or keras.saving.load_model

    def model_of(member):
        return load(member) if isinstance(member, str) else member

    if isinstance(validation, str):
        return _predict_records(
            members, validation, model_of, batch_size, on_error, id_split
        )
    models = {name: model_of(m) for name, m in members.items()}
    outputs = {name: [] for name in models}
    labels = []
    for batch in validation:
        features = _numpy(batch[0])
        for name, model in models.items():
            inputs = {k: features[k] for k in model.input}
            outputs[name].append(_predict(model, inputs))
        labels.append(np.asarray(_numpy(batch[1])))
    if not labels:
        raise ValueError("The validation data holds no video.")
    predictions = {k: np.concatenate(v) for k, v in outputs.items()}
    return predictions, np.concatenate(labels)


def _numpy(x):
    """tf.data tensors -> NumPy, so any backend's model can take them."""
    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _predict(model, inputs):
    out = keras.ops.convert_to_numpy(model.predict_on_batch(inputs))
    return out.astype("float32")


def _predict_records(members, pattern, model_of, batch_size, on_error, split):
    from keras_gmsa import data

    predictions = {}
    order = labels = None
    for name, member in members.items():
        model = model_of(member)
        dataset = data.dataset_for_model(
            model,
            pattern,
            batch_size=batch_size,
            with_ids=True,
            on_error=on_error,
            allow_zero_frames=on_error == "skip",
            id_split=split,
        )
        rows, batch_labels, ids = [], [], []
        for features, y, batch_ids in dataset.as_numpy_iterator():
            rows.append(_predict(model, features))
            batch_labels.append(y)
            ids += [i.decode() for i in batch_ids]
        if not ids:
            raise ValueError(f"{pattern}: no video to validate on.")
        rows = np.concatenate(rows)
        if order is None:
            order = {vid: row for row, vid in enumerate(ids)}
            labels = np.concatenate(batch_labels)
            if len(order) != len(ids):
                raise ValueError(
                    f"{pattern}: a video id appears twice; members' "
                    "predictions are matched by id."
                )
        elif sorted(ids) != sorted(order):
            raise ValueError(
                f"Member {name!r} read other videos of {pattern} than the "
                "first member (their inputs read other records?)."
            )
        else:
            # The same videos, in the first member's order.
            aligned = np.empty_like(rows)
            aligned[[order[vid] for vid in ids]] = rows
            rows = aligned
        predictions[name] = rows
        del model
    return predictions, labels


def select_members(
    members,
    validation,
    beam_width=3,
    size=6,
    top_k=constants.TOP_K,
    combine="logits",
    batch_size=256,
    on_error="raise",
    id_split=None,
    load=None,
):
    """Kakao Brain's selection: a beam search over trained members, scored
    by the validation GAP of their ensembles.

    Each member predicts the validation videos once
    (`member_predictions`); `beam_search` then scores ensembles from the
    cached predictions. Kakao Brain chose six of more than 100 runs this
    way (Kim et al. 2018, sec. 5; the paper gives neither the beam width
    nor the combination scored, see `beam_search`). Memory: 4 N C bytes
    per member (N videos, C classes); use `id_split` for a part of a large
    validation set.

    Args:
        members: the candidates (`member_predictions`).
        validation: a file pattern or batches (`member_predictions`).
        beam_width: ensembles kept at each size (`beam_search`).
        size: the most members in an ensemble (Kakao Brain's: 6).
        top_k: the GAP's k.
        combine: ``"logits"`` (the `build_ensemble` model at equal weights)
            or ``"probabilities"`` (their mean).
        batch_size: videos per batch (a file pattern).
        on_error: ``"raise"`` or ``"skip"`` bad records.
        id_split: read one part of a split by video id.
        load: how a path becomes a model.

    Returns:
        A `Selection`; `build_ensemble` of its members, fitted on
        validation data, is Kakao Brain's final model.

    Example:
    >>> chosen = select_members(  # doctest: +SKIP
    ...     ["runs/a/best.keras", "runs/b/best.keras", "runs/c/best.keras"],
    ...     "validate/*.tfrecord", beam_width=3, size=2)
    >>> chosen.members, chosen.gap  # doctest: +SKIP
    """
    predictions, labels = member_predictions(
        members,
        validation,
        batch_size=batch_size,
        on_error=on_error,
        id_split=id_split,
        load=load,
    )
    return beam_search(
        predictions,
        labels,
        beam_width=beam_width,
        size=size,
        top_k=top_k,
        combine=combine,
    )
