"""Devices and hosts: where a run trains, and which process writes.

A run trains on one device, data-parallel on the devices of one host
(``distribute``), or on several hosts that share one run directory (JAX:
the ``KERAS_DISTRIBUTION_*`` variables). Every process takes the same
decisions from the same data; one, the chief (`Cluster`), writes the run
directory, and the callbacks here let it save while the others train on
(`ModelCheckpoint`, `BackupAndRestore`) and let the others restore from
its backup without writing (`RestoreBackup`).
"""

import contextlib
import json
import os
import shutil
import tempfile

import keras

from keras_gmsa import paths

# The files `keras.callbacks.BackupAndRestore` writes into its directory:
# the weights and optimizer state, the number of epochs done, and, with
# ``double_checkpoint``, the previous two under PREVIOUS. Keras documents
# the directory, not its files: these names are those of Keras 3.15.1
# (keras/src/callbacks/backup_and_restore.py), and
# tests/test_multihost.py::test_restore_backup_reads_what_keras_backs_up
# fails when a Keras version writes others.
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
PREVIOUS = ".bkp"


def backed_up_epochs(backup_dir):
    """Epochs (validation intervals) done in the backup in `backup_dir`
    (0: none): `Model.fit`'s ``initial_epoch`` on every process."""
    path = os.path.join(backup_dir, BACKUP_METADATA)
    if not paths.exists(path):
        return 0
    return int(json.loads(paths.read_text(path))["epoch"])


def setup_devices(cpu_devices):
    """Splits the CPU into ``cpu_devices`` devices (testing data parallel).

    Call before any computation: TensorFlow and JAX fix their devices when
    they first use them.
    """
    if not cpu_devices or cpu_devices < 2:
        return
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


@contextlib.contextmanager
def without_distribution():
    """Runs the block with no Keras distribution set.

    Saving a model creates Keras variables (a throwaway optimizer, to know
    which attributes to skip); under a multi-process JAX distribution
    every variable creation is a collective check that all processes must
    join. The chief saves alone, so it saves without the distribution:
    the variables' values are read as they are (replicated on every
    host) and nothing is exchanged.
    """
    current = keras.distribution.distribution()
    if current is None:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


class _SavesAlone:
    """Runs a saving callback's epoch and batch ends without the
    distribution (see `without_distribution`)."""

    def on_epoch_end(self, epoch, logs=None):
        with without_distribution():
            super().on_epoch_end(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        with without_distribution():
            super().on_train_batch_end(batch, logs)


class ModelCheckpoint(_SavesAlone, keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that can save on one host of a
    multi-host run (JAX) while the others train on."""


class BackupAndRestore(_SavesAlone, keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that can back up on one host of
    a multi-host run (JAX) while the others train on."""


class RestoreBackup(keras.callbacks.Callback):
    """Restores the backup of `BackupAndRestore` and never writes: for the
    processes of a multi-host run that do not write the run directory.

    At the start of training it loads the weights and optimizer state the
    chief backed up last (on storage every host shares), or, when that
    file cannot be read (the chief was killed while writing it), the
    previous backup (``double_checkpoint``), without copying either: one
    writer per file. The epoch to go on from is `Model.fit`'s
    ``initial_epoch``, `backed_up_epochs` of the same directory: the
    chief's `BackupAndRestore` restores the same epoch.

    Args:
        backup_dir: the chief's `BackupAndRestore` directory.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir

    def on_train_begin(self, logs=None):
        latest = os.path.join(self.backup_dir, BACKUP_WEIGHTS)
        if not paths.exists(latest):
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            # The optimizer's variables must exist to take their values.
            optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(latest)
        except OSError:
            previous = latest + PREVIOUS
            if not paths.exists(previous):
                raise
            # Keras loads weights by their name's ending (.weights.h5): a
            # private copy of the previous backup, the shared one intact.
            with tempfile.TemporaryDirectory() as directory:
                copy = os.path.join(directory, BACKUP_WEIGHTS)
                with paths.open_file(previous, "rb") as source:
                    with open(copy, "wb") as target:
                        shutil.copyfileobj(source, target)
                self.model.load_weights(copy)
