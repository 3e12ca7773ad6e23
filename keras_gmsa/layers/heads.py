"""Classification heads of the YouTube-8M literature.

`MixtureOfExperts` is the starter code's MoeModel as a layer; `ContextGating`
is the learnable non-linear unit of Miech et al. (2017) that Kakao Brain's
heads also use.
"""

import keras
from keras import ops

from keras_gmsa.layers._checks import positive_int
from keras_gmsa.layers._trainable import propagate_frozen


@keras.saving.register_keras_serializable(package="keras_gmsa")
class MixtureOfExperts(keras.layers.Layer):
    """Per-class mixture of logistic experts (the starter's MoeModel).

    For every class c, a softmax gate over ``num_mixtures + 1`` options
    weighs ``num_mixtures`` sigmoid experts and one dummy expert that
    always says 0:

        g = softmax_m(x W^g_{c,m})            (m = 0 .. num_mixtures; no bias)
        e = sigmoid(x W^e_{c,m} + b^e_{c,m})   (m = 0 .. num_mixtures - 1)
        p_c = sum_{m < num_mixtures} g_m e_m

    The dummy expert lets the gate lower a class's probability without
    bending an expert. Both kernels carry an L2 penalty (1e-8 in the
    starter code).

    Args:
        num_classes: C.
        num_mixtures: experts per class (2 in the starter code).
        l2: L2 regularisation of the gate and expert kernels.

    Call arguments:
        inputs: ``(B, D)`` video features.

    Returns:
        ``(B, C)`` probabilities in [0, 1], float32.

    Example:
    >>> import numpy as np
    >>> tuple(MixtureOfExperts(5)(np.ones((2, 8), "float32")).shape)
    (2, 5)

    Reference:
        Abu-El-Haija et al., YouTube-8M (2016), sec. 4.3; the starter
        code's ``video_level_models.MoeModel``.
    """

    def __init__(self, num_classes, num_mixtures=2, l2=1e-8, **kwargs):
        super().__init__(**kwargs)
        positive_int("num_classes", num_classes)
        positive_int("num_mixtures", num_mixtures)
        if l2 < 0:
            raise ValueError(f"`l2` must be >= 0; got {l2!r}.")
        self.num_classes = num_classes
        self.num_mixtures = num_mixtures
        self.l2 = l2
        regularizer = keras.regularizers.L2(l2) if l2 else None
        self.gate = keras.layers.Dense(
            num_classes * (num_mixtures + 1),
            use_bias=False,
            kernel_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="gate",
        )
        self.experts = keras.layers.Dense(
            num_classes * num_mixtures,
            kernel_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="experts",
        )

    def build(self, input_shape):
        self.gate.build(input_shape)
        self.experts.build(input_shape)
        propagate_frozen(self)

    def call(self, inputs):
        gates = ops.reshape(
            self.gate(inputs), (-1, self.num_classes, self.num_mixtures + 1)
        )
        gates = ops.softmax(ops.cast(gates, "float32"), axis=-1)
        experts = ops.reshape(
            self.experts(inputs), (-1, self.num_classes, self.num_mixtures)
        )
        experts = ops.sigmoid(ops.cast(experts, "float32"))
        # The dummy expert's term is 0: drop its gate weight. The sum is
        # at most 1 in exact arithmetic; float32 rounding can pass it.
        probs = ops.sum(gates[:, :, : self.num_mixtures] * experts, axis=-1)
        return ops.clip(probs, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            num_mixtures=self.num_mixtures,
            l2=self.l2,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_gmsa")
class ContextGating(keras.layers.Layer):
    """Context gating: ``y = x * sigmoid(x W + b)``.

    A learnable non-linear unit that re-weights each feature by a gate
    computed from all of them (Miech et al., 2017). With
    ``batch_normalization=True`` the gate's pre-activation is batch
    normalised instead of biased, as in their YouTube-8M model.

    Args:
        batch_normalization: normalise the gate pre-activation.
        l2: L2 regularisation of the gate kernel.

    Call arguments:
        inputs: ``(..., D)``.
        training: for batch normalisation.

    Returns:
        the same shape as `inputs`.

    Example:
    >>> import numpy as np
    >>> tuple(ContextGating()(np.ones((2, 4), "float32")).shape)
    (2, 4)

    Reference:
        Miech, Laptev and Sivic, Learnable pooling with Context Gating for
        video classification (2017), eq. 2.
    """

    def __init__(self, batch_normalization=False, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        if l2 < 0:
            raise ValueError(f"`l2` must be >= 0; got {l2!r}.")
        self.batch_normalization = bool(batch_normalization)
        self.l2 = l2
        self.supports_masking = True
        self._regularizer = keras.regularizers.L2(l2) if l2 else None

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("ContextGating needs a known last dimension.")
        self.dense = keras.layers.Dense(
            dim,
            use_bias=not self.batch_normalization,
            kernel_regularizer=self._regularizer,
            dtype=self.dtype_policy,
            name="gate",
        )
        self.dense.build(input_shape)
        if self.batch_normalization:
            self.norm = keras.layers.BatchNormalization(
                dtype=self.dtype_policy, name="gate_norm"
            )
            self.norm.build(tuple(input_shape[:-1]) + (dim,))
        propagate_frozen(self)

    def call(self, inputs, training=None):
        gate = self.dense(inputs)
        if self.batch_normalization:
            gate = self.norm(gate, training=training)
        return ops.multiply(inputs, ops.sigmoid(gate))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(batch_normalization=self.batch_normalization, l2=self.l2)
        return config
