"""One fresh initializer for every weight that receives one.

Keras' random initializers draw a seed when they are constructed, so one
unseeded initializer object returns the same values at every call: two
weights of the same shape built from one object start identical (the
feed-forward kernels of a block, the two gates of GateAtt). Keras'
`MultiHeadAttention` and keras-hub clone the initializer for every
sub-layer; `clone` does the same for this package's layers.
"""

import keras


def clone(initializer):
    """A new initializer of the same class and config as `initializer`.

    An unseeded initializer's clone draws its own seed, so it gives other
    values; a seeded one (``seed=int``) gives the same values, as in Keras.
    Strings, dicts and None go through `keras.initializers.get` first.
    """
    initializer = keras.initializers.get(initializer)
    if initializer is None:
        return None
    return initializer.__class__.from_config(initializer.get_config())
