"""frontier's built-in MLP as a JAX model module for DP-FTRL (the default module).

The contract is `model_module`'s. `config` (the component's `custom_config`; frontier fills
in `hidden_units` from `FederatedConfig.hidden_units` when no module is named):
`hidden_units`, a list of ints (default [128]): the hidden Dense layers. The model is the
MLP of `frontier.components.trainer.model.build_model` without its standardisation layer
(frontier standardises the inputs before `apply`, for every module): ``Dense(u, relu)`` per
hidden layer, then ``Dense(num_classes)`` logits (`model.mlp_logits`). Parameters are a list
of `model.Dense` layers.

`init` draws the same Glorot-uniform kernels and zero biases as `model.init_params` with
NumPy, seeded by the integer held in `rng` (`seed_of_key`): ``init(jax.random.PRNGKey(s),
...)`` equals ``init_params(..., seed=s)``, so a run on this module gives exactly the
parameters the simulation gave before modules existed.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from frontier.components.dp_ftrl.model import Params, init_params, mlp_logits

__all__ = ["apply", "init", "seed_of_key"]

DEFAULT_HIDDEN_UNITS = (128,)


def seed_of_key(rng: jax.Array) -> int:
    """The integer seed a JAX PRNG key holds: s for ``jax.random.PRNGKey(s)`` (its uint32
    words read as one big-endian integer; typed keys are read through `key_data`)."""
    if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
        rng = jax.random.key_data(rng)
    seed = 0
    for word in np.asarray(rng, np.uint32).ravel():
        seed = (seed << 32) | int(word)
    return seed


def init(
    rng: jax.Array, input_shape: tuple[int, ...], num_classes: int, config: dict[str, Any]
) -> Params:
    """The MLP's initial parameters (`model.init_params`, seeded by `seed_of_key(rng)`).

    Args:
      rng: JAX PRNG key.
      input_shape: one example's shape, e.g. (D,) (flattened to D inputs).
      num_classes: C.
      config: ``{"hidden_units": [...]}`` (optional).

    Returns:
      ``[Dense(kernel [in, out], bias [out]), ...]`` float32.
    """
    from frontier.components.trainer.model import parse_hidden_units

    units = parse_hidden_units(config.get("hidden_units", list(DEFAULT_HIDDEN_UNITS)))
    input_dim = math.prod(int(d) for d in input_shape)
    return init_params(input_dim, num_classes, units, seed=seed_of_key(rng))


# apply(params, x float32 [B, ...]) -> logits [B, C]: the same function object as the rounds'
# default, so the built-in module and the default share their compiled rounds.
apply = mlp_logits
