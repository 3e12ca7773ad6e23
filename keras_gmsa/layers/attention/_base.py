"""`keras.layers.MultiHeadAttention` over frames, with per-head structure
(private): the base of the three GMSA layers.

(About 490 lines: one class, MHA's hooks in the order Keras runs them, each
with its documentation; the decision of a path is `_paths.py`'s.)

It keeps MHA's contract and runs its hooks in MHA's order; this file reads
in that order: `__init__`, `build`, `call` (masks, projections), the
masks (`_compute_attention_mask`), the attention (`_compute_attention`,
with MHA's signature), the output projection, the shapes. Keras' own parts
stay Keras': the projections, their weight layout and config,
`sliding_window`, `use_causal_mask` and the merge of padding and user masks.
What it adds:

- per-head structure: head h attends inside its `MaskSpec` (BD, TP, TD or
  global), ANDed with Keras' masks (a causal TP_W head is a streaming local
  head: frame i sees frames i - W .. i);
- exact padding: softmaxes in float32 with masked entries exactly 0, a row
  whose every key is masked all zeros, output rows of padded query frames
  zero (the output bias included);
- ``value`` optional (self-attention), ``frame_mask`` as an alias of
  ``query_mask``, an explicit ``query_mask`` honoured (Keras' own `call`
  reads the query's Keras mask only).

Which computation a call takes is `_paths.choose_path`'s decision, from
the layer's ``implementation`` and the call; the subclasses implement the
paths (`_attend`).
"""

import inspect
from typing import NamedTuple

import keras
from keras import ops

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._softmax import masked_softmax
from keras_gmsa.layers.attention import _paths
from keras_gmsa.layers.attention._structure import AttentionMasks
from keras_gmsa.layers.attention._structure import local_structure


def parse_specs(specs, num_heads):
    """Per-head `MaskSpec`s, or None when `num_heads` is not a count
    (Keras' constructor then says what is wrong with it)."""
    if not isinstance(num_heads, int) or isinstance(num_heads, bool):
        return None
    if num_heads < 1:
        return None
    return masks_lib.parse_head_masks(specs, num_heads)


class Projected(NamedTuple):
    """One call's projected inputs and masks, as MHA's hook takes them."""

    query: object
    key: object
    value: object
    attention_mask: object
    gate: object
    query_mask: object


