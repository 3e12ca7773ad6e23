import keras
from keras import ops

from keras_gmsa.layers import _initializers
from keras_gmsa.layers.attention import _lean
from keras_gmsa.layers.attention._global_local import GlobalLocalAttention


@keras.saving.register_keras_serializable(package="keras_gmsa")
class GatedAttentionMaps(GlobalLocalAttention):
    """GateAtt: every head mixes a global and a local map with T x T gates.

    From the same ``Q_m``, ``K_m`` each head m computes the global map
    ``A^g_m`` (eq. 2) and the local map ``A^l_m`` (eq. 5, with
    `local_mask`). Two gate matrices ``W^g_g, W^l_g`` of shape T x T, shared
    by all heads, give per-entry gates (eq. 7)::

        [R^g, R^l] = softmax over a new axis of [A^g_m W^g_g, A^l_m W^l_g]
        A_m = R^g * A^g_m + R^l * A^l_m
        Y = concat_m(A_m V_m) W^o

    (a softmax over two entries is ``R^g = sigmoid(a - b)``, ``R^l = 1 -
    R^g``; that is how it is computed.)

    The paper states that each row of ``A_m`` sums to one. With per-entry
    gates it does not in general: a row of ``A_m`` is a per-entry convex mix
    of two rows that each sum to one, and its sum lies anywhere between the
    smaller and the larger of the mixed masses. This layer implements the
    equation literally; `renormalize=True` divides each row of ``A_m`` by
    its sum (rows of padded frames stay zero).

    The gates are T x T, so the layer takes its number of frames T
    (``max_frames``) as `sequence_length` and refuses another length;
    padded frames are zero columns of both maps, so their gate entries
    never reach the output.

    Args:
        num_heads: number of heads M.
        key_dim: size of each query/key head.
        local_mask: mask spec of the local maps, one for all heads (the
            paper) or a list of `num_heads` specs; default ``"tp10"``.
        sequence_length: T, the frames of every call (self-attention:
            queries and keys). None takes the length of the first input
            the layer is built for (files saved before this argument).
        renormalize: divide rows of ``A_m`` by their sum.
        gate_use_bias: add a bias of length T to both gate products (not in
            the paper's equation; default False).
        gate_initializer: initializer of the two T x T gate matrices.
        implementation: ``"auto"`` (default): written-out gradients that
            keep the scores and the gate only, where the call allows;
            ``"maps"``: the maps differentiated automatically (the same
            numbers up to rounding). No fused kernel computes gated maps.
        **kwargs: arguments of `keras.layers.MultiHeadAttention` (`dropout`,
            `use_bias`, `value_dim`, `use_gate`, `sliding_window`,
            initializers, `seed`, `name`, ...). `sliding_window` and
            `use_causal_mask` restrict both maps.

    Call arguments:
        Those of `keras.layers.MultiHeadAttention` (see `LocalMaskedMHA`):
        `query` ``(B, T, D)``, `value`, `key`, `query_mask` (alias
        `frame_mask`), `value_mask`, `key_mask`, `attention_mask`,
        `return_attention_scores`, `training`, `use_causal_mask`.

    Returns:
        ``(B, T, D)`` outputs; with `return_attention_scores` also the maps
        the output is computed from, A, ``(B, M, T, T)`` in the compute
        dtype. `attention_maps(query, ...)` returns every map, a dict of
        float32 ``(B, M, T, T)``: ``"global"`` (A^g), ``"local"`` (A^l),
        ``"gate"`` (R^g) and ``"combined"`` (A).

    Example:
    >>> layer = GatedAttentionMaps(num_heads=4, key_dim=8, local_mask="bd5")
    >>> y = layer(keras.random.normal((2, 20, 32)))
    >>> tuple(y.shape)
    (2, 20, 32)

    Reference:
        Sahu and Goyal, ICASSP 2022, section 2.3.1, eq. 7.
    """

    # GateAtt's output needs its maps, MHA's returned tensor is A.
    _contexts_only = False
    _returned_map = "combined"
    _implementations = ("auto", "maps")

    def __init__(
        self,
        num_heads,
        key_dim,
        local_mask="tp10",
        sequence_length=None,
        renormalize=False,
        gate_use_bias=False,
        gate_initializer="glorot_uniform",
        **kwargs,
    ):
        if sequence_length is not None and (
            not isinstance(sequence_length, int)
            or isinstance(sequence_length, bool)
            or sequence_length < 2
        ):
            raise ValueError(
                "`sequence_length` must be None or an integer >= 2 (the "
                f"gates are T x T). Received {sequence_length!r}."
            )
        super().__init__(
            num_heads,
            key_dim,
            local_mask=local_mask,
            gate_use_bias=gate_use_bias,
            **kwargs,
        )
        self.sequence_length = sequence_length
        self.renormalize = bool(renormalize)
        self.gate_initializer = keras.initializers.get(gate_initializer)

    def _check_length(self, length, key_length, where):
        expected = self.sequence_length
        if (length, key_length) != (expected, expected):
            raise ValueError(
                f"GatedAttentionMaps was made for sequence_length={expected} "
                f"frames (its gates are {expected} x {expected}); {where} "
                f"has {length} query and {key_length} key frames. Pad or "
                "crop the frames to that length."
            )

    def build(self, query_shape, value_shape=None, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        length, key_length = self._built_lengths
        if self.sequence_length is None:
            if length is None:
                raise ValueError(
                    "GatedAttentionMaps needs its number of frames: its "
                    "gate matrices are T x T. Pass sequence_length=T (or "
                    "give keras.Input a fixed length). Received shape "
                    f"{tuple(query_shape)}."
                )
            self.sequence_length = length
        self._check_length(length, key_length, "the input it is built for")
        length = self.sequence_length
        # (In this order: the weights of saved files are read by position.)
        self._global_gate_kernel = self._gate_kernel("global", length)
        self._global_gate_bias = self._gate_bias("global", length)
        self._local_gate_kernel = self._gate_kernel("local", length)
        self._local_gate_bias = self._gate_bias("local", length)

    def _gate_kernel(self, name, length):
        return self.add_weight(
            name=f"{name}_gate_kernel",
            shape=(length, length),
            initializer=_initializers.clone(self.gate_initializer),
        )

    def _gate_bias(self, name, length):
        if not self.gate_use_bias:
            return None
        return self.add_weight(
            name=f"{name}_gate_bias", shape=(length,), initializer="zeros"
        )

    def _has_lean_gradient(self):
        return not (self.renormalize or self.gate_use_bias)

    def _gate_logits(self, maps, kernel, bias):
        logits = _lean.gate_logits(maps, ops.cast(kernel, maps.dtype))
        if bias is not None:
            logits = logits + ops.cast(bias, maps.dtype)
        return logits

    def _attend(self, path, query, key, value, masks, training, maps):
        self._check_length(query.shape[1], key.shape[1], "this call")
        scores = self._scores(query, key)
        if path == "lean":
            context = _lean.gated_attention(
                scores,
                masks.key_bias(scores),
                masks.local_bias(),
                (
                    ops.cast(self._global_gate_kernel, "float32"),
                    ops.cast(self._local_gate_kernel, "float32"),
                ),
                value,
            )
            return context, None
        global_maps = self._maps(scores, masks, "global", path)
        local_maps = self._maps(scores, masks, "local", path)
        gate = ops.sigmoid(
            self._gate_logits(
                global_maps, self._global_gate_kernel, self._global_gate_bias
            )
            - self._gate_logits(
                local_maps, self._local_gate_kernel, self._local_gate_bias
            )
        )
        combined = local_maps + gate * (global_maps - local_maps)
        if self.renormalize:
            total = ops.sum(combined, axis=-1, keepdims=True)
            combined = ops.divide_no_nan(combined, total)
        context = self._context(combined, value, training)
        if not maps:
            return context, None
        return context, {
            "global": global_maps,
            "local": local_maps,
            "gate": gate,
            "combined": combined,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            sequence_length=self.sequence_length,
            renormalize=self.renormalize,
            gate_initializer=keras.initializers.serialize(
                self.gate_initializer
            ),
        )
        return config
