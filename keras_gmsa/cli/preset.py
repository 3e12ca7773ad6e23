"""`keras-gmsa preset save`: a trained model as a preset directory."""

import json

from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import load_model

RUN_MODELS = ("best.keras", "final.keras")


def add_parser(sub, parents):
    p = sub.add_parser(
        "preset",
        help="save a trained model as a preset (config, weights, "
        "vocabulary, metadata)",
        description="Presets that carry weights: a directory of config.json, "
        "model.weights.h5, metadata.json and, when given, vocabulary.csv, "
        "metrics.json and training_config.json (keras-hub's layout). Every "
        "command that takes a .keras model takes a preset directory or "
        "handle (hf://, kaggle://, gs://) too.",
    )
    actions = p.add_subparsers(
        dest="action",
        required=True,
        help="save: write a trained model as a preset",
    )
    save = actions.add_parser(
        "save",
        help="write a run's best model, or a .keras model, as a preset",
        description="Writes SOURCE as a preset in DIRECTORY. A run directory "
        "of `keras-gmsa train` gives its best.keras (final.keras if it has "
        "none), its done.json as metrics.json and its config.json as "
        "training_config.json.",
        formatter_class=p.formatter_class,
    )
    save.add_argument(
        "source",
        help="a train run directory, a .keras file or a preset's handle",
    )
    save.add_argument("directory", help="the preset's directory (gs:// works)")
    save.add_argument(
        "--vocabulary",
        help="vocabulary.csv of the classes (2018 layout) to carry; predict "
        "names labels with it",
    )
    save.add_argument(
        "--description",
        help="one line for metadata.json (default: the model's name and size)",
    )
    save.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the preset files of a non-empty DIRECTORY",
    )
    save.set_defaults(run=run_save)
    return p


def run_save(args):
    from keras_gmsa.models import preset_io

    model_path, metrics, training_config = _source(args.source)
    model = load_model(model_path)
    if preset_io.is_preset_handle(model_path):
        # A preset saved again (another vocabulary or description): what
        # it carries comes along unless given anew.
        metrics = preset_io.load_preset_json(model_path, "metrics")
        training_config = preset_io.load_preset_json(
            model_path, "training_config"
        )
        vocabulary = args.vocabulary or preset_io.load_preset_vocabulary(
            model_path
        )
    else:
        vocabulary = args.vocabulary
    try:
        metadata = preset_io.save_to_preset(
            model,
            args.directory,
            vocabulary=vocabulary,
            metrics=metrics,
            training_config=training_config,
            description=args.description,
            overwrite=args.overwrite,
        )
    except preset_io.PresetError as error:
        raise UserError(str(error)) from error
    print(f"preset {args.directory} ({metadata['description']})")
    print(f"model  {model_path}")


def _source(source):
    """``(model path, metrics, training config)`` of SOURCE: a run
    directory's best model and its done.json and config.json, or a model
    or preset alone."""
    from keras_gmsa import paths
    from keras_gmsa.models import preset_io

    if source.startswith((preset_io.HF_PREFIX, preset_io.KAGGLE_PREFIX)):
        return source, None, None
    if not paths.isdir(source):
        return source, None, None
    models = [
        paths.join(source, name)
        for name in RUN_MODELS
        if paths.exists(paths.join(source, name))
    ]
    if not models:
        if paths.exists(paths.join(source, preset_io.WEIGHTS_FILE)):
            return source, None, None
        raise UserError(
            f"{source}: neither a train run directory (no "
            f"{' or '.join(RUN_MODELS)}) nor a preset."
        )
    found = {}
    for name in ("done.json", "config.json"):
        path = paths.join(source, name)
        if paths.exists(path):
            found[name] = json.loads(paths.read_text(path))
    return models[0], found.get("done.json"), found.get("config.json")
