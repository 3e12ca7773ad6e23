"""`train`: one resumable run, in five steps."""

import dataclasses
import time

from keras_gmsa import paths
from keras_gmsa.log import logger
from keras_gmsa.training import hosts
from keras_gmsa.training.config import as_run_config
from keras_gmsa.training.rundir import DONE
from keras_gmsa.training.rundir import RESUME
from keras_gmsa.training.rundir import RunDir
from keras_gmsa.training.schedules import Schedule
from keras_gmsa.training.task import build_run_model
from keras_gmsa.training.task import datasets

# Messages about this process's own state (resumed from where, done, its
# place in the cluster): every process of a multi-host run says them; the
# run's results only the chief.
EVERY_PROCESS = {"all_processes": True}


def train(config, run_dir, overwrite=False, verbose="auto"):
    """Trains (or resumes) one run; returns the summary dict (done.json).

    1. The config and its inputs are checked, before anything is written
       (a corrected command is then the same run).
    2. The process joins the other hosts, if any, and its devices.
    3. Every process reads the run directory; then the chief writes it.
       A finished run is not trained again.
    4. The model and the data are built (a resumed run does not replay
       the batches it has seen).
    5. `Model.fit` runs the schedule's callbacks; the chief writes the
       final model and the summary.

    Args:
        config: a `RunConfig`, or a dict that `RunConfig.resolve` reads.
        run_dir: the run's directory (`keras_gmsa.training.RunDir`).
        overwrite: start the run again in a directory that holds one.
        verbose: `Model.fit`'s: ``"auto"`` or 1, Keras' progress bar (and
            one for each validation pass, on a terminal); 2, one line per
            validation interval (for logs); 0, silent.
    """
    config = as_run_config(config)
    tensorboard = _check_inputs(config)
    config, scope, replicas, cluster = _join_hosts(config)
    run = RunDir(run_dir)
    state, start = _open_run_dir(run, config, cluster, overwrite)
    if state == DONE:
        logger.info(
            f"{run} is complete; see {run.file('done.json')}.",
            extra=EVERY_PROCESS,
        )
        return run.summary()
    model, train_data, validation = _build(config, scope, start)
    if cluster.count > 1:
        role = "the chief, which writes" if cluster.chief else "a worker of"
        logger.info(
            f"Process {cluster.index} of {cluster.count} ({role} {run}); "
            f"training data-parallel on {replicas} devices in all.",
            extra=EVERY_PROCESS,
        )
    elif replicas > 1:
        logger.info(f"Training data-parallel on {replicas} devices.")
    return _fit(
        model,
        (train_data, validation),
        config,
        run,
        cluster=cluster,
        start=start,
        verbose=verbose,
        tensorboard=tensorboard,
    )


def _check_inputs(config):
    """Step 1: what can be checked before anything is written; returns
    whether the run writes TensorBoard logs."""
    from keras_gmsa import loaders

    init_from = config.init_from
    if (
        init_from
        and not paths.is_hub(init_from)
        and not init_from.startswith("kaggle://")  # a preset on Kaggle
        and not paths.exists(init_from)
    ):
        raise ValueError(f"init_from {init_from}: no such file.")
    # A loader whose package is missing: one line, before the run
    # directory exists (a run directory holding the refused config would
    # refuse the corrected command).
    loaders.resolve_loader(config.loader)
    if config.segments:
        from keras_gmsa.segments import task as segment_task

        # Frame-level records have no ratings.
        segment_task.check_records(
            (config.train, config.validation), config.loader
        )
    # None: whether TensorFlow (its summary writer) is installed; True
    # without it fails here.
    return loaders.tensorboard_choice(config.tensorboard)


def _join_hosts(config):
    """Step 2: ``(config, scope to build in, replicas, Cluster)``."""
    if hosts.multi_host() and not config.distribute:
        # TF_CONFIG or KERAS_DISTRIBUTION_* join this process to others:
        # training alone into a shared run directory is never meant.
        config = dataclasses.replace(config, distribute=True)
    scope, replicas, cluster = hosts.distribution_scope(
        config.distribute, config.batch_size
    )
    return config, scope, replicas, cluster


def _open_run_dir(run, config, cluster, overwrite):
    """Step 3: ``(state, intervals done)``; every process reads the run
    directory before any writes to it, so that all take the same
    decision (new, resume from the same interval, done, or the same
    error); then only the chief writes."""
    state = run.state(config, overwrite)
    start = run.completed_intervals() if state == RESUME else 0
    cluster.barrier("keras_gmsa: run directory read")
    if cluster.chief:
        run.write(config, state, overwrite)
        if state == RESUME:
            run.drop_rows_after(start)
    cluster.barrier("keras_gmsa: run directory written")
    if state == RESUME:
        logger.info(
            f"Resuming {run} after {start} validation intervals "
            f"({start * config.steps_per_validation} steps).",
            extra=EVERY_PROCESS,
        )
    return state, start


def _build(config, scope, start):
    """Step 4: ``(model, training data, validation data)``."""
    import keras

    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    with scope:
        model = build_run_model(config)
        # A resumed run must not replay the batches it has already seen.
        train_data, validation = datasets(model, config, config.seed + start)
    return model, train_data, validation


def _fit(model, data, config, run, *, cluster, start, verbose, tensorboard):
    """Step 5: `Model.fit` of ``data = (training, validation)`` from
    interval `start`; the final model and the summary."""
    import keras

    # Progress bars of the validation passes with Keras' own bar (verbose
    # "auto" or 1, on a terminal); verbose 2 logs one line per interval.
    train_data, validation = data
    progress = verbose in ("auto", 1)
    metrics = None
    if config.segments:
        from keras_gmsa.segments import task as segment_task

        metrics = segment_task.SegmentMetrics(
            validation,
            on_error=config.on_error,
            id_split=config.validation_id_split,
            steps=config.validation_steps,
            batch_size=config.validation_batch_size,
            progress=progress,
            loader=config.loader,
            num_workers=config.loader_workers,
        )
    callbacks = Schedule.of(config).callbacks(
        validation,
        run.path,
        progress=progress,
        validation_steps=config.validation_steps,
        tensorboard=tensorboard,
        writer=cluster.chief,
        metrics=metrics,
    )
    began = time.perf_counter()
    try:
        history = model.fit(
            train_data,
            steps_per_epoch=config.steps_per_validation,
            epochs=config.max_validations,
            # The chief's BackupAndRestore restores the same epoch; the
            # other processes' RestoreBackup does not set it.
            initial_epoch=start,
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
    seconds = time.perf_counter() - began
    monitor = config.monitor
    if cluster.chief:
        with hosts.without_distribution():
            model.save(run.file("final.keras"))
        run.write_summary(history, seconds, model, monitor)
    cluster.barrier("keras_gmsa: run written")
    summary = run.summary()
    logger.info(
        f"Best validation {monitor[4:].replace('_', ' ').upper()}"
        f" {summary['best'][monitor]:.4f} after "
        f"{summary['best']['epoch']} intervals; {run.file('best.keras')}"
    )
    return summary
