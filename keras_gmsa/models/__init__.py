"""Model registry (`build_model`, `list_models`), ensembles
(`build_ensemble`, `select_members`) and presets with weights
(`save_to_preset`, `from_preset`).

The model families register their entry points as they are imported,
here (`keras_gmsa.models.registry` imports none of them).
"""

from keras_gmsa.models import attention_clusters  # noqa: F401
from keras_gmsa.models import baselines  # noqa: F401
from keras_gmsa.models import gmsa  # noqa: F401
from keras_gmsa.models import kakao  # noqa: F401
from keras_gmsa.models.embedding import embedding_model
from keras_gmsa.models.ensemble import build_ensemble
from keras_gmsa.models.ensemble import ensemble_weights
from keras_gmsa.models.ensemble import select_members
from keras_gmsa.models.preset_io import from_preset
from keras_gmsa.models.preset_io import load_preset_metadata
from keras_gmsa.models.preset_io import load_preset_vocabulary
from keras_gmsa.models.preset_io import save_to_preset
from keras_gmsa.models.presets import list_presets
from keras_gmsa.models.registry import build_model
from keras_gmsa.models.registry import list_models

__all__ = [
    "build_ensemble",
    "build_model",
    "embedding_model",
    "ensemble_weights",
    "from_preset",
    "list_models",
    "list_presets",
    "load_preset_metadata",
    "load_preset_vocabulary",
    "save_to_preset",
    "select_members",
]
