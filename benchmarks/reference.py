"""The plain-Keras reference that `benchmarks/models.py` times every model
against (private to the benchmarks).

The GMSA baseline written with Keras' own layers only and none of the
package's: per modality ``Rescaling`` (the dequantization, same scale and
offset) -> ``MultiHeadAttention`` -> ``Dropout`` -> ``Add`` ->
``LayerNormalization`` -> ``Dense(D, relu)`` -> ``Dense(D)`` -> ``Dropout``
-> ``Add`` -> ``LayerNormalization``; the modalities concatenated per
frame -> ``GlobalAveragePooling1D`` -> ``Dense(1280, relu)`` ->
``Dropout`` -> ``Dense(C, sigmoid)``; Adam and binary cross-entropy.

It has the baseline's shapes, widths, dropouts and parameter count, and no
padding mask: every frame is attended to and averaged, so it is what the
baseline costs without its padding-exactness (the key mask, zeroed padded
rows, the mean over real frames only). `num_frames` is an input it ignores,
so that both models take the same batches.
"""

import keras

from keras_gmsa import constants


def build_reference(
    max_frames=constants.MAX_FRAMES,
    features=constants.FRAME_FEATURES,
    num_classes=constants.NUM_CLASSES,
    num_heads=8,
    hidden_dim=1280,
    dropout=0.1,
    hidden_dropout=0.1,
    learning_rate=2e-4,
    frame_dtype="uint8",
    jit_compile="auto",
):
    low, high = constants.QUANTIZE_MIN, constants.QUANTIZE_MAX
    scale = (high - low) / 255.0
    offset = (high - low) / 512.0 + low
    inputs = {
        key: keras.Input((max_frames, dim), dtype=frame_dtype, name=key)
        for key, dim in features.items()
    }
    inputs["num_frames"] = keras.Input((), dtype="int32", name="num_frames")
    encoded = []
    for key, dim in features.items():
        x = inputs[key]
        if frame_dtype == "uint8":
            x = keras.layers.Rescaling(scale, offset, name=f"{key}_rescale")(x)
        attended = keras.layers.MultiHeadAttention(
            num_heads, dim // num_heads, name=f"{key}_mha"
        )(x, x)
        x = keras.layers.LayerNormalization(epsilon=1e-5)(
            keras.layers.Add()([x, keras.layers.Dropout(dropout)(attended)])
        )
        ff = keras.layers.Dense(dim, activation="relu")(x)
        ff = keras.layers.Dense(dim)(ff)
        x = keras.layers.LayerNormalization(epsilon=1e-5)(
            keras.layers.Add()([x, keras.layers.Dropout(dropout)(ff)])
        )
        encoded.append(x)
    x = keras.layers.Concatenate()(encoded)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(hidden_dim, activation="relu")(x)
    x = keras.layers.Dropout(hidden_dropout)(x)
    outputs = keras.layers.Dense(
        num_classes, activation="sigmoid", name="predictions"
    )(x)
    model = keras.Model(inputs, outputs, name="plain_keras_reference")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        jit_compile=jit_compile,
    )
    return model
