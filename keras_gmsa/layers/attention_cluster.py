"""Attention Clusters (Long et al., CVPR 2018)."""

import math

import keras
from keras import ops

from keras_gmsa.layers import _initializers
from keras_gmsa.layers._checks import positive_int
from keras_gmsa.layers._softmax import masked_softmax

SCORINGS = ("fc1", "fc2", "average")


@keras.saving.register_keras_serializable(package="keras_gmsa")
class AttentionCluster(keras.layers.Layer):
    """N independent attention units over a set of frames, with shifting.

    Unit n weighs the real frames of ``X`` (T x D) and pools them:

        fc1:      a_n = softmax_t(X w_n + b_n)
        fc2:      a_n = softmax_t(tanh(X W1_n + b1_n) w2_n + b2_n)
        average:  a_n = 1 / T_real        (the paper's control)
        v_n = sum_t a_n[t] x_t

    By default the scores have no bias (``b_n = b2_n = 0``): the weights
    depend on each frame's features only, and the layer is order-free
    (permuting the frames permutes the weights and leaves the output
    unchanged), as the paper's sets of local features are. Eq. 4-5 write
    ``b`` and ``b_2`` as L-dimensional, one bias per frame position;
    ``position_bias=True`` learns them, which makes the weights depend on
    where a frame sits. The authors' Flash-MNIST code has one bias per
    unit, the same for every frame, which the softmax cancels: the
    default. Padded frames (``frame_mask`` False) get no weight. With
    ``shifting=True`` each unit is then shifted and normalised (eq. 7):

        v_n <- (alpha_n v_n + beta_n) / (sqrt(N) ||alpha_n v_n + beta_n||)

    with learnable scalars alpha_n and beta_n (init 1 and 0: each unit starts
    as its plain normalised pooling; the authors' Flash-MNIST code draws
    them at random, pass initializers for that); the norm is
    ``sqrt(||.||^2 + epsilon)``, so every unit's output has norm
    1/sqrt(N) and the concatenation norm 1. The N outputs are concatenated.

    Args:
        num_units: N, the cluster size.
        scoring: ``"fc1"`` (eq. 4, the paper's default), ``"fc2"`` (eq. 5)
            or ``"average"`` (eq. 3; repeated N times, the paper's control).
        hidden_units: H of the fc2 scorer (10 in the paper).
        shifting: apply the shifting operation (eq. 7).
        position_bias: learn a bias per frame position in the scorer
            (eq. 4-5's L-dimensional ``b``); needs a known number of
            frames. False (the default) keeps the layer order-free.
        epsilon: added to the squared norm in the shifting operation.
        alpha_initializer, beta_initializer: of the shifting scalars.

    Call arguments:
        inputs: ``(B, T, D)`` frame features.
        frame_mask: optional bool ``(B, T)``, True on the frames to attend.
        return_attention: also return the weights ``(B, N, T)``.

    Returns:
        ``(B, N * D)``; with `return_attention`, ``(pooled, weights)``.

    Example:
    >>> import numpy as np
    >>> layer = AttentionCluster(4)
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 12)

    Reference:
        Long, Gan, de Melo, Wu, Liu and Wen, Attention Clusters: Purely
        Attention Based Local Feature Integration for Video Classification,
        CVPR 2018, eq. 2-7.
    """

    def __init__(
        self,
        num_units,
        scoring="fc1",
        hidden_units=10,
        shifting=True,
        position_bias=False,
        epsilon=1e-12,
        alpha_initializer="ones",
        beta_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        positive_int("num_units", num_units)
        positive_int("hidden_units", hidden_units)
        if scoring not in SCORINGS:
            raise ValueError(
                f"`scoring` must be one of {SCORINGS}; got {scoring!r}."
            )
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0; got {epsilon!r}.")
        self.num_units = num_units
        self.scoring = scoring
        self.hidden_units = hidden_units
        self.shifting = bool(shifting)
        self.position_bias = bool(position_bias) and scoring != "average"
        self.epsilon = epsilon
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)

    def build(self, inputs_shape, frame_mask_shape=None):
        input_shape = inputs_shape
        length, dim = input_shape[1], input_shape[2]
        if dim is None:
            raise ValueError("AttentionCluster needs a known feature size.")
        if self.position_bias and length is None:
            raise ValueError(
                "`position_bias=True` needs a known number of frames; pass "
                "`position_bias=False` for variable-length inputs."
            )
        n = self.num_units
        if self.scoring == "fc1":
            self.score_kernel = self.add_weight(
                shape=(dim, n), initializer="glorot_uniform", name="w"
            )
        elif self.scoring == "fc2":
            self.hidden_kernel = self.add_weight(
                shape=(dim, n * self.hidden_units),
                initializer="glorot_uniform",
                name="w1",
            )
            self.hidden_bias = self.add_weight(
                shape=(n * self.hidden_units,), initializer="zeros", name="b1"
            )
            self.score_kernel = self.add_weight(
                shape=(n, self.hidden_units),
                initializer="glorot_uniform",
                name="w2",
            )
        if self.position_bias:
            self.score_bias = self.add_weight(
                shape=(length, n), initializer="zeros", name="b"
            )
        if self.shifting:
            self.alpha = self.add_weight(
                shape=(n,),
                initializer=_initializers.clone(self.alpha_initializer),
                name="alpha",
            )
            self.beta = self.add_weight(
                shape=(n,),
                initializer=_initializers.clone(self.beta_initializer),
                name="beta",
            )

    def _scores(self, inputs):
        if self.scoring == "fc1":
            scores = ops.matmul(inputs, self.score_kernel)
        elif self.scoring == "fc2":
            hidden = ops.tanh(
                ops.add(
                    ops.matmul(inputs, self.hidden_kernel), self.hidden_bias
                )
            )
            shape = ops.shape(hidden)
            hidden = ops.reshape(
                hidden,
                (shape[0], shape[1], self.num_units, self.hidden_units),
            )
            scores = ops.sum(ops.multiply(hidden, self.score_kernel), axis=-1)
        else:
            shape = ops.shape(inputs)
            scores = ops.zeros((shape[0], shape[1], self.num_units))
        if self.position_bias:
            scores = ops.add(scores, self.score_bias)
        return ops.cast(scores, "float32")

    def call(self, inputs, frame_mask=None, return_attention=False):
        scores = ops.transpose(self._scores(inputs), (0, 2, 1))  # (B, N, T)
        valid = None
        if frame_mask is not None:
            valid = ops.expand_dims(ops.cast(frame_mask, "bool"), 1)
        # Padded frames get exactly 0; a video without real frames pools 0.
        weights = masked_softmax(scores, valid)  # (B, N, T), float32
        pooled = ops.matmul(ops.cast(weights, inputs.dtype), inputs)
        if self.shifting:
            # beta first: Keras on TensorFlow turns ``x + b`` with b over
            # axis 1 of a rank-3 x into an NCHW BiasAdd, which the LiteRT
            # converter cannot lower (a rank-4 transpose); same sum.
            shifted = ops.add(
                self.beta[:, None], ops.multiply(pooled, self.alpha[:, None])
            )
            shifted = ops.cast(shifted, "float32")
            norm = ops.sqrt(
                ops.sum(ops.square(shifted), axis=-1, keepdims=True)
                + self.epsilon
            )
            pooled = ops.cast(
                ops.divide(shifted, norm * math.sqrt(self.num_units)),
                inputs.dtype,
            )
        shape = ops.shape(pooled)
        outputs = ops.reshape(pooled, (shape[0], shape[1] * shape[2]))
        if return_attention:
            return outputs, weights
        return outputs

    def compute_output_shape(self, inputs_shape, frame_mask_shape=None):
        input_shape = inputs_shape
        dim = input_shape[2]
        return (input_shape[0], None if dim is None else dim * self.num_units)

    def compute_output_spec(
        self, inputs, frame_mask=None, return_attention=False
    ):
        out = keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=self.compute_dtype
        )
        if return_attention:
            weights = keras.KerasTensor(
                (inputs.shape[0], self.num_units, inputs.shape[1]),
                dtype="float32",
            )
            return out, weights
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            num_units=self.num_units,
            scoring=self.scoring,
            hidden_units=self.hidden_units,
            shifting=self.shifting,
            position_bias=self.position_bias,
            epsilon=self.epsilon,
            alpha_initializer=keras.initializers.serialize(
                self.alpha_initializer
            ),
            beta_initializer=keras.initializers.serialize(
                self.beta_initializer
            ),
        )
        return config

    @classmethod
    def from_config(cls, config):
        """The layer of a saved config. Every config the layer writes has
        ``position_bias``, so a saved layer loads with its own setting; a
        config without it gets True, the default before the order-free
        one."""
        config = dict(config)
        config.setdefault("position_bias", True)
        return super().from_config(config)
