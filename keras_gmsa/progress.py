"""Progress of long passes over records, as Keras shows a training epoch.

`Progress` wraps `keras.utils.Progbar` (counts, rate, and time left where
the total is known). It draws on standard error and only when that is a
terminal, so output piped to a file or a log (and standard output, where
`keras-gmsa predict` may write its predictions) never gets a progress
bar; ``enabled=False`` (the commands' ``--quiet``) turns it off on a
terminal too.
"""

import contextlib
import sys


def is_terminal(stream):
    """Whether `stream` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """A Keras progress bar over a count of things (videos, segments ...).

    Args:
        target: the total count, or None when it is not known.
        unit_name: what is counted (Keras shows ``s/<unit>``).
        enabled: False: never draw; otherwise draw when `stream` is a
            terminal.
        stream: where to draw (None: standard error).

    Example:
    >>> progress = Progress(target=None, unit_name="video")
    >>> progress.add(64)
    >>> progress.close()
    """

    def __init__(
        self, target=None, unit_name="video", enabled=None, stream=None
    ):
        import keras

        self.stream = sys.stderr if stream is None else stream
        enabled = enabled is not False and is_terminal(self.stream)
        self.count = 0
        self._bar = None
        if enabled:
            with contextlib.redirect_stdout(self.stream):
                self._bar = keras.utils.Progbar(target, unit_name=unit_name)

    @property
    def enabled(self):
        return self._bar is not None

    def add(self, count, values=None):
        """Counts `count` more; `values`: ``[(name, value), ...]`` shown
        as Keras shows metrics."""
        self.count += int(count)
        if self._bar is not None:
            with contextlib.redirect_stdout(self.stream):
                self._bar.update(self.count, values)

    def close(self):
        """Draws the final state and ends the line."""
        if self._bar is not None:
            with contextlib.redirect_stdout(self.stream):
                self._bar.update(self.count, finalize=True)
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
