"""What the three GMSA attention layers share (private).

(About 470 lines: MHA's call contract, kept whole in one class so that the
order of Keras' hooks reads as Keras runs them.)

`GMSAAttention` is `keras.layers.MultiHeadAttention` with per-head
structural masks. Keras' own parts stay Keras': the projections
(`_query_dense`, `_key_dense`, `_value_dense`, `_output_dense`, the
`use_gate` gate), their weight layout and config, `sliding_window`,
`use_causal_mask` and the merging of padding and user masks
(`_compute_attention_mask`). The layers override MHA's hook
`_compute_attention` and add:

- per-head structure: head h attends inside its `MaskSpec` (BD, TP, TD or
  global), ANDed with Keras' sliding window (``|i - j| < n``) and, with
  ``use_causal_mask=True``, the causal mask (a causal TP_W head is a
  streaming local head: frame i sees frames i - W .. i). For a static
  length these masks are NumPy constants built once per kind of call.
- exact padding: the softmax runs in float32 with masked entries exactly
  0, a row whose every key is masked is all zeros, and rows of padded
  query frames of the output are zero (the output bias included).

`call` is overridden only to take MHA's arguments with ``value`` optional
(self-attention), ``frame_mask`` as an alias of ``query_mask``, an explicit
``query_mask`` honoured (Keras' own `call` reads the query's Keras mask
only), and padded rows zeroed. It then runs the hooks in MHA's order.

One method, `_choose_path`, names the computation a call takes:

``"keras"``   no structure at all (every head global, no window, no causal
              mask) and no maps asked for: MHA's own `_compute_attention`
              (fused dot-product attention), where that is the faster
              (`fused_attention_is_faster`) or the call is not
              self-attention with key padding; otherwise ``"fast"``.
``"fused"``   `LocalMaskedMHA` with local heads and GateOp (its two
              contexts), where fused attention is the faster:
              `ops.dot_product_attention` with the additive per-head mask
              of the fast path.
``"banded"``  `LocalMaskedMHA(implementation="banded")`: local heads from
              the keys their mask can allow only, linear in T.
``"lean"``    GateAtt / GateOp in training: written-out gradients
              (`_lean.py`) that keep only the scores.
``"fast"``    self-attention whose only mask is the key padding: every BD,
              TP, TD, causal and window neighbourhood holds its own frame,
              so each real query row has an allowed key; the structure is
              an additive float32 constant and no second softmax pass runs.
``"dense"``   everything else: merged boolean masks, exact zero rows.
"""

import keras
import numpy as np
from keras import ops
from keras.src import backend as keras_backend

from keras_gmsa import masks as masks_lib
from keras_gmsa.layers._softmax import masked_softmax
from keras_gmsa.layers.attention._structure import AttentionMasks
from keras_gmsa.layers.attention._structure import structure

PATHS = ("keras", "fused", "banded", "lean", "fast", "dense")


def _over_heads(mask):
    """A bool ``(T, S)``, ``(B, T, S)`` or ``(B, H, T, S)`` mask as one
    broadcastable to ``(B, H, T, S)``."""
    mask = ops.cast(mask, "bool")
    if len(mask.shape) == 4:
        return mask
    while len(mask.shape) < 3:
        mask = ops.expand_dims(mask, 0)
    return ops.expand_dims(mask, 1)


def fused_attention_is_faster():
    """Whether Keras' `ops.dot_product_attention` beats this package's
    einsum, softmax, einsum on the current backend and device.

    PyTorch's `scaled_dot_product_attention` is one fused kernel on CPU and
    GPU (it takes an additive per-head mask); so is JAX's on GPU (cuDNN).
    On CPU, JAX's and TensorFlow's versions are the same three steps
    composed, and the package's own (one additive float32 mask, no second
    pass) measured faster in `benchmarks/models.py` (docs/performance.md).
    """
    backend = keras.config.backend()
    if backend == "torch":
        return True
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    return False


