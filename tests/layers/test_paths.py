"""`choose_path`, the one place that picks an attention computation: every
row of its table, and what the layers hand it."""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import GatedAttentionMaps
from keras_gmsa.layers import GatedContextMHA
from keras_gmsa.layers import LocalMaskedMHA
from keras_gmsa.layers.attention import _paths
from keras_gmsa.layers.attention._paths import CallFacts
from keras_gmsa.layers.attention._paths import LayerFacts
from keras_gmsa.layers.attention._paths import choose_path
from tests import helpers

GLOBAL = LayerFacts(has_local=False, contexts_only=True)  # LocalMaskedMHA
SHARE = LayerFacts(has_local=True, contexts_only=True)  # local heads
GATEATT = LayerFacts(has_local=True, contexts_only=False, lean=True)
GATEOP = LayerFacts(has_local=True, contexts_only=True, lean=True)
REFUSED = LayerFacts(has_local=True, contexts_only=True, flash_refused=True)
GATEOP_REFUSED = LayerFacts(
    has_local=True, contexts_only=True, lean=True, flash_refused=True
)
PLAIN = CallFacts()  # self-attention, key padding only, static, no dropout
MAPS = CallFacts(maps=True)
MASKED = CallFacts(key_mask_only=False)
DYNAMIC = CallFacts(static=False)
DROPOUT = CallFacts(dropout=True)
HALF = CallFacts(float16=True)

# (implementation, layer, call, fused is faster) -> path
TABLE = [
    # Any mask but a key mask: merged boolean masks, exact zero rows.
    ("auto", SHARE, MASKED, True, "boolean"),
    ("fused", GATEOP, MASKED, True, "boolean"),
    ("banded", SHARE, MASKED, False, "boolean"),
    # Every head global: Keras' own hook where fused kernels are wanted.
    ("auto", GLOBAL, PLAIN, True, "keras"),
    ("auto", GLOBAL, PLAIN, False, "additive"),
    ("fused", GLOBAL, PLAIN, False, "keras"),
    ("maps", GLOBAL, PLAIN, True, "additive"),
    ("auto", GLOBAL, MAPS, True, "additive"),
    ("auto", GLOBAL, DYNAMIC, False, "additive"),
    ("auto", GLOBAL, DROPOUT, True, "keras"),  # Keras' hook drops out
    # Local heads (ShareAtt): fused where it is the faster.
    ("auto", SHARE, PLAIN, True, "fused"),
    ("auto", SHARE, PLAIN, False, "additive"),
    ("fused", SHARE, PLAIN, False, "fused"),
    ("maps", SHARE, PLAIN, True, "additive"),
    ("auto", SHARE, MAPS, True, "additive"),
    ("auto", SHARE, DROPOUT, True, "additive"),
    ("auto", SHARE, HALF, True, "additive"),  # -1e9 is -inf in float16
    ("auto", SHARE, DYNAMIC, True, "boolean"),
    ("auto", REFUSED, PLAIN, True, "additive"),  # flash_attention=False
    # Banded: static lengths, no maps; otherwise as "auto".
    ("banded", SHARE, PLAIN, False, "banded"),
    ("banded", SHARE, PLAIN, True, "banded"),
    ("banded", SHARE, MAPS, True, "additive"),
    ("banded", SHARE, DYNAMIC, True, "boolean"),
    ("banded", GLOBAL, PLAIN, True, "keras"),
    ("banded", GLOBAL, PLAIN, False, "additive"),
    # GateAtt: its maps are needed, so no fused kernel; lean gradients.
    ("auto", GATEATT, PLAIN, True, "lean"),
    ("auto", GATEATT, PLAIN, False, "lean"),
    ("maps", GATEATT, PLAIN, False, "additive"),
    ("auto", GATEATT, MAPS, False, "additive"),
    ("auto", GATEATT, DROPOUT, False, "additive"),
    ("auto", GATEATT, DYNAMIC, False, "boolean"),
    (
        "auto",
        LayerFacts(has_local=True, contexts_only=False, lean=False),
        PLAIN,
        False,
        "additive",
    ),  # renormalize or gate biases: no written-out gradient
    # GateOp: two fused kernels where they are the faster, else lean.
    ("auto", GATEOP, PLAIN, True, "fused"),
    ("auto", GATEOP, PLAIN, False, "lean"),
    ("fused", GATEOP, PLAIN, False, "fused"),
    ("fused", GATEOP, HALF, False, "lean"),
    ("fused", GATEOP, DROPOUT, True, "additive"),
    ("maps", GATEOP, PLAIN, True, "additive"),
    ("auto", GATEOP_REFUSED, PLAIN, True, "lean"),
    ("auto", GATEOP, MAPS, True, "additive"),
    ("auto", GATEOP, DYNAMIC, True, "boolean"),
]


@pytest.mark.parametrize("implementation, layer, call, faster, path", TABLE)
def test_every_row_of_the_table(implementation, layer, call, faster, path):
    assert choose_path(implementation, layer, call, faster) == path


def test_the_table_reaches_every_path():
    assert {row[-1] for row in TABLE} == set(_paths.PATHS)


