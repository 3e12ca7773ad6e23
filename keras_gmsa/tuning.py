"""KerasTuner searches of the GMSA masks.

(About 470 lines: the hypermodel, its search space and the command's
search driver are read together when a search is configured.)

`GMSAHyperModel` is a `keras_tuner.HyperModel`; its search space is

- ``combination``: how local and global attention meet (``shareatt``,
  ``gateatt``, ``gateop``),
- ``mask``: the local mask kind (``bd`` block-diagonal, ``tp`` Toeplitz,
  ``td`` dilated Toeplitz),
- ``W``: the mask width,
- ``L``: the dilation, a conditional hyperparameter that exists only when
  ``mask`` is ``td``,
- ``learning_rate``: Adam's, log-uniform.

Trials are scored by the exact validation GAP (``val_gap``, from
`keras_gmsa.callbacks.OfficialMetrics`). `search` runs RandomSearch,
BayesianOptimization or Hyperband; run it again with the same directory
and it resumes (finished trials are kept, the search goes on to
``max_trials``). `summary` tabulates the best trials.

>>> hypermodel = GMSAHyperModel(max_frames=300)  # doctest: +SKIP
>>> tuner = make_tuner(  # doctest: +SKIP
...     "bayesian", hypermodel, "runs/tune", max_trials=20)
>>> tuner.search(train.repeat(), steps_per_epoch=1000,  # doctest: +SKIP
...              epochs=5, validation_data=validation)
"""

import json
import os

try:
    import keras_tuner
except ImportError as error:  # pragma: no cover
    raise ImportError(
        "keras_gmsa.tuning needs KerasTuner: pip install 'keras-gmsa[tuner]'."
    ) from error

import keras_gmsa
from keras_gmsa import callbacks as callbacks_lib
from keras_gmsa import constants
from keras_gmsa import masks as masks_lib
from keras_gmsa import paths
from keras_gmsa.log import logger
from keras_gmsa.search_space import COMBINATIONS
from keras_gmsa.search_space import L_VALUES
from keras_gmsa.search_space import MASK_KINDS
from keras_gmsa.search_space import TUNERS
from keras_gmsa.search_space import W_VALUES
from keras_gmsa.search_space import ZOO_SPACES

OBJECTIVE = keras_tuner.Objective("val_gap", direction="max")


