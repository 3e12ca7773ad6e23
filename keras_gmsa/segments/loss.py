"""The 2019 segment task's loss.

`LabelWeightedBinaryCrossentropy`: binary cross-entropy per (example,
class) pair, weighted per pair by a ``sample_weight`` of shape ``(batch,
classes)`` (the records' ``label_weights``: 1 for the rated pairs, 0
elsewhere), so that unrated pairs change neither the loss nor the
gradients. The starter code and the
TF Model Garden weight their per-element loss the same way
(yt8m-format.md 8.7).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_gmsa")
class LabelWeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy per (example, class), weighted per pair.

    Pass the weights as ``sample_weight`` of shape ``(batch, classes)``
    (in ``Model.fit``: a dataset of ``(features, labels, weights)``). The
    value is the weighted sum over pairs divided by the sum of the weights
    (the mean over the rated pairs); without weights, the mean over all
    pairs, which equals Keras' `BinaryCrossentropy`.

    Args:
        from_logits: whether predictions are logits.
        name: the loss's name.
    """

    def __init__(
        self,
        from_logits=False,
        name="label_weighted_binary_crossentropy",
        **kwargs,
    ):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        # A trailing axis of one: Keras' function averages over it, which
        # leaves one loss per (example, class).
        y_true = ops.cast(y_true, y_pred.dtype)
        return keras.losses.binary_crossentropy(
            y_true[..., None], y_pred[..., None], from_logits=self.from_logits
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        losses = ops.cast(self.call(y_true, y_pred), "float32")
        if sample_weight is None:
            return ops.mean(losses)
        weights = ops.cast(sample_weight, "float32")
        weights = ops.broadcast_to(weights, ops.shape(losses))
        total = ops.sum(ops.multiply(losses, weights))
        return ops.divide_no_nan(total, ops.sum(weights))

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config["from_logits"] = self.from_logits
        return config
