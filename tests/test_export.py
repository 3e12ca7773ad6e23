"""`keras-gmsa export`: SavedModels (the model's, the starter's and
MediaPipe's signatures), ONNX and LiteRT files, each run in its own
runtime against the Keras model; what cannot work refuses in one line.

Which model converts where (measured; README: Export): the parity tests
run the models each converter takes, the refusal tests the others.
"""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gmsa import cli
from keras_gmsa import export
from keras_gmsa.data import dataset_for_model
from keras_gmsa.data import frame_dataset
from keras_gmsa.data import synthetic
from tests import helpers

BACKEND = keras.backend.backend()
SAVED_MODEL = BACKEND in ("tensorflow", "jax")
# The models each converter writes and its runtime runs, by backend.
CONVERTS = {
    "onnx": {
        "tensorflow": [
            "gateop",
            "attention_cluster",
            "kakao_blstm",
            "dbof",
            "kakao_netvlad",
            "video_moe",
        ],
        "torch": ["attention_cluster", "kakao_blstm", "kakao_netvlad"],
        # With jax2onnx installed (not one of keras-gmsa's extras).
        "jax": ["video_moe"],
    },
    "litert": {"tensorflow": ["gateop", "attention_cluster"]},
}
# Parity: float32 models, measured differences <= 1.2e-7.
ATOL = 1e-5


def _installed(module):
    return importlib.util.find_spec(module) is not None


def _refusals():
    """(model, flags, file name, what the message says), by backend."""
    onnx = ["--format", "onnx"]
    litert = ["--format", "litert"]
    starter = ["--signature", "starter"]
    cases = [
        ("video_moe", onnx + starter, "m.onnx", "is a SavedModel signature"),
        ("video_moe", litert, "m.onnx", "ends in .tflite"),
        ("video_moe", [], "m.onnx", "pass format 'onnx' for a .onnx file"),
    ]
    if SAVED_MODEL:
        mediapipe = ["--signature", "mediapipe"]
        cases.append(
            ("video_moe", mediapipe, "saved", "serves frame-level models")
        )
    if BACKEND == "tensorflow":
        cases += [
            # Keras' argmax on TensorFlow (the conditional head) bitcasts.
            ("video_conditional", onnx, "m.onnx", "no Bitcast, BitwiseAnd"),
            # The LSTM's loop over a dynamic batch keeps TensorLists.
            ("kakao_blstm", litert, "m.tflite", "'s TensorListReserve"),
            ("video_conditional", litert, "m.tflite", "'s BitwiseAnd"),
        ]
    if BACKEND == "jax":
        cases.append(
            ("video_moe", litert, "m.tflite", "TensorFlow or PyTorch only")
        )
        if _installed("jax2onnx"):
            # jax2onnx's jnp.arange rejects arange(stop) alone.
            says = "in FrameMask.call: Error interpreting argument"
        else:
            says = "needs jax2onnx, which is not installed"
        cases.append(("shareatt", onnx, "m.onnx", says))
    if BACKEND == "torch":
        cases += [
            ("video_moe", [], "saved", "converts PyTorch through torch_xla"),
            # Keras' layer normalization reads a shape of its input.
            ("gateop", onnx, "m.onnx", "TorchScript ONNX exporter"),
            ("dbof", onnx, "m.onnx", "'aten::take_along_dim' to ONNX"),
        ]
        if not _installed("litert_torch"):
            cases.append(
                ("video_moe", litert, "m.tflite", "needs litert-torch")
            )
    return cases


def _save(tmp_path, name, **options):
    model = helpers.build_small(name, compile=False, **options)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return model, path


def _batch(model, seed=1):
    """4 videos, other values than `export`'s own check batch."""
    rng = np.random.default_rng(seed)
    batch = {}
    for name, tensor in model.input.items():
        shape = (4,) + tuple(tensor.shape[1:])
        if name == "num_frames":
            batch[name] = np.array([10, 7, 1, 3], "int32")
        elif name == "given_labels":
            batch[name] = np.zeros(shape, "float32")
        elif tensor.dtype == "uint8":
            batch[name] = rng.integers(0, 256, shape).astype("uint8")
        else:
            batch[name] = rng.normal(size=shape).astype("float32")
    return batch


def _expected(model, batch):
    return keras.ops.convert_to_numpy(model.predict_on_batch(batch))


def _onnx_outputs(path, batch):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    assert sorted(names) == sorted(batch)
    return session.run(None, {n: batch[n] for n in names})[0]


