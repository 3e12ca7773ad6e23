"""Looking inside the models: the GMSA paper's figures as functions.

Each function takes a model (a GMSA model from `keras_gmsa.build_model`, or
an ``attention_cluster`` model for `cluster_weight_maps`) and the inputs of
one video or a batch (the dicts the readers yield), returns NumPy arrays,
and with ``path=`` also writes a PNG (matplotlib, no display needed):

- `similarity_and_attention`: Figure 1, the inter-frame cosine similarity
  of a video's raw features next to chosen heads' attention maps.
- `attention_profiles`: Figure 3, global and local attention profiles
  (maps averaged over heads, then over rows), optionally with the top
  predictions of the model and of a baseline.
- `local_sensitivity`: Figure 4, the statistic S_i of eq. (14) from the
  gradient norms G[i, j] of output frame i with respect to input frame j,
  averaged over videos, for several models on one plot.
- `cluster_weight_maps`: the Attention Clusters paper's Figure 5, one row
  per attention unit over the frames.

Gradients go through `input_gradient`, one function over the three
backends' own mechanisms (``tf.GradientTape``, ``jax.grad``,
``torch.autograd``).
"""

import numpy as np

from keras_gmsa import masks as masks_lib
from keras_gmsa import names


def _np(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def _batch(features):
    """One video's features (with or without a batch axis) as a batch."""
    out = {}
    for key, value in features.items():
        value = np.asarray(value)
        if key == names.NUM_FRAMES:
            value = value.reshape(-1)
        elif value.ndim == 2 or (key == names.GIVEN_LABELS and value.ndim == 1):
            value = value[None]
        out[key] = value
    return out


def _encoder(model, modality, block=0):
    return names.find_layer(
        model,
        names.encoder_layer_name(modality, block),
        "attention maps",
        "They need a GMSA model (baseline, shareatt, gateatt, gateop).",
    )


def _frame_mask(model, needed_by):
    return names.find_layer(model, names.FRAME_MASK, needed_by).output


def _first_input(layer):
    """The frames a layer was called on (its first input)."""
    tensors = layer.input
    if isinstance(tensors, (list, tuple)):
        return tensors[0]
    return tensors


def _encoder_inputs(model, features, modality, block=0):
    """The frames entering an encoder block, and the padding mask."""
    import keras

    encoder = _encoder(model, modality, block)
    probe = keras.Model(
        model.input,
        [_first_input(encoder), _frame_mask(model, "attention maps")],
    )
    frames, mask = probe(_batch(features))
    return encoder, frames, mask


def attention_maps(model, features, modality="rgb", block=0):
    """The attention maps of one encoder block for one or more videos.

    Returns:
        a dict of float32 arrays ``(B, H, T, T)``:
        ``"maps"`` the maps the block uses (GateAtt: the gated
        combination), ``"global"`` and ``"local"`` the global and local
        maps (for ShareAtt, its global and its local heads; the baseline
        has no ``"local"``), and ``"num_frames"`` ``(B,)``.
    """
    encoder, frames, mask = _encoder_inputs(model, features, modality, block)
    layer = encoder.attention_layer
    n = _np(mask).sum(axis=1)
    if hasattr(layer, "attention_maps"):
        # GateAtt / GateOp: every map of the gated layer.
        maps = layer.attention_maps(frames, frame_mask=mask)
        out = {k: _np(v) for k, v in maps.items() if k in ("global", "local")}
        # GateOp mixes contexts, not maps: show its global maps.
        out["maps"] = _np(maps.get("combined", maps["global"]))
    else:
        _, maps = layer(frames, frame_mask=mask, return_attention_scores=True)
        maps = _np(maps).astype("float32")
        specs = layer.head_masks
        global_heads = [h for h, s in enumerate(specs) if s is None]
        local_heads = [h for h, s in enumerate(specs) if s is not None]
        out = {"maps": maps, "global": maps[:, global_heads]}
        if local_heads:
            out["local"] = maps[:, local_heads]
    out[names.NUM_FRAMES] = n.astype("int64")
    return out


def _figure(rows, cols, width=3.2, height=3.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False
    )
    return plt, fig, axes


def _save(plt, fig, path):
    import os

    from keras_gmsa import paths

    fig.tight_layout()
    # Through tf.io.gfile (`path` may be on gs://); the format from the
    # extension, as savefig(path) takes it (none: PNG).
    kind = os.path.splitext(str(path))[1].lstrip(".").lower() or None
    with paths.open_file(path, "wb") as f:
        fig.savefig(f, dpi=110, format=kind)
    plt.close(fig)


def cosine_similarity(frames):
    """Pairwise cosine similarity of ``(T, D)`` frames: ``(T, T)``."""
    frames = np.asarray(frames, dtype="float64")
    norms = np.linalg.norm(frames, axis=1, keepdims=True)
    unit = frames / np.maximum(norms, 1e-12)
    return unit @ unit.T


def similarity_and_attention(
    model, features, modality="rgb", heads=(0, 1, 2), path=None
):
    """Figure 1: raw-feature similarity next to attention maps of heads.

    Args:
        model: a trained GMSA model.
        features: one video's inputs.
        modality: ``"rgb"`` or ``"audio"``.
        heads: indices of the heads to show (of the maps the block uses).
        path: write a PNG there.

    Returns:
        ``{"similarity": (n, n), "attention": (len(heads), n, n)}`` over the
        n real frames.
    """
    from keras_gmsa.layers import Dequantize

    maps = attention_maps(model, features, modality)
    n = int(maps[names.NUM_FRAMES][0])
    raw = _np(Dequantize()(_batch(features)[modality]))[0, :n]
    result = {
        "similarity": cosine_similarity(raw),
        "attention": maps["maps"][0, list(heads), :n, :n],
    }
    if path:
        plt, fig, axes = _figure(1, 1 + len(heads))
        axes[0, 0].imshow(result["similarity"], cmap="viridis")
        axes[0, 0].set_title(f"{modality}: cosine similarity")
        for k, head in enumerate(heads):
            axes[0, k + 1].imshow(result["attention"][k], cmap="magma")
            axes[0, k + 1].set_title(f"{model.name}: head {head}")
        for ax in axes[0]:
            ax.set_xlabel("frame j")
            ax.set_ylabel("frame i")
        _save(plt, fig, path)
    return result


def _top_labels(model, features, k, vocabulary):
    probs = _np(model.predict_on_batch(_batch(features)))[0]
    top = np.argsort(-probs)[:k]
    names = []
    for index in top:
        name = vocabulary.name(int(index)) if vocabulary else str(index)
        names.append((name, float(probs[index])))
    return names


def attention_profiles(
    model,
    features,
    modality="rgb",
    baseline=None,
    vocabulary=None,
    top_k=3,
    path=None,
):
    """Figure 3: the global and local attention profiles of one video.

    A profile averages the maps over heads, then over rows (queries): the
    attention each frame receives.

    Args:
        model: a GMSA model with local attention.
        features: one video's inputs.
        baseline: optionally a baseline model whose top predictions are
            shown next to the model's.
        vocabulary: a `keras_gmsa.data.Vocabulary` to name the labels.
        top_k: predictions shown per model.
        path: write a PNG there.

    Returns:
        ``{"global": (n,), "local": (n,), "predictions": {name: [(label,
        probability), ...]}}``.
    """
    maps = attention_maps(model, features, modality)
    n = int(maps[names.NUM_FRAMES][0])
    if "local" not in maps:
        raise ValueError(
            f"Model {model.name!r} has no local attention: use a ShareAtt, "
            "GateAtt or GateOp model (the baseline is only global)."
        )
    result = {
        kind: maps[kind][0, :, :n, :n].mean(axis=0).mean(axis=0)
        for kind in ("global", "local")
    }
    predictions = {model.name: _top_labels(model, features, top_k, vocabulary)}
    if baseline is not None:
        predictions[baseline.name] = _top_labels(
            baseline, features, top_k, vocabulary
        )
    result["predictions"] = predictions
    if path:
        plt, fig, axes = _figure(1, 1, width=7, height=3.4)
        ax = axes[0, 0]
        frames = np.arange(n)
        ax.plot(frames, result["global"], label="global")
        ax.plot(frames, result["local"], label="local")
        ax.set_xlabel("frame")
        ax.set_ylabel("mean attention received")
        ax.legend(loc="upper left")
        text = "\n".join(
            f"{name}: " + ", ".join(f"{label} ({p:.2f})" for label, p in top)
            for name, top in predictions.items()
        )
        ax.set_title(text, fontsize=8, loc="left")
        _save(plt, fig, path)
    return result


def input_gradient(fn, x):
    """d sum(fn(x)) / dx on the active backend, as a NumPy array.

    `fn` maps a tensor to a tensor of `keras.ops`; TensorFlow uses a
    ``GradientTape``, JAX ``jax.grad`` and PyTorch ``torch.autograd``.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x)))
    if backend == "torch":
        import torch

        x = torch.as_tensor(np.asarray(x)).clone().requires_grad_(True)
        torch.sum(fn(x)).backward()
        return x.grad.detach().cpu().numpy()
    raise ValueError(f"Gradients are not implemented for {backend!r}.")


# The most input copies one gradient pass of `gradient_norms` holds.
_PASS_BYTES = 64 * 2**20


def gradient_norms(model, features, modality="rgb", probes=4, seed=0):
    """G[i, j] = ||dY[i]/dX[j]|| for the first encoder block of one video.

    Y are the block's output frames and X its input frames. The Frobenius
    norm of each D x D Jacobian block is estimated with ``probes`` random
    directions u (E ||u^T J||^2 = ||J||_F^2 for u ~ N(0, I)): the video is
    repeated T times and copy i back-propagates u . Y[i], so one backward
    pass per probe gives every row i (several probes per pass where the
    copies are small).

    Returns:
        ``(n, n)`` over the real frames.
    """
    import keras

    encoder, frames, mask = _encoder_inputs(model, features, modality)
    mask = _np(mask)[:1]
    n = int(mask.sum())
    x = _np(frames)[:1]  # (1, T, D); GateAtt needs the full, static T
    length, dim = x.shape[1], x.shape[2]
    # Several probes share one backward pass (each its n copies) while
    # their copies stay under _PASS_BYTES: one pass for a short video, one
    # per probe at the dataset's 300 frames of 1024 features.
    per_pass = max(
        1, min(probes, _PASS_BYTES // (4 * max(n, 1) * length * dim))
    )
    rng = np.random.default_rng(seed)
    select = np.eye(n, length, dtype="float32")[:, :, None]  # (n, T, 1)
    squared = np.zeros((n, n))
    done = 0
    while done < probes:
        k = min(per_pass, probes - done)
        # Copy p * n + i back-propagates probe p's u . Y[i]; the draws
        # are in the order of one probe at a time.
        tiled = np.repeat(x, k * n, axis=0).astype("float32")
        tiled_mask = keras.ops.convert_to_tensor(np.repeat(mask, k * n, 0))
        u = rng.normal(size=(k * n, 1, dim)).astype("float32")
        weights = keras.ops.convert_to_tensor(np.tile(select, (k, 1, 1)) * u)

        def fn(v, weights=weights, tiled_mask=tiled_mask):
            return keras.ops.multiply(
                encoder(v, frame_mask=tiled_mask), weights
            )

        grad = input_gradient(fn, tiled)  # (k * n copies, T frames, D)
        rows = (grad[:, :n].astype("float64") ** 2).sum(axis=-1)
        squared += rows.reshape(k, n, n).sum(axis=0)
        done += k
    return np.sqrt(squared / probes)


def sensitivity_statistic(G, neighbourhood="tp10"):
    """S_i of eq. (14) from a gradient-norm matrix ``G`` (T x T).

    ``S_i = avg_{j in N_i} G[i, j] / (avg_{j in N_i} G[i, j] +
    avg_{j not in N_i} G[i, j])`` with N_i given by a mask spec of
    `keras_gmsa.masks` (the same for every model compared). Rows whose
    neighbourhood covers every frame, or whose gradients are all zero,
    are NaN.
    """
    G = np.asarray(G, dtype="float64")
    n = G.shape[0]
    inside = masks_lib.local_mask(neighbourhood, n, check=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        local = np.where(inside, G, 0).sum(1) / inside.sum(1)
        other = np.where(~inside, G, 0).sum(1) / (~inside).sum(1)
        return local / (local + other)


def local_sensitivity(
    models,
    videos,
    modality="rgb",
    neighbourhood="tp10",
    probes=4,
    path=None,
):
    """Figure 4: S_i averaged over videos, for several models on one plot.

    Args:
        models: ``{label: model}`` (or a list of models, labelled by name).
        videos: a list of one-video feature dicts (or a batch dict).
        neighbourhood: the mask spec of N_i.
        probes: random directions per gradient-norm estimate.
        path: write a PNG there.

    Returns:
        ``{label: (T,) mean S_i}``; frame i averages over the videos that
        have a frame i.
    """
    if not isinstance(models, dict):
        models = {m.name: m for m in models}
    if isinstance(videos, dict):
        count = len(np.asarray(videos[names.NUM_FRAMES]).reshape(-1))
        videos = [
            {k: np.asarray(v)[b] for k, v in videos.items()}
            for b in range(count)
        ]
    result = {}
    for label, model in models.items():
        rows = []
        for video in videos:
            G = gradient_norms(model, video, modality, probes)
            rows.append(sensitivity_statistic(G, neighbourhood))
        length = max(len(r) for r in rows)
        padded = np.full((len(rows), length), np.nan)
        for k, row in enumerate(rows):
            padded[k, : len(row)] = row
        counts = (~np.isnan(padded)).sum(axis=0)
        total = np.nansum(padded, axis=0)
        result[label] = np.where(
            counts > 0, total / np.maximum(counts, 1), np.nan
        )
    if path:
        plt, fig, axes = _figure(1, 1, width=7, height=3.4)
        ax = axes[0, 0]
        for label, values in result.items():
            ax.plot(np.arange(len(values)), values, label=label)
        ax.set_xlabel("output frame i")
        ax.set_ylabel(f"S_i (N_i = {neighbourhood})")
        ax.set_ylim(0, 1)
        ax.legend()
        _save(plt, fig, path)
    return result


def cluster_weight_maps(model, features, path=None):
    """Attention-cluster weight maps of one video (Long et al., Fig. 5).

    Returns:
        ``{modality: (N, n)}``: one row per attention unit over the n real
        frames; rows sum to 1.
    """
    import keras

    from keras_gmsa.layers import AttentionCluster

    clusters = [
        layer for layer in model.layers if isinstance(layer, AttentionCluster)
    ]
    if not clusters:
        raise ValueError(
            f"Model {model.name!r} has no AttentionCluster layer; build one "
            "with keras_gmsa.build_model('attention_cluster')."
        )
    probe = keras.Model(
        model.input,
        [_first_input(layer) for layer in clusters]
        + [_frame_mask(model, "cluster_weight_maps")],
    )
    *inputs, mask = probe(_batch(features))
    n = int(_np(mask)[0].sum())
    result = {}
    for layer, x in zip(clusters, inputs, strict=True):
        _, weights = layer(x, frame_mask=mask, return_attention=True)
        result[layer.name.removesuffix("_cluster")] = _np(weights)[0, :, :n]
    if path:
        plt, fig, axes = _figure(len(result), 1, width=7, height=2.2)
        for ax, (name, weights) in zip(axes[:, 0], result.items(), strict=True):
            ax.imshow(weights, aspect="auto", cmap="hot")
            ax.set_ylabel(f"{name} unit")
            ax.set_xlabel("frame")
        _save(plt, fig, path)
    return result
