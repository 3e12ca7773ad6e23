"""Kept for imports: the layer lives in `keras_gmsa.layers.attention`."""

from keras_gmsa.layers.attention.local_masked_mha import LocalMaskedMHA

__all__ = ["LocalMaskedMHA"]
