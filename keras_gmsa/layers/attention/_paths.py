"""Which computation an attention call takes: the one place it is decided.

A layer's ``implementation`` (saved in its config) is what its user asks
for; `choose_path` turns it, the backend and the facts of one call into a
path, a pure function of its arguments:

``"keras"``     no local head and no maps asked for: MHA's own
                `_compute_attention` (Keras' fused dot-product attention).
``"fused"``     `ops.dot_product_attention` with the additive per-head mask
                (ShareAtt's local heads, GateOp's two contexts).
``"banded"``    `LocalMaskedMHA`'s local heads from the keys their mask can
                allow only, linear in T.
``"lean"``      GateAtt / GateOp with written-out gradients that keep the
                scores only (`_lean.py`).
``"additive"``  the package's maps with the structure as one additive
                float32 constant: a key mask only, so every real query row
                has an allowed key (its own frame) and no second pass runs.
``"boolean"``   the package's maps with merged boolean masks and exact zero
                rows: any mask (Keras' merge of query, value and key masks,
                causal and window masks, a user's attention mask).

The implementations a user can ask for:

``"auto"``    the fastest for the backend and the call: the fused kernels
              where they are the faster (`fused_attention_is_faster`), the
              written-out gradients of the gated layers.
``"maps"``    the package's own maps only, differentiated automatically
              (the reference the other paths are tested against).
``"fused"``   a fused kernel wherever the call allows one, on every backend
              (for comparisons; slower than "auto" off PyTorch).
``"banded"``  `LocalMaskedMHA` only: the banded local heads wherever the
              call allows them, otherwise as "auto".

``"dense"`` is the name earlier versions gave "auto" (`LocalMaskedMHA`'s
default, in their saved files); it is read as "auto".
"""

import dataclasses

import keras

PATHS = ("keras", "fused", "banded", "lean", "additive", "boolean")
IMPLEMENTATIONS = ("auto", "maps", "fused", "banded")
EARLIER_NAMES = {"dense": "auto"}


def implementation_of(layer_name, implementation, allowed=IMPLEMENTATIONS):
    """`implementation` checked against those `allowed` for a layer (its
    earlier names read as their current ones)."""
    implementation = EARLIER_NAMES.get(implementation, implementation)
    if implementation not in allowed:
        raise ValueError(
            f"{layer_name} takes implementation= one of {allowed}. Received "
            f"implementation={implementation!r}."
        )
    return implementation


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


@dataclasses.dataclass(frozen=True)
class LayerFacts:
    """What a layer can compute.

    Attributes:
        has_local: some head (every head, in the gated layers) has a local
            map.
        contexts_only: its output needs the contexts ``A V`` only, not the
            maps (LocalMaskedMHA, GateOp): a fused kernel can give them.
        lean: it has written-out gradients for its configuration.
        flash_refused: ``flash_attention=False``: no fused kernel of ours.
    """

    has_local: bool
    contexts_only: bool
    lean: bool = False
    flash_refused: bool = False


@dataclasses.dataclass(frozen=True)
class CallFacts:
    """What one call asks for.

    Attributes:
        maps: the maps are returned (`return_attention_scores`,
            `attention_maps`).
        key_mask_only: the mask is None or the key padding of a
            self-attention call.
        static: the lengths are known when the call is traced (the local
            structure is a NumPy constant).
        dropout: attention dropout is active (training, rate > 0).
        float16: the compute dtype is float16 (the -1e9 of an additive
            mask is -inf there).
    """

    maps: bool = False
    key_mask_only: bool = True
    static: bool = True
    dropout: bool = False
    float16: bool = False


def choose_path(implementation, layer, call, fused_faster):
    """The path (`PATHS`) of one call.

    Args:
        implementation: one of `IMPLEMENTATIONS`.
        layer: `LayerFacts`.
        call: `CallFacts`.
        fused_faster: `fused_attention_is_faster()` on this backend.
    """
    if not call.key_mask_only:
        return "boolean"
    if not call.maps:
        wants_fused = implementation == "fused" or (
            implementation in ("auto", "banded") and fused_faster
        )
        if not layer.has_local and wants_fused:
            return "keras"
        if implementation == "banded" and layer.has_local and call.static:
            return "banded"
        if (
            wants_fused
            and layer.has_local
            and layer.contexts_only
            and call.static
            and not (layer.flash_refused or call.dropout or call.float16)
        ):
            return "fused"
        if (
            implementation != "maps"
            and layer.lean
            and call.static
            and not call.dropout
        ):
            return "lean"
    if call.static or not layer.has_local:
        return "additive"
    return "boolean"
