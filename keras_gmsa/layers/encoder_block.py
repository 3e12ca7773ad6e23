import keras
from keras import ops

from keras_gmsa.layers import _initializers
from keras_gmsa.layers._trainable import propagate_frozen
from keras_gmsa.layers.attention import GatedAttentionMaps
from keras_gmsa.layers.attention import GatedContextMHA
from keras_gmsa.layers.attention import LocalMaskedMHA
from keras_gmsa.layers.attention import _paths

ATTENTION_KINDS = ("global", "shareatt", "gateatt", "gateop")
_ATTENTION = {
    "global": LocalMaskedMHA,
    "shareatt": LocalMaskedMHA,
    "gateatt": GatedAttentionMaps,
    "gateop": GatedContextMHA,
}


@keras.saving.register_keras_serializable(package="keras_gmsa")
class EncoderBlock(keras.layers.Layer):
    """One Transformer encoder block with a GMSA attention layer.

    ``h = LayerNorm(x + Dropout(Attention(x)))``, then
    ``y = LayerNorm(h + Dropout(W_2 act(W_1 h)))`` (post-norm, as in
    Vaswani et al. and the GMSA paper). Rows of padded frames of `y` are
    zero.

    Args:
        num_heads: attention heads M; the feature size D must divide by M.
        ff_dim: inner width of the feed-forward network.
        attention: ``"global"`` (plain multi-head attention), ``"shareatt"``
            (`LocalMaskedMHA` with per-head masks), ``"gateatt"``
            (`GatedAttentionMaps`) or ``"gateop"`` (`GatedContextMHA`).
        masks: for ``"shareatt"`` the per-head mask list (None = global
            head); for ``"gateatt"``/``"gateop"`` the local mask spec (one
            for all heads, or a per-head list). Must be None for ``"global"``.
        dropout: dropout after the attention and the feed-forward network.
        attention_dropout: dropout on the attention maps.
        activation: activation of the feed-forward network.
        layer_norm_epsilon: epsilon of both LayerNorms.
        renormalize: GateAtt only: renormalise rows of the gated maps.
        gate_use_bias: GateAtt/GateOp only: bias in the gate products.
        implementation: the attention layer's ``implementation``:
            ``"auto"`` (default), ``"maps"``, ``"fused"`` (not GateAtt) or
            ``"banded"`` (ShareAtt / global only: local heads linear in T);
            see `LocalMaskedMHA` and docs/attention.md.
        kernel_initializer: initializer of every kernel of the block.

    Call arguments:
        inputs: ``(B, T, D)``.
        frame_mask: optional bool ``(B, T)``, True on real frames.
        return_attention_scores: also return the attention layer's maps.
        training: Python bool.

    Returns:
        ``(B, T, D)``, and the maps with `return_attention_scores`.

    Example:
    >>> block = EncoderBlock(num_heads=4, ff_dim=64, attention="gateop",
    ...                      masks="tp3")
    >>> tuple(block(keras.random.normal((2, 12, 32))).shape)
    (2, 12, 32)

    Reference:
        Vaswani et al. 2017; Sahu and Goyal, ICASSP 2022, section 2.
    """

    def __init__(
        self,
        num_heads,
        ff_dim,
        attention="global",
        masks=None,
        dropout=0.1,
        attention_dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        renormalize=False,
        gate_use_bias=False,
        kernel_initializer="glorot_uniform",
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTION_KINDS:
            raise ValueError(
                f"Unknown attention {attention!r}. Allowed: {ATTENTION_KINDS}."
            )
        if attention == "global" and masks is not None:
            raise ValueError(
                f"attention='global' takes no masks; received {masks!r}. "
                "Use attention='shareatt' for per-head masks."
            )
        for name, value in (("num_heads", num_heads), ("ff_dim", ff_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive integer. Received "
                    f"{name}={value!r}."
                )
        for name, value in (
            ("dropout", dropout),
            ("attention_dropout", attention_dropout),
        ):
            if not 0.0 <= value < 1.0:
                raise ValueError(
                    f"`{name}` must be in [0, 1). Received {name}={value}."
                )
        if renormalize and attention != "gateatt":
            raise ValueError("`renormalize` applies to attention='gateatt'.")
        if gate_use_bias and attention not in ("gateatt", "gateop"):
            raise ValueError(
                "`gate_use_bias` applies to attention='gateatt'/'gateop'."
            )
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.attention = attention
        self.masks = list(masks) if isinstance(masks, (list, tuple)) else masks
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        implementation = _paths.implementation_of(
            f"EncoderBlock(attention={attention!r})",
            implementation,
            _ATTENTION[attention]._implementations,
        )
        self.renormalize = renormalize
        self.gate_use_bias = gate_use_bias
        self.implementation = implementation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    @property
    def attention_layer(self):
        """The block's attention layer (`LocalMaskedMHA`,
        `GatedAttentionMaps` or `GatedContextMHA`), once built."""
        return getattr(self, "_attention_layer", None)

    def _make_attention(self, key_dim, length):
        common = dict(
            num_heads=self.num_heads,
            key_dim=key_dim,
            dropout=self.attention_dropout,
            kernel_initializer=_initializers.clone(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="attention",
        )
        if self.attention in ("global", "shareatt"):
            return LocalMaskedMHA(
                head_masks=self.masks,
                implementation=self.implementation,
                **common,
            )
        if self.attention == "gateatt":
            return GatedAttentionMaps(
                local_mask=self.masks,
                sequence_length=length,
                renormalize=self.renormalize,
                gate_use_bias=self.gate_use_bias,
                implementation=self.implementation,
                **common,
            )
        return GatedContextMHA(
            local_mask=self.masks,
            gate_use_bias=self.gate_use_bias,
            implementation=self.implementation,
            **common,
        )

    def build(self, inputs_shape):
        dim = inputs_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"The feature size {dim} must divide by num_heads="
                f"{self.num_heads}."
            )
        self._attention_layer = self._make_attention(
            dim // self.num_heads, inputs_shape[1]
        )
        self._attention_layer.build(inputs_shape)
        # A fresh initializer per kernel: a shared unseeded one would
        # start both D x D kernels identical (ff_multiplier=1).
        self._ff_inner = keras.layers.Dense(
            self.ff_dim,
            kernel_initializer=_initializers.clone(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="ff_inner",
        )
        self._ff_inner.build(inputs_shape)
        self._ff_outer = keras.layers.Dense(
            dim,
            kernel_initializer=_initializers.clone(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="ff_outer",
        )
        self._ff_outer.build(tuple(inputs_shape[:-1]) + (self.ff_dim,))
        norm = dict(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy)
        self._attention_norm = keras.layers.LayerNormalization(
            name="attention_norm", **norm
        )
        self._attention_norm.build(inputs_shape)
        self._ff_norm = keras.layers.LayerNormalization(name="ff_norm", **norm)
        self._ff_norm.build(inputs_shape)
        self._dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy
        )
        propagate_frozen(self)

    def call(
        self,
        inputs,
        frame_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        if frame_mask is None:
            frame_mask = getattr(inputs, "_keras_mask", None)
        attended = self._attention_layer(
            inputs,
            frame_mask=frame_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            attended, maps = attended
        x = self._attention_norm(
            ops.add(inputs, self._dropout_layer(attended, training=training))
        )
        ff = self._ff_outer(self.activation(self._ff_inner(x)))
        x = self._ff_norm(
            ops.add(x, self._dropout_layer(ff, training=training))
        )
        if frame_mask is not None:
            x = ops.multiply(x, ops.cast(frame_mask, x.dtype)[:, :, None])
        if return_attention_scores:
            return x, maps
        return x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def compute_output_spec(
        self,
        inputs,
        frame_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        if not self.built:
            self.build(inputs.shape)
        return output, self._attention_layer.compute_output_spec(
            inputs, return_attention_scores=True
        )[1]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            ff_dim=self.ff_dim,
            attention=self.attention,
            masks=self.masks,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation=keras.activations.serialize(self.activation),
            layer_norm_epsilon=self.layer_norm_epsilon,
            renormalize=self.renormalize,
            gate_use_bias=self.gate_use_bias,
            implementation=self.implementation,
            kernel_initializer=keras.initializers.serialize(
                self.kernel_initializer
            ),
        )
        return config
