"""Keras callbacks for training on YouTube-8M, and the paper's schedule.

- `OfficialMetrics`: exact GAP@20, MAP, PERR and Hit@1 (the definitions of
  `keras_gmsa.metrics`) on validation data, written into the epoch logs
  as ``val_gap``, ``val_map``, ``val_perr``, ``val_hit_at_one`` and
  ``val_loss`` so that every later callback (EarlyStopping,
  ReduceLROnPlateau, ModelCheckpoint, CSVLogger, TensorBoard, KerasTuner)
  can monitor them.
- `ScheduleState`: saves the counters of EarlyStopping,
  ReduceLROnPlateau and ModelCheckpoint (patience used, best value) with
  every backup, and restores them when a run resumes, so that a resumed
  run neither restarts its patience nor overwrites a better checkpoint.
- `paper_schedule`: the schedule of Sahu and Goyal (2022) as a list of
  callbacks.
- `TorchReduceLROnPlateau`: `keras.callbacks.ReduceLROnPlateau` with the
  rules of PyTorch's ``torch.optim.lr_scheduler.ReduceLROnPlateau``, the
  scheduler of the GMSA paper's PyTorch code (``plateau="pytorch"``).

"Validate every N steps" is written the Keras way: train on a repeating
dataset with ``steps_per_epoch=N``; one Keras epoch is then one validation
interval, and all epoch-based callbacks count in intervals. The callbacks
that let one host of several write (`ModelCheckpoint`, `BackupAndRestore`,
`RestoreBackup`) are `keras_gmsa.training.hosts`'; their names here are
kept.

(About 520 lines: the callbacks that `paper_schedule` assembles, each
short, read together with it.)
"""

import json
import math
import os

import keras
import numpy as np

from keras_gmsa import constants
from keras_gmsa import metrics as metrics_lib
from keras_gmsa import paths
from keras_gmsa.loaders.for_model import numpy_batches
from keras_gmsa.progress import Progress
from keras_gmsa.segments import SegmentMetrics  # noqa: F401  (moved there)

# Earlier versions' names of the callbacks of several hosts.
from keras_gmsa.training.hosts import BackupAndRestore
from keras_gmsa.training.hosts import ModelCheckpoint
from keras_gmsa.training.hosts import RestoreBackup
from keras_gmsa.training.hosts import without_distribution  # noqa: F401
from keras_gmsa.training.schedules import PLATEAUS


def _predictor(model):
    """A function from a batch of features to NumPy probabilities."""
    strategy = getattr(model, "distribute_strategy", None)
    if (
        keras.backend.backend() == "tensorflow"
        and strategy is not None
        and strategy.num_replicas_in_sync > 1
    ):
        # Under tf.distribute, Model.predict_on_batch runs the whole batch
        # on every replica and concatenates the copies (Keras 3.15); call
        # the model in cross-replica context instead.
        import tensorflow as tf

        call = tf.function(
            lambda x: model(x, training=False), reduce_retracing=True
        )
        return lambda x: keras.ops.convert_to_numpy(call(x))
    return lambda x: keras.ops.convert_to_numpy(model.predict_on_batch(x))


