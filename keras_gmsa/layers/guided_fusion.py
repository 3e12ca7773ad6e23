"""Kakao Brain's multimodal fusions with guided temporal attention."""

import keras
import numpy as np
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._softmax import masked_softmax
from keras_gmsa.layers._trainable import propagate_frozen

FUSIONS = ("concat", "sum", "image_guided", "audio_guided")


@keras.saving.register_keras_serializable(package="keras_gmsa")
class MultimodalFusion(keras.layers.Layer):
    """Fuses per-frame visual and audio features (Kim et al. 2018, sec. 3.1).

    With ``a_exp = W_va a + b_va`` (audio projected to the visual width):

        concat:        x_f(t) = [v(t) : a(t)]        (early fusion, "MC")
        sum:           x_f(t) = v(t) + a_exp(t)      (eq. 1-2)
        image_guided:  x_f(t) = v(t) + sum_s softmax_s(v(t)^T W a(s)) a_exp(s)
                                                     (eq. 3, "MS")
        audio_guided:  x_f(t) = a_exp(t)
                                + sum_s softmax_s(a_exp(t)^T W v(s)) v(s)
                                                     (eq. 4, "MA")

    The guided sums run over the window s in [t - w//2, t + w//2] of real
    frames: a local cross-attention whose window is the Toeplitz mask
    ``tp{w//2}`` of `keras_gmsa.masks`, built once per layer
    (``window=None`` is the paper's "all"). Choices the paper leaves open:
    the window must be odd (the paper's 5, 9, 13) so it is centred on t;
    the scores are not scaled (eq. 3-4 have no 1/sqrt(d)); ``W`` has no
    bias. Padded frames are never attended and come out as zeros.

    Args:
        method: one of ``"concat"``, ``"sum"``, ``"image_guided"``,
            ``"audio_guided"``.
        window: odd number of frames w of the guided attention, or None
            for every frame.

    Call arguments:
        visual: ``(B, T, Dv)``.
        audio: ``(B, T, Da)``.
        frame_mask: optional bool ``(B, T)``.
        return_attention: also return the ``(B, T, T)`` weights (guided
            methods only).

    Returns:
        ``(B, T, Dv)`` (``(B, T, Dv + Da)`` for concat).

    Example:
    >>> import numpy as np
    >>> fuse = MultimodalFusion("image_guided", window=5)
    >>> tuple(fuse(np.ones((2, 8, 6), "f"), np.ones((2, 8, 3), "f")).shape)
    (2, 8, 6)

    Reference:
        Kim et al., Temporal Attention Mechanism with Conditional Inference
        for Large-Scale Multi-Label Video Classification, ECCV Workshops
        2018, eq. 1-4.
    """

    def __init__(self, method="image_guided", window=5, **kwargs):
        super().__init__(**kwargs)
        if method not in FUSIONS:
            raise ValueError(
                f"`method` must be one of {FUSIONS}; got {method!r}."
            )
        if window is not None and (
            not isinstance(window, int) or window < 1 or window % 2 == 0
        ):
            raise ValueError(
                "`window` must be an odd positive integer (frames centred "
                f"on t, e.g. 5, 9, 13) or None for all; got {window!r}."
            )
        self.method = method
        self.window = window
        self.supports_masking = True

    @property
    def guided(self):
        return self.method.endswith("guided")

    def build(self, visual_shape, audio_shape, frame_mask_shape=None):
        dv, da = visual_shape[-1], audio_shape[-1]
        if dv is None or da is None:
            raise ValueError("MultimodalFusion needs known feature sizes.")
        if self.method == "concat":
            return
        self.audio_projection = keras.layers.Dense(
            dv, dtype=self.dtype_policy, name="audio_projection"
        )
        self.audio_projection.build(audio_shape)
        if self.guided:
            key_dim = da if self.method == "image_guided" else dv
            self.attention_kernel = self.add_weight(
                shape=(dv, key_dim),
                initializer="glorot_uniform",
                name="attention_kernel",
            )
        length = visual_shape[1]
        self._window_mask = None
        if self.guided and self.window is not None and length is not None:
            self._window_mask = window_mask(self.window, length)
        propagate_frozen(self)

    def _attention_mask(self, length, frame_mask):
        mask = None
        if self.window is not None:
            if self._window_mask is not None:
                # Built once in `build`; a NumPy constant is folded into
                # the traced graph on every backend.
                mask = self._window_mask[None]
            else:
                mask = window_mask_symbolic(self.window, length)

        if frame_mask is not None:
            keys = ops.expand_dims(ops.cast(frame_mask, "bool"), 1)
            mask = keys if mask is None else ops.logical_and(mask, keys)
        return mask

    def call(self, visual, audio, frame_mask=None, return_attention=False):
        if self.method == "concat":
            fused = ops.concatenate([visual, audio], axis=-1)
            weights = None
        else:
            projected = self.audio_projection(audio)
            if self.method == "sum":
                fused = ops.add(visual, projected)
                weights = None
            else:
                if self.method == "image_guided":
                    query, keys, values = visual, audio, projected
                else:
                    query, keys, values = projected, visual, visual
                scores = ops.matmul(
                    ops.matmul(query, self.attention_kernel),
                    ops.transpose(keys, (0, 2, 1)),
                )
                length = visual.shape[1] or ops.shape(visual)[1]
                mask = self._attention_mask(length, frame_mask)
                weights = masked_softmax(scores, mask)  # float32
                context = ops.matmul(ops.cast(weights, values.dtype), values)
                fused = ops.add(query, context)
        if frame_mask is not None:
            keep = ops.cast(frame_mask, fused.dtype)[:, :, None]
            fused = ops.multiply(fused, keep)
        if return_attention:
            return fused, weights
        return fused

    def compute_mask(self, visual, audio=None, frame_mask=None, mask=None):
        return frame_mask

    def compute_output_shape(self, visual_shape, audio_shape, *args):
        dim = visual_shape[-1]
        if self.method == "concat":
            dim = dim + audio_shape[-1]
        return tuple(visual_shape[:-1]) + (dim,)

    def compute_output_spec(
        self, visual, audio, frame_mask=None, return_attention=False
    ):
        out = keras.KerasTensor(
            self.compute_output_shape(visual.shape, audio.shape),
            dtype=self.compute_dtype,
        )
        if return_attention:
            length = visual.shape[1]
            return out, keras.KerasTensor(
                (visual.shape[0], length, length), dtype="float32"
            )
        return out

    def get_config(self):
        config = super().get_config()
        config.update(method=self.method, window=self.window)
        return config


def window_mask(window, length):
    """The guided attention's window as a NumPy bool ``(T, T)`` matrix."""
    if window is None:
        return np.ones((length, length), dtype=bool)
    if window == 1:
        # TP_0: each frame attends to itself only (masks start at W = 1).
        return np.eye(length, dtype=bool)
    return masks_lib.local_mask(f"tp{window // 2}", length)


def window_mask_symbolic(window, length):
    """`window_mask` for a length known at run time: bool ``(1, T, T)``."""
    if window == 1:
        index = ops.arange(length, dtype="int32")
        return ops.equal(index[:, None], index[None, :])[None]
    spec = masks_lib.parse_mask_spec(f"tp{window // 2}")
    return masks_lib.head_masks_symbolic([spec], length)
