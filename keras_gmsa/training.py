"""`keras-gmsa train`: one resumable training run in a run directory.

(One module of about 470 lines: the run's config, its directory, devices
and schedule are one lifecycle, read top to bottom.)

A run is described by a config (JSON or TOML file, command-line flags on
top; see `DEFAULTS`). A preset's training recipe
(`keras_gmsa.models.presets.Recipe`: Kakao Brain's decay, GMSA's plateau
schedule) comes between the defaults and the user's keys, which win. The
resolved config is stored as
``RUN_DIR/config.json``; running the same command again resumes the run
from its last backup (`keras.callbacks.BackupAndRestore`), with the
schedule's patience counters and best values restored too
(`keras_gmsa.callbacks.ScheduleState`). A finished run writes
``RUN_DIR/done.json`` and is not trained again.

Everything in the loop is Keras: ``model.fit`` on a repeating tf.data
dataset with ``steps_per_epoch`` = the validation interval, and the
callbacks of `keras_gmsa.callbacks.paper_schedule`.

Run directory::

    config.json    the resolved config
    best.keras     the model with the best validation GAP so far
    final.keras    the model at the end of training
    history.csv    one row per validation (CSVLogger)
    logs/          TensorBoard
    backup/        BackupAndRestore state + schedule.json
    done.json      the summary, once training has ended
"""

import contextlib
import copy
import io
import json
import os
import time

from keras_gmsa import constants
from keras_gmsa import paths
from keras_gmsa.log import logger

# Messages about this process's own state (resumed from where, done, its
# place in the cluster): every process of a multi-host run says them; the
# run's results only the chief.
EVERY_PROCESS = {"all_processes": True}

DEFAULTS = {
    # What to train.
    "model": "gateop",
    "mask": None,
    "W": None,
    "L": None,
    "model_options": {},
    # Data: file patterns of native records (frame- or video-level, as the
    # model expects; gs:// works).
    "train": None,
    "validation": None,
    # Deterministic splits by video id ("holdout:F" / "rest:F", see
    # keras_gmsa.data.id_split). The GMSA paper validates on 32,000 videos
    # of the validate split: validation_id_split = "holdout:<32000/N>".
    "train_id_split": None,
    "validation_id_split": None,
    # None: the model's own (rgb/audio frames, or mean_rgb/mean_audio for
    # video-level models).
    "features": None,
    "num_classes": constants.NUM_CLASSES,
    "max_frames": constants.MAX_FRAMES,
    "shuffle_buffer": 2048,
    "on_error": "raise",
    # What reads the records (keras_gmsa.loaders): "auto" (tf.data where
    # TensorFlow is installed, else Grain on JAX, a PyTorch DataLoader on
    # PyTorch), "tf", "grain" or "torch"; the worker processes that parse
    # for Grain and PyTorch (0: the training process).
    "loader": "auto",
    "loader_workers": 0,
    # Schedule: the GMSA paper's (sec. 3) unless noted; each default is
    # the paper's value.
    "schedule": "paper",
    "batch_size": 64,  # paper: 64
    "validation_batch_size": 256,  # not in the paper (no effect on GAP)
    # None: the model's paper's (GMSA Adam 2e-4, starter 0.01, ...).
    "learning_rate": None,
    # Paper: "validation set GAP every 10000 iterations".
    "steps_per_validation": 10000,
    # Not in the paper (it stops by early stopping): a cap far beyond a
    # paper run. 1000 x 10,000 steps x 64 videos = 160 epochs of the 2018
    # training set (~3.9M videos). A preset's recipe may set a budget.
    "max_validations": 1000,
    "validation_steps": None,
    # Paper: early stopping, patience 5. None (or 10**9): never stop early.
    "patience": 5,
    "lr_patience": 3,  # paper: learning rate x0.1, patience 3
    "lr_factor": 0.1,
    # Whose rules the plateau drops follow: "keras" (ReduceLROnPlateau: a
    # drop at the lr_patience-th interval without a GAP 1e-4 higher) or
    # "pytorch" (the paper's PyTorch scheduler: at the next interval; a
    # GAP 1e-4 higher relative). See docs/faithfulness.md.
    "plateau": "keras",
    # schedule "decay": the learning rate x lr_decay every
    # lr_decay_examples training videos, staircase (the starter code's
    # exponential decay, which Kakao Brain trained with: 0.95 every
    # 4,000,000 videos); early stopping as in "paper", no plateau drops.
    "lr_decay": 0.95,
    "lr_decay_examples": 4_000_000,
    # Machinery.
    "mixed_precision": None,
    "distribute": False,
    "seed": 0,
    # None: when TensorFlow is installed (its summaries write the logs).
    "tensorboard": None,
    # The 2019 segment task: train on the rated 5-frame segments of
    # `train` (segment-rated records) with label weights, validate by the
    # segment MAP of `validation`, usually starting from a model trained on
    # video labels (init_from: a .keras file or a preset's handle).
    "segments": False,
    "init_from": None,
}

