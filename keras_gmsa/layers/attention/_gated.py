"""The common base of GateAtt and GateOp (private)."""

import numpy as np

from keras_gmsa.layers.attention._base import GMSAAttention
from keras_gmsa.layers.attention._base import parse_specs


class GatedAttention(GMSAAttention):
    """Every head computes a global and a local map from one ``Q K^T``.

    Subclasses implement `_attend` and say in `_lean_allowed` whether the
    written-out gradient (`_lean.py`) applies to their configuration.
    """

    _every_head_local = True

    # Train through the written-out gradient when the call allows it
    # (False: automatic differentiation, for comparisons and profiles).
    lean_backward = True

    _map_names = ("global", "local")

    def __init__(
        self, num_heads, key_dim, local_mask, gate_use_bias=False, **kwargs
    ):
        specs = parse_specs(local_mask, num_heads)
        if specs is not None and all(s.is_global for s in specs):
            raise ValueError(
                f"{type(self).__name__} needs a local mask (e.g. 'tp10'); "
                f"received local_mask={local_mask!r}."
            )
        super().__init__(num_heads, key_dim, local_specs=specs, **kwargs)
        self.gate_use_bias = bool(gate_use_bias)

    @property
    def local_mask(self):
        specs = [str(s) for s in self._local_specs]
        return specs[0] if len(set(specs)) == 1 else specs

    def _lean_allowed(self):
        return True

    # Whether the layer's output needs the two contexts only (GateOp), so
    # that each can come from a fused attention kernel.
    _contexts_only = False

    def _special_path(self, query, masks, training):
        if self._contexts_only and self._fused_allowed(masks, training):
            return "fused"
        if (
            self.lean_backward
            and self._lean_allowed()
            and masks.structure is None  # no causal mask, no window
            and isinstance(masks.local, np.ndarray)
            and not (training and self._dropout > 0.0)
        ):
            return "lean"
        return None

    def attention_maps(
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
    ):
        """Every map of the layer, in inference mode.

        Takes the call arguments of the layer (without
        `return_attention_scores` and `training`).

        Returns:
            A dict of float32 ``(B, M, T, S)`` maps (see the class
            docstring for the keys); rows of padded frames are zero.
        """
        _, maps = self._forward(
            query,
            value,
            key,
            query_mask,
            value_mask,
            key_mask,
            attention_mask,
            False,
            use_causal_mask,
            frame_mask,
            "all",
        )
        return maps

    def get_config(self):
        config = super().get_config()
        config.update(
            local_mask=self.local_mask, gate_use_bias=self.gate_use_bias
        )
        return config
