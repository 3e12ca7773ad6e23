"""Frame sampling: which real frames a model looks at.

`RandomFrameSubset` is the Attention Clusters training augmentation (a mask
over a random part of the real frames); `SampleFrames` is the starter DBoF
model's fixed-size frame sample.
"""

import keras
from keras import ops

from keras_gmsa.layers._checks import positive_int


@keras.saving.register_keras_serializable(package="keras_gmsa")
class RandomFrameSubset(keras.layers.Layer):
    """Training-time augmentation: attend to a random subset of real frames.

    Attention Clusters (sec. 5.3) train on a random part of each video's
    local features and evaluate on all of them. During training this layer
    keeps, per video, ``max(1, ceil(rate * n))`` of its ``n`` real frames
    (or ``min(count, n)`` with an integer `count`), chosen uniformly
    without replacement; outside training it returns the mask unchanged.
    Frames keep their positions: only the mask changes.

    Args:
        rate: fraction of real frames kept, in (0, 1].
        count: keep this many frames instead of a fraction.
        seed: seed of the sampling.

    Call arguments:
        frame_mask: bool ``(B, T)``, True on real frames.
        training: sample only when True.

    Returns:
        bool ``(B, T)``, a subset of `frame_mask`.

    Example:
    >>> import numpy as np
    >>> mask = np.ones((1, 10), bool)
    >>> kept = RandomFrameSubset(0.5)(mask, training=True)
    >>> int(keras.ops.convert_to_numpy(kept).sum())
    5

    Reference:
        Long et al., Attention Clusters, CVPR 2018, sec. 5.3-5.4.
    """

    def __init__(self, rate=0.8, count=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if count is not None:
            positive_int("count", count)
        elif not 0 < rate <= 1:
            raise ValueError(f"`rate` must be in (0, 1]; got {rate!r}.")
        self.rate = rate
        self.count = count
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, frame_mask, training=None):
        frame_mask = ops.cast(frame_mask, "bool")
        if not training:
            return frame_mask
        real = ops.sum(ops.cast(frame_mask, "int32"), axis=1, keepdims=True)
        if self.count is not None:
            keep = ops.minimum(real, self.count)
        else:
            keep = ops.cast(
                ops.ceil(ops.cast(real, "float32") * self.rate), "int32"
            )
            keep = ops.minimum(ops.maximum(keep, 1), real)
        noise = keras.random.uniform(
            ops.shape(frame_mask), seed=self.seed_generator
        )
        # Real frames score in [0, 1), padding -1: the rank of a frame in a
        # descending sort is below `keep` only for sampled real frames.
        noise = ops.where(frame_mask, noise, -1.0)
        order = ops.argsort(ops.negative(noise), axis=1)
        rank = ops.argsort(order, axis=1)
        return ops.logical_and(frame_mask, ops.less(rank, keep))

    def compute_output_spec(self, frame_mask, training=None):
        return keras.KerasTensor(frame_mask.shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, count=self.count, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="keras_gmsa")
class SampleFrames(keras.layers.Layer):
    """Draws a fixed number of frames from each video's real frames.

    The starter code's DBoF model looks at ``num_samples`` (30) frames per
    video, drawn uniformly with replacement from the ``n`` real ones. Here
    training draws them that way; outside training the layer takes
    ``num_samples`` evenly spaced frames (frame ``floor((k + 0.5) n / S)``
    for k = 0 .. S-1), so evaluation and saved models are deterministic
    while the statistics of the sample (S frames spread over the video)
    stay those of training. A video with no real frame gives zeros.

    Args:
        num_samples: S, frames per video.
        seed: seed of the training-time draw.

    Call arguments:
        frames: ``(B, T, D)``.
        num_frames: ``(B,)`` integer counts of real frames.
        training: draw at random only when True.

    Returns:
        ``(B, S, D)``.

    Example:
    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(1, 6, 1)
    >>> y = SampleFrames(3)(x, np.array([6]))
    >>> keras.ops.convert_to_numpy(y)[0, :, 0].tolist()
    [1.0, 3.0, 5.0]

    Reference:
        google/youtube-8m starter code, ``frame_level_models.DbofModel`` and
        ``model_utils.SampleRandomFrames``.
    """

    def __init__(self, num_samples=30, seed=None, **kwargs):
        super().__init__(**kwargs)
        positive_int("num_samples", num_samples)
        self.num_samples = num_samples
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, frames, num_frames, training=None):
        length = frames.shape[1] or ops.shape(frames)[1]
        real = ops.minimum(
            ops.reshape(ops.cast(num_frames, "int32"), (-1, 1)), length
        )
        counts = ops.cast(ops.maximum(real, 1), "float32")
        if training:
            draw = keras.random.uniform(
                (ops.shape(frames)[0], self.num_samples),
                seed=self.seed_generator,
            )
        else:
            steps = ops.arange(self.num_samples, dtype="float32")
            draw = ops.expand_dims((steps + 0.5) / self.num_samples, 0)
        index = ops.cast(ops.floor(draw * counts), "int32")
        index = ops.minimum(index, ops.cast(counts, "int32") - 1)
        sampled = ops.take_along_axis(
            frames, ops.expand_dims(index, -1), axis=1
        )
        present = ops.cast(ops.greater(real, 0), sampled.dtype)
        return ops.multiply(sampled, ops.expand_dims(present, -1))

    def compute_output_shape(self, frames_shape, num_frames_shape=None):
        return (frames_shape[0], self.num_samples, frames_shape[2])

    def compute_output_spec(self, frames, num_frames, training=None):
        return keras.KerasTensor(
            self.compute_output_shape(frames.shape), dtype=frames.dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_samples=self.num_samples, seed=self.seed)
        return config