class GMSAHyperModel(keras_tuner.HyperModel):
    """The GMSA search space (see the module docstring).

    Args:
        combinations: values of ``combination``.
        mask_kinds: values of ``mask``.
        w_values: values of ``W``; widths that would make a mask global for
            ``max_frames`` are dropped.
        l_values: values of ``L`` (for ``td``); each must be <= min(W).
        learning_rate: ``(low, high)`` of the log-uniform learning rate, or
            a float to keep it fixed.
        validation_steps: validation batches per evaluation (None: all).
        **model_options: passed to `keras_gmsa.build_model` (e.g.
            ``num_classes``, ``max_frames``, ``features``, ``num_heads``).
    """

    def __init__(
        self,
        combinations=COMBINATIONS,
        mask_kinds=MASK_KINDS,
        w_values=W_VALUES,
        l_values=L_VALUES,
        learning_rate=(1e-4, 1e-3),
        validation_steps=None,
        name="gmsa",
        **model_options,
    ):
        super().__init__(name=name, tunable=True)
        max_frames = model_options.get("max_frames", 300)
        bad = [c for c in combinations if c not in COMBINATIONS]
        if bad or not combinations:
            raise ValueError(
                f"combinations must be a non-empty subset of {COMBINATIONS}; "
                f"got {list(combinations)}."
            )
        bad = [m for m in mask_kinds if m not in MASK_KINDS]
        if bad or not mask_kinds:
            raise ValueError(
                f"mask_kinds must be a non-empty subset of {MASK_KINDS}; "
                f"got {list(mask_kinds)}."
            )
        # TP with W >= T - 1 and BD with W >= T are global attention.
        widths = sorted({int(w) for w in w_values if 1 <= w < max_frames - 1})
        if not widths:
            raise ValueError(
                f"No width in {list(w_values)} gives a local mask for "
                f"max_frames={max_frames} (need 1 <= W < {max_frames - 1})."
            )
        dilations = sorted({int(v) for v in l_values})
        if "td" in mask_kinds and (
            not dilations or dilations[0] < 2 or dilations[-1] > widths[0]
        ):
            raise ValueError(
                f"l_values {list(l_values)} must lie in [2, min(W)="
                f"{widths[0]}] (L=1 is the Toeplitz mask; L > W leaves each "
                "frame only itself)."
            )
        self.combinations = list(combinations)
        self.mask_kinds = list(mask_kinds)
        self.w_values = widths
        self.l_values = dilations
        self.learning_rate = learning_rate
        self.validation_steps = validation_steps
        self.model_options = model_options

    def build(self, hp):
        combination = hp.Choice("combination", self.combinations)
        mask = hp.Choice("mask", self.mask_kinds)
        W = hp.Choice("W", self.w_values, ordered=True)
        L = None
        # Only a search with td masks has an L. KerasTuner builds once with
        # every condition forced true (mask = "td" even where "td" is not a
        # choice), so L must not be declared for a search without them.
        if "td" in self.mask_kinds:
            with hp.conditional_scope("mask", ["td"]):
                L = hp.Choice("L", self.l_values, ordered=True)
        if isinstance(self.learning_rate, (tuple, list)):
            low, high = self.learning_rate
            learning_rate = hp.Float("learning_rate", low, high, sampling="log")
        else:
            learning_rate = float(self.learning_rate)
        return keras_gmsa.build_model(
            combination,
            mask=mask,
            W=W,
            L=L if mask == "td" else None,
            learning_rate=learning_rate,
            **self.model_options,
        )

    def fit(self, hp, model, *args, validation_data=None, **kwargs):
        """`Model.fit`, with the exact validation metrics in the logs.

        ``validation_data`` is evaluated by `OfficialMetrics` (exact GAP,
        MAP, PERR, Hit@1 and the loss) instead of `Model.evaluate`.
        """
        if validation_data is None:
            raise ValueError(
                "The GMSA search is scored by the validation GAP: pass "
                "validation_data to tuner.search."
            )
        callbacks = [
            callbacks_lib.OfficialMetrics(
                validation_data, steps=self.validation_steps
            )
        ] + list(kwargs.pop("callbacks", None) or [])
        kwargs.setdefault("shuffle", False)
        return model.fit(*args, callbacks=callbacks, **kwargs)


class ZooHyperModel(GMSAHyperModel):
    """A search over one of the other zoo models' options.

    The space is ``ZOO_SPACES[name]`` (the options each paper ablates:
    cluster size and shifting for Attention Clusters, fusion and window for
    Kakao Brain's BLSTM, experts and chain length for its heads, ...) or
    the ``space`` given, plus the log-uniform learning rate. Choices that
    are not all of one type (a window of 5, 9, 13 or None) are searched as
    their text and turned back into values. Trials are scored by the exact
    validation GAP, as in `GMSAHyperModel`.

    Args:
        name: a `keras_gmsa.list_models()` name.
        space: ``{option: values}``; default ``ZOO_SPACES[name]``.
        learning_rate: ``(low, high)`` or a fixed float.
        validation_steps: validation batches per evaluation (None: all).
        **model_options: fixed options for `keras_gmsa.build_model`.

    Example:
    >>> hypermodel = ZooHyperModel("attention_cluster")  # doctest: +SKIP
    >>> tuner = make_tuner(  # doctest: +SKIP
    ...     "random", hypermodel, "runs/tune-ac")
    """

    def __init__(
        self,
        name,
        space=None,
        learning_rate=(1e-4, 1e-2),
        validation_steps=None,
        **model_options,
    ):
        keras_tuner.HyperModel.__init__(self, name=name, tunable=True)
        if name not in keras_gmsa.list_models():
            raise ValueError(
                f"Unknown model {name!r}. Allowed: "
                f"{', '.join(keras_gmsa.list_models())}."
            )
        if space is None:
            if name not in ZOO_SPACES:
                raise ValueError(
                    f"No default search space for {name!r}; pass `space`. "
                    f"Defaults exist for {sorted(ZOO_SPACES)} (GMSA models: "
                    "GMSAHyperModel)."
                )
            space = ZOO_SPACES[name]
        if not space or any(not values for values in space.values()):
            raise ValueError(f"Every option needs values; got {space!r}.")
        self.model_name = name
        self.space = {key: tuple(values) for key, values in space.items()}
        self.learning_rate = learning_rate
        self.validation_steps = validation_steps
        self.model_options = model_options

    @staticmethod
    def _plain(values):
        kinds = {type(v) for v in values}
        return len(kinds) == 1 and kinds <= {int, float, str, bool}

    def build(self, hp):
        options = {}
        for key, values in self.space.items():
            if self._plain(values):
                options[key] = hp.Choice(key, list(values))
            else:
                text = {str(v): v for v in values}
                options[key] = text[hp.Choice(key, list(text))]
        if isinstance(self.learning_rate, (tuple, list)):
            low, high = self.learning_rate
            options["learning_rate"] = hp.Float(
                "learning_rate", low, high, sampling="log"
            )
        else:
            options["learning_rate"] = float(self.learning_rate)
        return keras_gmsa.build_model(
            self.model_name, **options, **self.model_options
        )