SCHEDULES = ("paper", "constant", "decay")
PLATEAUS = ("keras", "pytorch")
# A patience no run reaches: what "never" means to the Keras callbacks.
NEVER = 10**9
# Keys a resumed run may change: how it runs, not what it trains (a
# preempted job may come back on another number of devices).
RESUMABLE_CHANGES = (
    "distribute",
    "tensorboard",
    "validation_batch_size",
    "loader_workers",
)
MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")


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


def resolve_config(*layers):
    """Merges config dicts over a preset's recipe over `DEFAULTS`, and
    validates the result.

    Args:
        *layers: config dicts, later ones winning (a file, then flags).
            When the resulting ``model`` is a preset with a training
            recipe (`keras_gmsa.models.presets.Recipe`), the recipe's keys
            come before the layers: a key a layer sets is the layer's; a
            recipe's budget in videos sets ``max_validations`` unless a
            layer does.

    Returns:
        The whole config: every key of `DEFAULTS`, explicit (stored as
        ``RUN_DIR/config.json``, it resolves to itself).
    """
    from keras_gmsa.models import presets

    layers = [layer or {} for layer in layers]
    for layer in layers:
        unknown = sorted(set(layer) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"Unknown config key {unknown[0]!r}. Known keys: "
                f"{', '.join(sorted(DEFAULTS))}."
            )
    model = DEFAULTS["model"]
    for layer in layers:
        model = layer.get("model", model)
    recipe = presets.get_recipe(model) if isinstance(model, str) else None
    config = copy.deepcopy(DEFAULTS)
    if recipe is not None:
        config.update(recipe.config())
    for layer in layers:
        for key, value in layer.items():
            if key == "model_options":
                config[key] = dict(config[key], **(value or {}))
            else:
                config[key] = value
    if not config["train"]:
        raise ValueError("The config needs `train`: a file pattern.")
    if not config["validation"]:
        raise ValueError(
            "The config needs `validation`: a file pattern of held-out "
            "records (the schedule follows their GAP)."
        )
    if config["schedule"] not in SCHEDULES:
        raise ValueError(
            f"schedule must be one of {SCHEDULES}; got {config['schedule']!r}."
        )
    if config["plateau"] not in PLATEAUS:
        raise ValueError(
            f"plateau must be one of {PLATEAUS}; got {config['plateau']!r}."
        )
    if config["mixed_precision"] in ("float16", "bfloat16"):
        config["mixed_precision"] = "mixed_" + config["mixed_precision"]
    if config["mixed_precision"] not in MIXED_PRECISION:
        raise ValueError(
            "mixed_precision must be None, 'mixed_float16' or "
            f"'mixed_bfloat16'; got {config['mixed_precision']!r}."
        )
    from keras_gmsa.loaders import LOADERS

    if config["loader"] not in LOADERS:
        raise ValueError(
            f"loader must be one of {LOADERS}; got {config['loader']!r}."
        )
    for key in ("train_id_split", "validation_id_split"):
        if config[key] is not None:
            from keras_gmsa.data.id_split import parse_id_split

            # Stored as its canonical string; a bad spec fails here.
            config[key] = str(parse_id_split(config[key]))
    for key in (
        "batch_size",
        "validation_batch_size",
        "steps_per_validation",
        "max_validations",
    ):
        if not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"{key} must be a positive integer.")
    patience = config["patience"]
    if patience is not None and (not isinstance(patience, int) or patience < 0):
        raise ValueError(
            "patience must be a non-negative integer, or None for no early "
            f"stopping; got {patience!r}."
        )
    if recipe is not None and not any(
        "max_validations" in layer for layer in layers
    ):
        budget = recipe.max_validations(
            config["batch_size"], config["steps_per_validation"]
        )
        if budget is not None:
            config["max_validations"] = budget
    if config["init_from"] is not None and not isinstance(
        config["init_from"], str
    ):
        raise ValueError(
            "init_from must be a .keras file's path or a preset's handle."
        )
    return config


