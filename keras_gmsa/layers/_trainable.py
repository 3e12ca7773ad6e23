"""Keeps a frozen composite layer frozen after deserialisation."""

import keras


def propagate_frozen(layer):
    """Freezes `layer`'s sub-layers when `layer` itself is not trainable.

    A layer rebuilt from a config with ``trainable=False`` sets the flag
    before its sub-layers exist, so Keras cannot pass it down; call this at
    the end of ``build`` (a frozen ensemble member must load frozen). The
    setter is called directly: on the TensorFlow backend ``layer.trainable
    = False`` is skipped when the flag already reads False.
    """
    if not layer.trainable:
        keras.layers.Layer.trainable.fset(layer, False)