class GMSAAttention(keras.layers.MultiHeadAttention):
    """Multi-head attention over frames with per-head structural masks.

    Subclasses pass their per-head local `MaskSpec`s as `local_specs`,
    implement `_attend` (and, for another output, `_project_output`), and
    say what they can compute (`_contexts_only`, `_has_lean_gradient`).
    """

    # Whether a head whose spec is global still has a local map (the
    # gated layers compute a global and a local map for every head).
    _every_head_local = False
    # Whether the output needs the contexts A V only (a fused kernel can
    # give them), and which of `_attend`'s maps is MHA's returned tensor.
    _contexts_only = True
    _returned_map = "maps"
    _implementations = _paths.IMPLEMENTATIONS

    def __init__(
        self,
        num_heads,
        key_dim,
        local_specs=None,
        implementation="auto",
        flash_attention=None,
        **kwargs,
    ):
        implementation = _paths.implementation_of(
            type(self).__name__, implementation, self._implementations
        )
        specs = None if local_specs is None else tuple(local_specs)
        local = self._every_head_local or (
            specs is not None and any(not s.is_global for s in specs)
        )
        if local and flash_attention:
            raise ValueError(
                f"{type(self).__name__} cannot use a fused (flash) attention "
                "kernel: its local masks are per head. Pass "
                "flash_attention=None or False (or make every head global)."
            )
        if implementation == "fused" and flash_attention is False:
            raise ValueError(
                f"{type(self).__name__}: implementation='fused' asks for a "
                "fused kernel and flash_attention=False forbids one."
            )
        # `flash_attention=False` asks for no fused kernel at all.
        self._flash_refused = flash_attention is False
        if local:
            # Keras' flash kernel never runs; keep its dropout check quiet.
            flash_attention = False
        super().__init__(
            num_heads, key_dim, flash_attention=flash_attention, **kwargs
        )
        # (Keras has checked num_heads.)
        self._local_specs = specs or (masks_lib.MaskSpec("global"),) * num_heads
        self._has_local = local
        self.implementation = implementation
        self._built_lengths = None
        self._structures = {}

    # ----------------------------------------------------------------- build
    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        # Keras' checks of the shapes first (their messages are Keras').
        super().build(query_shape, value_shape, key_shape)
        if len(query_shape) != 3 or len(value_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} attends over the frame axis of "
                "(batch, frames, features) inputs. Received query_shape="
                f"{tuple(query_shape)}, value_shape={tuple(value_shape)}; "
                "inputs of rank above 3 and other attention axes are not "
                "supported."
            )
        if tuple(self.attention_axes) != (1,):
            raise ValueError(
                f"{type(self).__name__} attends over the frame axis only "
                "(attention_axes=None, 1 or -2 for (batch, frames, "
                f"features) inputs). Received attention_axes="
                f"{self.attention_axes}."
            )
        # Inputs keep their Keras masks (this layer reads them from its
        # arguments, which Keras fills in); the projections pass them on
        # instead of warning that they drop them.
        for projection in (self.query_dense, self.key_dense, self.value_dense):
            projection.supports_masking = True
        if self._use_gate:
            self._gate_dense.supports_masking = True
        self._built_lengths = (query_shape[1], value_shape[1])
        if None not in self._built_lengths:
            for spec in self._local_specs:
                spec.check_length(max(self._built_lengths))

    # ------------------------------------------------------------------ call
    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        frame_mask=None,
        mask=None,
    ):
        inputs = self._project_inputs(
            query,
            value,
            key,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            frame_mask=frame_mask,
            mask=mask,
        )
        context, scores = self._compute_attention(
            inputs.query,
            inputs.key,
            inputs.value,
            inputs.attention_mask,
            training,
            return_attention_scores,
        )
        output = self._project_output(context, inputs.gate)
        output, scores = self._zero_padded_rows(
            output, scores, inputs.query_mask
        )
        if return_attention_scores:
            return output, scores
        return output

    def _project_inputs(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        frame_mask=None,
        mask=None,
    ):
        """The masks of a call merged as MHA merges them, then MHA's
        projections: a `Projected`.

        Keras fills in the Keras masks of the inputs: ``query_mask`` and
        ``value_mask`` (and ``key_mask``) when `value` is given, ``mask``
        (the query's) in a self-attention call of one tensor. A
        self-attention call whose only mask is the frames' padding passes
        its key padding as ``(B, 1, 1, S)`` (the query's rows are zeroed
        after), so that the fast paths can take it; any other call passes
        Keras' merge of every mask, causal and window included.
        """
        self_attention = value is None or value is query
        value = query if value is None else value
        key_given = key is not None and key is not value
        key = value if key is None else key
        for given in (frame_mask, mask):
            if query_mask is None:
                query_mask = given
        if value_mask is None and self_attention:
            value_mask = query_mask
        key_padding_only = (
            self_attention
            and not key_given
            and key_mask is None
            and attention_mask is None
            and not use_causal_mask
            and self._sliding_window is None
            and (value_mask is None or value_mask is query_mask)
        )
        if key_padding_only:
            mask = None
            if value_mask is not None:
                mask = ops.cast(value_mask, "bool")[:, None, None, :]
        else:
            mask = self._compute_attention_mask(
                query,
                value,
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
            )
        gate = self._gate_dense(query) if self._use_gate else None
        return Projected(
            self.query_dense(query),
            self.key_dense(key),
            self.value_dense(value),
            mask,
            gate,
            query_mask,
        )

    # ----------------------------------------------------------------- masks
    def _compute_attention_mask(
        self,
        query,
        value,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
    ):
        """Keras' merge of the padding, user, causal and window masks; a
        per-head ``(B, H, T, S)`` user mask is ANDed after (Keras' merge
        takes ``(B, T, S)``)."""
        per_head = None
        if attention_mask is not None and len(attention_mask.shape) == 4:
            per_head, attention_mask = attention_mask, None
        mask = super()._compute_attention_mask(
            query,
            value,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
        )
        if per_head is None:
            return mask
        per_head = ops.cast(per_head, "bool")
        if per_head.shape[1] == 1:  # one map for every head: Keras' form
            per_head = ops.squeeze(per_head, 1)
        elif mask is not None:
            mask = ops.expand_dims(mask, 1)
        return per_head if mask is None else ops.logical_and(mask, per_head)

    def _masks(self, query, key, attention_mask):
        """The `AttentionMasks` of a call on projected inputs."""
        length, key_length = query.shape[1], key.shape[1]
        if length is None or key_length is None:
            length, key_length = ops.shape(query)[1], ops.shape(key)[1]
            return AttentionMasks(
                attention_mask,
                local_structure(self._local_specs, length, key_length),
            )
        if (length, key_length) not in self._structures:
            local = local_structure(self._local_specs, length, key_length)
            masks = AttentionMasks(None, local)
            self._structures[(length, key_length)] = (
                local,
                masks.local_bias(),
            )
        return AttentionMasks(
            attention_mask, *self._structures[(length, key_length)]
        )

    # ------------------------------------------------------------- attention
    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        """MHA's hook, with MHA's signature: the attention of projected
        ``(B, T, H, d)`` queries and ``(B, S, H, d)`` keys and values.

        Args:
            attention_mask: bool, broadcastable to ``(B, H, T, S)``. A
                ``(B, 1, 1, S)`` mask is read as the key padding of a
                self-attention call (every query row the caller keeps has
                an allowed key), which the fast paths take.
            use_causal_mask: as in MHA: AND the causal mask (not in
                `attention_mask`).

        Returns:
            ``(contexts, scores)``: contexts ``(B, T, H, dv)`` (GateOp: its
            global and local contexts stacked, ``(2, B, T, H, dv)``) and,
            with `return_attention_scores`, MHA's maps ``(B, H, T, S)`` in
            the compute dtype, else None.
        """
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash "
                "attention is enabled. Please disable flash attention to "
                "access attention scores."
            )
        if use_causal_mask:
            causal = self._compute_causal_mask(query, value)
            attention_mask = (
                causal
                if attention_mask is None
                else ops.logical_and(ops.cast(attention_mask, "bool"), causal)
            )
        masks = self._masks(query, key, attention_mask)
        path = self._choose_path(masks, training, bool(return_attention_scores))
        if path == "keras":
            return super()._compute_attention(
                query, key, value, attention_mask, training, False
            )
        context, maps = self._attend(
            path, query, key, value, masks, training, return_attention_scores
        )
        if not return_attention_scores:
            return context, None
        return context, ops.cast(maps[self._returned_map], self.compute_dtype)

    def _choose_path(self, masks, training, maps):
        """`_paths.choose_path` for this layer and call."""
        layer = _paths.LayerFacts(
            has_local=self._has_local,
            contexts_only=self._contexts_only,
            lean=self._has_lean_gradient(),
            flash_refused=self._flash_refused,
        )
        call = _paths.CallFacts(
            maps=maps,
            key_mask_only=masks.key_mask_only,
            static=masks.static,
            dropout=bool(training) and self.dropout > 0.0,
            float16=self.compute_dtype == "float16",
        )
        return _paths.choose_path(
            self.implementation, layer, call, _paths.fused_attention_is_faster()
        )

    def _has_lean_gradient(self):
        """Whether written-out gradients (`_lean.py`) exist for this
        layer's configuration."""
        return False

    def _attend(self, path, query, key, value, masks, training, maps):
        """The path's contexts ``(B, T, H, dv)`` and, when `maps`, a dict
        of float32 ``(B, H, T, S)`` maps (else None)."""
        raise NotImplementedError

    # The arithmetic the paths share.
    def _scores(self, query, key):
        """Scaled ``Q K^T``: ``(B, H, T, S)`` (Keras' scaling order)."""
        query = ops.multiply(
            query, ops.cast(self._inverse_sqrt_key_dim, query.dtype)
        )
        return ops.einsum(self._dot_product_equation, key, query)

    def _maps(self, scores, masks, which, path):
        """float32 ``"global"`` or ``"local"`` maps of the additive or
        boolean path."""
        if path == "additive":
            return masked_softmax(scores, None, bias=masks.bias(which))
        return masked_softmax(scores, masks.merged(which))

    def _fused(self, query, key, value, masks, which):
        """``softmax(Q K^T / sqrt(d) + bias) V`` of the ``"global"`` or
        ``"local"`` maps by `ops.dot_product_attention`: ``(B, T, H,
        dv)``."""
        return ops.dot_product_attention(
            query,
            key,
            value,
            bias=masks.bias(which),
            scale=self._inverse_sqrt_key_dim,
            flash_attention=False,
        )

    def _context(self, probs, value, training):
        """``A V`` per head, with attention dropout: ``(B, T, H, dv)``."""
        probs = ops.cast(probs, self.compute_dtype)
        if self.dropout > 0.0:
            probs = self._dropout_layer(probs, training=training)
        return ops.einsum(self._combine_equation, probs, value)

    # ---------------------------------------------------------------- output
    def _project_output(self, context, gate):
        """``W^o`` of the (gated) context: ``(B, T, ...)`` outputs."""
        if gate is not None:
            context = ops.multiply(context, gate)
        return self.output_dense(context)

    def _zero_padded_rows(self, output, maps, query_mask):
        """Rows of padded query frames zero, in the output and the maps."""
        if query_mask is None:
            return output, maps
        keep = ops.cast(query_mask, "bool")
        output = ops.multiply(output, ops.cast(keep, output.dtype)[:, :, None])
        return output, zero_padded_map_rows(maps, keep)

    # ---------------------------------------------------------------- shapes
    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        value_shape = query_shape if value_shape is None else value_shape
        return super().compute_output_shape(query_shape, value_shape, key_shape)

    def compute_output_spec(self, *args, **kwargs):
        call = _CALL.bind(self, *args, **kwargs).arguments
        query, value, key = call["query"], call.get("value"), call.get("key")
        value = query if value is None else value
        shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if call.get("return_attention_scores"):
            maps = (
                query.shape[0],
                self.num_heads,
                query.shape[1],
                value.shape[1],
            )
            return output, keras.KerasTensor(maps, dtype=self.compute_dtype)
        return output

    def get_config(self):
        config = super().get_config()
        config["implementation"] = self.implementation
        return config


_CALL = inspect.signature(GMSAAttention.call)


def zero_padded_map_rows(maps, query_mask):
    """Rows of padded query frames zero in ``(B, H, T, S)`` maps (a tensor,
    a dict of them, or None)."""
    if maps is None or query_mask is None:
        return maps
    rows = ops.cast(query_mask, "bool")[:, None, :, None]
    return keras.tree.map_structure(
        lambda m: ops.where(rows, m, ops.zeros_like(m)), maps
    )