def _layers(**kwargs):
    return {
        "local": LocalMaskedMHA(2, 4, head_masks=[None, "tp2"], **kwargs),
        "gateatt": GatedAttentionMaps(2, 4, local_mask="tp2", **kwargs),
        "gateop": GatedContextMHA(2, 4, local_mask="tp2", **kwargs),
    }


@pytest.mark.parametrize("name", ["local", "gateatt", "gateop"])
def test_implementation_is_in_the_config_and_restored(rng, name):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 8, [12, 5])
    layer = _layers(implementation="maps")[name]
    layer(x, frame_mask=frame_mask)
    config = layer.get_config()
    assert config["implementation"] == "maps"
    assert type(layer).from_config(config).implementation == "maps"
    assert _layers()[name].get_config()["implementation"] == "auto"


def test_dense_the_earlier_name_of_auto_is_read_as_auto():
    # LocalMaskedMHA's files of earlier versions say "dense".
    layer = LocalMaskedMHA(2, 4, head_masks="tp2", implementation="dense")
    assert layer.implementation == "auto"


@pytest.mark.parametrize(
    "layer, implementation",
    [
        (GatedAttentionMaps, "fused"),
        (GatedAttentionMaps, "banded"),
        (GatedContextMHA, "banded"),
        (LocalMaskedMHA, "sparse"),
    ],
)
def test_implementations_a_layer_has_not_are_refused(layer, implementation):
    with pytest.raises(ValueError, match="takes implementation= one of"):
        layer(2, 4, "tp2", implementation=implementation)


def test_fused_with_flash_attention_false_is_refused():
    with pytest.raises(ValueError, match="flash_attention=False forbids"):
        LocalMaskedMHA(
            2, 4, "tp2", implementation="fused", flash_attention=False
        )


def test_no_class_attribute_chooses_the_path():
    # The choice lives in the config: the old per-class switches are gone.
    for cls in (LocalMaskedMHA, GatedAttentionMaps, GatedContextMHA):
        assert not hasattr(cls, "fused_attention")
        assert not hasattr(cls, "lean_backward")


@keras.saving.register_keras_serializable(package="keras_gmsa_tests")
class _MaskCounting(LocalMaskedMHA):
    """A user's subclass overriding MHA's hook with MHA's signature."""

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        self.seen = (attention_mask, return_attention_scores, use_causal_mask)
        return super()._compute_attention(
            query,
            key,
            value,
            attention_mask,
            training,
            return_attention_scores,
            use_causal_mask,
        )


def test_a_subclass_overriding_the_hook_gets_mhas_arguments(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 8, [12, 5])
    layer = _MaskCounting(2, 4, head_masks=[None, "tp2"])
    reference = LocalMaskedMHA(2, 4, head_masks=[None, "tp2"])
    out = layer(x, frame_mask=frame_mask)
    reference(x, frame_mask=frame_mask)
    reference.set_weights(layer.get_weights())
    np.testing.assert_array_equal(
        helpers.to_numpy(out),
        helpers.to_numpy(reference(x, frame_mask=frame_mask)),
    )
    mask, scores, causal = layer.seen
    # Self-attention with padding: the key padding, (B, 1, 1, S) bool.
    assert tuple(mask.shape) == (2, 1, 1, 12)
    assert scores is False and causal is False
    # A causal call: Keras' merged mask (B, T, S), causal included.
    _, maps = layer(
        x,
        frame_mask=frame_mask,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    mask, scores, _ = layer.seen
    assert tuple(mask.shape) == (2, 12, 12) and scores is True
    mask = helpers.to_numpy(mask)
    assert not mask[0][np.triu_indices(12, 1)].any()
    maps = helpers.to_numpy(maps)
    assert (
        maps[:, :, np.triu_indices(12, 1)[0], np.triu_indices(12, 1)[1]] == 0
    ).all()


def test_the_layers_hand_choose_path_their_facts(rng):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 12, 8, [12, 5])
    key_mask = frame_mask[:, None, None, :]
    merged = frame_mask[:, None, :] & frame_mask[:, :, None]

    def path(layer, mask, training=False, maps=False):
        layer(x, frame_mask=frame_mask)
        q, k = layer.query_dense(x), layer.key_dense(x)
        return layer._choose_path(layer._masks(q, k, mask), training, maps)

    fused = LocalMaskedMHA(2, 4, [None, "tp2"], implementation="fused")
    assert path(fused, key_mask) == "fused"
    assert path(fused, merged) == "boolean"
    assert path(fused, key_mask, maps=True) == "additive"
    banded = LocalMaskedMHA(2, 4, [None, "tp2"], implementation="banded")
    assert path(banded, key_mask) == "banded"
    gateop = GatedContextMHA(2, 4, "tp2", flash_attention=False)
    assert path(gateop, key_mask) == "lean"
    dropped = GatedContextMHA(2, 4, "tp2", dropout=0.5, flash_attention=False)
    assert path(dropped, key_mask, training=True) == "additive"
    assert path(dropped, key_mask, training=False) == "lean"
    renormalized = GatedAttentionMaps(2, 4, "tp2", renormalize=True)
    assert path(renormalized, key_mask) == "additive"
    assert path(GatedAttentionMaps(2, 4, "tp2"), None) == "lean"
