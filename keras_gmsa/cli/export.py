"""`keras-gmsa export`: a SavedModel, an ONNX file or a LiteRT file."""

from keras_gmsa.cli._common import MODEL_HELP
from keras_gmsa.cli._common import load_model

# What the compatible signatures serve, as the command reports it.
SERVES = {
    "starter": "example_bytes -> video_id, class_indexes, predictions",
    "mediapipe": "rgb_and_audio, num_frames -> predictions",
}


def add_parser(sub, parents):
    p = sub.add_parser(
        "export",
        help="a TensorFlow SavedModel, ONNX or LiteRT file for serving",
        description="Writes MODEL for serving, with Keras' own export, and "
        "checks the written file in its own runtime against the Keras "
        "model on a random batch (exit 1 if they differ by more than "
        "1e-4). SavedModel: TensorFlow or JAX backend; ONNX: TensorFlow "
        "or PyTorch (JAX with jax2onnx); LiteRT: TensorFlow. What cannot "
        "work says why in one line (README: Export).",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "path",
        help="the SavedModel's directory, or the .onnx / .tflite file",
    )
    p.add_argument(
        "--format",
        choices=["saved_model", "onnx", "litert"],
        default="saved_model",
        help="saved_model: a TensorFlow SavedModel; onnx: an ONNX file "
        "(onnxruntime); litert: a LiteRT .tflite file, builtin ops only",
    )
    p.add_argument(
        "--signature",
        choices=["keras", "starter", "mediapipe"],
        default="keras",
        help="the SavedModel's serving signature: keras (the model's "
        "inputs: uint8 frames and num_frames), starter (the YouTube-8M "
        "starter's: serialized records -> video_id, class_indexes, "
        "predictions, top 20) or mediapipe (MediaPipe's YouTube-8M graph: "
        "rgb_and_audio float frames, num_frames (B, 1) -> predictions)",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    import keras

    from keras_gmsa import export

    # What cannot work is refused before the model loads.
    export.check_request(
        args.format, args.signature, args.path, keras.backend.backend()
    )
    model = load_model(args.model)  # a clear message for a bad model
    difference = export.export(
        model, args.path, format=args.format, signature=args.signature
    )
    inputs = f"{', '.join(model.input)} -> probabilities"
    if args.format == "saved_model":
        serves = SERVES.get(args.signature, inputs)
        endpoint = "serve" if args.signature == "keras" else "serving_default"
        print(f"SavedModel in {args.path} ({endpoint}: {serves})")
    else:
        print(f"{export.NAMES[args.format]} file {args.path} ({inputs})")
    print(f"max |served - Keras| on a random batch: {difference:.2e}")
    if difference > 1e-4:
        print("The exported model does not match the Keras model.")
        return 1
    return 0
