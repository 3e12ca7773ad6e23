"""The ``keras_gmsa`` logger: the library's messages about a run.

Messages such as "Resuming RUN after 3 validation intervals" or "Saved
summary.md" go to the standard `logging` logger named ``"keras_gmsa"``
(`logger`), not to ``print``, so a user can silence them
(``logging.getLogger("keras_gmsa").setLevel(logging.WARNING)``), route
them (replace its handlers, or ``logger.propagate = True`` to hand them to
the root logger's), or format them.

By default the logger has one handler that writes the bare message to
standard output (as the command line always has) and a filter that lets
only process 0 of a multi-host run speak (``KERAS_DISTRIBUTION_PROCESS_ID``
unset or 0); a record logged with ``extra={"all_processes": True}``
passes everywhere. `set_verbosity` maps Keras' ``verbose`` to a level.
"""

import logging
import os
import sys

logger = logging.getLogger("keras_gmsa")


def process_index():
    """This process's index in a multi-host run (0 alone)."""
    try:
        return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID") or 0)
    except ValueError:
        return 0


class ChiefOnly(logging.Filter):
    """Lets through the records of process 0, and those logged with
    ``extra={"all_processes": True}``."""

    def filter(self, record):
        return process_index() == 0 or getattr(record, "all_processes", False)


class _Stdout(logging.StreamHandler):
    """A handler on whatever ``sys.stdout`` is when a record comes."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def _default_handler():
    handler = _Stdout()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(ChiefOnly())
    handler.set_name("keras_gmsa.default")
    return handler


if not logger.handlers:
    logger.addHandler(_default_handler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def parse_verbose(text):
    """Keras' ``verbose`` from command-line text: "auto", 0, 1 or 2."""
    import argparse

    if text == "auto":
        return text
    if text not in ("0", "1", "2"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of auto, 0, 1, 2"
        )
    return int(text)


def set_verbosity(verbose):
    """Keras' ``verbose`` as the logger's level: 0 shows warnings only;
    1, 2 and ``"auto"`` show the run's messages (INFO)."""
    logger.setLevel(logging.WARNING if verbose == 0 else logging.INFO)
