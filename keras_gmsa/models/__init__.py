"""Model registry (`build_model`, `list_models`) and ensembles
(`build_ensemble`, `select_members`)."""

from keras_gmsa.models.embedding import embedding_model
from keras_gmsa.models.ensemble import build_ensemble
from keras_gmsa.models.ensemble import ensemble_weights
from keras_gmsa.models.ensemble import select_members
from keras_gmsa.models.presets import list_presets
from keras_gmsa.models.registry import build_model
from keras_gmsa.models.registry import list_models

__all__ = [
    "build_ensemble",
    "build_model",
    "embedding_model",
    "ensemble_weights",
    "list_models",
    "list_presets",
    "select_members",
]
