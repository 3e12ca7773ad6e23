"""The banded (linear in T) path of LocalMaskedMHA equals the dense one."""

import keras
import numpy as np
import pytest

from keras_gmsa.layers import LocalMaskedMHA
from tests import helpers


def _pair(head_masks, x, frame_mask, **kwargs):
    dense = LocalMaskedMHA(4, 4, head_masks=head_masks, **kwargs)
    dense(x, frame_mask=frame_mask)
    banded = LocalMaskedMHA(
        4, 4, head_masks=head_masks, implementation="banded", **kwargs
    )
    banded(x, frame_mask=frame_mask)
    banded.set_weights(dense.get_weights())
    return dense, banded


@pytest.mark.parametrize(
    "head_masks",
    [
        "bd5",  # T = 37 is not a multiple of the block
        "tp3",  # narrower than a chunk
        "tp20",  # wider than the minimum chunk
        "td9/3",
        ["tp2", None, "bd4", "td6/2"],  # mixed, with a global head
    ],
)
def test_banded_outputs_equal_dense_outputs(rng, head_masks):
    x, frame_mask = helpers.frames_and_mask(rng, 3, 37, 16, [37, 20, 0])
    dense, banded = _pair(head_masks, x, frame_mask)
    expected = helpers.to_numpy(dense(x, frame_mask=frame_mask))
    got = helpers.to_numpy(banded(x, frame_mask=frame_mask))
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert (got[2] == 0).all() and (got[1, 20:] == 0).all()
    # Asking for the maps takes the dense path: same numbers.
    out, maps = banded(x, frame_mask=frame_mask, return_attention_scores=True)
    np.testing.assert_allclose(helpers.to_numpy(out), expected, atol=2e-6)
    assert tuple(maps.shape) == (3, 4, 37, 37)


def test_banded_training_step_equals_dense_and_round_trips(rng, tmp_path):
    x, frame_mask = helpers.frames_and_mask(rng, 2, 30, 16, [30, 17])
    target = rng.normal(size=x.shape).astype("float32")
    dense, banded = _pair(["td6/2", "tp4", "bd8", None], x, frame_mask)
    steps = []
    for layer in (dense, banded):
        frames = keras.Input((30, 16))
        valid = keras.Input((30,), dtype="bool")
        model = keras.Model([frames, valid], layer(frames, frame_mask=valid))
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        before = [helpers.to_numpy(w).copy() for w in layer.weights]
        model.train_on_batch([x, frame_mask], target)
        steps.append(
            [
                b - helpers.to_numpy(w)
                for b, w in zip(before, layer.weights, strict=True)
            ]
        )
    scale = max(np.abs(s).max() for s in steps[0])
    for a, b in zip(*steps, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-5 * scale)
    path = str(tmp_path / "banded.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    (layer,) = [la for la in loaded.layers if isinstance(la, LocalMaskedMHA)]
    assert layer.implementation == "banded"
    np.testing.assert_allclose(
        helpers.to_numpy(loaded([x, frame_mask])),
        helpers.to_numpy(model([x, frame_mask])),
        atol=1e-6,
    )


def test_banded_refuses_unknown_implementation():
    with pytest.raises(ValueError, match="takes implementation= one of"):
        LocalMaskedMHA(2, 4, head_masks="tp2", implementation="sparse")


def test_build_model_takes_the_banded_path_on_a_long_video(monkeypatch):
    # All heads local (a ShareAtt head list), 600 frames (twice YouTube-8M's
    # cap): the banded model predicts what the dense one does, through the
    # banded kernels.
    import keras_gmsa
    from keras_gmsa.data import synthetic
    from keras_gmsa.layers.attention import _banded

    heads = ["tp4", "tp8", "bd16", "td8/2"]
    options = dict(
        mask=heads,
        num_classes=10,
        max_frames=600,
        projection_dim=16,
        num_heads=4,
        hidden_dim=8,
        compile=False,
    )
    dense = keras_gmsa.build_model("shareatt", **options)
    banded = keras_gmsa.build_model(
        "shareatt", attention_implementation="banded", **options
    )
    banded.set_weights(dense.get_weights())
    gen = synthetic.SyntheticYT8M(
        num_classes=10, max_frames=600, min_frames=560, seed=0
    )
    _, _, rgb, audio = gen.video(np.random.default_rng(0), 0)
    n = len(rgb)
    pad = ((0, 600 - n), (0, 0))
    video = {
        "rgb": np.pad(rgb, pad)[None],
        "audio": np.pad(audio, pad)[None],
        "num_frames": np.array([n], "int32"),
    }
    calls = []
    kernel = _banded.local_context
    monkeypatch.setattr(
        _banded,
        "local_context",
        lambda *a, **k: calls.append(a[3]) or kernel(*a, **k),
    )
    got = helpers.to_numpy(banded.predict_on_batch(video))
    assert {str(spec) for spec in calls} == set(heads)
    np.testing.assert_allclose(
        got, helpers.to_numpy(dense.predict_on_batch(video)), atol=1e-5
    )