def monitor_of(config):
    """The log key the run's schedule follows (and checkpoints by)."""
    return "val_segment_map" if config["segments"] else "val_gap"


def decay_schedule(
    learning_rate, batch_size, decay=0.95, decay_examples=4_000_000
):
    """The starter code's learning-rate decay as a Keras schedule.

    ``learning_rate * decay ** floor(videos_seen / decay_examples)`` with
    ``videos_seen = step * batch_size``: Kakao Brain's "Adam, learning rate
    0.001, learning rate decay 0.95" (Kim et al. 2018, sec. 4) through the
    starter's ``--learning_rate_decay_examples`` (4,000,000). Pass it as
    ``build_model(..., learning_rate=decay_schedule(1e-3, 64))``.

    Returns:
        A `keras.optimizers.schedules.ExponentialDecay` (staircase).
    """
    import keras

    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1]; got {decay!r}.")
    if not isinstance(decay_examples, int) or decay_examples < 1:
        raise ValueError(
            f"decay_examples must be a positive integer; got "
            f"{decay_examples!r}."
        )
    return keras.optimizers.schedules.ExponentialDecay(
        float(learning_rate),
        decay_steps=max(1, decay_examples // batch_size),
        decay_rate=float(decay),
        staircase=True,
    )


def setup_devices(cpu_devices):
    """Splits the CPU into ``cpu_devices`` devices (testing data parallel).

    Call before any computation: TensorFlow and JAX fix their devices when
    they first use them.
    """
    if not cpu_devices or cpu_devices < 2:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.config.update("jax_num_cpu_devices", cpu_devices)
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
        )


class Cluster:
    """This process's place in a run: its index among the processes
    (hosts) that train together, and how to wait for all of them.

    Process 0 (JAX's process index 0) is the *chief*: the only one that
    writes the run directory. A run on one host is a cluster of one.
    """

    def __init__(self, index=0, count=1):
        self.index = index
        self.count = count

    @property
    def chief(self):
        return self.index == 0

    def barrier(self, name):
        """Returns once every process has reached the barrier `name`."""
        if self.count == 1:
            return
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def multi_host():
    """The backend whose multi-host variables are set (``"jax"``:
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` > 1; ``"tensorflow"``:
    ``TF_CONFIG``), or None."""
    if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1") or 1) > 1:
        return "jax"
    if os.environ.get("TF_CONFIG"):
        return "tensorflow"
    return None


