"""The run directory: what a run keeps, and what a rerun finds there.

Layout::

    config.json    the resolved config (`RunConfig.to_dict`)
    best.keras     the model with the best validation GAP so far
    final.keras    the model at the end of training
    history.csv    one row per validation interval (CSVLogger)
    logs/          TensorBoard
    backup/        BackupAndRestore's state + schedule.json
    done.json      the summary, once training has ended

Every process of a run reads the directory (`RunDir.state`) before any
writes to it, so that all take the same decision; only the chief writes.
"""

import csv
import io
import json
import os

from keras_gmsa import paths
from keras_gmsa.training.config import RunConfig
from keras_gmsa.training.config import as_run_config
from keras_gmsa.training.hosts import backed_up_epochs

NEW, RESUME, DONE = "new", "resume", "done"


class RunDir:
    """One run's directory (local or any `tf.io.gfile` filesystem).

    Args:
        path: the directory.
    """

    def __init__(self, path):
        self.path = str(path)

    def __str__(self):
        return self.path

    def file(self, name):
        """The path of `name` in the directory."""
        return os.path.join(self.path, name)

    @property
    def backup_dir(self):
        return self.file("backup")

    def _json(self, name):
        path = self.file(name)
        if not paths.exists(path):
            return None
        return json.loads(paths.read_text(path))

    def state(self, config, overwrite=False):
        """What the directory holds for `config` (a `RunConfig`), without
        writing anything: `NEW`, `RESUME` or `DONE`. Raises if it holds
        another run."""
        if overwrite:
            return NEW
        stored = self._json("config.json")
        if stored is None:
            return NEW
        # A config.json of an earlier version lacks the keys added since:
        # they take their defaults.
        stored = RunConfig.resolve(stored)
        differences = stored.changes_from(config)
        if differences:
            details = "; ".join(
                f"{key}: {getattr(stored, key)!r} -> {getattr(config, key)!r}"
                for key in differences
            )
            raise ValueError(
                f"{self.path} holds a run with a different config "
                f"({details}). Use another --run-dir, or --overwrite to start "
                "it again."
            )
        if paths.exists(self.file("done.json")):
            return DONE
        return RESUME

    def completed_intervals(self):
        """Validation intervals already backed up (0: none)."""
        return backed_up_epochs(self.backup_dir)

    def write(self, config, state, overwrite=False):
        """Creates the directory (or empties it with `overwrite`) and
        stores the config; the chief's job."""
        if state == DONE:
            return
        if overwrite and paths.exists(self.path):
            paths.rmtree(self.path)
        paths.makedirs(self.path)
        stored = config.to_dict()
        if self._json("config.json") != stored:
            paths.write_text(
                self.file("config.json"),
                json.dumps(stored, indent=1, sort_keys=True),
            )

    def drop_rows_after(self, intervals):
        """Keeps the rows of history.csv of the first `intervals`.

        CSVLogger writes an interval's row before BackupAndRestore backs
        it up; a run killed between the two repeats that interval when it
        resumes, and would log it twice.
        """
        path = self.file("history.csv")
        if not paths.exists(path):
            return
        rows = list(csv.reader(io.StringIO(paths.read_text(path), newline="")))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        column = header.index("epoch")
        kept = [r for r in body if r and int(r[column]) < intervals]
        if len(kept) == len(body):
            return
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(kept)
        paths.write_text(path, text.getvalue())

    def history(self):
        """The rows of history.csv, as dicts of strings."""
        text = paths.read_text(self.file("history.csv"))
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def summary(self):
        """done.json, or None before the run has ended."""
        return self._json("done.json")

    def write_summary(self, history, seconds, model, monitor):
        """Writes done.json: the intervals, the best (by `monitor`), the
        final learning rate and this session's time and intervals."""
        import keras

        rows = self.history()
        best = max(rows, key=lambda r: float(r[monitor]))
        values = {k: float(v) for k, v in best.items() if k.startswith("val_")}
        summary = {
            "intervals": len(rows),
            "best": {
                "epoch": int(best["epoch"]) + 1,
                **values,
            },
            "final_learning_rate": float(
                keras.ops.convert_to_numpy(model.optimizer.learning_rate)
            ),
            "seconds_this_session": seconds,
            "epochs_this_session": len(history.epoch),
        }
        paths.write_text(self.file("done.json"), json.dumps(summary, indent=1))
        return summary


def check_run_dir(run_dir, config, overwrite=False):
    """`RunDir.state` of `run_dir` for `config` (a dict or `RunConfig`)."""
    return RunDir(run_dir).state(as_run_config(config), overwrite)


def write_run_dir(run_dir, config, state, overwrite=False):
    """`RunDir.write` of `run_dir` for `config` (a dict or `RunConfig`)."""
    RunDir(run_dir).write(as_run_config(config), state, overwrite)


def prepare_run_dir(run_dir, config, overwrite=False):
    """Creates ``run_dir`` or checks that it holds the same run, on one
    process. Returns "new", "resume" or "done"."""
    state = check_run_dir(run_dir, config, overwrite)
    write_run_dir(run_dir, config, state, overwrite)
    return state
