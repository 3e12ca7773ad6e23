"""`keras-gmsa inspect`: the papers' figures of a saved model (PNG)."""

import json

from keras_gmsa.cli._common import MODEL_HELP
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import load_model
from keras_gmsa.cli._common import positive_int


def add_parser(sub, parents):
    p = sub.add_parser(
        "inspect",
        help="attention maps, profiles, local sensitivity, cluster maps",
        description="Figures of the GMSA paper (1, 3, 4) and of Attention "
        "Clusters (5) for a saved model and a video of PATTERN, as PNG.",
    )
    p.add_argument(
        "kind",
        choices=("similarity", "profiles", "sensitivity", "clusters"),
        help="similarity (Fig. 1), profiles (Fig. 3), sensitivity (Fig. 4), "
        "clusters (Attention Clusters Fig. 5)",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("pattern", help="records the model reads")
    p.add_argument("--video", type=int, default=0, help="index in PATTERN")
    p.add_argument("--modality", default="rgb", help="the encoder to show")
    p.add_argument(
        "--heads",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="heads shown (similarity)",
    )
    p.add_argument(
        "--baseline", help="a .keras model or preset to compare (profiles)"
    )
    p.add_argument("--vocabulary", help="vocabulary.csv for label names")
    p.add_argument(
        "--compare",
        nargs="+",
        help="more .keras models or presets (sensitivity)",
    )
    p.add_argument(
        "--videos",
        type=positive_int,
        default=8,
        help="videos averaged (sensitivity)",
    )
    p.add_argument(
        "--neighbourhood",
        default="tp10",
        help="N_i of eq. 14, a mask spec (sensitivity)",
    )
    p.add_argument(
        "--probes",
        type=positive_int,
        default=4,
        help="random probe directions per video (sensitivity)",
    )
    p.add_argument("--out", help="the PNG (default: KIND.png)")
    p.set_defaults(run=run)
    return p


def read_videos(model, pattern, count, first=0):
    """`count` single-video feature dicts from a record pattern."""
    from keras_gmsa import data

    dataset = data.dataset_for_model(model, pattern, batch_size=1)
    videos = []
    for index, (features, _) in enumerate(dataset.as_numpy_iterator()):
        if index < first:
            continue
        videos.append({k: v[0] for k, v in features.items()})
        if len(videos) == count:
            break
    if len(videos) < count:
        raise UserError(
            f"{pattern} has {first + len(videos)} videos; asked for video "
            f"{first + count - 1}."
        )
    return videos


def run(args):
    import numpy as np

    from keras_gmsa import analysis
    from keras_gmsa import data

    model = load_model(args.model)
    out = args.out or f"{args.kind}.png"
    video = read_videos(model, args.pattern, 1, args.video)[0]
    if args.kind == "similarity":
        result = analysis.similarity_and_attention(
            model, video, args.modality, tuple(args.heads), path=out
        )
        summary = {
            "modality": args.modality,
            "frames": len(result["similarity"]),
            "mean_similarity": float(result["similarity"].mean()),
            "heads": list(args.heads),
        }
    elif args.kind == "profiles":
        baseline = load_model(args.baseline) if args.baseline else None
        vocab = (
            data.Vocabulary.load(args.vocabulary) if args.vocabulary else None
        )
        result = analysis.attention_profiles(
            model, video, args.modality, baseline, vocab, path=out
        )
        summary = {"predictions": result["predictions"]}
    elif args.kind == "sensitivity":
        models = {model.name: model}
        for path in args.compare or []:
            other = load_model(path)
            models[other.name] = other
        videos = read_videos(model, args.pattern, args.videos, args.video)
        result = analysis.local_sensitivity(
            models,
            videos,
            args.modality,
            args.neighbourhood,
            args.probes,
            path=out,
        )
        summary = {
            k: float(np.mean(v[np.isfinite(v)]))
            if np.isfinite(v).any()
            else None
            for k, v in result.items()
        }
    else:
        result = analysis.cluster_weight_maps(model, video, path=out)
        summary = {k: list(v.shape) for k, v in result.items()}
    print(json.dumps(summary, indent=1))
    print(f"Wrote {out}")
