import keras
from keras import ops

from keras_gmsa import constants


@keras.saving.register_keras_serializable(package="keras_gmsa")
class Dequantize(keras.layers.Layer):
    """Turns YouTube-8M's 8-bit frame features back into floats.

    ``x = q * (max - min) / 255 + (max - min) / 512 + min``, computed in
    float32 like the official reader (``utils.Dequantize``); with the
    defaults ``x = q * 4/255 - 1.9921875``, so byte 0 gives -1.9921875 and
    byte 255 gives 2.0078125 (yt8m-format.md 4.1: the reader adds half a
    bin, it is not the exact inverse of the quantizer). Float inputs are
    taken as already dequantized and pass through unchanged (cast to the
    compute dtype), so one model serves both kinds of reader output.

    Doing this inside the model keeps the host-to-device path at one byte
    per value.

    Args:
        max_quantized_value: upper end of the quantization range (2.0).
        min_quantized_value: lower end of the quantization range (-2.0).

    Call arguments:
        inputs: ``uint8`` (or other integer) frames of any shape, or floats.

    Returns:
        Floats of the same shape, in the layer's compute dtype.

    Example:
    >>> import numpy as np
    >>> x = Dequantize()(np.array([0, 255], "uint8"))
    >>> keras.ops.convert_to_numpy(x).tolist()
    [-1.9921875, 2.0078125]

    Reference:
        google/youtube-8m starter code, ``utils.Dequantize``.
    """

    def __init__(
        self,
        max_quantized_value=constants.QUANTIZE_MAX,
        min_quantized_value=constants.QUANTIZE_MIN,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not max_quantized_value > min_quantized_value:
            raise ValueError(
                "max_quantized_value must be greater than "
                f"min_quantized_value. Received max={max_quantized_value}, "
                f"min={min_quantized_value}."
            )
        self.max_quantized_value = float(max_quantized_value)
        self.min_quantized_value = float(min_quantized_value)
        value_range = self.max_quantized_value - self.min_quantized_value
        self._scale = value_range / 255.0
        self._bias = value_range / 512.0 + self.min_quantized_value
        self.supports_masking = True

    def call(self, inputs):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "float" in dtype:
            return ops.cast(inputs, self.compute_dtype)
        x = ops.cast(inputs, "float32")
        x = ops.add(
            ops.multiply(x, ops.cast(self._scale, "float32")),
            ops.cast(self._bias, "float32"),
        )
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            max_quantized_value=self.max_quantized_value,
            min_quantized_value=self.min_quantized_value,
        )
        return config
