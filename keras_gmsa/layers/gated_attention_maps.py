"""Kept for imports: the layer lives in `keras_gmsa.layers.attention`."""

from keras_gmsa.layers.attention.gated_attention_maps import GatedAttentionMaps

__all__ = ["GatedAttentionMaps"]
