import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_gmsa")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over real frames: ``sum_t m_t x_t / max(sum_t m_t, 1)``.

    Padded frames never enter the mean. A video with no real frame pools to
    a zero vector instead of 0/0 = NaN.

    Call arguments:
        inputs: ``(B, T, D)`` frame features.
        frame_mask: optional bool ``(B, T)``; without it (and without a Keras
            mask on `inputs`) every frame counts.

    Returns:
        ``(B, D)``.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [100.0]]])
    >>> MaskedMeanPooling()(x, np.array([[True, True, False]])).numpy()
    array([[2.]], dtype=float32)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, frame_mask=None):
        if frame_mask is None:
            frame_mask = getattr(inputs, "_keras_mask", None)
        if frame_mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.cast(frame_mask, inputs.dtype)[:, :, None]
        total = ops.sum(ops.multiply(inputs, weights), axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.divide(total, count)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
