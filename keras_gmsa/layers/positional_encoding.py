import math

import keras
from keras import ops

from keras_gmsa.layers import _initializers

KINDS = ("sinusoidal", "learned")


@keras.saving.register_keras_serializable(package="keras_gmsa")
class PositionalEncoding(keras.layers.Layer):
    """Adds a position code to every real frame: ``y_t = x_t + m_t p_t``.

    Self-attention followed by a mean over frames cannot see frame order;
    a position code added to the frames lets it (Vaswani et al. 2017,
    sec. 3.5). Two kinds:

    - ``"sinusoidal"``: ``p_{t, 2i} = sin(t / 10000^{2i/D})``,
      ``p_{t, 2i+1} = cos(t / 10000^{2i/D})``; no weights, any length.
    - ``"learned"``: a trainable ``(max_length, D)`` table, ``p_t`` its row
      t (truncated normal, stddev 0.02, as BERT's position embeddings).

    Frame t is the t-th frame of the video (0 = the first). Padded frames
    (``m_t = 0``) are left as they are, so they stay zero and a model's
    padding invariance is kept.

    Args:
        kind: ``"sinusoidal"`` or ``"learned"``.
        max_length: number of rows of the learned table; None takes the
            input's (static) length at build time. Ignored by the
            sinusoidal kind.
        embeddings_initializer: of the learned table.

    Call arguments:
        inputs: ``(B, T, D)`` frames.
        frame_mask: optional bool ``(B, T)``, True on real frames; without
            it (and without a Keras mask on `inputs`) every frame is real.

    Returns:
        ``(B, T, D)``, the inputs' compute dtype.

    Example:
    >>> import numpy as np
    >>> x = np.zeros((1, 3, 4), "float32")
    >>> y = PositionalEncoding()(x, np.array([[True, True, False]]))
    >>> y = keras.ops.convert_to_numpy(y).astype("float64")
    >>> y[0, :, 1].round(3).tolist()  # cos(0), cos(1), padded
    [1.0, 0.54, 0.0]

    Reference:
        Vaswani et al., Attention Is All You Need, NeurIPS 2017, sec. 3.5.
    """

    def __init__(
        self,
        kind="sinusoidal",
        max_length=None,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
        if max_length is not None and (
            not isinstance(max_length, int)
            or isinstance(max_length, bool)
            or max_length < 1
        ):
            raise ValueError(
                "`max_length` must be None or a positive integer; got "
                f"{max_length!r}."
            )
        self.kind = kind
        self.max_length = max_length
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
            or keras.initializers.TruncatedNormal(stddev=0.02)
        )
        self.supports_masking = True

    def build(self, inputs_shape, frame_mask_shape=None):
        length, dim = inputs_shape[1], inputs_shape[-1]
        if dim is None:
            raise ValueError("PositionalEncoding needs a known feature size.")
        if self.kind == "learned":
            rows = self.max_length or length
            if rows is None:
                raise ValueError(
                    "A learned positional encoding needs `max_length` or a "
                    "static number of frames."
                )
            if length is not None and length > rows:
                raise ValueError(
                    f"{length} frames do not fit a learned table of "
                    f"max_length={rows} rows."
                )
            self.embeddings = self.add_weight(
                shape=(rows, dim),
                initializer=_initializers.clone(self.embeddings_initializer),
                name="embeddings",
            )

    def _codes(self, length, dim):
        if self.kind == "learned":
            return ops.cast(self.embeddings[:length], self.compute_dtype)
        position = ops.cast(ops.arange(length), "float32")[:, None]
        index = ops.arange(dim)
        # Columns 2i and 2i+1 share the frequency 10000^(-2i/D).
        even = ops.cast(index - index % 2, "float32")
        angle = position * ops.exp(even * (-math.log(10000.0) / dim))
        codes = ops.where(index % 2 == 0, ops.sin(angle), ops.cos(angle))
        return ops.cast(codes, self.compute_dtype)

    def call(self, inputs, frame_mask=None):
        if frame_mask is None:
            frame_mask = getattr(inputs, "_keras_mask", None)
        length = inputs.shape[1] or ops.shape(inputs)[1]
        codes = self._codes(length, inputs.shape[-1])[None]
        if frame_mask is not None:
            codes = codes * ops.cast(frame_mask, codes.dtype)[:, :, None]
        return ops.add(inputs, codes)

    def compute_mask(self, inputs, frame_mask=None, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape, frame_mask_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            kind=self.kind,
            max_length=self.max_length,
            embeddings_initializer=keras.initializers.serialize(
                self.embeddings_initializer
            ),
        )
        return config
