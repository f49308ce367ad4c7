"""frontier's built-in MLP as a model module (`model_type="mlp"`).

`custom_config`: `hidden_units` (list of ints, default [128]): the hidden
Dense layers. The model standardises its inputs with the train split's
statistics, then Dense(u, relu) per hidden layer, then a softmax head named
`probabilities` (`model.build_model`).
"""

from __future__ import annotations

from typing import Any

from frontier.components.trainer.modules import ModelSpec


def build_model(spec: ModelSpec, config: dict[str, Any]):
    """The MLP of `spec`'s sizes; see the module docstring for `config`."""
    from frontier.components.trainer.model import build_model as build
    from frontier.components.trainer.model import parse_hidden_units

    units = parse_hidden_units(config.get("hidden_units", [128]))
    return build(spec.info, "mlp", units, stats=(spec.feature_mean, spec.feature_variance))
