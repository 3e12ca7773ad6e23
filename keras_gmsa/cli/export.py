"""`keras-gmsa export`: a TensorFlow SavedModel that serves uint8 frames."""

from keras_gmsa.cli._common import MODEL_HELP
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import load_model


def add_parser(sub, parents):
    p = sub.add_parser(
        "export",
        help="TensorFlow SavedModel serving uint8 frame batches",
        description="Writes MODEL as a SavedModel whose `serve` signature "
        "takes the records' inputs (uint8 frames, num_frames); checks it "
        "against the Keras model on a random batch. Needs "
        "KERAS_BACKEND=tensorflow.",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("directory", help="the SavedModel's directory")
    p.set_defaults(run=run)
    return p


def run(args):
    import keras

    from keras_gmsa.export import export_saved_model

    if keras.backend.backend() != "tensorflow":
        raise UserError(
            "export writes a TensorFlow SavedModel: run it with "
            "KERAS_BACKEND=tensorflow (a .keras file saved on any backend "
            "loads there)"
        )
    model = load_model(args.model)  # a clear message for a bad model
    difference = export_saved_model(model, args.directory)
    print(f"SavedModel in {args.directory} (signature: serve)")
    print(f"max |served - Keras| on a random batch: {difference:.2e}")
    if difference > 1e-4:
        print("The exported model does not match the Keras model.")
        return 1
    return 0
