"""The `keras-gmsa` command line.

keras-gmsa demo                 synthetic data -> four GMSA models -> table
keras-gmsa train --run-dir DIR  train (or resume) one model on record files
keras-gmsa evaluate MODEL PAT   exact official metrics of a saved model
keras-gmsa predict MODEL PAT    top-k labels, Kaggle CSV or JSON lines
keras-gmsa tune --directory DIR KerasTuner search of the GMSA masks
keras-gmsa inspect KIND M PAT   the papers' figures (PNG) of a saved model
keras-gmsa export MODEL DIR     TensorFlow SavedModel serving uint8 frames
keras-gmsa synth DIR            write synthetic shards in the native formats
keras-gmsa verify PATTERN       check TFRecord files (framing and CRCs)
keras-gmsa models               list the model zoo
"""

import argparse
import os
import sys


def _cmd_models(args):
    import keras_gmsa

    for name, text in keras_gmsa.list_models(with_descriptions=True).items():
        print(f"{name:<12} {text}")


# Video ids of each split start here, so that splits never share an id.
_SPLIT_START = {"train": 0, "validate": 1_000_000, "test": 2_000_000}


def _cmd_synth(args):
    import zlib

    from keras_gmsa.data import synthetic

    # --seed fixes the world (the classes and what identifies them): the
    # splits written with the same --seed share it and differ in videos.
    gen = synthetic.SyntheticYT8M(
        num_classes=args.num_classes,
        num_local_classes=args.local_classes,
        max_frames=args.max_frames,
        seed=args.seed,
    )
    start = args.start_index
    if start is None:
        start = _SPLIT_START.get(args.split, 3_000_000)
    paths = synthetic.write_dataset(
        args.directory,
        num_videos=args.videos,
        num_shards=args.shards,
        split=args.split,
        generator=gen,
        layouts=tuple(args.layouts),
        seed=(args.seed * 1_000_003 + zlib.crc32(args.split.encode())),
        start_index=start,
    )
    for layout, files in paths.items():
        print(f"{layout:<8} {len(files)} shards, e.g. {files[0]}")
    print(f"vocabulary {os.path.join(args.directory, 'vocabulary.csv')}")


def _cmd_verify(args):
    from keras_gmsa.data import resolve_files
    from keras_gmsa.data import verify_records

    files = resolve_files(args.pattern)
    problems = verify_records(args.pattern, check_crc=not args.fast)
    for p in problems:
        print(p)
    print(f"{len(files)} files checked, {len(problems)} with problems")
    return 1 if problems else 0


def _load_for_records(args):
    """Loads a .keras model and a dataset of the records it reads."""
    import keras

    from keras_gmsa import data

    model = keras.saving.load_model(args.model)
    num_classes = int(model.output_shape[-1])
    dataset = data.dataset_for_model(
        model,
        args.pattern,
        batch_size=args.batch_size,
        with_ids=True,
        on_error=args.on_error,
        allow_zero_frames=args.on_error == "skip",
        id_split=args.id_split,
    )
    return model, dataset, num_classes


def _cmd_evaluate(args):
    import json

    from keras_gmsa import metrics

    model, dataset, num_classes = _load_for_records(args)
    evaluator = metrics.Evaluator(num_classes, top_k=args.top_k)
    evaluator.update_from_model(model, dataset)
    result = evaluator.result()
    for key in ("gap", "map", "perr", "hit_at_one"):
        print(f"{key:<11} {result[key]:.6f}")
    print(f"videos      {result['num_videos']}")
    print(dataset.read_stats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(result, read_stats=dataset.read_stats.as_dict()),
                f,
                indent=1,
            )


def _videos_for_inspection(model, pattern, count, first=0):
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
        raise ValueError(
            f"{pattern} has {first + len(videos)} videos; asked for video "
            f"{first + count - 1}."
        )
    return videos


def _cmd_inspect(args):
    import json

    import keras
    import numpy as np

    from keras_gmsa import analysis
    from keras_gmsa import data

    model = keras.saving.load_model(args.model)
    out = args.out or f"{args.kind}.png"
    video = _videos_for_inspection(model, args.pattern, 1, args.video)[0]
    if args.kind == "similarity":
        result = analysis.similarity_and_attention(
            model, video, args.modality, tuple(args.heads), path=out
        )
        summary = {
            "frames": len(result["similarity"]),
            "mean_similarity": float(result["similarity"].mean()),
        }
    elif args.kind == "profiles":
        baseline = (
            keras.saving.load_model(args.baseline) if args.baseline else None
        )
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
            other = keras.saving.load_model(path)
            models[other.name] = other
        videos = _videos_for_inspection(
            model, args.pattern, args.videos, args.video
        )
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


