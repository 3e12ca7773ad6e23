import keras
from keras import ops

from keras_gmsa import constants
from keras_gmsa.layers._checks import positive_int


@keras.saving.register_keras_serializable(package="keras_gmsa")
class SegmentMeanPooling(keras.layers.Layer):
    """Masked mean of frame features per segment of ``segment_size`` frames.

    Segment s of a video is frames ``[s * size, (s + 1) * size)``; its
    output is ``sum_t m_t x_t / sum_t m_t`` over those frames, padded
    frames (``m_t`` False) left out, and 0 for a segment without a real
    frame. The last segment is shorter when ``T`` is not a multiple of
    ``size``. The pooled scorer of the 2019 segment task
    (`keras_gmsa.segments.pooled_segment_model`) runs a model's head on
    these means of its encoder's frame outputs.

    Args:
        segment_size: frames per segment (5: the 2019 task's 5 seconds).

    Call arguments:
        frames: ``(B, T, D)`` frame features (``T`` static).
        frame_mask: bool ``(B, T)``, True for real frames.

    Returns:
        ``(B, ceil(T / segment_size), D)``.

    Example:
    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(1, 6, 1)
    >>> mask = np.array([[True, True, True, True, False, False]])
    >>> y = SegmentMeanPooling(segment_size=3)(x, mask)
    >>> np.asarray(keras.ops.convert_to_numpy(y)).ravel().tolist()
    [1.0, 3.0]
    """

    def __init__(self, segment_size=constants.SEGMENT_SIZE, **kwargs):
        super().__init__(**kwargs)
        positive_int("segment_size", segment_size)
        self.segment_size = segment_size
        # The frame mask is an argument; a Keras mask on `frames` (after
        # an LSTM) says the same and ends here.
        self.supports_masking = True

    def call(self, frames, frame_mask):
        t = ops.shape(frames)[1]
        size = self.segment_size
        segments = -(-frames.shape[1] // size)
        pad = segments * size - t
        frames = ops.pad(frames, [[0, 0], [0, pad], [0, 0]])
        mask = ops.pad(ops.cast(frame_mask, frames.dtype), [[0, 0], [0, pad]])
        frames = ops.reshape(frames, (-1, segments, size, frames.shape[-1]))
        mask = ops.reshape(mask, (-1, segments, size, 1))
        total = ops.sum(frames * mask, axis=2)
        count = ops.sum(mask, axis=2)
        return ops.divide_no_nan(total, count)

    def compute_mask(self, frames, mask=None):
        return None

    def compute_output_shape(self, frames_shape, frame_mask_shape=None):
        segments = -(-frames_shape[1] // self.segment_size)
        return (frames_shape[0], segments, frames_shape[-1])

    def get_config(self):
        return {**super().get_config(), "segment_size": self.segment_size}
