"""NetVLAD pooling and Kakao Brain's differential frame features."""

import keras
from keras import ops

from keras_gmsa.layers._checks import positive_int
from keras_gmsa.layers._trainable import propagate_frozen


@keras.saving.register_keras_serializable(package="keras_gmsa")
class NetVLAD(keras.layers.Layer):
    """Learnable VLAD pooling of frame features into K cluster residuals.

    For every real frame x_t, a soft assignment to K clusters
    ``a_t = softmax(x_t W + b)`` weighs its residuals to learned centres c_k:

        V[k] = sum_t a_t[k] (x_t - c_k)

    Each V[k] is L2-normalised (intra-normalisation), then the flattened
    K x D vector is L2-normalised. Padded frames get no assignment, so they
    add nothing; norms use ``sqrt(||.||^2 + epsilon)``.

    Args:
        num_clusters: K.
        epsilon: added to squared norms.

    Call arguments:
        inputs: ``(B, T, D)``.
        frame_mask: optional bool ``(B, T)``.

    Returns:
        ``(B, K * D)``.

    Example:
    >>> import numpy as np
    >>> tuple(NetVLAD(4)(np.ones((2, 5, 3), "float32")).shape)
    (2, 12)

    Reference:
        Arandjelovic et al., NetVLAD: CNN architecture for weakly supervised
        place recognition, CVPR 2016; used on YouTube-8M by Miech et al.
        (2017) and Kim et al. (2018, sec. 5).
    """

    def __init__(self, num_clusters, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        positive_int("num_clusters", num_clusters)
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0; got {epsilon!r}.")
        self.num_clusters = num_clusters
        self.epsilon = epsilon

    def build(self, inputs_shape, frame_mask_shape=None):
        input_shape = inputs_shape
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("NetVLAD needs a known feature size.")
        self.assignment = keras.layers.Dense(
            self.num_clusters, dtype=self.dtype_policy, name="assignment"
        )
        self.assignment.build(input_shape)
        self.centers = self.add_weight(
            shape=(self.num_clusters, dim),
            initializer=keras.initializers.RandomNormal(stddev=dim**-0.5),
            name="centers",
        )
        propagate_frozen(self)

    def _normalize(self, x):
        norm = ops.sqrt(
            ops.sum(ops.square(x), axis=-1, keepdims=True) + self.epsilon
        )
        return ops.divide(x, norm)

    def call(self, inputs, frame_mask=None):
        assign = ops.softmax(self.assignment(inputs), axis=-1)  # (B, T, K)
        if frame_mask is not None:
            assign = ops.multiply(
                assign, ops.cast(frame_mask, assign.dtype)[:, :, None]
            )
        weighted = ops.matmul(ops.transpose(assign, (0, 2, 1)), inputs)
        mass = ops.expand_dims(ops.sum(assign, axis=1), -1)  # (B, K, 1)
        vlad = ops.subtract(weighted, ops.multiply(mass, self.centers))
        vlad = self._normalize(ops.cast(vlad, "float32"))
        shape = ops.shape(vlad)
        vlad = self._normalize(ops.reshape(vlad, (shape[0], -1)))
        return ops.cast(vlad, self.compute_dtype)

    def compute_output_shape(self, inputs_shape, frame_mask_shape=None):
        input_shape = inputs_shape
        return (input_shape[0], self.num_clusters * input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(num_clusters=self.num_clusters, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="keras_gmsa")
class DifferentialFeatures(keras.layers.Layer):
    """Appends a second difference to each frame: ``[x_t : d_t]``.

    ``d_t = (2 x_t - x_{t-1} - x_{t+1}) / 2`` (Kim et al. 2018, eq. 9), so
    an order-free pooling such as NetVLAD still sees local motion. At the
    ends of the real frames the missing neighbour is replaced by the frame
    itself (x_{-1} = x_0, x_n = x_{n-1}), a choice the paper leaves open;
    padding never enters a difference and comes out as zeros.

    Call arguments:
        inputs: ``(B, T, D)``.
        frame_mask: optional bool ``(B, T)``; real frames must come first.

    Returns:
        ``(B, T, 2 D)``.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[0.0], [2.0], [0.0]]], "float32")
    >>> keras.ops.convert_to_numpy(DifferentialFeatures()(x))[0].tolist()
    [[0.0, -1.0], [2.0, 2.0], [0.0, -1.0]]

    Reference:
        Kim et al., ECCV Workshops 2018, sec. 5, eq. 9.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, frame_mask=None):
        previous = ops.concatenate([inputs[:, :1], inputs[:, :-1]], axis=1)
        following = ops.concatenate([inputs[:, 1:], inputs[:, -1:]], axis=1)
        if frame_mask is not None:
            mask = ops.cast(frame_mask, "bool")
            has_next = ops.concatenate(
                [mask[:, 1:], ops.zeros_like(mask[:, :1])], axis=1
            )
            following = ops.where(has_next[:, :, None], following, inputs)
        diff = ops.divide(
            ops.subtract(ops.multiply(inputs, 2.0), previous + following), 2.0
        )
        outputs = ops.concatenate([inputs, diff], axis=-1)
        if frame_mask is not None:
            outputs = ops.multiply(
                outputs, ops.cast(frame_mask, outputs.dtype)[:, :, None]
            )
        return outputs

    def compute_mask(self, inputs, frame_mask=None, mask=None):
        return frame_mask if frame_mask is not None else mask

    def compute_output_shape(self, inputs_shape, frame_mask_shape=None):
        input_shape = inputs_shape
        dim = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if dim is None else 2 * dim,)

    def get_config(self):
        # Written out: Keras' automatic config refuses a layer made with a
        # `keras.DTypePolicy` object, as build_model(dtype_policy=...) does.
        return super().get_config()
