"""A trained model used inside another one, always in inference mode."""

import keras

from keras_gmsa.layers._trainable import propagate_frozen


@keras.saving.register_keras_serializable(package="keras_gmsa")
class FrozenMember(keras.layers.Layer):
    """Calls a trained model with ``training=False``, whatever the caller.

    ``trainable=False`` alone stops a model's weights from moving, but a
    frozen model called while its parent trains still runs its training
    path: dropout, random frame subsets, DBoF's frame sampling and the
    conditional head's teacher forcing. A Functional parent passes its own
    training flag to every layer that takes one, so this layer's ``call``
    takes none: the member always predicts as it would at inference, and
    its weights are never trainable.

    Args:
        model: the trained `keras.Model` (or layer) to wrap. It is used as
            given; copy it first if it must stay independent.

    Call arguments:
        inputs: whatever `model` takes.

    Returns:
        `model`'s inference-mode outputs.

    Example:
    >>> member = keras.Sequential([keras.layers.Dropout(0.5)])
    >>> frozen = FrozenMember(member)
    >>> import numpy as np
    >>> x = np.ones((1, 4), "float32")
    >>> bool((keras.ops.convert_to_numpy(frozen(x)) == x).all())
    True

    Reference:
        Kim et al., ECCV Workshops 2018, sec. 5 (ensembles of trained
        members with learned weights).
    """

    def __init__(self, model, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if not isinstance(model, keras.layers.Layer):
            raise ValueError(
                "`model` must be a keras.Model or layer; got "
                f"{type(model).__name__}."
            )
        self.model = model
        self.model.trainable = False
        propagate_frozen(self.model)

    def build(self, input_shape):
        # The member is built already (it was trained).
        self.built = True

    def call(self, inputs):
        return self.model(inputs, training=False)

    def compute_output_spec(self, inputs):
        return self.model.compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        config.update(model=keras.saving.serialize_keras_object(self.model))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)