def parse_specs(specs, num_heads):
    """Per-head `MaskSpec`s, or None when `num_heads` is not a count
    (Keras' constructor then says what is wrong with it)."""
    if not isinstance(num_heads, int) or isinstance(num_heads, bool):
        return None
    if num_heads < 1:
        return None
    return masks_lib.parse_head_masks(specs, num_heads)


class GMSAAttention(keras.layers.MultiHeadAttention):
    """Multi-head attention over frames with per-head structural masks.

    Subclasses pass their per-head local `MaskSpec`s as `local_specs` and
    implement `_attend` (and, for another output, `_project_output`).
    """

    # Whether a head whose spec is global still has a local path (the
    # gated layers compute a global and a local map for every head).
    _every_head_local = False

    # "auto": take Keras' fused dot-product attention where it is the
    # faster (`fused_attention_is_faster`) and the call allows it; True:
    # wherever the call allows it; False: never, the package's own maps
    # (for comparisons, profiles and the tests of every path).
    fused_attention = "auto"

    def __init__(
        self,
        num_heads,
        key_dim,
        local_specs=None,
        flash_attention=None,
        **kwargs,
    ):
        # `flash_attention=False` asks for no fused kernel at all.
        self._fused_refused = flash_attention is False
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
        if local:
            # A fused kernel never runs; keep Keras' dropout check quiet.
            flash_attention = False
        super().__init__(
            num_heads, key_dim, flash_attention=flash_attention, **kwargs
        )
        # (Keras has checked num_heads.)
        self._local_specs = specs or (masks_lib.MaskSpec("global"),) * num_heads
        self._has_local = local
        self._built_lengths = None
        self._structure_cache = {}

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
        if tuple(self._attention_axes) != (1,):
            raise ValueError(
                f"{type(self).__name__} attends over the frame axis only "
                "(attention_axes=None, 1 or -2 for (batch, frames, "
                f"features) inputs). Received attention_axes="
                f"{self._attention_axes}."
            )
        self._built_lengths = (query_shape[1], value_shape[1])
        if None not in self._built_lengths:
            for spec in self._local_specs:
                spec.check_length(max(self._built_lengths))

    # ------------------------------------------------------------- structure
    def _structure(self, length, key_length, causal, which):
        """bool ``(H | 1, T, S)`` structure of the global or local maps,
        cached per kind of call for a static length (see `structure`)."""
        if which == "local" and not self._has_local:
            which = "global"
        static = isinstance(length, int) and isinstance(key_length, int)
        key = (length, key_length, causal, which)
        if static and key in self._structure_cache:
            return self._structure_cache[key]
        out = structure(
            self._local_specs if which == "local" else None,
            self._sliding_window,
            causal,
            length,
            key_length,
        )
        if static:
            self._structure_cache[key] = out
        return out

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
    ):
        output, scores = self._forward(
            query,
            value,
            key,
            query_mask,
            value_mask,
            key_mask,
            attention_mask,
            training,
            use_causal_mask,
            frame_mask,
            "scores" if return_attention_scores else None,
        )
        if return_attention_scores:
            return output, scores
        return output

    def _forward(
        self,
        query,
        value,
        key,
        query_mask,
        value_mask,
        key_mask,
        attention_mask,
        training,
        use_causal_mask,
        frame_mask,
        maps,
    ):
        """The whole call; `maps` is None, ``"scores"`` (the contract's
        tensor) or ``"all"`` (every map, for `attention_maps`)."""
        self_attention = value is None or value is query
        value = query if value is None else value
        key_given = key is not None and key is not value
        key = value if key is None else key
        if query_mask is None:
            query_mask = frame_mask
        if query_mask is None:
            query_mask = keras_backend.get_keras_mask(query)
        if value_mask is None:
            value_mask = keras_backend.get_keras_mask(value)
            if value_mask is None and self_attention:
                value_mask = query_mask
        if key_mask is None and key_given:
            key_mask = keras_backend.get_keras_mask(key)
        # The masks are handled here (as in Keras' MHA): projections must
        # not see them.
        for tensor in (query, value, key):
            keras_backend.set_keras_mask(tensor, None)
        self_attention = (
            self_attention
            and not key_given
            and key_mask is None
            and attention_mask is None
            and (value_mask is None or value_mask is query_mask)
        )
        if self_attention:
            pad = None
            if value_mask is not None:
                pad = ops.cast(value_mask, "bool")[:, None, None, :]
        else:
            pad = self._compute_attention_mask(
                query,
                value,
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
            )
        gate = self._gate_dense(query) if self._use_gate else None
        q = self._query_dense(query)
        k = self._key_dense(key)
        v = self._value_dense(value)
        if type(self)._compute_attention is not _OWN_COMPUTE_ATTENTION:
            # A user's subclass overriding MHA's hook with its original
            # signature gets one merged mask, causal mask included.
            pad = self._compute_attention_mask(
                query,
                value,
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
            )
            context, scores = self._compute_attention(
                q, k, v, pad, training, bool(maps)
            )
        else:
            context, scores = self._compute_attention(
                q,
                k,
                v,
                attention_mask=pad,
                training=training,
                return_attention_scores=maps,
                use_causal_mask=use_causal_mask,
                key_padding=self_attention,
            )
        output = self._project_output(context, gate)
        if query_mask is not None:
            keep = ops.cast(query_mask, "bool")
            output = ops.multiply(
                output, ops.cast(keep, output.dtype)[:, :, None]
            )
            if scores is not None:
                rows = keep[:, None, :, None]
                scores = keras.tree.map_structure(
                    lambda m: ops.where(rows, m, ops.zeros_like(m)), scores
                )
            keras_backend.set_keras_mask(output, query_mask)
        return output, scores

    def _project_output(self, context, gate):
        """``W^o`` of the (gated) context: ``(B, T, ...)`` outputs."""
        if gate is not None:
            context = ops.multiply(context, gate)
        return self._output_dense(context)

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
        """Keras' merge of the padding and user masks, broadcastable to
        ``(B, H, T, S)`` (a ``(B, H, T, S)`` user mask is ANDed after)."""
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
        if mask is not None:
            mask = _over_heads(mask)
        if per_head is not None:
            per_head = ops.cast(per_head, "bool")
            mask = per_head if mask is None else ops.logical_and(mask, per_head)
        return mask

    def _attention_masks(self, query, key, attention_mask, causal, padding):
        length, key_length = query.shape[1], key.shape[1]
        if length is None or key_length is None:
            length, key_length = ops.shape(query)[1], ops.shape(key)[1]
        if attention_mask is not None:
            attention_mask = _over_heads(attention_mask)
        return AttentionMasks(
            attention_mask,
            padding,
            self._structure(length, key_length, causal, "global"),
            self._structure(length, key_length, causal, "local"),
            cache=self._structure_cache,
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
        key_padding=False,
    ):
        """MHA's hook: attention of projected ``(B, T, H, d)`` queries,
        ``(B, S, H, d)`` keys and values.

        Args:
            attention_mask: bool, broadcastable to ``(B, H, T, S)``.
            use_causal_mask: AND the causal mask into every head.
            key_padding: `attention_mask` is a self-attention call's key
                padding only (see `_choose_path`).

        Returns:
            ``(contexts, scores)``: contexts ``(B, T, H, dv)`` (GateOp:
            the global then the local contexts, a pair or one ``(2, B, T,
            H, dv)`` tensor) and the
            maps in the compute dtype, or None.
        """
        maps = return_attention_scores
        if maps is True:
            maps = "scores"
        if self._flash_attention and maps:
            raise ValueError(
                "Returning attention scores is not supported when flash "
                "attention is enabled. Please disable flash attention to "
                "access attention scores."
            )
        masks = self._attention_masks(
            query, key, attention_mask, use_causal_mask, key_padding
        )
        path = self._choose_path(query, masks, training, maps)
        if path == "keras":
            return super()._compute_attention(
                query, key, value, masks.pad, training, False
            )
        context, scores = self._attend(
            path, query, key, value, masks, training, maps
        )
        if maps == "scores" and scores is not None:
            scores = ops.cast(scores, self.compute_dtype)
        return context, scores

    def _choose_path(self, query, masks, training, maps):
        """The one place that names the computation of a call (`PATHS`)."""
        if (
            not maps
            and not self._has_local
            and masks.structure is None
            and (masks.pad is None or masks.key_padding)
            and (fused_attention_is_faster() or not masks.key_padding)
        ):
            return "keras"
        if masks.key_padding and not maps:
            special = self._special_path(query, masks, training)
            if special is not None:
                return special
        if masks.key_padding and (
            masks.local is None or isinstance(masks.local, np.ndarray)
        ):
            return "fast"
        return "dense"

    def _fused_allowed(self, masks, training):
        """Whether this call may take ``"fused"``: self-attention with key
        padding, no attention dropout, static structure, a fused kernel
        that is the faster here, and a compute dtype that holds the -1e9
        of the additive mask (float16 turns it into -inf: NaN rows)."""
        if self.fused_attention is False or self._fused_refused:
            return False
        return (
            masks.key_padding
            and not (training and self._dropout > 0.0)
            and self.compute_dtype != "float16"
            and all(
                m is None or isinstance(m, np.ndarray)
                for m in (masks.structure, masks.local)
            )
            and (self.fused_attention is True or fused_attention_is_faster())
        )

    def _fused(self, query, key, value, masks, which):
        """``softmax(Q K^T / sqrt(d) + bias) V`` of the ``"global"`` or
        ``"local"`` maps, by `ops.dot_product_attention`: ``(B, T, H,
        dv)``."""
        return ops.dot_product_attention(
            query,
            key,
            value,
            bias=masks.bias(which),
            scale=self._inverse_sqrt_key_dim,
            flash_attention=False,
        )

    def _special_path(self, query, masks, training):
        """A subclass's own path for a self-attention call without maps
        (``"fused"``, ``"banded"`` or ``"lean"``), or None."""
        return None

    def _attend(self, path, query, key, value, masks, training, maps):
        raise NotImplementedError

    # --------------------------------------------------------------- helpers
    def _scores(self, query, key):
        """Scaled ``Q K^T``: ``(B, H, T, S)`` (Keras' scaling order)."""
        query = ops.multiply(
            query, ops.cast(self._inverse_sqrt_key_dim, query.dtype)
        )
        return ops.einsum(self._dot_product_equation, key, query)

    def _maps(self, scores, masks, which, path):
        """float32 attention maps of the ``"global"`` or ``"local"`` path."""
        if path == "fast":
            return masked_softmax(scores, None, bias=masks.bias(which))
        return masked_softmax(scores, masks.merged(which))

    def _context(self, probs, value, training):
        """``A V`` per head, with attention dropout: ``(B, T, H, dv)``."""
        probs = ops.cast(probs, self.compute_dtype)
        if self._dropout > 0.0:
            probs = self._dropout_layer(probs, training=training)
        return ops.einsum(self._combine_equation, probs, value)

    # ---------------------------------------------------------------- shapes
    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        value_shape = query_shape if value_shape is None else value_shape
        return super().compute_output_shape(query_shape, value_shape, key_shape)

    def compute_output_spec(
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
    ):
        value = query if value is None else value
        shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if return_attention_scores:
            maps = (
                query.shape[0],
                self.num_heads,
                query.shape[1],
                value.shape[1],
            )
            return output, keras.KerasTensor(maps, dtype=self.compute_dtype)
        return output


_OWN_COMPUTE_ATTENTION = GMSAAttention._compute_attention
