"""keras-gmsa: a Keras 3 model zoo for multi-label video classification.

>>> import keras_gmsa
>>> model = keras_gmsa.build_model("gateop", mask="tp", W=30)  # doctest: +SKIP
"""

import sys as _sys

from keras_gmsa import _startup

if _startup.is_command_line(_sys.argv) and "keras" not in _sys.modules:
    _startup.prepare_command_line(_sys.argv)

from keras_gmsa import layers  # noqa: E402
from keras_gmsa import losses  # noqa: E402,F401  (registers its losses)
from keras_gmsa import masks  # noqa: E402
from keras_gmsa.models import build_ensemble  # noqa: E402
from keras_gmsa.models import build_model  # noqa: E402
from keras_gmsa.models import embedding_model  # noqa: E402
from keras_gmsa.models import from_preset  # noqa: E402
from keras_gmsa.models import list_models  # noqa: E402
from keras_gmsa.models import list_presets  # noqa: E402
from keras_gmsa.models import load_preset_metadata  # noqa: E402
from keras_gmsa.models import load_preset_vocabulary  # noqa: E402
from keras_gmsa.models import save_to_preset  # noqa: E402
from keras_gmsa.version import __version__  # noqa: E402

__all__ = [
    "__version__",
    "build_ensemble",
    "build_model",
    "embedding_model",
    "from_preset",
    "layers",
    "list_models",
    "list_presets",
    "load_preset_metadata",
    "load_preset_vocabulary",
    "masks",
    "save_to_preset",
]


def __getattr__(name):
    # Subpackages that import TensorFlow (tf.data readers) load on first use,
    # so `import keras_gmsa` stays light on the JAX and PyTorch backends.
    import importlib

    if name in ("data", "metrics", "cli", "callbacks"):
        return importlib.import_module(f"keras_gmsa.{name}")
    raise AttributeError(f"module 'keras_gmsa' has no attribute {name!r}")