def distribution_scope(distribute, batch_size):
    """Sets up data-parallel training.

    Returns ``(scope to build in, replicas, Cluster)``.

    - JAX: `keras.distribution.DataParallel` over all devices. With
      ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``..._NUM_PROCESSES`` and
      ``..._PROCESS_ID`` set, `keras.distribution.initialize()` first joins
      the hosts (jax.distributed) and the devices are those of all hosts.
    - TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs
      (or CPUs). ``TF_CONFIG`` (several hosts) is refused: Keras 3's
      `Model.fit` cannot train under MultiWorkerMirroredStrategy.
    - PyTorch: Keras has no multi-device training on this backend; raises.
    """
    import keras

    backend = keras.backend.backend()
    hosts = multi_host()
    if backend not in ("jax", "tensorflow") and (distribute or hosts):
        raise ValueError(
            f"--distribute is not available on the {backend!r} backend: "
            "Keras trains data-parallel (on several devices or hosts) "
            "through keras.distribution (JAX) and tf.distribute "
            "(TensorFlow) only. Use KERAS_BACKEND=jax or "
            "KERAS_BACKEND=tensorflow for multi-device training."
        )
    if hosts == "tensorflow":
        raise ValueError(
            "TF_CONFIG is set: training on several hosts with TensorFlow "
            "needs tf.distribute.MultiWorkerMirroredStrategy, and Model.fit "
            f"in Keras {keras.__version__} cannot train under it (it fails "
            "before the first step, keras-team/keras#20585). Train on "
            "several hosts with KERAS_BACKEND=jax and the "
            "KERAS_DISTRIBUTION_* variables (see the README), or unset "
            "TF_CONFIG to train on this host."
        )
    if hosts is not None and hosts != backend:
        other = {
            "jax": "KERAS_DISTRIBUTION_NUM_PROCESSES",
            "tensorflow": "TF_CONFIG",
        }
        raise ValueError(
            f"{other[hosts]} is set, which joins hosts on the {hosts!r} "
            f"backend, but KERAS_BACKEND is {backend!r}. Use "
            f"KERAS_BACKEND={hosts}, or unset {other[hosts]}."
        )
    if not distribute and hosts is None:
        return contextlib.nullcontext(), 1, Cluster()
    cluster = Cluster()
    if backend == "jax":
        if hosts:
            # Several hosts: jax.distributed.initialize from the
            # KERAS_DISTRIBUTION_* variables; devices are then global.
            keras.distribution.initialize()
            import jax

            cluster = Cluster(jax.process_index(), jax.process_count())
        devices = keras.distribution.list_devices()
        # Keras shards the training batches between the processes: each
        # reads the same (seeded, deterministic) stream of global batches
        # and keeps its own part of every one.
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices)
        )
        replicas = len(devices)
        scope = contextlib.nullcontext()
    else:
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        replicas = strategy.num_replicas_in_sync
        scope = strategy.scope()
    if batch_size % replicas:
        raise ValueError(
            f"batch_size {batch_size} is not divisible by the {replicas} "
            "devices training in parallel."
        )
    return scope, replicas, cluster


def _model_options(config):
    """build_model options from a run config, for frame- or video-level
    models alike (video-level models have no ``max_frames``)."""
    from keras_gmsa.models import registry

    allowed = registry.model_options(config["model"])
    options = dict(num_classes=config["num_classes"])
    for key in ("features", "learning_rate", "max_frames"):
        if config[key] is not None and key in allowed:
            options[key] = config[key]
    options.update(config["model_options"])
    if config["schedule"] == "decay":
        start = options.get("learning_rate")
        if start is None:
            start = registry.model_defaults(config["model"])["learning_rate"]
        options["learning_rate"] = decay_schedule(
            start,
            config["batch_size"],
            config["lr_decay"],
            config["lr_decay_examples"],
        )
    return options


