"""`keras-gmsa train`: one resumable training run in a run directory.

A run is described by a `RunConfig` (`config`): a JSON or TOML file and
command-line flags on top, over a preset's training recipe
(`keras_gmsa.models.presets.Recipe`: Kakao Brain's decay, GMSA's plateau
schedule), over the defaults (`resolve_config`). The resolved config is
stored as ``RUN_DIR/config.json`` (`rundir`); running the same command
again resumes the run from its last backup
(`keras.callbacks.BackupAndRestore`), with the schedule's patience
counters and best values restored too
(`keras_gmsa.callbacks.ScheduleState`). A finished run writes
``RUN_DIR/done.json`` and is not trained again.

Everything in the loop is Keras: ``model.fit`` on a repeating dataset
with ``steps_per_epoch`` = the validation interval, and the callbacks of
the run's schedule (`schedules`). A run may train on several devices or
hosts (`hosts`); `train` (`run`) reads as its five steps.

Modules: `config` (the keys, their types and meaning), `schedules`,
`hosts` (devices, hosts and the callbacks that let one of them write),
`rundir`, `task` (model and data from a config), `run` (`train`).
"""

from keras_gmsa.training.config import DEFAULTS
from keras_gmsa.training.config import MIXED_PRECISION
from keras_gmsa.training.config import RESUMABLE_CHANGES
from keras_gmsa.training.config import RunConfig
from keras_gmsa.training.config import load_config_file
from keras_gmsa.training.config import resolve_config
from keras_gmsa.training.hosts import Cluster
from keras_gmsa.training.hosts import distribution_scope
from keras_gmsa.training.hosts import multi_host
from keras_gmsa.training.hosts import setup_devices
from keras_gmsa.training.run import EVERY_PROCESS
from keras_gmsa.training.run import train
from keras_gmsa.training.rundir import RunDir
from keras_gmsa.training.rundir import check_run_dir
from keras_gmsa.training.rundir import prepare_run_dir
from keras_gmsa.training.rundir import write_run_dir
from keras_gmsa.training.schedules import PLATEAUS
from keras_gmsa.training.schedules import SCHEDULES
from keras_gmsa.training.schedules import Schedule
from keras_gmsa.training.schedules import decay_schedule
from keras_gmsa.training.task import build_run_model
from keras_gmsa.training.task import datasets
from keras_gmsa.training.task import model_options

# The names of earlier versions (one module), for code that used them.
_model_options = model_options
_datasets = datasets
_model = build_run_model


def monitor_of(config):
    """The log key the run's schedule follows (and checkpoints by)."""
    from keras_gmsa.training.config import as_run_config

    return as_run_config(config).monitor


__all__ = [
    "DEFAULTS",
    "EVERY_PROCESS",
    "MIXED_PRECISION",
    "PLATEAUS",
    "RESUMABLE_CHANGES",
    "SCHEDULES",
    "Cluster",
    "RunConfig",
    "RunDir",
    "Schedule",
    "build_run_model",
    "check_run_dir",
    "datasets",
    "decay_schedule",
    "distribution_scope",
    "load_config_file",
    "model_options",
    "monitor_of",
    "multi_host",
    "prepare_run_dir",
    "resolve_config",
    "setup_devices",
    "train",
    "write_run_dir",
]
