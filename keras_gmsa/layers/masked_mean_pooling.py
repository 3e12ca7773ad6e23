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
    >>> y = MaskedMeanPooling()(x, np.array([[True, True, False]]))
    >>> keras.ops.convert_to_numpy(y)
    array([[2.]], dtype=float32)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, frame_mask=None):
        if frame_mask is None:
            frame_mask = getattr(inputs, "_keras_mask", None)
        # Sums and counts in float32 under every dtype policy: bfloat16 has
        # 8 significant bits, so a count of 257 frames would round to 256.
        values = ops.cast(inputs, "float32")
        if frame_mask is None:
            mean = ops.mean(values, axis=1)
        else:
            weights = ops.cast(frame_mask, "float32")
            # One contraction over the frames (no (B, T, D) product).
            total = ops.einsum("btd,bt->bd", values, weights)
            count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
            mean = ops.divide(total, count)
        return ops.cast(mean, self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        # Written out: Keras' automatic config refuses a layer made with a
        # `keras.DTypePolicy` object, as build_model(dtype_policy=...) does.
        return super().get_config()
