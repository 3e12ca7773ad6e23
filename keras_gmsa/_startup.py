"""Start-up of the `keras-gmsa` command, before Keras is imported (private).

`keras_gmsa/__init__.py` imports Keras (its layers register themselves for
`.keras` files), and Keras imports TensorFlow on its default backend. So
what must happen before that import happens here, called from the
package's `__init__` when the process is the `keras-gmsa` command:

- TensorFlow's C++ logging prints start-up lines while the library loads
  and on its first op, whatever ``TF_CPP_MIN_LOG_LEVEL`` says; file
  descriptor 2 points at /dev/null while TensorFlow loads (Python errors
  are raised after it is restored).
- `keras-gmsa models` needs no backend: it runs on Keras' NumPy backend and
  imports no TensorFlow.
"""

import importlib.util
import os
import sys


def quiet_start():
    """Imports TensorFlow (when installed) with its start-up log silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.constant(0) + 0  # the first op logs too
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def prepare_command_line(argv):
    """What `keras-gmsa ARGV...` needs before Keras is imported."""
    command = next((a for a in argv[1:] if not a.startswith("-")), None)
    if command == "models":
        os.environ["KERAS_BACKEND"] = "numpy"
        return
    quiet_start()


def is_command_line(argv):
    return bool(argv) and os.path.basename(argv[0]) == "keras-gmsa"
