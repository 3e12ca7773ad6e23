"""The video embedding of a zoo model: what its classification head reads.

Every builder ends in a head (`keras_gmsa.models.common.apply_head`):
optional context gating (``"context_gating"``), then the layer named
``"predictions"`` (a sigmoid ``Dense``, a mixture of experts or a
conditional-inference chain). The embedding is the ``(B, D)`` tensor the
head receives: the pooled, fused representation of the video.
"""

import keras

from keras_gmsa.names import CONTEXT_GATING
from keras_gmsa.names import PREDICTIONS


def embedding_model(model, name=None):
    """A model of the same inputs that outputs the video embedding.

    The embedding is the input of the model's head: the input of its
    ``context_gating`` layer when the head has one (``cg_*`` heads), else
    the first input of its ``predictions`` layer. The returned model
    shares `model`'s layers and weights (nothing is copied or retrained).

    Args:
        model: a model of `keras_gmsa.build_model` (any registered name or
            preset), or one loaded from a ``.keras`` file.
        name: the new model's name (default ``"<model name>_embedding"``).

    Returns:
        A Functional `keras.Model` from `model`'s inputs to a ``(B, D)``
        embedding.

    Example:
    >>> import keras_gmsa
    >>> model = keras_gmsa.build_model(
    ...     "gateop", mask="tp", W=2, features={"rgb": 16, "audio": 8},
    ...     num_heads=2, hidden_dim=12, max_frames=10, num_classes=6)
    >>> keras_gmsa.embedding_model(model).output_shape
    (None, 12)
    """
    names = {layer.name for layer in model.layers}
    if PREDICTIONS not in names:
        raise ValueError(
            f"Model {model.name!r} has no {PREDICTIONS!r} layer: "
            "embedding_model takes the models of keras_gmsa.build_model."
        )
    head = model.get_layer(
        CONTEXT_GATING if CONTEXT_GATING in names else PREDICTIONS
    )
    if type(head).__name__ == "LogitEnsemble":
        raise ValueError(
            f"Model {model.name!r} is an ensemble: its members have an "
            "embedding each; call embedding_model on a member."
        )
    features = head.input
    if isinstance(features, (list, tuple)):
        # A conditional head reads (features, given labels).
        features = features[0]
    return keras.Model(
        model.inputs, features, name=name or f"{model.name}_embedding"
    )
