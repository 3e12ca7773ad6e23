"""The GMSA attention layers: `keras.layers.MultiHeadAttention` with local
(block-diagonal, Toeplitz, dilated-Toeplitz) masks per head, and the two
gated combinations of local and global attention."""

from keras_gmsa.layers.attention.gated_attention_maps import GatedAttentionMaps
from keras_gmsa.layers.attention.gated_context_mha import GatedContextMHA
from keras_gmsa.layers.attention.local_masked_mha import LocalMaskedMHA

__all__ = ["GatedAttentionMaps", "GatedContextMHA", "LocalMaskedMHA"]
