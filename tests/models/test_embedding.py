"""`keras_gmsa.embedding_model`: the head's input, for every registered
model."""

import keras
import numpy as np
import pytest

import keras_gmsa
from tests import helpers


def _inputs(model, rng, batch=3):
    out = {}
    for name, tensor in model.input.items():
        shape = (batch, *tensor.shape[1:])
        if name == "num_frames":
            out[name] = np.array([helpers.SMALL_FRAMES, 4, 1][:batch], "int32")
        elif tensor.dtype == "uint8":
            out[name] = rng.integers(0, 256, shape).astype("uint8")
        else:
            out[name] = rng.random(shape).astype(tensor.dtype)
    return out


def test_every_registered_model_has_a_small_build():
    assert set(keras_gmsa.list_models()) == set(helpers.SMALL_MODELS)


@pytest.mark.parametrize("name", sorted(helpers.SMALL_MODELS))
def test_the_embedding_is_what_the_head_reads(name, rng):
    model = helpers.build_small(name, compile=False)
    embed = keras_gmsa.embedding_model(model)
    assert embed.inputs == model.inputs
    x = _inputs(model, rng)
    vectors = helpers.to_numpy(embed.predict_on_batch(x))
    assert vectors.ndim == 2 and vectors.shape[0] == 3
    assert np.isfinite(vectors).all()
    # The head alone, fed the embedding, gives the model's predictions.
    features = embed.output
    extra = [t for k, t in model.input.items() if k == "given_labels"]
    head = keras.Model([features, *extra], model.output)
    given = [x["given_labels"]] if extra else []
    np.testing.assert_allclose(
        helpers.to_numpy(head.predict_on_batch([vectors, *given])),
        helpers.to_numpy(model.predict_on_batch(x)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_an_ensemble_has_no_single_embedding():
    members = [
        helpers.build_small("video_logistic", compile=False, name=n)
        for n in ("a", "b")
    ]
    ensemble = keras_gmsa.build_ensemble(members, compile=False)
    with pytest.raises(ValueError, match="ensemble"):
        keras_gmsa.embedding_model(ensemble)