class OfficialMetrics(keras.callbacks.Callback):
    """Exact official metrics on validation data at the end of each epoch.

    Put it first in the callback list: the metrics are added to the
    ``logs`` dict that Keras then hands to the callbacks after it.

    Args:
        validation_data: batches of ``(features, labels)`` or
            ``(features, labels, ids)``: a `tf.data.Dataset` from
            `keras_gmsa.data`, or any iterable of NumPy batches. It is read
            once per evaluation, so it must be finite.
        top_k: predictions kept per video for GAP and MAP (20: official).
        prefix: prefix of the log keys.
        steps: evaluate on at most this many batches (None: all).
        frequency: evaluate every this many epochs (other epochs log
            nothing, like ``validation_freq`` in `Model.fit`).
        progress: draw a progress bar of the validation pass on standard
            error when it is a terminal (`keras_gmsa.progress.Progress`).
    """

    def __init__(
        self,
        validation_data,
        top_k=constants.TOP_K,
        prefix="val_",
        steps=None,
        frequency=1,
        progress=True,
    ):
        super().__init__()
        if validation_data is None:
            raise ValueError("OfficialMetrics needs validation data.")
        if frequency < 1:
            raise ValueError(f"frequency must be >= 1; got {frequency}.")
        self.validation_data = validation_data
        self.top_k = top_k
        self.prefix = prefix
        self.steps = steps
        self.frequency = frequency
        self.progress = progress

    def evaluate(self):
        """Returns the metrics of the current model as a dict."""
        num_classes = int(self.model.output_shape[-1])
        evaluator = metrics_lib.Evaluator(num_classes, top_k=self.top_k)
        # Built once per model: under tf.distribute it wraps a tf.function,
        # which must not be traced again at every evaluation.
        if getattr(self, "_predict_for", None) is not self.model:
            self._predict = _predictor(self.model)
            self._predict_for = self.model
        predict = self._predict
        loss_sum = 0.0
        count = 0
        bar = Progress(enabled=self.progress)
        for step, batch in enumerate(numpy_batches(self.validation_data)):
            if self.steps is not None and step >= self.steps:
                break
            features, labels = batch[0], np.asarray(batch[1])
            probs = predict(features).astype(np.float64)
            evaluator.update(probs, labels)
            # Binary cross-entropy as Keras computes it (clipped at 1e-7).
            p = np.clip(probs, 1e-7, 1 - 1e-7)
            loss_sum += float(
                -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
                .mean(axis=-1)
                .sum()
            )
            count += len(labels)
            bar.add(len(labels))
        bar.close()
        if count == 0:
            raise ValueError("The validation data yielded no videos.")
        result = evaluator.result()
        return {
            "loss": loss_sum / count,
            "gap": result["gap"],
            "map": result["map"],
            "perr": result["perr"],
            "hit_at_one": result["hit_at_one"],
        }

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.frequency:
            return
        for key, value in self.evaluate().items():
            logs[self.prefix + key] = value


class TorchReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` that drops the learning rate
    when PyTorch's ``ReduceLROnPlateau`` does.

    Two rules differ between the frameworks for the same arguments:

    - Patience. PyTorch drops once the number of evaluations without
      improvement exceeds ``patience`` (``num_bad_epochs > patience``);
      Keras once it reaches it (``wait >= patience``). With patience 3,
      Keras drops at the third evaluation without improvement, PyTorch at
      the fourth. Here `patience` is PyTorch's.
    - Improvement. PyTorch's default ``threshold_mode="rel"`` counts a
      value as better than the best when it beats ``best * (1 +
      threshold)`` (mode max; ``best * (1 - threshold)`` in mode min);
      Keras' ``min_delta`` is absolute. ``threshold_mode="abs"`` makes
      the threshold absolute here too.

    As in PyTorch, a drop that would change the rate by ``eps`` or less
    is skipped. There is no cooldown (PyTorch's default, and the paper's
    schedule's). The counters are Keras' (``wait``, ``best``), so
    `ScheduleState` carries them across a resumed run.

    Args:
        monitor: the log key to follow.
        mode: ``"max"`` or ``"min"``.
        factor: the drop factor.
        patience: evaluations without improvement that are tolerated;
            the rate drops at the next one.
        threshold: the improvement threshold (PyTorch's 1e-4).
        threshold_mode: ``"rel"`` (PyTorch's default) or ``"abs"``.
        min_lr: the lowest learning rate.
        eps: the smallest change of the rate that is applied.
        verbose: print a line at each drop.
    """

    def __init__(
        self,
        monitor="val_loss",
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        min_lr=0.0,
        eps=1e-8,
        verbose=0,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}.")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"threshold_mode must be 'rel' or 'abs'; got "
                f"{threshold_mode!r}."
            )
        # Keras drops when `wait` reaches its patience: one more than
        # PyTorch's tolerated count.
        super().__init__(
            monitor=monitor,
            factor=factor,
            patience=patience + 1,
            verbose=verbose,
            mode=mode,
            min_delta=threshold if threshold_mode == "abs" else 0.0,
            min_lr=min_lr,
        )
        self.torch_patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.eps = eps

    # The two methods below override Keras' own (private) steps of
    # ReduceLROnPlateau, as of Keras 3.15.1
    # (keras/src/callbacks/reduce_lr_on_plateau.py). Were Keras to rename
    # them, the drops would come at Keras' intervals, and
    # tests/test_schedule.py::
    # test_keras_and_pytorch_plateaus_drop_at_their_own_intervals, which
    # compares them with PyTorch's own scheduler, fails.
    def _is_improvement(self, monitor_value, reference_value):
        if self.threshold_mode == "abs" or reference_value is None:
            return super()._is_improvement(monitor_value, reference_value)
        if self.mode == "max":
            return monitor_value > reference_value * (1.0 + self.threshold)
        return monitor_value < reference_value * (1.0 - self.threshold)

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        old_lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        new_lr = max(old_lr * self.factor, self.min_lr)
        if old_lr - new_lr <= self.eps:
            return False
        return super()._reduce_optimizer_lr(optimizer, epoch, name)


def plateau_callback(plateau, monitor, patience, factor, min_lr=0.0):
    """The learning-rate drops of a plateau schedule (mode max).

    Args:
        plateau: ``"keras"``: `keras.callbacks.ReduceLROnPlateau` (drops
            at the `patience`-th evaluation without an improvement of at
            least 1e-4, absolute); ``"pytorch"``: `TorchReduceLROnPlateau`
            (at the next one; an improvement is a rise of 1e-4 relative).
        monitor: the log key.
        patience: evaluations without improvement.
        factor: the drop factor.
        min_lr: the lowest learning rate.

    Returns:
        The callback.
    """
    if plateau not in PLATEAUS:
        raise ValueError(f"plateau must be one of {PLATEAUS}; got {plateau!r}.")
    if plateau == "pytorch":
        return TorchReduceLROnPlateau(
            monitor=monitor,
            mode="max",
            factor=factor,
            patience=patience,
            min_lr=min_lr,
            verbose=1,
        )
    return keras.callbacks.ReduceLROnPlateau(
        monitor=monitor,
        mode="max",
        factor=factor,
        patience=patience,
        min_lr=min_lr,
        verbose=1,
    )


_STATE_ATTRIBUTES = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    keras.callbacks.ModelCheckpoint: ("best",),
}


def _state_class(callback):
    """The Keras callback class whose counters `ScheduleState` carries."""
    for cls in _STATE_ATTRIBUTES:
        if isinstance(callback, cls):
            return cls
    return None


def _to_json(value):
    if value is None:
        return None
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _from_json(value):
    if isinstance(value, str):
        return float(value)
    return value


class ScheduleState(keras.callbacks.Callback):
    """Carries the schedule's counters across an interrupted run.

    `keras.callbacks.BackupAndRestore` brings back the weights, the
    optimizer (learning rate included) and the epoch, but the patience
    counters and best values of EarlyStopping, ReduceLROnPlateau and
    ModelCheckpoint live in Python and start afresh. This callback writes
    them to ``path`` (JSON) at the end of every epoch and restores them at
    the start of training. Place it after the callbacks it watches.

    Args:
        path: the JSON file (kept next to the backup).
        callbacks: the callbacks whose state to carry.
    """

    def __init__(self, path, callbacks, write=True):
        super().__init__()
        self.path = path
        self.write = write
        self.watched = [c for c in callbacks if _state_class(c) is not None]

    def _key(self, index, callback):
        return f"{index}:{_state_class(callback).__name__}"

    def on_train_begin(self, logs=None):
        if not paths.exists(self.path):
            return
        state = json.loads(paths.read_text(self.path))
        # Each callback takes the counters of the n-th saved callback of
        # its class when it is the n-th of its class: the same as by key,
        # and still right when a schedule saved by an earlier version had
        # more callbacks (it said "never" with a patience of 10**9 where
        # there is now no callback).
        saved_by_class = {}
        for key in sorted(
            (k for k in state if ":" in k), key=lambda k: int(k.split(":")[0])
        ):
            name = key.partition(":")[2]
            saved_by_class.setdefault(name, []).append(state[key])
        for callback in self.watched:
            saved_list = saved_by_class.get(_state_class(callback).__name__)
            if not saved_list:
                continue
            saved = saved_list.pop(0)
            for attribute in _STATE_ATTRIBUTES[_state_class(callback)]:
                if attribute in saved:
                    setattr(callback, attribute, _from_json(saved[attribute]))

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        state = {"epoch": epoch + 1}
        for index, callback in enumerate(self.watched):
            state[self._key(index, callback)] = {
                attribute: _to_json(getattr(callback, attribute, None))
                for attribute in _STATE_ATTRIBUTES[_state_class(callback)]
            }
        directory = os.path.dirname(self.path)
        if directory:
            paths.makedirs(directory)
        paths.write_text(self.path, json.dumps(state))


class CSVLogger(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` that also closes a file on another
    filesystem (``gs://``): Keras 3.15 asks its file whether it is
    ``closed``, which `tf.io.gfile.GFile` cannot answer."""

    def _close(self):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None

    def on_train_begin(self, logs=None):
        self._close()
        super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        self._close()
        self.writer = None


def paper_schedule(
    validation_data,
    run_dir=None,
    monitor="val_gap",
    patience=5,
    lr_patience=3,
    lr_factor=0.1,
    min_lr=0.0,
    validation_steps=None,
    tensorboard=True,
    terminate_on_nan=True,
    writer=True,
    metrics=None,
    plateau="keras",
    progress=True,
):
    """The training schedule of the GMSA paper as Keras callbacks.

    Sahu and Goyal (2022) train with Adam at 2e-4 and batch 64, compute the
    validation GAP every N steps, stop when it has not improved for 5
    evaluations and divide the learning rate by 10 when it has not improved
    for 3. Use it with a repeating training dataset and
    ``steps_per_epoch=N``::

        model = keras_gmsa.build_model("gateop", mask="tp", W=30)
        model.fit(
            train.repeat(),
            steps_per_epoch=10000,  # the paper validates every 10,000
            epochs=1000,  # early stopping ends the run
            callbacks=keras_gmsa.callbacks.paper_schedule(val, "runs/gateop"),
        )

    Args:
        validation_data: finite validation batches (see `OfficialMetrics`).
        run_dir: where to keep the best model (``best.keras``), the backup
            for resuming (``backup/``), ``history.csv`` and TensorBoard logs
            (``logs/``). None: only the metrics and the schedule.
        monitor: the log key the schedule follows (maximised).
        patience: evaluations without improvement before stopping; None:
            never stop early (no EarlyStopping).
        lr_patience: evaluations without improvement before the learning
            rate is multiplied by ``lr_factor``; None: never drop (no
            plateau callback: a constant rate, or an optimizer whose
            learning rate is a schedule).
        validation_steps: batches of validation data per evaluation.
        tensorboard: write TensorBoard logs (needs ``run_dir``).
        terminate_on_nan: stop at the first NaN loss.
        writer: whether this process writes ``run_dir``. In a run of
            several processes (hosts) only one does (the chief); the
            others take the same schedule decisions from the same
            validation metrics and restore from the chief's backup.
        metrics: the callback that writes `monitor` into the logs (None:
            `OfficialMetrics` on `validation_data`; `SegmentMetrics` for
            the 2019 task, with ``monitor="val_segment_map"``).
        plateau: whose rules the learning-rate drops follow: ``"keras"``
            (`keras.callbacks.ReduceLROnPlateau`) or ``"pytorch"``
            (`TorchReduceLROnPlateau`, as the paper's PyTorch scheduler:
            one evaluation later for the same `lr_patience`, relative
            threshold). See `plateau_callback`.
        progress: the default metrics draw a progress bar of each
            validation pass on standard error when it is a terminal.

    Returns:
        A list of callbacks, in the order they must run.
    """
    if plateau not in PLATEAUS:
        raise ValueError(f"plateau must be one of {PLATEAUS}; got {plateau!r}.")
    if metrics is None:
        metrics = OfficialMetrics(
            validation_data, steps=validation_steps, progress=progress
        )
    callbacks = [metrics]
    if terminate_on_nan:
        callbacks.append(keras.callbacks.TerminateOnNaN())
    if lr_patience is not None:
        callbacks.append(
            plateau_callback(plateau, monitor, lr_patience, lr_factor, min_lr)
        )
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=patience, verbose=1
            )
        )
    if run_dir is None:
        return callbacks
    backup = os.path.join(run_dir, "backup")
    if not writer:
        callbacks.append(RestoreBackup(backup))
        callbacks.append(
            ScheduleState(
                os.path.join(backup, "schedule.json"), callbacks, write=False
            )
        )
        return callbacks
    callbacks += [
        ModelCheckpoint(
            os.path.join(run_dir, "best.keras"),
            monitor=monitor,
            mode="max",
            save_best_only=True,
            verbose=1,
        ),
        CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"))
        )
    callbacks.append(
        BackupAndRestore(
            backup, double_checkpoint=True, delete_checkpoint=False
        )
    )
    callbacks.append(
        ScheduleState(os.path.join(backup, "schedule.json"), callbacks)
    )
    return callbacks
