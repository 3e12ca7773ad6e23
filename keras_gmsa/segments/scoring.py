"""Scoring the 5-second segments of videos (the 2019 task), two ways.

- ``"windows"`` (the starter's way): the model runs on each 5-frame window
  alone, as a video of 5 frames
  (`keras_gmsa.loaders.segments_loader_for_model`).
- ``"pooled"``: one pass over the whole video; the encoder's frame outputs
  are averaged per segment (padding excluded) and the model's head scores
  each segment's average. With local attention each frame's output is
  about its neighbourhood, so a segment's average is about the segment
  and its context. It needs a model whose head reads a masked mean over
  frames (`keras_gmsa.names.TEMPORAL_MEAN`): the GMSA family and
  ``kakao_blstm`` (``tests/test_names.py`` holds the list).

`ratings_of` reads the ground truth of segment-rated records;
`rank_segments` scores *every* segment of the records with either scorer
and streams the scores into per-class lists: `SegmentEvaluator` (every
segment ranked for every class, memory O(classes x top_n); the default)
or `StarterSegmentLists` (the starter's ``inference.py`` lists,
``ranking="starter"``). `evaluate_segments` scores those lists by the
official rule (yt8m-format.md 8.6): each list is cut at ``top_n`` before
unrated segments are dropped, so unrated segments that outrank the rated
ones count, as they do on Kaggle. The submission `rank_segments` makes
(``keras-gmsa predict --segments``) therefore gets the MAP
`evaluate_segments` reports.

Each reads the records with tf.data or, without TensorFlow, Grain or
PyTorch (``loader``, `keras_gmsa.loaders.resolve_loader`): the same
segments and ids, so the same lists and the same MAP.
"""

import keras
import numpy as np
from keras import ops

from keras_gmsa import constants
from keras_gmsa import names
from keras_gmsa.layers.segment_mean_pooling import SegmentMeanPooling
from keras_gmsa.segments.evaluator import SegmentEvaluator
from keras_gmsa.segments.metric import TOP_N
from keras_gmsa.segments.metric import segment_id
from keras_gmsa.segments.starter_lists import StarterSegmentLists

SCORERS = ("windows", "pooled")
RANKINGS = ("exact", "starter")


def pooled_segment_model(model, segment_size=constants.SEGMENT_SIZE):
    """A model of the same inputs that scores every segment of a video:
    ``(B, ceil(T / segment_size), C)`` probabilities, from one pass of the
    encoder (see the module docstring). Shares `model`'s weights."""
    hint = (
        "The pooled scorer takes a model whose head reads a masked mean "
        "over frames (baseline, shareatt, gateatt, gateop, kakao_blstm); "
        "score it with scorer='windows'."
    )
    pooling = names.find_layer(
        model, names.TEMPORAL_MEAN, "the pooled segment scorer", hint
    )
    mask = names.find_layer(
        model, names.FRAME_MASK, "the pooled segment scorer", hint
    )
    frames = pooling.input
    if isinstance(frames, (list, tuple)):
        frames = frames[0]
    head = keras.Model(pooling.output, model.output, name=f"{model.name}_head")
    if len(head.inputs) != 1:
        raise ValueError(
            f"The head of {model.name!r} reads more than the pooled frames; "
            "score it with scorer='windows'."
        )
    per_segment = SegmentMeanPooling(segment_size, name="segment_mean")(
        frames, mask.output
    )
    segments = per_segment.shape[1]
    scores = keras.layers.TimeDistributed(head, name="segment_head")(
        per_segment
    )
    return keras.Model(
        model.input, scores, name=f"{model.name}_segments_{segments}"
    )


def frame_features(model):
    """``{name: size}`` of a frame-level model's frame inputs."""
    inputs = model.input if isinstance(model.input, dict) else {}
    return {
        k: int(t.shape[-1]) for k, t in names.feature_inputs(inputs).items()
    }


def ratings_of(pattern, num_classes, loader="auto", num_workers=0, **kwargs):
    """``{(segment id, class): score}`` of segment-rated records.

    ``loader``: what reads them (`keras_gmsa.loaders.resolve_loader`:
    tf.data, or Grain or PyTorch without TensorFlow); ``num_workers``:
    worker processes of the Grain and PyTorch loaders.
    """
    from keras_gmsa import loaders

    loader = loaders.resolve_loader(loader)
    read = dict(
        features=kwargs.pop("features", None),
        num_classes=num_classes,
        with_ids=True,
        batch_size=kwargs.pop("batch_size", 256),
        **kwargs,
    )
    if loader == "tf":
        from keras_gmsa import data

        batches = data.segment_dataset(pattern, **read).as_numpy_iterator()
    else:
        batches = loaders.numpy_batches(
            loaders.segment_loader(
                pattern, framework=loader, num_workers=num_workers, **read
            )
        )
    ratings = {}
    for features, labels, ids in batches:
        weights = features[names.LABEL_WEIGHTS]
        for row, c in zip(*np.nonzero(weights > 0), strict=True):
            ratings[(_text(ids[row]), int(c))] = float(labels[row, c])
    return ratings


