"""frontier's built-in small ConvNet as a model module (`model_type="convnet"`).

`custom_config`: `hidden_units` (list of ints, default [128]): the Dense
layers after the convolutions; `conv_filters` (list of ints, default
[16, 32]): the filters of each Conv2D(3x3) + MaxPool(2x2) block. Needs image
data (`spec.image_shape`). See `model.build_model`.
"""

from __future__ import annotations

from typing import Any

from frontier.components.trainer.modules import ModelSpec


def build_model(spec: ModelSpec, config: dict[str, Any]):
    """The ConvNet of `spec`'s sizes; see the module docstring for `config`."""
    from frontier.components.trainer.model import (
        DEFAULT_CONV_FILTERS,
        parse_hidden_units,
    )
    from frontier.components.trainer.model import (
        build_model as build,
    )

    units = parse_hidden_units(config.get("hidden_units", [128]))
    filters = tuple(config.get("conv_filters", DEFAULT_CONV_FILTERS))
    return build(
        spec.info,
        "convnet",
        units,
        conv_filters=filters,
        stats=(spec.feature_mean, spec.feature_variance),
    )
