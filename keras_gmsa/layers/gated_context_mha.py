"""Kept for imports: the layer lives in `keras_gmsa.layers.attention`."""

from keras_gmsa.layers.attention.gated_context_mha import GatedContextMHA

__all__ = ["GatedContextMHA"]
