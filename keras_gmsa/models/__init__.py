"""Model registry: `build_model(name, ...)` and `list_models()`."""

from keras_gmsa.models.registry import build_model
from keras_gmsa.models.registry import list_models

__all__ = ["build_model", "list_models"]
