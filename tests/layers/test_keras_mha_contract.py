"""Keras' own MultiHeadAttention tests, run against the GMSA layers.

The test file ships inside the installed keras wheel
(`keras/src/layers/attention/multi_head_attention_test.py`); nothing of it
is copied here. Each class below runs every one of its tests with
`keras.layers.MultiHeadAttention` replaced by a GMSA layer whose heads are
all global (`LocalMaskedMHA`), so a user who puts the layer where MHA stood
changes no call. The tests that attend over inputs of rank above 3 (another
attention axis than the frames) are expected to fail: the GMSA layers
refuse such inputs with a clear message (`test_refuses_other_axes` below
checks it), and a strict xfail makes a new failure, or a new pass, show.
"""

import keras
import numpy as np
import pytest
from keras.src import layers as keras_layers
from keras.src.layers.attention import multi_head_attention_test as keras_mha
from keras.src.testing import TestCase

from keras_gmsa.layers import GatedAttentionMaps
from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA

# Two warnings Keras' own test_lora raises with keras.layers.MultiHeadAttention
# itself (this suite turns warnings into errors): a dict whose keys are not
# the Input names, and the reload of a model whose optimizer was not built.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:When providing `inputs` as a dict:UserWarning"
    ),
    pytest.mark.filterwarnings(
        "ignore:Skipping variable loading for optimizer:UserWarning"
    ),
]

# Keras' tests on inputs of rank above 3 (attention over other axes).
OTHER_AXES = (
    "test_attention_axes_negative_indexing",
    "test_causal_only_masks_non_4d_inputs",
    "test_compute_output_shape_different_qv_last_dims",
    "test_compute_output_shape_high_dim_different_proj",
    "test_compute_output_shape_high_dim_same_proj",
    "test_high_dim_attention_4d_inputs_1freebatch_mask2",
    "test_high_dim_attention_4d_inputs_1freebatch_mask3",
    "test_high_dim_attention_4d_inputs_1freebatch_mask4",
    "test_high_dim_attention_4d_inputs_2d_attention",
    "test_high_dim_attention_5d_inputs_2d_attention",
    "test_high_dim_attention_5d_inputs_2d_attention_fullmask",
)


def _expect_other_axes_to_fail(cls):
    for name in OTHER_AXES:
        test = getattr(cls, name)
        setattr(
            cls,
            name,
            pytest.mark.xfail(
                raises=ValueError,
                strict=True,
                reason="attention over inputs of rank above 3 is refused",
            )(test),
        )
    return cls


@_expect_other_axes_to_fail
class TestLocalMaskedMHAIsKerasMHA(keras_mha.MultiHeadAttentionTest):
    def setUp(self):
        super().setUp()
        self._keras_mha = keras_layers.MultiHeadAttention
        keras_layers.MultiHeadAttention = LocalMaskedMHA

    def tearDown(self):
        keras_layers.MultiHeadAttention = self._keras_mha
        super().tearDown()


def test_refuses_other_axes():
    layer = LocalMaskedMHA(num_heads=2, key_dim=2)
    with pytest.raises(ValueError, match="rank above 3"):
        layer(np.ones((2, 3, 4, 8), "float32"), np.ones((2, 3, 4, 8)))


# The gated layers: every head is local too, so Keras' tests that pin
# MHA's numbers or weight counts do not apply; these do (masks, causal and
# sliding windows, the hooks, config, constraints, initializers, dtype
# policy maps, int8 quantization). bd1 (each frame attends to itself) is a
# local mask valid for the two-frame inputs of Keras' tests.
APPLY_TO_GATED = (
    "test_causal_only_fast_path",
    "test_causal_only_masks_when_fused_path_disabled_dropout_and_scores",
    "test_causal_only_masks_when_fused_path_disabled_dropout_only",
    "test_causal_only_masks_when_fused_path_disabled_scores_only",
    "test_causal_only_skipped_for_subclass",
    "test_causal_only_with_other_mask_falls_back",
    "test_compute_attention_combines_causal_and_explicit_mask_fused_fallback",
    "test_compute_attention_combines_causal_and_explicit_mask_manual_path",
    "test_dtype_policy_map",
    "test_initializer",
    "test_invalid_scalar_args_rejected",
    "test_masking_with_different_shapes",
    "test_mha_constraints",
    "test_multi_head_attention_output_shape_error",
    "test_quantize_int8",
    "test_shape_mismatch_error_key_value_dim_mismatch",
    "test_shape_mismatch_error_key_value_dim_mismatch_high_dim",
    "test_shape_mismatch_error_query_value_dim_mismatch",
    "test_sliding_window",
    "test_sliding_window_serialization",
    "test_sliding_window_validation",
    "test_symbolic_return_attention_scores0",
    "test_symbolic_return_attention_scores1",
)
# Queries and keys of different lengths: GateOp only (GateAtt's gates are
# T x T over one length).
CROSS_ATTENTION = (
    "test_masking_causal",
    "test_masking_not_causal",
    "test_no_warning_with_keras_mask",
    "test_query_mask_propagation",
    "test_compute_output_shape_with_key_different_proj",
    "test_compute_output_shape_with_key_same_proj",
    "test_compute_output_shape_without_key_different_proj",
    "test_compute_output_shape_without_key_same_proj",
    "test_multi_head_attention_output_shape_as_int",
    "test_multi_head_attention_output_shape_as_tuple",
)


@keras.saving.register_keras_serializable(package="keras_gmsa_tests")
class _GateAtt(GatedAttentionMaps):
    def __init__(self, num_heads, key_dim, local_mask="bd1", **kwargs):
        super().__init__(num_heads, key_dim, local_mask=local_mask, **kwargs)


@keras.saving.register_keras_serializable(package="keras_gmsa_tests")
class _GateOp(GatedContextMHA):
    def __init__(self, num_heads, key_dim, local_mask="bd1", **kwargs):
        super().__init__(num_heads, key_dim, local_mask=local_mask, **kwargs)


def _keras_tests_against(layer_class, names):
    # Keras' setUp and tearDown, for a class that only borrows its tests.
    def setUp(self):
        TestCase.setUp(self)
        keras_mha.disable_flash_attention()
        self._keras_mha = keras_layers.MultiHeadAttention
        keras_layers.MultiHeadAttention = layer_class

    def tearDown(self):
        keras_layers.MultiHeadAttention = self._keras_mha
        TestCase.tearDown(self)
        keras_mha.enable_flash_attention()

    body = {n: getattr(keras_mha.MultiHeadAttentionTest, n) for n in names}
    body.update(setUp=setUp, tearDown=tearDown)
    return type(f"Test{layer_class.__name__[1:]}IsKerasMHA", (TestCase,), body)


TestGateAttIsKerasMHA = _keras_tests_against(_GateAtt, APPLY_TO_GATED)
TestGateOpIsKerasMHA = _keras_tests_against(
    _GateOp, APPLY_TO_GATED + CROSS_ATTENTION
)