def _datasets(model, config, data_seed, with_ids=False):
    """The run's training and validation datasets.

    Training batches are global batches, shuffled from `data_seed` in a
    deterministic order: every process of a multi-host run builds the
    same stream, and Keras' DataParallel (JAX) gives each its own part of
    every batch. Every process reads the whole validation set.
    """
    from keras_gmsa import loaders

    read = dict(loader=config["loader"], num_workers=config["loader_workers"])
    shuffled = dict(
        batch_size=config["batch_size"],
        shuffle=True,
        shuffle_buffer=config["shuffle_buffer"],
        # The same --seed, the same batches: a run is reproducible.
        deterministic=True,
        seed=data_seed,
        repeat=True,
        drop_remainder=True,
        on_error=config["on_error"],
        id_split=config["train_id_split"],
    )
    if config["segments"]:
        train = loaders.segments_loader_for_model(
            model, config["train"], weighted=True, **read, **shuffled
        )
        # Validated by the segment MAP (callbacks.SegmentMetrics), which
        # reads the records itself.
        return train, config["validation"]
    train = loaders.loader_for_model(
        model,
        config["train"],
        sample_given_labels=True,
        with_ids=with_ids,
        **read,
        **shuffled,
    )
    validation = loaders.loader_for_model(
        model,
        config["validation"],
        **read,
        batch_size=config["validation_batch_size"],
        on_error=config["on_error"],
        id_split=config["validation_id_split"],
    )
    return train, validation


def _read_json(path):
    if not paths.exists(path):
        return None
    return json.loads(paths.read_text(path))


def _completed_epochs(run_dir):
    """Epochs (validation intervals) already backed up in ``run_dir``."""
    meta = _read_json(os.path.join(run_dir, "backup", "training_metadata.json"))
    return int(meta["epoch"]) if meta else 0


def check_run_dir(run_dir, config, overwrite=False):
    """What `run_dir` holds for `config`, without writing anything:
    ``"new"``, ``"resume"`` or ``"done"``. Raises if it holds another run.
    """
    if overwrite:
        return "new"
    stored = _read_json(os.path.join(run_dir, "config.json"))
    if stored is None:
        return "new"
    stored = resolve_config(stored)
    differences = sorted(
        key
        for key in DEFAULTS
        if stored.get(key) != config.get(key) and key not in RESUMABLE_CHANGES
    )
    if differences:
        details = "; ".join(
            f"{k}: {stored.get(k)!r} -> {config.get(k)!r}" for k in differences
        )
        raise ValueError(
            f"{run_dir} holds a run with a different config ({details}). "
            "Use another --run-dir, or --overwrite to start it again."
        )
    if paths.exists(os.path.join(run_dir, "done.json")):
        return "done"
    return "resume"


def write_run_dir(run_dir, config, state, overwrite=False):
    """Creates `run_dir` (or empties it with `overwrite`) and stores the
    config; the chief's job in a run of several processes."""
    if state == "done":
        return
    if overwrite and paths.exists(run_dir):
        paths.rmtree(run_dir)
    paths.makedirs(run_dir)
    path = os.path.join(run_dir, "config.json")
    if _read_json(path) != config:
        paths.write_text(path, json.dumps(config, indent=1, sort_keys=True))


def prepare_run_dir(run_dir, config, overwrite=False):
    """Creates ``run_dir`` or checks that it holds the same run.

    Returns "new", "resume" or "done".
    """
    state = check_run_dir(run_dir, config, overwrite)
    write_run_dir(run_dir, config, state, overwrite)
    return state


