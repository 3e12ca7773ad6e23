import keras
from keras import ops

from keras_gmsa import masks as masks_lib


@keras.saving.register_keras_serializable(package="keras_gmsa")
class FrameMask(keras.layers.Layer):
    """Boolean padding mask of a batch of videos from their frame counts.

    ``mask[b, t] = t < num_frames[b]``; the length T is that of `frames`.
    Counts above T are clipped by construction; a count of 0 gives an
    all-False row (downstream layers then output zeros, never NaN).

    Call arguments:
        frames: ``(B, T, ...)`` frames, only their length T is used.
        num_frames: ``(B,)`` or ``(B, 1)`` integer frame counts.

    Returns:
        bool ``(B, T)``.

    Example:
    >>> import numpy as np
    >>> mask = FrameMask()(np.zeros((2, 4, 3)), np.array([1, 3]))
    >>> keras.ops.convert_to_numpy(mask).tolist()
    [[True, False, False, False], [True, True, True, False]]
    """

    def call(self, frames, num_frames):
        length = frames.shape[1]
        if length is None:
            length = ops.shape(frames)[1]
        return masks_lib.frame_mask_from_lengths(num_frames, length)

    def compute_output_spec(self, frames, num_frames):
        return keras.KerasTensor(frames.shape[:2], dtype="bool")

    def get_config(self):
        # Written out: Keras' automatic config refuses a layer made with a
        # `keras.DTypePolicy` object, as build_model(dtype_policy=...) does.
        return super().get_config()
