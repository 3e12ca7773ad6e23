"""Every registered model exposes the names its consumers look up.

`keras_gmsa.names` is the contract between the builders and the code that
finds inputs and layers by name: the readers, the segment scorers,
``inspect``'s attention maps, embeddings and ensembles. Each model of
`keras_gmsa.list_models` is built small and handed to each consumer that
takes it; the sets below say which models each name-finding consumer
must take, so a builder that renames a layer fails here, not silently in
a user's run.
"""

import numpy as np
import pytest

import keras_gmsa
from keras_gmsa import analysis
from keras_gmsa import data
from keras_gmsa import names
from keras_gmsa import segments
from keras_gmsa.data import synthetic
from keras_gmsa.models.ensemble import ensemble_weights
from tests import helpers

# The models each name-finding consumer must take.
FRAME_LEVEL = {m for m in helpers.SMALL_MODELS if not m.startswith("video")}
# A masked temporal mean (`names.TEMPORAL_MEAN`) that the head reads.
POOLED = {"baseline", "shareatt", "gateatt", "gateop", "kakao_blstm"}
# Encoder blocks named by `names.encoder_layer_name` (attention maps).
ENCODERS = {"baseline", "shareatt", "gateatt", "gateop"}
# Attention clusters whose weights `cluster_weight_maps` reads.
CLUSTERS = {"attention_cluster"}
CONDITIONAL = {"video_conditional"}
BATCH = 4


@pytest.fixture(scope="module")
def models():
    assert set(keras_gmsa.list_models()) == set(helpers.SMALL_MODELS), (
        "Give every registered model small options in tests/helpers.py "
        "SMALL_MODELS."
    )
    return {
        name: helpers.build_small(name, compile=False)
        for name in keras_gmsa.list_models()
    }


@pytest.fixture(scope="module")
def batches(models, tmp_path_factory):
    """One batch per model, read from records by `dataset_for_model`."""
    root = tmp_path_factory.mktemp("names")
    gen = synthetic.SyntheticYT8M(
        num_classes=helpers.SMALL_CLASSES,
        max_frames=helpers.SMALL_FRAMES,
        min_frames=4,
        feature_sizes={"rgb": 16, "audio": 8},
        seed=0,
    )
    synthetic.write_dataset(
        root, BATCH, num_shards=1, generator=gen, layouts=("frame", "video")
    )
    out = {}
    for name, model in models.items():
        layout = "frame" if name in FRAME_LEVEL else "video"
        dataset = data.dataset_for_model(
            model, str(root / layout / "train*.tfrecord"), batch_size=BATCH
        )
        out[name] = next(dataset.as_numpy_iterator())[0]
    return out


def test_inputs_are_features_num_frames_and_given_labels(models):
    for name, model in models.items():
        inputs = set(model.input)
        features = set(names.feature_inputs(model.input))
        assert features and features <= {
            "rgb",
            "audio",
            "mean_rgb",
            "mean_audio",
        }
        assert (names.NUM_FRAMES in inputs) == (name in FRAME_LEVEL), name
        assert (names.GIVEN_LABELS in inputs) == (name in CONDITIONAL), name
        assert inputs == features | (inputs & set(names.NON_FEATURE_INPUTS))
        if name in POOLED | ENCODERS | CLUSTERS:
            assert names.find_layer(model, names.FRAME_MASK, "a test")


def test_the_readers_feed_every_model_by_its_input_names(models, batches):
    # What the model is fed is checked by name, shape and dtype; running
    # every model would add time and check nothing more about names.
    for name, model in models.items():
        features = batches[name]
        assert set(features) == set(model.input), name
        for key, tensor in model.input.items():
            value = np.asarray(features[key])
            assert value.shape[1:] == tuple(tensor.shape[1:]), (name, key)
            assert value.dtype == np.dtype(tensor.dtype), (name, key)


def test_the_head_is_found_by_embeddings_and_ensembles(models):
    for name, model in models.items():
        head = names.find_layer(model, names.PREDICTIONS, "a test")
        assert head.output is model.output, name
        embedding = keras_gmsa.embedding_model(model)
        assert embedding.output_shape[0] is None, name
        assert len(embedding.output_shape) == 2, name
    ensemble = keras_gmsa.build_ensemble(
        [models["gateop"], models["video_moe"]], compile=False
    )
    weights = ensemble_weights(ensemble)
    assert list(weights) == ["gateop", "video_moe"]


def test_the_pooled_scorer_takes_the_models_it_promises(models, batches):
    # The windows scorer needs only the inputs (`test_inputs_...`).
    segments_per_video = -(-helpers.SMALL_FRAMES // 5)
    for name in sorted(FRAME_LEVEL):
        model = models[name]
        if name in POOLED:
            scoring = segments.pooled_segment_model(model)
            got = helpers.to_numpy(scoring(batches[name], training=False))
            shape = (BATCH, segments_per_video, helpers.SMALL_CLASSES)
            assert got.shape == shape, name
        else:
            with pytest.raises(ValueError, match="scorer='windows'"):
                segments.pooled_segment_model(model)


def test_attention_maps_find_every_encoder_block(models, batches):
    for name in sorted(FRAME_LEVEL):
        model, video = models[name], batches[name]
        if name in ENCODERS:
            for feature in names.feature_inputs(model.input):
                model.get_layer(names.encoder_layer_name(feature, 0))
            maps = analysis.attention_maps(model, video, modality="audio")
            t = helpers.SMALL_FRAMES
            assert maps["maps"].shape[0] == BATCH, name
            assert maps["maps"].shape[-2:] == (t, t), name
            np.testing.assert_array_equal(
                maps[names.NUM_FRAMES], video[names.NUM_FRAMES]
            )
        else:
            with pytest.raises(ValueError, match="GMSA model"):
                analysis.attention_maps(model, video)
    video = {
        k: np.asarray(v)[0] for k, v in batches["attention_cluster"].items()
    }
    weights = analysis.cluster_weight_maps(models["attention_cluster"], video)
    assert set(weights) == {"rgb", "audio"}


def test_a_renamed_layer_fails_its_consumer_by_name():
    # What happens when a builder renames a layer without `names`: the
    # consumer stops with the name it looked for and who needed it.
    model = helpers.build_small("gateop", compile=False)
    model.get_layer(names.TEMPORAL_MEAN).name = "mean_over_frames"
    with pytest.raises(ValueError) as error:
        segments.pooled_segment_model(model)
    assert repr(names.TEMPORAL_MEAN) in str(error.value)
    assert "pooled segment scorer" in str(error.value)
    model.get_layer(names.encoder_layer_name("rgb", 0)).name = "rgb_block"
    with pytest.raises(ValueError, match="'rgb_encoder_0'.*attention maps"):
        analysis.attention_maps(model, {}, modality="rgb")
