"""Kakao Brain's ensemble: learned weights over the members' logits."""

import keras
from keras import ops

from keras_gmsa.layers._checks import positive_int


@keras.saving.register_keras_serializable(package="keras_gmsa")
class LogitEnsemble(keras.layers.Layer):
    """Mixes M models' predictions in logit space with learned weights.

    ``p = sigmoid(sum_m w_m logit(p_m))`` with ``w = softmax(theta)``, so
    the weights are positive and sum to 1 like Kakao Brain's six (0.219,
    0.222, 0.139, 0.168, 0.141, 0.110). theta starts at 0 (the plain mean
    of the logits). Probabilities are clipped to [epsilon, 1 - epsilon]
    before the logit.

    Args:
        num_members: M.
        epsilon: the clipping of the members' probabilities.

    Call arguments:
        inputs: a list of M ``(B, C)`` probability tensors.

    Returns:
        ``(B, C)`` float32 probabilities.

    Example:
    >>> import numpy as np
    >>> p = np.array([[0.5, 0.9]], "float32")
    >>> y = LogitEnsemble(2)([p, p])
    >>> keras.ops.convert_to_numpy(y).astype("float64").round(3).tolist()
    [[0.5, 0.9]]

    Reference:
        Kim et al., ECCV Workshops 2018, sec. 5.
    """

    def __init__(self, num_members, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        positive_int("num_members", num_members)
        if not 0 < epsilon < 0.5:
            raise ValueError(f"`epsilon` must be in (0, 0.5); got {epsilon!r}.")
        self.num_members = num_members
        self.epsilon = epsilon

    def build(self, input_shape):
        self.theta = self.add_weight(
            shape=(self.num_members,), initializer="zeros", name="theta"
        )

    @property
    def weights_normalized(self):
        """The mixing weights w = softmax(theta), as a NumPy array."""
        return ops.convert_to_numpy(ops.softmax(self.theta))

    def call(self, inputs):
        if len(inputs) != self.num_members:
            raise ValueError(
                f"Expected {self.num_members} member outputs; got "
                f"{len(inputs)}."
            )
        probs = ops.stack([ops.cast(p, "float32") for p in inputs], axis=-1)
        probs = ops.clip(probs, self.epsilon, 1.0 - self.epsilon)
        logits = ops.log(probs) - ops.log1p(-probs)
        weights = ops.softmax(ops.cast(self.theta, "float32"))
        return ops.sigmoid(ops.sum(logits * weights, axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(num_members=self.num_members, epsilon=self.epsilon)
        return config