def make_tuner(
    kind,
    hypermodel,
    directory,
    project_name="gmsa",
    max_trials=20,
    max_epochs=None,
    seed=0,
    overwrite=False,
    **kwargs,
):
    """A KerasTuner tuner of the given kind over `hypermodel`.

    Args:
        kind: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        directory, project_name: where trials are stored; a second call
            with the same values resumes the search (unless ``overwrite``).
        max_trials: trials in all (RandomSearch, BayesianOptimization).
        max_epochs: epochs of the longest Hyperband bracket.

    Raises:
        ValueError: `directory` on another filesystem (``gs://``) on JAX
            or PyTorch, where KerasTuner keeps its trials with Python's
            local file functions (it uses tf.io.gfile on TensorFlow only).
    """
    import keras

    backend = keras.backend.backend()
    if paths.is_remote(directory) and backend != "tensorflow":
        raise ValueError(
            f"{directory}: KerasTuner keeps its trials on the local disk on "
            f"the {backend} backend (tf.io.gfile on tensorflow only): use a "
            "local directory, or KERAS_BACKEND=tensorflow."
        )
    common = dict(
        hypermodel=hypermodel,
        objective=OBJECTIVE,
        directory=directory,
        project_name=project_name,
        seed=seed,
        overwrite=overwrite,
        **kwargs,
    )
    if kind == "random":
        return keras_tuner.RandomSearch(max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.BayesianOptimization(max_trials=max_trials, **common)
    if kind == "hyperband":
        if not max_epochs:
            raise ValueError("Hyperband needs max_epochs.")
        return keras_tuner.Hyperband(max_epochs=max_epochs, **common)
    raise ValueError(f"tuner must be one of {TUNERS}; got {kind!r}.")


def _mask_spec(values):
    mask, W, L = values.get("mask"), values.get("W"), values.get("L")
    if mask is None:
        return None
    return str(masks_lib.MaskSpec(mask, W, L if mask == "td" else None))


def summary(tuner, num_trials=10):
    """The best finished trials, best first, as a list of dicts."""
    rows = []
    for rank, trial in enumerate(
        tuner.oracle.get_best_trials(num_trials), start=1
    ):
        values = trial.hyperparameters.values
        if "combination" not in values:
            rows.append(
                {
                    "rank": rank,
                    "trial": trial.trial_id,
                    "values": dict(values),
                    "val_gap": trial.score,
                }
            )
            continue
        rows.append(
            {
                "rank": rank,
                "trial": trial.trial_id,
                "combination": values.get("combination"),
                "mask": _mask_spec(values),
                "W": values.get("W"),
                "L": values.get("L") if values.get("mask") == "td" else None,
                "learning_rate": values.get("learning_rate"),
                "val_gap": trial.score,
            }
        )
    return rows


def summary_table(rows):
    """Markdown table of `summary` rows."""
    if rows and "values" in rows[0]:
        keys = list(rows[0]["values"])
        lines = [
            "| rank | " + " | ".join(keys) + " | val GAP |",
            "|---|" + "---|" * len(keys) + "---|",
        ]
        for r in rows:
            cells = " | ".join(str(r["values"].get(k)) for k in keys)
            lines.append(f"| {r['rank']} | {cells} | {r['val_gap']:.4f} |")
        return "\n".join(lines)
    lines = [
        "| rank | combination | mask | W | L | learning rate | val GAP |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lr = r["learning_rate"]
        lines.append(
            f"| {r['rank']} | {r['combination']} | {r['mask']} | {r['W']} "
            f"| {r['L'] if r['L'] is not None else '-'} "
            f"| {f'{lr:.2e}' if lr is not None else '-'} "
            f"| {r['val_gap']:.4f} |"
        )
    return "\n".join(lines)


def write_summary(tuner, num_trials=10):
    """Prints the best trials and writes summary.json / summary.md."""
    rows = summary(tuner, num_trials)
    table = summary_table(rows)
    root = os.path.join(tuner.directory, tuner.project_name)
    paths.write_text(
        os.path.join(root, "summary.json"), json.dumps(rows, indent=1)
    )
    paths.write_text(
        os.path.join(root, "summary.md"),
        "# Best trials (objective: validation GAP)\n\n" + table + "\n",
    )
    logger.info(table)
    logger.info(f"\nSaved {root}/summary.md and summary.json")
    return rows


def run_search(
    train,
    validation,
    directory,
    project_name="gmsa",
    tuner="random",
    max_trials=20,
    epochs=3,
    steps_per_epoch=500,
    batch_size=64,
    validation_batch_size=256,
    validation_steps=None,
    patience=None,
    combinations=COMBINATIONS,
    mask_kinds=MASK_KINDS,
    w_values=W_VALUES,
    l_values=L_VALUES,
    learning_rate=(1e-4, 1e-3),
    num_classes=constants.NUM_CLASSES,
    max_frames=constants.MAX_FRAMES,
    features=None,
    model_options=None,
    seed=0,
    overwrite=False,
    num_best=10,
    verbose=1,
):
    """Searches the GMSA masks on native frame-level records.

    Each trial trains ``epochs`` x ``steps_per_epoch`` batches of
    ``train`` (a file pattern; shuffled, repeating) and is scored by the
    exact GAP on ``validation`` after each epoch (the best epoch counts).
    With ``patience``, a trial stops after that many epochs without a
    better GAP. Returns the summary rows (also printed and saved).
    """
    from keras_gmsa import data

    features = dict(features or {"rgb": 1024, "audio": 128})
    common = dict(
        features=features, num_classes=num_classes, max_frames=max_frames
    )
    train_data = data.frame_dataset(
        train,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        repeat=True,
        drop_remainder=True,
        **common,
    )
    validation_data = data.frame_dataset(
        validation, batch_size=validation_batch_size, **common
    )
    hypermodel = GMSAHyperModel(
        combinations=combinations,
        mask_kinds=mask_kinds,
        w_values=w_values,
        l_values=l_values,
        learning_rate=learning_rate,
        validation_steps=validation_steps,
        **common,
        **(model_options or {}),
    )
    tuner_ = make_tuner(
        tuner,
        hypermodel,
        directory,
        project_name=project_name,
        max_trials=max_trials,
        max_epochs=epochs,
        seed=seed,
        overwrite=overwrite,
    )
    callbacks = []
    if patience:
        import keras

        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_gap", mode="max", patience=patience
            )
        )
    fit_kwargs = dict(
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )
    if tuner != "hyperband":  # Hyperband sets the epochs of each trial
        fit_kwargs["epochs"] = epochs
    tuner_.search(train_data, **fit_kwargs)
    return write_summary(tuner_, num_best)