def train(config, run_dir, overwrite=False, verbose="auto"):
    """Trains (or resumes) one run; returns the summary dict (done.json).

    `verbose` is `Model.fit`'s: ``"auto"`` or 1, Keras' progress bar (and
    one for each validation pass, on a terminal); 2, one line per
    validation interval (for logs); 0, silent.
    """
    import keras

    from keras_gmsa import callbacks as callbacks_lib

    config = resolve_config(config)
    init_from = config["init_from"]
    if (
        init_from
        and not paths.is_hub(init_from)
        and not init_from.startswith("kaggle://")  # a preset on Kaggle
        and not paths.exists(init_from)
    ):
        # Before anything is written, so the corrected command is the same
        # run.
        raise ValueError(f"init_from {init_from}: no such file.")
    from keras_gmsa import loaders

    if config["segments"]:
        # Before anything is written: frame-level records have no ratings.
        loaders.check_segment_rated(config["train"], config["loader"])
        loaders.check_segment_rated(config["validation"], config["loader"])
    tensorboard = loaders.tensorboard_choice(config["tensorboard"])
    if multi_host() and not config["distribute"]:
        # TF_CONFIG or KERAS_DISTRIBUTION_* join this process to others:
        # training alone into a shared run directory is never meant.
        config["distribute"] = True
    # First, join the other hosts (if any).
    scope, replicas, cluster = distribution_scope(
        config["distribute"], config["batch_size"]
    )
    # Every process reads the run directory before any writes to it, so
    # that all take the same decision (new, resume from the same interval,
    # done, or the same error); then only the chief writes.
    state = check_run_dir(run_dir, config, overwrite)
    start_epoch = _completed_epochs(run_dir) if state == "resume" else 0
    cluster.barrier("keras_gmsa: run directory read")
    if cluster.chief:
        write_run_dir(run_dir, config, state, overwrite)
        if state == "resume":
            _drop_rows_after(run_dir, start_epoch)
    cluster.barrier("keras_gmsa: run directory written")
    if state == "done":
        summary = _read_json(os.path.join(run_dir, "done.json"))
        logger.info(
            f"{run_dir} is complete; see {run_dir}/done.json.",
            extra=EVERY_PROCESS,
        )
        return summary
    if state == "resume":
        logger.info(
            f"Resuming {run_dir} after {start_epoch} validation intervals "
            f"({start_epoch * config['steps_per_validation']} steps).",
            extra=EVERY_PROCESS,
        )
    if config["mixed_precision"]:
        keras.mixed_precision.set_global_policy(config["mixed_precision"])
    keras.utils.set_random_seed(config["seed"])
    with scope:
        model = _model(config)
        # A resumed run must not replay the batches it has already seen.
        train_data, validation = _datasets(
            model, config, config["seed"] + start_epoch
        )
    if cluster.count > 1:
        role = "the chief, which writes" if cluster.chief else "a worker of"
        logger.info(
            f"Process {cluster.index} of {cluster.count} ({role} {run_dir}); "
            f"training data-parallel on {replicas} devices in all.",
            extra=EVERY_PROCESS,
        )
    elif replicas > 1:
        logger.info(f"Training data-parallel on {replicas} devices.")
    schedule = config["schedule"]
    if schedule == "decay":
        # The optimizer's schedule sets the rate: no plateau drops.
        lr_patience = None
    else:
        lr_patience = config["lr_patience"] if schedule == "paper" else NEVER
    patience = config["patience"]
    if patience is None or schedule == "constant":
        patience = NEVER
    # Progress bars of the validation passes with Keras' own bar (verbose
    # "auto" or 1, on a terminal); verbose 2 logs one line per interval.
    progress = verbose in ("auto", 1)
    callbacks = callbacks_lib.paper_schedule(
        validation,
        run_dir,
        progress=progress,
        patience=patience,
        lr_patience=lr_patience,
        lr_factor=config["lr_factor"],
        plateau=config["plateau"],
        validation_steps=config["validation_steps"],
        tensorboard=tensorboard,
        writer=cluster.chief,
        monitor=monitor_of(config),
        metrics=(
            callbacks_lib.SegmentMetrics(
                validation,
                on_error=config["on_error"],
                id_split=config["validation_id_split"],
                steps=config["validation_steps"],
                batch_size=config["validation_batch_size"],
                progress=progress,
            )
            if config["segments"]
            else None
        ),
    )
    start = time.perf_counter()
    try:
        history = model.fit(
            train_data,
            steps_per_epoch=config["steps_per_validation"],
            epochs=config["max_validations"],
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles
            verbose=verbose,
        )
    finally:
        # A run that fails (a bad record, an interrupt) ends without
        # on_train_end: close history.csv, which CSVLogger keeps open.
        for callback in callbacks:
            csv_file = getattr(callback, "csv_file", None)
            if isinstance(callback, keras.callbacks.CSVLogger) and csv_file:
                csv_file.close()
    seconds = time.perf_counter() - start
    if cluster.chief:
        with callbacks_lib.without_distribution():
            model.save(os.path.join(run_dir, "final.keras"))
        summary = _summary(run_dir, history, seconds, model, monitor_of(config))
        paths.write_text(
            os.path.join(run_dir, "done.json"), json.dumps(summary, indent=1)
        )
    cluster.barrier("keras_gmsa: run written")
    summary = _read_json(os.path.join(run_dir, "done.json"))
    logger.info(
        f"Best validation {monitor_of(config)[4:].replace('_', ' ').upper()}"
        f" {summary['best'][monitor_of(config)]:.4f} after "
        f"{summary['best']['epoch']} intervals; {run_dir}/best.keras"
    )
    return summary


