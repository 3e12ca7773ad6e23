"""The common base of GateAtt and GateOp (private): heads that compute a
global and a local map each, and the route to every map."""

from keras_gmsa.layers.attention._base import GMSAAttention
from keras_gmsa.layers.attention._base import parse_specs
from keras_gmsa.layers.attention._base import zero_padded_map_rows


class GlobalLocalAttention(GMSAAttention):
    """Every head computes a global and a local map from one ``Q K^T``.

    Subclasses implement `_attend`, returning with their contexts a dict
    of their maps (its keys are those of `attention_maps`), and say in
    `_has_lean_gradient` whether the written-out gradients (`_lean.py`)
    apply to their configuration.
    """

    _every_head_local = True
    # No banded form: GateAtt's gates are T x T, GateOp mixes two full
    # contexts.
    _implementations = ("auto", "maps", "fused")

    def __init__(
        self,
        num_heads,
        key_dim,
        local_mask,
        gate_use_bias=False,
        implementation="auto",
        **kwargs,
    ):
        specs = parse_specs(local_mask, num_heads)
        if specs is not None and all(s.is_global for s in specs):
            raise ValueError(
                f"{type(self).__name__} needs a local mask (e.g. 'tp10'); "
                f"received local_mask={local_mask!r}."
            )
        super().__init__(
            num_heads,
            key_dim,
            local_specs=specs,
            implementation=implementation,
            **kwargs,
        )
        self.gate_use_bias = bool(gate_use_bias)

    @property
    def local_mask(self):
        specs = [str(s) for s in self._local_specs]
        return specs[0] if len(set(specs)) == 1 else specs

    def attention_maps(self, query, value=None, key=None, **masks):
        """Every map of the layer, in inference mode.

        Takes the call arguments of the layer (without
        `return_attention_scores` and `training`).

        Returns:
            A dict of float32 ``(B, M, T, S)`` maps (see the class
            docstring for the keys); rows of padded frames are zero.
        """
        inputs = self._project_inputs(query, value, key, **masks)
        attention_masks = self._masks(
            inputs.query, inputs.key, inputs.attention_mask
        )
        path = self._choose_path(attention_masks, training=False, maps=True)
        _, maps = self._attend(
            path,
            inputs.query,
            inputs.key,
            inputs.value,
            attention_masks,
            False,
            True,
        )
        return zero_padded_map_rows(maps, inputs.query_mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            local_mask=self.local_mask, gate_use_bias=self.gate_use_bias
        )
        return config