def _cmd_predict(args):
    import json

    import keras

    from keras_gmsa import data

    model, dataset, _ = _load_for_records(args)
    vocab = data.Vocabulary.load(args.vocabulary) if args.vocabulary else None
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        if args.format == "kaggle":
            out.write(data.vocabulary.SUBMISSION_HEADER)
        for features, _, ids in dataset.as_numpy_iterator():
            probs = keras.ops.convert_to_numpy(model.predict_on_batch(features))
            if args.format == "kaggle":
                for line in data.vocabulary.submission_lines(
                    ids, probs, args.top_k
                ):
                    out.write(line)
                continue
            for vid, pairs in zip(
                ids, data.top_k(probs, args.top_k, vocab), strict=True
            ):
                row = {
                    "id": vid.decode(),
                    "labels": [
                        [label, round(score, 6)] for label, score in pairs
                    ],
                }
                out.write(json.dumps(row) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()


def _cmd_demo(args):
    from keras_gmsa import demo

    demo.run(
        cache_dir=args.cache_dir,
        output_dir=args.output_dir,
        epochs=args.epochs,
        train_videos=args.train_videos,
        test_videos=args.test_videos,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
    )


def _parse_value(text):
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(items):
    """``["key=value", ...]`` (JSON values) -> dict, for ``--option``."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--option expects key=value, got {item!r}")
        options[key] = _parse_value(value)
    return options


def _parse_features(text):
    features = {}
    for part in text.split(","):
        name, _, size = part.partition(":")
        if not size.isdigit():
            raise SystemExit(
                f"--features: expected name:size[,name:size], got {text!r}"
            )
        features[name.strip()] = int(size)
    return features


# Flags of `train` and the config keys they set.
_TRAIN_FLAGS = (
    ("model", str),
    ("mask", str),
    ("W", int),
    ("L", int),
    ("train", str),
    ("validation", str),
    ("features", _parse_features),
    ("num_classes", int),
    ("max_frames", int),
    ("batch_size", int),
    ("validation_batch_size", int),
    ("learning_rate", float),
    ("steps_per_validation", int),
    ("max_validations", int),
    ("validation_steps", int),
    ("patience", int),
    ("lr_patience", int),
    ("lr_factor", float),
    ("lr_decay", float),
    ("lr_decay_examples", int),
    ("schedule", str),
    ("mixed_precision", str),
    ("seed", int),
    ("shuffle_buffer", int),
    ("on_error", str),
    ("train_id_split", str),
    ("validation_id_split", str),
)


def _train_config(args):
    from keras_gmsa import training

    layers = []
    if args.config:
        layers.append(training.load_config_file(args.config))
    flags = {
        key: getattr(args, key)
        for key, _ in _TRAIN_FLAGS
        if getattr(args, key) is not None
    }
    if args.distribute:
        flags["distribute"] = True
    if args.no_tensorboard:
        flags["tensorboard"] = False
    if args.option:
        flags["model_options"] = parse_options(args.option)
    layers.append(flags)
    return training.resolve_config(*layers)


def _cmd_train(args):
    from keras_gmsa import training

    training.setup_devices(args.cpu_devices)
    config = _train_config(args)
    training.train(config, args.run_dir, overwrite=args.overwrite)


def _cmd_tune(args):
    from keras_gmsa import tuning

    options = parse_options(args.option)
    learning_rate = (
        args.learning_rate[0]
        if len(args.learning_rate) == 1
        else tuple(args.learning_rate)
    )
    tuning.run_search(
        args.train,
        args.validation,
        args.directory,
        project_name=args.project,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        validation_batch_size=args.validation_batch_size,
        validation_steps=args.validation_steps,
        patience=args.patience,
        combinations=args.combinations,
        mask_kinds=args.masks,
        w_values=args.w_values,
        l_values=args.l_values,
        learning_rate=learning_rate,
        num_classes=args.num_classes,
        max_frames=args.max_frames,
        features=args.features,
        model_options=options,
        seed=args.seed,
        overwrite=args.overwrite,
        num_best=args.num_best,
    )


def export_saved_model(model_path, directory, check=True):
    """Exports a .keras model as a TensorFlow SavedModel.

    The SavedModel's ``serve`` signature takes the model's inputs as they
    come from the records: uint8 frames (B, T, D) per modality and int32
    ``num_frames``. With ``check``, the exported function is run on a
    random batch and compared with the Keras model.
    """
    import keras
    import numpy as np

    import keras_gmsa  # noqa: F401  (registers the layers)

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "export writes a TensorFlow SavedModel and needs "
            "KERAS_BACKEND=tensorflow; a .keras file saved on any backend "
            "loads there."
        )
    import tensorflow as tf

    model = keras.saving.load_model(model_path)
    model.export(directory, format="tf_saved_model", verbose=False)
    if not check:
        return None
    rng = np.random.default_rng(0)
    batch = {}
    for name, tensor in model.input.items():
        shape = (3,) + tuple(tensor.shape[1:])
        if name == "num_frames":
            frames = int(next(iter(model.input.values())).shape[1])
            batch[name] = np.array([frames, frames // 2, 0], "int32")
        elif tensor.dtype == "uint8":
            batch[name] = rng.integers(0, 256, shape).astype("uint8")
        else:
            batch[name] = rng.normal(size=shape).astype(tensor.dtype)
    reloaded = tf.saved_model.load(directory)  # keep it: it owns the weights
    served = reloaded.serve(batch)
    served = served.numpy() if hasattr(served, "numpy") else served
    expected = keras.ops.convert_to_numpy(model.predict_on_batch(batch))
    return float(np.abs(served - expected).max())


def _cmd_export(args):
    difference = export_saved_model(args.model, args.directory)
    print(f"SavedModel in {args.directory} (signature: serve)")
    print(f"max |served - Keras| on a random batch: {difference:.2e}")
    if difference > 1e-4:
        print("The exported model does not match the Keras model.")
        return 1
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-gmsa",
        description="GMSA and friends: video classification on YouTube-8M "
        "features with Keras 3.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the model zoo")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser(
        "synth", help="write synthetic shards in the native YouTube-8M formats"
    )
    p.add_argument("directory")
    p.add_argument("--videos", type=int, default=1024)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--split", default="train")
    p.add_argument("--num-classes", type=int, default=3862)
    p.add_argument(
        "--local-classes",
        type=int,
        default=None,
        help="classes identified only by local temporal events "
        "(default num_classes // 10)",
    )
    p.add_argument("--max-frames", type=int, default=300)
    p.add_argument(
        "--layouts",
        nargs="+",
        default=["frame", "video"],
        choices=["frame", "video", "segment"],
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the synthetic world; write every split with the same seed",
    )
    p.add_argument(
        "--start-index",
        type=int,
        default=None,
        help="first video index (default: by split, so ids never repeat)",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("verify", help="check TFRecord files")
    p.add_argument("pattern")
    p.add_argument(
        "--fast",
        action="store_true",
        help="check framing only, not payload CRCs",
    )
    p.set_defaults(func=_cmd_verify)

    for name, text in (
        ("evaluate", "official metrics of a saved model on records"),
        ("predict", "top-k predictions of a saved model"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("model", help="a .keras file")
        p.add_argument("pattern", help="frame- or video-level records")
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--top-k", type=int, default=20)
        p.add_argument("--on-error", choices=["raise", "skip"], default="raise")
        p.add_argument(
            "--id-split",
            default=None,
            help="read one part of a deterministic split by video id, "
            "PART:FRACTION with PART holdout or rest (e.g. rest:0.03: the "
            "GMSA paper's test set is the validate videos not held out)",
        )
        if name == "evaluate":
            p.add_argument("--json", help="also write the metrics here")
            p.set_defaults(func=_cmd_evaluate)
        else:
            p.add_argument(
                "--format", choices=["kaggle", "jsonl"], default="jsonl"
            )
            p.add_argument(
                "--vocabulary", help="vocabulary.csv, for names (jsonl)"
            )
            p.add_argument("--output", help="file to write (default stdout)")
            p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "train",
        help="train or resume one model (config file and/or flags)",
        description="Trains one model on native records with the paper's "
        "schedule. Running the same command again resumes the run.",
    )
    p.add_argument("--run-dir", required=True)
    p.add_argument("--config", help="a JSON or TOML file of config keys")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run directory and start again",
    )
    for key, kind in _TRAIN_FLAGS:
        flag = "--" + key.replace("_", "-")
        p.add_argument(flag, dest=key, type=kind, default=None)
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a build_model option (JSON value), e.g. num_heads=4",
    )
    p.add_argument(
        "--distribute",
        action="store_true",
        help="data-parallel over all devices (JAX, TensorFlow)",
    )
    p.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="split the CPU into N devices (to try --distribute on CPU)",
    )
    p.add_argument("--no-tensorboard", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "inspect",
        help="attention maps, profiles, local sensitivity, cluster maps",
        description="Figures of the GMSA paper (1, 3, 4) and of Attention "
        "Clusters (5) for a saved model and a video of PATTERN, as PNG.",
    )
    p.add_argument(
        "kind", choices=("similarity", "profiles", "sensitivity", "clusters")
    )
    p.add_argument("model", help="a .keras file")
    p.add_argument("pattern", help="records the model reads")
    p.add_argument("--video", type=int, default=0, help="index in PATTERN")
    p.add_argument("--modality", default="rgb")
    p.add_argument("--heads", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--baseline", help="a .keras model to compare (profiles)")
    p.add_argument("--vocabulary", help="vocabulary.csv for label names")
    p.add_argument(
        "--compare", nargs="+", help="more .keras models (sensitivity)"
    )
    p.add_argument("--videos", type=int, default=8, help="(sensitivity)")
    p.add_argument("--neighbourhood", default="tp10", help="N_i, a mask spec")
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--out", help="the PNG (default KIND.png)")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "export",
        help="TensorFlow SavedModel serving uint8 frame batches",
    )
    p.add_argument("model", help="a .keras file")
    p.add_argument("directory")
    p.set_defaults(func=_cmd_export)

    from keras_gmsa import search_space as tuning

    p = sub.add_parser(
        "tune",
        help="KerasTuner search of combination, mask, W, L, learning rate",
        description="Searches the GMSA masks with KerasTuner, scored by the "
        "exact validation GAP. Run it again with the same --directory and "
        "--project to resume.",
    )
    p.add_argument("--directory", required=True)
    p.add_argument("--project", default="gmsa")
    p.add_argument("--train", required=True, help="frame-level records")
    p.add_argument("--validation", required=True)
    p.add_argument("--tuner", choices=tuning.TUNERS, default="random")
    p.add_argument("--max-trials", type=int, default=20)
    p.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="epochs per trial (Hyperband: of the longest bracket)",
    )
    p.add_argument("--steps-per-epoch", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--validation-batch-size", type=int, default=256)
    p.add_argument("--validation-steps", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument(
        "--combinations",
        nargs="+",
        choices=tuning.COMBINATIONS,
        default=list(tuning.COMBINATIONS),
    )
    p.add_argument(
        "--masks",
        nargs="+",
        choices=tuning.MASK_KINDS,
        default=list(tuning.MASK_KINDS),
    )
    p.add_argument(
        "--w-values", nargs="+", type=int, default=list(tuning.W_VALUES)
    )
    p.add_argument(
        "--l-values", nargs="+", type=int, default=list(tuning.L_VALUES)
    )
    p.add_argument(
        "--learning-rate",
        nargs="+",
        type=float,
        default=[1e-4, 1e-3],
        help="LOW HIGH (log-uniform), or one fixed value",
    )
    p.add_argument("--num-classes", type=int, default=3862)
    p.add_argument("--max-frames", type=int, default=300)
    p.add_argument("--features", type=_parse_features, default=None)
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a build_model option (JSON value), e.g. num_heads=4",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-best", type=int, default=10)
    p.add_argument(
        "--overwrite", action="store_true", help="start the search again"
    )
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser(
        "demo", help="train and compare the GMSA models on synthetic data"
    )
    p.add_argument(
        "--cache-dir",
        default=os.path.join(
            os.path.expanduser("~"), ".cache", "keras-gmsa", "demo"
        ),
    )
    p.add_argument("--output-dir", default="runs/demo")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--train-videos", type=int, default=None)
    p.add_argument("--test-videos", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