def _model(config):
    """The run's model: built from the config, or loaded from
    ``init_from``; compiled for segments with the label-weighted loss."""
    import keras

    import keras_gmsa
    from keras_gmsa.losses import LabelWeightedBinaryCrossentropy

    if config["init_from"]:
        from keras_gmsa.models import preset_io

        try:
            # A .keras file, or a preset (directory, hf://, kaggle://).
            model = preset_io.load_model(config["init_from"])
        except preset_io.PresetError as error:
            raise ValueError(f"init_from {error}") from error
        except (OSError, ValueError, ImportError) as error:
            # ImportError: an hf:// model without huggingface_hub.
            raise ValueError(
                f"init_from {config['init_from']}: the model cannot be "
                f"loaded ({str(error).splitlines()[0]})"
            ) from error
        if int(model.output_shape[-1]) != config["num_classes"]:
            raise ValueError(
                f"init_from {config['init_from']} scores "
                f"{model.output_shape[-1]} classes; the config says "
                f"num_classes={config['num_classes']}."
            )
    else:
        model = keras_gmsa.build_model(
            config["model"],
            mask=config["mask"],
            W=config["W"],
            L=config["L"],
            **_model_options(config),
        )
    if config["init_from"] or config["segments"]:
        # A fresh optimizer of the model's kind (its state starts anew);
        # the config's learning rate, if it gives one.
        optimizer = model.optimizer or keras.optimizers.Adam()
        settings = optimizer.get_config()
        options = _model_options(config)
        if config["learning_rate"] is not None or config["schedule"] == "decay":
            settings["learning_rate"] = options["learning_rate"]
        loss = (
            LabelWeightedBinaryCrossentropy()
            if config["segments"]
            else keras.losses.BinaryCrossentropy()
        )
        model.compile(
            optimizer=type(optimizer).from_config(settings),
            loss=loss,
            jit_compile=getattr(model, "jit_compile", "auto"),
        )
    return model


def _drop_rows_after(run_dir, epochs):
    """Keeps the rows of history.csv of the first `epochs` intervals.

    CSVLogger writes an interval's row before BackupAndRestore backs it
    up; a run killed between the two repeats that interval when it
    resumes, and would log it twice.
    """
    import csv

    path = os.path.join(run_dir, "history.csv")
    if not paths.exists(path):
        return
    rows = list(csv.reader(io.StringIO(paths.read_text(path), newline="")))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    column = header.index("epoch")
    kept = [r for r in body if r and int(r[column]) < epochs]
    if len(kept) == len(body):
        return
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(kept)
    paths.write_text(path, text.getvalue())


def _summary(run_dir, history, seconds, model, monitor="val_gap"):
    import csv

    import keras

    text = paths.read_text(os.path.join(run_dir, "history.csv"))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    best = max(rows, key=lambda r: float(r[monitor]))
    return {
        "intervals": len(rows),
        "best": {
            "epoch": int(best["epoch"]) + 1,
            **{k: float(v) for k, v in best.items() if k.startswith("val_")},
        },
        "final_learning_rate": float(
            keras.ops.convert_to_numpy(model.optimizer.learning_rate)
        ),
        "seconds_this_session": seconds,
        "epochs_this_session": len(history.epoch),
    }
