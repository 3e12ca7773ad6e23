"""The names a model of the zoo exposes to its consumers, defined once.

A model's inputs and some of its layers are found by name: the readers
feed inputs by name (`keras_gmsa.data.dataset_for_model`), the pooled
segment scorer reads the frame mask and the masked temporal mean,
``keras-gmsa inspect`` reads the encoder blocks and the frame mask,
ensembles and embeddings read the head. Builders name their inputs and
layers with these constants and consumers look them up with the same
constants, so renaming one renames it everywhere; ``tests/test_names.py``
builds every registered model and checks that each consumer finds what
it needs.

=========================  ===============================================
inputs
``<feature>``              frame features (``"rgb"``, ``"audio"``:
                           `keras_gmsa.constants.FRAME_FEATURES`) or video
                           features (``"mean_rgb"``, ``"mean_audio"``)
`NUM_FRAMES`               int32 ``(B,)`` real frames of each video
`GIVEN_LABELS`             float ``(B, C)`` labels already chosen
                           (conditional-inference heads only)
layers
`FRAME_MASK`               bool ``(B, T)`` padding mask, True = real frame
`encoder_layer_name`       ``"<feature>_encoder_<block>"``: the GMSA
                           family's encoder blocks
`TEMPORAL_MEAN`            masked mean over frames: the pooled features
                           the head reads (GMSA family, Kakao's BLSTM)
`CONTEXT_GATING`           the context gating of ``cg_*`` heads
`PREDICTIONS`              the head's last layer, the model's output
reader outputs
`LABEL_WEIGHTS`            float ``(B, C)`` which (segment, class) pairs
                           are rated (segment records)
=========================  ===============================================

This module imports nothing, so readers that run without TensorFlow or
Keras can use it.
"""

NUM_FRAMES = "num_frames"
GIVEN_LABELS = "given_labels"
FRAME_MASK = "frame_mask"
TEMPORAL_MEAN = "temporal_mean"
CONTEXT_GATING = "context_gating"
PREDICTIONS = "predictions"
LABEL_WEIGHTS = "label_weights"

# Inputs that are not features: everything else a model takes is a
# feature, fed under its record name.
NON_FEATURE_INPUTS = (NUM_FRAMES, GIVEN_LABELS)


def encoder_layer_name(feature, block):
    """Name of encoder block `block` (from 0) of `feature`'s encoder."""
    return f"{feature}_encoder_{block}"


def dequantize_layer_name(feature):
    """Name of the layer that dequantizes `feature`'s uint8 frames."""
    return f"{feature}_dequantize"


def feature_inputs(inputs):
    """The feature entries of ``{input name: value}`` (every input but
    `NUM_FRAMES` and `GIVEN_LABELS`), in their order."""
    return {k: v for k, v in inputs.items() if k not in NON_FEATURE_INPUTS}


def find_layer(model, name, needed_by, hint=""):
    """``model.get_layer(name)``, or one `ValueError` naming the model, the
    layer and the consumer that needs it (`needed_by`), then `hint`."""
    try:
        return model.get_layer(name)
    except ValueError:
        pass
    message = f"Model {model.name!r} has no layer {name!r}, which {needed_by} "
    message += "needs."
    raise ValueError(f"{message} {hint}".rstrip())