def _text(segment):
    """A segment id as text: tf.data and the loaders give bytes."""
    return segment.decode() if isinstance(segment, bytes) else str(segment)


def segment_lists(num_classes, ranking="exact", top_n=TOP_N, **kwargs):
    """The per-class lists of a ranking: `SegmentEvaluator` (``"exact"``)
    or `StarterSegmentLists` (``"starter"``, which also takes
    ``top_k``); ``classes`` restricts the classes ranked."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}; got {ranking!r}.")
    if ranking == "starter":
        return StarterSegmentLists(num_classes, top_n=top_n, **kwargs)
    kwargs.pop("top_k", None)
    return SegmentEvaluator(num_classes, top_n=top_n, **kwargs)


def rank_segments(
    model,
    pattern,
    scorer="windows",
    top_n=TOP_N,
    classes=None,
    batch_size=64,
    ranking="exact",
    top_k=20,
    steps=None,
    progress=None,
    loader="auto",
    num_workers=0,
    **kwargs,
):
    """Scores every segment of `pattern` with `model`; returns the lists
    (`segment_lists`) holding each class's `top_n` best segments.

    Every 5-frame segment of every video is scored, rated or not: the
    official metric cuts each class's list at `top_n` before it drops
    the unrated segments.

    Args:
        scorer: ``"windows"`` or ``"pooled"`` (module docstring).
        classes: the classes ranked (None: all).
        ranking: ``"exact"`` or ``"starter"`` (`segment_lists`).
        top_k: classes listed per segment with ``ranking="starter"``.
        steps: at most this many batches (None: all).
        progress: a `keras_gmsa.progress.Progress` counting the segments.
        loader: what reads the records (`keras_gmsa.loaders.resolve_loader`).
        num_workers: worker processes of the Grain and PyTorch loaders.
        **kwargs: reader options (``on_error``, ``id_split``, ...).
    """
    from keras_gmsa import loaders

    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}; got {scorer!r}.")
    loader = loaders.resolve_loader(loader)
    num_classes = int(model.output_shape[-1])
    lists = segment_lists(
        num_classes, ranking, top_n=top_n, classes=classes, top_k=top_k
    )
    kwargs.update(loader=loader, num_workers=num_workers)
    if scorer == "windows":
        windows = loaders.segments_loader_for_model(
            model,
            pattern,
            rated_only=False,
            with_ids=True,
            batch_size=batch_size,
            **kwargs,
        )
        lists.update_from_model(model, windows, steps=steps, progress=progress)
        lists.read_stats = windows.read_stats
        return lists
    scoring = pooled_segment_model(model)
    size = constants.SEGMENT_SIZE
    videos = loaders.loader_for_model(
        model, pattern, batch_size=batch_size, with_ids=True, **kwargs
    )
    for step, (features, _, ids) in enumerate(loaders.numpy_batches(videos)):
        if steps is not None and step >= steps:
            break
        probs = ops.convert_to_numpy(scoring.predict_on_batch(features))
        counts = np.asarray(features[names.NUM_FRAMES])
        segment_ids, rows = [], []
        for v, (vid, n) in enumerate(zip(ids, counts, strict=True)):
            for s in range(max(-(-int(n) // size), 1)):
                segment_ids.append(segment_id(vid, s * size))
                rows.append(probs[v, s])
        if rows:
            lists.update(segment_ids, np.stack(rows))
            if progress is not None:
                progress.add(len(rows))
    if progress is not None:
        progress.close()
    lists.read_stats = videos.read_stats
    return lists


def evaluate_segments(
    model, pattern, scorer="windows", top_n=TOP_N, ratings=None, **kwargs
):
    """`segment_map` of `model` on segment-rated records, streamed.

    The lists of `rank_segments` (every segment of the records ranked,
    as a submission ranks them), scored against the records' ratings by
    the official rule. ``ratings`` (from `ratings_of`) saves reading
    them again; ``kwargs`` go to `rank_segments` (``loader``,
    ``num_workers``, ``on_error`` and ``id_split`` read the ratings too).

    Returns ``{"segment_map": float, "segments": rated segments,
    "classes": classes with a positive rating, "scorer", "ranking"}``.
    """
    num_classes = int(model.output_shape[-1])
    if ratings is None:
        read = ("on_error", "id_split", "loader", "num_workers")
        reader = {k: kwargs[k] for k in read if k in kwargs}
        ratings = ratings_of(
            pattern, num_classes, features=frame_features(model), **reader
        )
    lists = rank_segments(model, pattern, scorer=scorer, top_n=top_n, **kwargs)
    positives = {c for (_, c), score in ratings.items() if score > 0}
    return {
        "segment_map": lists.result(ratings),
        "segments": len({s for s, _ in ratings}),
        "classes": len(positives),
        "scorer": scorer,
        "ranking": kwargs.get("ranking", "exact"),
    }
