"""When a run drops its learning rate and when it stops.

A run's schedule is one of `SCHEDULES`. Each comes down to a `Schedule`:
a patience before stopping, a patience before each learning-rate drop,
either of which may be None, which means *never* (the callback is not
there), and the learning rate itself, which the "decay" schedule makes a
`keras.optimizers.schedules.ExponentialDecay` (`decay_schedule`).
"""

import dataclasses

SCHEDULES = ("paper", "constant", "decay")
PLATEAUS = ("keras", "pytorch")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The callbacks' part of a run's schedule.

    Attributes:
        monitor: the log key followed (maximised): ``"val_gap"``, or
            ``"val_segment_map"`` for the 2019 segment task.
        stop_patience: validation intervals without improvement before
            the run stops; None: it never stops early (it runs its
            ``max_validations``).
        drop_patience: intervals without improvement before the learning
            rate is multiplied by `drop_factor`; None: it never drops
            (a constant rate, or one the optimizer's schedule sets).
        drop_factor: the factor of a drop.
        plateau: whose rules time the drops (``"keras"`` or
            ``"pytorch"``, `keras_gmsa.callbacks.plateau_callback`).
    """

    monitor: str = "val_gap"
    stop_patience: int | None = 5
    drop_patience: int | None = 3
    drop_factor: float = 0.1
    plateau: str = "keras"

    def __post_init__(self):
        if self.plateau not in PLATEAUS:
            raise ValueError(
                f"plateau must be one of {PLATEAUS}; got {self.plateau!r}."
            )
        for key in ("stop_patience", "drop_patience"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"{key} must be a non-negative integer or None (never); "
                    f"got {value!r}."
                )

    @classmethod
    def of(cls, config):
        """The schedule a `RunConfig` names.

        - ``"paper"``: stops after ``patience`` intervals without
          improvement, drops after ``lr_patience`` (the GMSA paper's).
        - ``"constant"``: never stops early, never drops.
        - ``"decay"``: stops as "paper" does; never drops on a plateau
          (the optimizer's decay sets the rate).
        """
        if config.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES}; got {config.schedule!r}."
            )
        constant = config.schedule == "constant"
        return cls(
            monitor=config.monitor,
            stop_patience=None if constant else config.patience,
            drop_patience=(
                config.lr_patience if config.schedule == "paper" else None
            ),
            drop_factor=config.lr_factor,
            plateau=config.plateau,
        )

    def callbacks(self, validation_data, run_dir, **kwargs):
        """The run's callbacks (`keras_gmsa.callbacks.paper_schedule`
        with this schedule; `kwargs` are its other arguments)."""
        from keras_gmsa import callbacks

        return callbacks.paper_schedule(
            validation_data,
            run_dir,
            monitor=self.monitor,
            patience=self.stop_patience,
            lr_patience=self.drop_patience,
            lr_factor=self.drop_factor,
            plateau=self.plateau,
            **kwargs,
        )


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
