"""A run's config: every key, its type and its meaning in one object.

`RunConfig` is what `keras_gmsa.training.train` runs; `resolve_config`
builds it from layers of plain dicts (a config file, then command-line
flags) over a preset's training recipe over the defaults, and returns it
as the dict stored as ``RUN_DIR/config.json``. A stored config resolves
to itself, so the run directories of earlier versions (whose
``config.json`` may lack keys added since) resume.
"""

import dataclasses
import json
import types
import typing

from keras_gmsa import constants
from keras_gmsa import paths
from keras_gmsa.training.schedules import PLATEAUS
from keras_gmsa.training.schedules import SCHEDULES

MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")
# Keys a resumed run may change: how it runs, not what it trains (a
# preempted job may come back on another number of devices).
RESUMABLE_CHANGES = (
    "distribute",
    "tensorboard",
    "validation_batch_size",
    "loader_workers",
)
_POSITIVE = (
    "batch_size",
    "validation_batch_size",
    "steps_per_validation",
    "max_validations",
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run, as ``keras-gmsa train`` reads it.

    Each default is the GMSA paper's (Sahu and Goyal 2022, sec. 3) unless
    noted. A key set to None takes the behaviour its line names.

    Attributes:
        model: a registered model or a preset (`keras_gmsa.list_models`).
        mask: the GMSA local mask kind (``"bd"``, ``"tp"``, ``"td"`` or a
            spec such as ``"tp30"``); None: the model's.
        W: the local mask's width; None: the model's.
        L: a ``td`` mask's dilation; None: the model's.
        model_options: further `build_model` keywords (``--option``).
        train: file pattern of the training records, native frame- or
            video-level as the model expects (``gs://`` works). Required.
        validation: file pattern of held-out records; the schedule
            follows their GAP. Required.
        train_id_split: read one part of a deterministic split of `train`
            by video id (``"holdout:F"`` / ``"rest:F"``, see
            `keras_gmsa.data.id_split`); None: all of it.
        validation_id_split: the same for `validation`. The paper
            validates on 32,000 videos of the validate split:
            ``"holdout:<32000/N>"``.
        features: ``{name: size}`` of the records; None: the model's
            (rgb/audio frames, or mean_rgb/mean_audio for video-level
            models).
        num_classes: the vocabulary's size.
        max_frames: frames per video.
        shuffle_buffer: records in the shuffle buffer.
        on_error: ``"raise"`` or ``"skip"`` (and count) bad records.
        loader: what reads the records (`keras_gmsa.loaders`): ``"auto"``
            (tf.data where TensorFlow is installed, else Grain on JAX, a
            PyTorch DataLoader on PyTorch), ``"tf"``, ``"grain"`` or
            ``"torch"``.
        loader_workers: worker processes that parse for Grain and PyTorch
            (0: the training process).
        schedule: ``"paper"`` (plateau drops and early stopping),
            ``"constant"`` (neither) or ``"decay"`` (the learning rate
            x `lr_decay` every `lr_decay_examples` videos, staircase: the
            starter code's decay, which Kakao Brain trained with; early
            stopping as in "paper", no plateau drops). See
            `keras_gmsa.training.schedules.Schedule`.
        batch_size: videos per training step, global (paper: 64).
        validation_batch_size: videos per validation batch (not in the
            paper; no effect on GAP).
        learning_rate: the initial rate; None: the model's paper's (GMSA:
            Adam 2e-4, the starter models: 0.01, ...).
        steps_per_validation: training steps per validation interval (one
            Keras epoch). Paper: "validation set GAP every 10000
            iterations".
        max_validations: at most this many intervals. Not in the paper (it
            stops early): 1000 x 10,000 steps x 64 videos is 160 epochs of
            the 2018 training set (~3.9M videos). A preset's recipe may set
            a budget instead.
        validation_steps: validation batches per interval; None: all.
        patience: intervals without a better GAP before the run stops
            (paper: 5); None: never stop early.
        lr_patience: intervals without a better GAP before the learning
            rate drops (paper: 3); None: never drop.
        lr_factor: the drop's factor (paper: 0.1).
        plateau: whose rules time the drops: ``"keras"``
            (`keras.callbacks.ReduceLROnPlateau`: at the `lr_patience`-th
            interval without a GAP 1e-4 higher) or ``"pytorch"`` (the
            paper's PyTorch scheduler: at the next interval; a GAP 1e-4
            higher relative). See docs/faithfulness.md.
        lr_decay: schedule "decay": the factor per `lr_decay_examples`
            (Kakao Brain: 0.95).
        lr_decay_examples: schedule "decay": training videos per decay
            step (the starter code's 4,000,000).
        mixed_precision: None, ``"mixed_float16"`` or ``"mixed_bfloat16"``
            (``"float16"`` and ``"bfloat16"`` are read as these).
        distribute: train data-parallel on all devices (JAX, TensorFlow);
            set by itself on every process of a run on several hosts.
        seed: seed of the weights and the order of the data.
        tensorboard: write TensorBoard logs; None: where TensorFlow (whose
            summaries write them) is installed.
        segments: the 2019 segment task: train on the rated 5-frame
            segments of `train` (segment-rated records) with label
            weights, validate by the segment MAP of `validation`.
        init_from: start from this model instead of building `model`: a
            ``.keras`` file or a preset's handle (usually a model trained
            on video labels, for `segments`).
    """

    model: str = "gateop"
    mask: str | None = None
    W: int | None = None
    L: int | None = None
    model_options: dict = dataclasses.field(default_factory=dict)
    train: str | None = None
    validation: str | None = None
    train_id_split: str | None = None
    validation_id_split: str | None = None
    features: dict | None = None
    num_classes: int = constants.NUM_CLASSES
    max_frames: int | None = constants.MAX_FRAMES
    shuffle_buffer: int = 2048
    on_error: str = "raise"
    loader: str = "auto"
    loader_workers: int = 0
    schedule: str = "paper"
    batch_size: int = 64
    validation_batch_size: int = 256
    learning_rate: float | None = None
    steps_per_validation: int = 10000
    max_validations: int = 1000
    validation_steps: int | None = None
    patience: int | None = 5
    lr_patience: int | None = 3
    lr_factor: float = 0.1
    plateau: str = "keras"
    lr_decay: float = 0.95
    lr_decay_examples: int = 4_000_000
    mixed_precision: str | None = None
    distribute: bool = False
    seed: int = 0
    tensorboard: bool | None = None
    segments: bool = False
    init_from: str | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = _typed(field.name, getattr(self, field.name), field.type)
            object.__setattr__(self, field.name, value)
        if not self.train:
            raise ValueError("The config needs `train`: a file pattern.")
        if not self.validation:
            raise ValueError(
                "The config needs `validation`: a file pattern of held-out "
                "records (the schedule follows their GAP)."
            )
        _one_of("schedule", self.schedule, SCHEDULES)
        _one_of("plateau", self.plateau, PLATEAUS)
        if self.mixed_precision in ("float16", "bfloat16"):
            object.__setattr__(
                self, "mixed_precision", "mixed_" + self.mixed_precision
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                "mixed_precision must be None, 'mixed_float16' or "
                f"'mixed_bfloat16'; got {self.mixed_precision!r}."
            )
        from keras_gmsa.loaders import LOADERS

        _one_of("loader", self.loader, LOADERS)
        for key in ("train_id_split", "validation_id_split"):
            if getattr(self, key) is not None:
                from keras_gmsa.data.id_split import parse_id_split

                # Stored as its canonical string; a bad spec fails here.
                split = str(parse_id_split(getattr(self, key)))
                object.__setattr__(self, key, split)
        for key in _POSITIVE:
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive integer.")
        for key, never in (
            ("patience", "no early stopping"),
            ("lr_patience", "no learning-rate drops"),
        ):
            if getattr(self, key) is not None and getattr(self, key) < 0:
                raise ValueError(
                    f"{key} must be a non-negative integer, or None for "
                    f"{never}; got {getattr(self, key)!r}."
                )

    @classmethod
    def resolve(cls, *layers):
        """The config of dict `layers` over a preset's recipe over the
        defaults (see `resolve_config`)."""
        from keras_gmsa.models import presets

        layers = [dict(layer or {}) for layer in layers]
        known = {field.name for field in dataclasses.fields(cls)}
        for layer in layers:
            unknown = sorted(set(layer) - known)
            if unknown:
                raise ValueError(
                    f"Unknown config key {unknown[0]!r}. Known keys: "
                    f"{', '.join(sorted(known))}."
                )
        model = cls.model
        for layer in layers:
            model = layer.get("model", model)
        recipe = presets.get_recipe(model) if isinstance(model, str) else None
        keys = defaults()
        if recipe is not None:
            keys.update(recipe.config())
        for layer in layers:
            for key, value in layer.items():
                if key == "model_options" and value is None:
                    continue
                if key == "model_options" and isinstance(value, dict):
                    keys[key] = dict(keys[key], **value)
                else:
                    keys[key] = value
        config = cls(**keys)
        if recipe is not None and not any(
            "max_validations" in layer for layer in layers
        ):
            budget = recipe.max_validations(
                config.batch_size, config.steps_per_validation
            )
            if budget is not None:
                config = dataclasses.replace(config, max_validations=budget)
        return config

    def to_dict(self):
        """Every key, as ``RUN_DIR/config.json`` stores it."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def changes_from(self, other):
        """The keys whose values differ from `other`'s, but for those a
        resumed run may change (`RESUMABLE_CHANGES`), sorted."""
        return sorted(
            field.name
            for field in dataclasses.fields(self)
            if field.name not in RESUMABLE_CHANGES
            and getattr(self, field.name) != getattr(other, field.name)
        )

    @property
    def monitor(self):
        """The log key the schedule follows (and checkpoints by)."""
        if self.segments:
            from keras_gmsa.segments import task as segment_task

            return segment_task.MONITOR
        return "val_gap"


def defaults():
    """``{key: default}`` of every `RunConfig` key (a new dict)."""
    return {
        field.name: (
            field.default_factory()
            if field.default is dataclasses.MISSING
            else field.default
        )
        for field in dataclasses.fields(RunConfig)
    }


# The defaults, read-only (``keras_gmsa.training.DEFAULTS[key]``).
DEFAULTS = types.MappingProxyType(defaults())


def resolve_config(*layers):
    """Merges config dicts over a preset's recipe over the defaults, and
    validates the result.

    Args:
        *layers: config dicts, later ones winning (a file, then flags);
            ``model_options`` are merged key by key. When the resulting
            ``model`` is a preset with a training recipe
            (`keras_gmsa.models.presets.Recipe`), the recipe's keys come
            before the layers: a key a layer sets is the layer's; a
            recipe's budget in videos sets ``max_validations`` unless a
            layer does.

    Returns:
        The whole config as a dict: every key of `RunConfig`, explicit
        (stored as ``RUN_DIR/config.json``, it resolves to itself).
    """
    return RunConfig.resolve(*layers).to_dict()


def as_run_config(config):
    """`config` as a `RunConfig` (a dict is resolved)."""
    if isinstance(config, RunConfig):
        return config
    return RunConfig.resolve(config)


def load_config_file(path):
    """Reads a run config from a ``.json`` or ``.toml`` file (local or
    any `tf.io.gfile` filesystem)."""
    if path.endswith(".toml"):
        import tomllib  # Python 3.11+, the package's floor

        return tomllib.loads(paths.read_text(path))
    text = paths.read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: not valid JSON ({error}). Config files are JSON "
            "or TOML (by extension)."
        ) from None


def _one_of(key, value, choices):
    if value not in choices:
        raise ValueError(f"{key} must be one of {choices}; got {value!r}.")


_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a table of keys",
    type(None): "None",
}


def _typed(key, value, kind):
    """`value` if it is of type `kind` (an int where a float is asked for
    becomes a float; a dict is copied), else a ValueError."""
    for allowed in typing.get_args(kind) or (kind,):
        if allowed is type(None) and value is None:
            return None
        if isinstance(value, bool) != (allowed is bool):
            continue
        if allowed is float and isinstance(value, (int, float)):
            return float(value)
        if allowed is dict and isinstance(value, dict):
            return dict(value)
        if allowed in (bool, int, str) and isinstance(value, allowed):
            return value
    wanted = " or ".join(
        _NAMES[allowed] for allowed in typing.get_args(kind) or (kind,)
    )
    raise ValueError(f"{key} must be {wanted}; got {value!r}.")