def _litert_outputs(path, batch):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    assert sorted(runner.get_input_details()) == sorted(batch)
    return next(iter(runner(**batch).values()))


def _one_line_error(capsys, argv):
    capsys.readouterr()
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    return error


# --------------------------------------------------------------- SavedModel


def test_export_serves_uint8_frames(tmp_path, capsys):
    model, path = _save(tmp_path, "gateop")
    out = tmp_path / "saved"
    argv = ["export", str(path), str(out), "--format", "saved_model"]
    argv += ["--signature", "keras"]
    if not SAVED_MODEL:
        error = _one_line_error(capsys, argv)
        assert "KERAS_BACKEND=tensorflow or jax" in error
        assert not out.exists()
        return
    # On JAX too: GateOp's written-out gradient is left out (jax2tf
    # cannot re-trace it; serving does not differentiate).
    assert cli.main(argv) == 0
    assert "max |served - Keras|" in capsys.readouterr().out
    served = tf.saved_model.load(str(out))
    spec = served.signatures["serve"].structured_input_signature[1]
    assert spec["rgb"].dtype == tf.uint8 and spec["audio"].dtype == tf.uint8
    assert spec["num_frames"].dtype == tf.int32
    assert spec["rgb"].shape.as_list() == [None, 10, 16]
    batch = _batch(model)
    probs = served.serve(batch).numpy()
    assert probs.shape == (4, 6) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, _expected(model, batch), atol=ATOL)
    # Frames past num_frames do not change the served predictions.
    batch["rgb"][1, 7:] = 255 - batch["rgb"][1, 7:]
    np.testing.assert_allclose(
        served.serve(batch).numpy()[1], probs[1], atol=ATOL
    )


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Frame- and video-level records of 7 videos of 1 to 14 frames (the
    models read 10: longer ones are cropped), 25 classes."""
    root = tmp_path_factory.mktemp("records")
    generator = synthetic.SyntheticYT8M(
        num_classes=25,
        max_frames=14,
        min_frames=1,
        feature_sizes={"rgb": 16, "audio": 8},
    )
    synthetic.write_dataset(root, 7, num_shards=1, generator=generator, seed=3)
    return root


def _read(model, pattern, **options):
    features, _, ids = next(
        iter(
            dataset_for_model(
                model, pattern, batch_size=64, with_ids=True, **options
            )
        )
    )
    features = {k: v.numpy() for k, v in features.items()}
    return features, [i.decode() for i in ids.numpy()]


@pytest.mark.parametrize(
    "name, layout",
    # video_conditional: its given_labels are zeros, as the readers feed.
    [("frame_logistic", "frame"), ("video_conditional", "video")],
)
def test_starter_signature_serves_serialized_records(
    tmp_path, capsys, records, name, layout
):
    # 25 classes: the top 20 of each video, as the starter's export_model.
    model, path = _save(tmp_path, name, num_classes=25)
    out = tmp_path / "saved"
    argv = ["export", str(path), str(out), "--signature", "starter"]
    if not SAVED_MODEL:
        assert "torch_xla" in _one_line_error(capsys, argv)
        return
    assert cli.main(argv) == 0
    assert "example_bytes -> video_id" in capsys.readouterr().out
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.name == "example_bytes" and spec.dtype == tf.string
    pattern = str(records / layout / "train*")
    serialized = [
        r.numpy()
        for r in tf.data.TFRecordDataset(
            [str(p) for p in sorted((records / layout).glob("train*"))]
        )
    ]
    out = {k: v.numpy() for k, v in serve(example_bytes=serialized).items()}
    assert set(out) == {"video_id", "class_indexes", "predictions"}
    assert out["class_indexes"].dtype == np.int32
    assert out["class_indexes"].shape == out["predictions"].shape == (7, 20)
    features, ids = _read(model, pattern)
    assert [v.decode() for v in out["video_id"]] == ids
    probs = _expected(model, features)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(out["class_indexes"], order)
    np.testing.assert_allclose(
        out["predictions"],
        np.take_along_axis(probs, order, axis=1),
        atol=ATOL,
    )


def test_mediapipe_signature_serves_dequantized_frames(
    tmp_path, capsys, records
):
    model, path = _save(tmp_path, "frame_logistic", num_classes=25)
    out = tmp_path / "saved"
    argv = ["export", str(path), str(out), "--signature", "mediapipe"]
    if not SAVED_MODEL:
        assert "torch_xla" in _one_line_error(capsys, argv)
        return
    assert cli.main(argv) == 0
    assert "rgb_and_audio, num_frames -> predictions" in (
        capsys.readouterr().out
    )
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    spec = serve.structured_input_signature[1]
    assert spec["rgb_and_audio"].dtype == tf.float32
    assert spec["rgb_and_audio"].shape.as_list() == [None, None, 24]
    assert spec["num_frames"].dtype == tf.int32
    assert spec["num_frames"].shape.as_list() == [None, 1]
    pattern = str(records / "frame" / "train*")
    # The reader's floats, 14 frames (cropped to the model's 10 when
    # served), and the same videos as bytes, as the model reads them.
    floats, _, _ = next(
        iter(
            frame_dataset(
                pattern,
                features={"rgb": 16, "audio": 8},
                num_classes=25,
                max_frames=14,
                dequantize_frames=True,
                batch_size=64,
                with_ids=True,
            )
        )
    )
    frames = np.concatenate([floats["rgb"], floats["audio"]], axis=-1)
    count = floats["num_frames"].numpy()
    assert count.max() > 10  # some videos are cropped
    uint8, _ = _read(model, pattern)
    for length in (14, 6):  # longer and shorter than the model's 10
        shown = np.minimum(count, length)
        got = serve(
            rgb_and_audio=frames[:, :length],
            num_frames=shown[:, None].astype("int32"),
        )["predictions"].numpy()
        want = dict(uint8, num_frames=np.minimum(shown, 10).astype("int32"))
        np.testing.assert_allclose(got, _expected(model, want), atol=ATOL)


# ------------------------------------------------------------ ONNX, LiteRT


@pytest.mark.parametrize("name", CONVERTS["onnx"].get(BACKEND, []))
def test_onnx_file_matches_the_keras_model(tmp_path, name):
    pytest.importorskip("onnxruntime")
    if BACKEND == "jax":
        pytest.importorskip("jax2onnx")
    model = helpers.build_small(name, compile=False)
    path = tmp_path / "m.onnx"
    assert export.export(model, path, format="onnx") <= ATOL
    batch = _batch(model)
    np.testing.assert_allclose(
        _onnx_outputs(path, batch), _expected(model, batch), atol=ATOL
    )


@pytest.mark.parametrize("name", CONVERTS["litert"].get(BACKEND, []))
def test_litert_file_matches_the_keras_model(tmp_path, name):
    # attention_cluster converts since its shifting adds beta first
    # (Keras' NCHW BiasAdd for x + b broke the converter).
    pytest.importorskip("ai_edge_litert")
    model = helpers.build_small(name, compile=False)
    path = tmp_path / "m.tflite"
    assert export.export(model, path, format="litert") <= ATOL
    batch = _batch(model)
    np.testing.assert_allclose(
        _litert_outputs(path, batch), _expected(model, batch), atol=ATOL
    )


def test_export_format_from_the_command_line(tmp_path, capsys):
    model, path = _save(tmp_path, "video_moe")
    batch = _batch(model)
    for fmt, suffix, run, ready in (
        ("onnx", ".onnx", _onnx_outputs, BACKEND != "jax"),
        ("litert", ".tflite", _litert_outputs, BACKEND == "tensorflow"),
    ):
        if not ready:  # refused: test_refusals_say_why_in_one_line
            continue
        out = tmp_path / f"m{suffix}"
        assert cli.main(["export", str(path), str(out), "--format", fmt]) == 0
        text = capsys.readouterr().out
        assert f"file {out} (mean_rgb, mean_audio -> probabilities)" in text
        assert "max |served - Keras|" in text
        np.testing.assert_allclose(
            run(out, batch), _expected(model, batch), atol=ATOL
        )


@pytest.mark.parametrize(
    "name, flags, file, says",
    _refusals(),
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refusals_say_why_in_one_line(
    tmp_path, capsys, name, flags, file, says
):
    _, path = _save(tmp_path, name)
    out = tmp_path / file
    error = _one_line_error(capsys, ["export", str(path), str(out), *flags])
    assert says in error
    assert not out.exists()


def test_refusals_of_the_library_are_export_errors(tmp_path):
    model = helpers.build_small("video_moe", compile=False)
    with pytest.raises(export.ExportError, match="format must be one of"):
        export.export(model, tmp_path / "m", format="tflite")
    with pytest.raises(export.ExportError, match="signature must be one of"):
        export.export(model, tmp_path / "m", signature="tfserving")
    assert issubclass(export.ExportError, ValueError)
