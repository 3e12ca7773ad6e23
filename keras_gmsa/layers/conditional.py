"""Kakao Brain's conditional-inference head for multi-label classification."""

import keras
from keras import ops

from keras_gmsa.layers._checks import positive_int
from keras_gmsa.layers._trainable import propagate_frozen
from keras_gmsa.layers.heads import ContextGating


@keras.saving.register_keras_serializable(package="keras_gmsa")
class ConditionalInference(keras.layers.Layer):
    """One network f(x, l) for every p(y_c | x, labels already chosen).

    ``l`` in {0, 1}^C marks the labels already known or chosen. The network
    joins x and l by low-rank bilinear (Hadamard) pooling, gates the joint
    vector and classifies it:

        z = tanh(x U + b_u) * tanh(l V + b_v)        (rank R)
        z <- context_gating(z) = z * sigmoid(z G + b_g)
        f(x, l) = sigmoid(z P + b_p)                  (C probabilities)

    Training (``training=True``) is one pass with the ``given_labels`` the
    data supplies: random subsets of each video's true labels
    (`keras_gmsa.data.with_given_labels`), so f learns how chosen labels
    change the others. Inference runs the paper's greedy chain from
    ``given_labels`` (zeros for plain prediction): for ``steps`` steps,
    evaluate f, choose the most probable label not yet in l, add it to l.
    The returned score vector is then well defined and deterministic:

    - a label chosen at step s scores the probability it had when chosen;
    - a label given in ``given_labels`` scores 1;
    - every other label scores f(x, l_final), one more pass conditioned on
      all chosen labels.

    Choices the paper leaves open (its Fig. 3b is a drawing): the rank R,
    tanh on both bilinear factors (Kim et al. 2016's MLB), context gating
    on the rank-R joint vector rather than on the C outputs (C x C gates
    would cost 15M weights for YouTube-8M), and the "scores of chosen
    labels" rule above.

    Args:
        num_classes: C.
        steps: k, labels chosen at inference (the paper's best: 4).
        rank: R of the bilinear pooling.
        l2: L2 regularisation of the kernels.

    Call arguments:
        inputs: ``(B, D)`` video representation.
        given_labels: ``(B, C)`` in {0, 1}.
        training: one conditioned pass when True, the k-step chain when not.
        return_chosen: also return the ``(B, steps)`` chosen class indices.

    Returns:
        ``(B, C)`` scores in [0, 1], float32.

    Example:
    >>> import numpy as np
    >>> head = ConditionalInference(6, steps=2, rank=4)
    >>> tuple(head(np.ones((3, 5), "f"), np.zeros((3, 6), "f")).shape)
    (3, 6)

    Reference:
        Kim et al., Temporal Attention Mechanism with Conditional Inference
        for Large-Scale Multi-Label Video Classification, ECCV Workshops
        2018, sec. 3.2; Kim et al., Hadamard Product for Low-rank Bilinear
        Pooling, ICLR 2017.
    """

    def __init__(self, num_classes, steps=4, rank=1024, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        positive_int("num_classes", num_classes)
        positive_int("steps", steps)
        positive_int("rank", rank)
        if steps > num_classes:
            raise ValueError(
                f"`steps` ({steps}) cannot exceed `num_classes` "
                f"({num_classes}): each step chooses a new label."
            )
        if l2 < 0:
            raise ValueError(f"`l2` must be >= 0; got {l2!r}.")
        self.num_classes = num_classes
        self.steps = steps
        self.rank = rank
        self.l2 = l2
        regularizer = keras.regularizers.L2(l2) if l2 else None
        self.input_factor = keras.layers.Dense(
            rank,
            activation="tanh",
            kernel_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="u",
        )
        self.label_factor = keras.layers.Dense(
            rank,
            activation="tanh",
            kernel_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="v",
        )
        self.gating = ContextGating(
            l2=l2, dtype=self.dtype_policy, name="context_gating"
        )
        self.classifier = keras.layers.Dense(
            num_classes,
            kernel_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="classifier",
        )

    def build(self, inputs_shape, given_labels_shape=None):
        input_shape = inputs_shape
        self.input_factor.build(input_shape)
        self.label_factor.build((input_shape[0], self.num_classes))
        self.gating.build((input_shape[0], self.rank))
        self.classifier.build((input_shape[0], self.rank))
        propagate_frozen(self)

    def conditional(self, inputs, given_labels):
        """f(x, l): ``(B, C)`` float32 probabilities."""
        given_labels = ops.cast(given_labels, self.compute_dtype)
        joint = ops.multiply(
            self.input_factor(inputs), self.label_factor(given_labels)
        )
        logits = self.classifier(self.gating(joint))
        return ops.sigmoid(ops.cast(logits, "float32"))

    def call(self, inputs, given_labels, training=None, return_chosen=False):
        given = ops.cast(ops.greater(given_labels, 0.5), "float32")
        if training:
            probs = self.conditional(inputs, given)
            return (probs, None) if return_chosen else probs
        chosen = given
        scores = given  # given labels score 1
        picks = []
        for _ in range(self.steps):
            probs = self.conditional(inputs, chosen)
            # Chosen labels can never win again: -1 is below any probability.
            candidates = ops.where(ops.greater(chosen, 0.0), -1.0, probs)
            pick = ops.argmax(candidates, axis=-1)
            one_hot = ops.one_hot(pick, self.num_classes, dtype="float32")
            scores = ops.where(ops.greater(one_hot, 0.0), probs, scores)
            chosen = ops.maximum(chosen, one_hot)
            picks.append(pick)
        final = self.conditional(inputs, chosen)
        scores = ops.where(ops.greater(chosen, 0.0), scores, final)
        if return_chosen:
            return scores, ops.stack(picks, axis=1)
        return scores

    def compute_output_shape(self, inputs_shape, given_labels_shape=None):
        input_shape = inputs_shape
        return (input_shape[0], self.num_classes)

    def compute_output_spec(
        self, inputs, given_labels, training=None, return_chosen=False
    ):
        out = keras.KerasTensor(
            (inputs.shape[0], self.num_classes), dtype="float32"
        )
        if return_chosen:
            return out, keras.KerasTensor(
                (inputs.shape[0], self.steps), dtype="int32"
            )
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            steps=self.steps,
            rank=self.rank,
            l2=self.l2,
        )
        return config
