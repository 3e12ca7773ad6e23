"""Public Keras layers of keras-gmsa (each registered for `.keras` files)."""

from keras_gmsa.layers.attention import GatedAttentionMaps
from keras_gmsa.layers.attention import GatedContextMHA
from keras_gmsa.layers.attention import LocalMaskedMHA
from keras_gmsa.layers.attention_cluster import AttentionCluster
from keras_gmsa.layers.conditional import ConditionalInference
from keras_gmsa.layers.dequantize import Dequantize
from keras_gmsa.layers.encoder_block import EncoderBlock
from keras_gmsa.layers.ensemble import LogitEnsemble
from keras_gmsa.layers.frame_mask import FrameMask
from keras_gmsa.layers.frame_sampling import RandomFrameSubset
from keras_gmsa.layers.frame_sampling import SampleFrames
from keras_gmsa.layers.frozen_member import FrozenMember
from keras_gmsa.layers.guided_fusion import MultimodalFusion
from keras_gmsa.layers.heads import ContextGating
from keras_gmsa.layers.heads import MixtureOfExperts
from keras_gmsa.layers.masked_mean_pooling import MaskedMeanPooling
from keras_gmsa.layers.netvlad import DifferentialFeatures
from keras_gmsa.layers.netvlad import NetVLAD
from keras_gmsa.layers.positional_encoding import PositionalEncoding
from keras_gmsa.layers.segment_mean_pooling import SegmentMeanPooling

__all__ = [
    "AttentionCluster",
    "ConditionalInference",
    "ContextGating",
    "Dequantize",
    "DifferentialFeatures",
    "EncoderBlock",
    "FrameMask",
    "FrozenMember",
    "GatedAttentionMaps",
    "GatedContextMHA",
    "LocalMaskedMHA",
    "LogitEnsemble",
    "MaskedMeanPooling",
    "MixtureOfExperts",
    "MultimodalFusion",
    "NetVLAD",
    "PositionalEncoding",
    "RandomFrameSubset",
    "SampleFrames",
    "SegmentMeanPooling",
]
