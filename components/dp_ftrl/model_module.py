"""The JAX model-module contract: how a user's model enters the DP-FTRL simulation.

A model module is a Python file (`module_file`) or an importable module (`module_path`,
``package.module``), as the Keras trainers and the stock TFX Trainer take them, with two
functions::

    def init(rng: jax.Array, input_shape: tuple[int, ...], num_classes: int,
             config: dict) -> params
    def apply(params, x: jax.Array) -> logits

* `rng`: a JAX PRNG key (``jax.random.PRNGKey(s)``, s drawn from `FederatedConfig.seed`).
* `input_shape`: one example's shape without the batch axis, ``(D,)`` for frontier's
  concatenated features.
* `num_classes`: C, the data's classes (the Examples' label space).
* `config`: the component's `custom_config`, a JSON object of the module's hyperparameters.
* `params`: any pytree (nested dicts, lists, tuples; a Flax variables dict) of float arrays;
  every leaf is trained, and clipped and noised as one flat vector (`model.flatten_params`).
  Leaves are stored as float32.
* `apply`: pure, and jit-, vmap- and grad-able: float32 inputs x [B, *input_shape], already
  standardised by frontier (``(x - mean) * inv_std`` with public statistics; none by
  default), to float logits [B, C] (not probabilities: the loss is softmax cross-entropy and
  the exported model serves their softmax). It must be hashable (a plain function is): it is
  a static argument of the jitted rounds.

The issue's contract is ``init(rng, input_shape)``; frontier also passes `num_classes` (the
head's size comes from the data, as the Keras trainers' ``spec.num_classes``) and `config`
(the module's hyperparameters, as ``build_model(spec, config)`` gets them), so one module
serves any data set and configuration.

frontier's own MLP is the built-in module of the same contract (`mlp_module`, the default:
`builtin_model`), so a run that names no module and one that names a module take the same path.

Loading is the Keras trainers' (`trainer.modules`): TFX's `udf_utils.get_fn`, so a
`module_file` that a TFX runner packaged into a wheel under the pipeline root loads as a local
file does; the module's source hash enters the component's cache key (`module_version`).
Every failure is an `InputError` that names the module and the function: a missing file, an
import error inside it, no `init` or `apply`, an `init` that does not return a pytree of float
arrays, an `apply` that raises, cannot be differentiated, or returns anything but finite
logits [B, num_classes] on a probe batch (`JaxModel.check`).

Example module (two layers)::

    import jax, jax.numpy as jnp

    def init(rng, input_shape, num_classes, config):
        k1, k2 = jax.random.split(rng)
        d, h = input_shape[0], config.get("hidden", 32)
        return {"w1": jax.random.normal(k1, (d, h)) / jnp.sqrt(d), "b1": jnp.zeros(h),
                "w2": jax.random.normal(k2, (h, num_classes)) / jnp.sqrt(h),
                "b2": jnp.zeros(num_classes)}

    def apply(params, x):
        h = jnp.tanh(x @ params["w1"] + params["b1"])
        return h @ params["w2"] + params["b2"]
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl.model import Params
from frontier.components.trainer import (
    check_module_choice,
    module_function,
    parse_custom_config,
)

__all__ = [
    "APPLY_FN",
    "BUILTIN_MODULE",
    "INIT_FN",
    "JaxModel",
    "builtin_model",
    "check_module_file",
    "load_model",
]

INIT_FN = "init"
APPLY_FN = "apply"
BUILTIN_MODULE = "frontier.components.dp_ftrl.mlp_module"  # the default module
PROBE_BATCH = 2  # examples of the probe batch `JaxModel.check` runs `apply` on

_SIGNATURES = {
    INIT_FN: "init(rng, input_shape, num_classes, config) -> params (a pytree of float arrays)",
    APPLY_FN: "apply(params, x [B, *input_shape]) -> logits [B, num_classes]",
}


@dataclasses.dataclass(frozen=True, eq=False)
class JaxModel:
    """A JAX model module bound to its config: what the federated simulation trains.

    Attributes:
      name: the module as the user named it (file or path), for errors.
      init_fn: its ``init(rng, input_shape, num_classes, config)``.
      apply: its ``apply(params, x) -> logits`` (hashable; a static argument of the rounds).
      config: the module's hyperparameters (`custom_config`).
    """

    name: str
    init_fn: Callable[..., Params]
    apply: Callable[[Params, jax.Array], jax.Array]
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def init(self, rng: jax.Array, input_shape: Sequence[int], num_classes: int) -> Params:
        """Calls `init` and checks its result: a non-empty pytree of finite float arrays.

        Returns:
          The parameters, every leaf a float32 NumPy array.

        Raises:
          InputError: naming the module and `init` when it raises or returns anything else.
        """
        shape = tuple(int(d) for d in input_shape)
        try:
            params = self.init_fn(rng, shape, int(num_classes), dict(self.config))
        except InputError:
            raise
        except Exception as e:  # the user's code: say whose it was
            raise self._error(INIT_FN, f"raised {type(e).__name__}: {e}") from e
        leaves = jax.tree_util.tree_leaves(params)
        if not leaves:
            raise self._error(INIT_FN, f"returned {type(params).__name__} with no arrays")
        for leaf in leaves:
            dtype = getattr(leaf, "dtype", None)
            if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
                what = f"{type(leaf).__name__} of dtype {dtype}" if dtype else type(leaf).__name__
                raise self._error(INIT_FN, f"returned a pytree with a leaf that is {what}")
            if not np.all(np.isfinite(np.asarray(leaf))):
                raise self._error(INIT_FN, "returned parameters that are not all finite")
        return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), params)

    def check(self, input_shape: Sequence[int], num_classes: int, seed: int = 0) -> Params:
        """`init`, then `apply` jitted on a probe batch [2, *input_shape] (seeded normal
        draws) and its gradient: finite logits [2, num_classes], a finite gradient.

        Returns:
          The parameters of ``init(jax.random.PRNGKey(seed), ...)``.

        Raises:
          InputError: naming the module and the function that failed, and what was expected.
        """
        params = self.init(jax.random.PRNGKey(seed), input_shape, num_classes)
        shape = (PROBE_BATCH, *(int(d) for d in input_shape))
        x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
        try:
            hash(self.apply)
            logits = jax.jit(self.apply)(params, x)
        except Exception as e:  # the user's code: say whose it was
            raise self._error(APPLY_FN, f"raised {type(e).__name__}: {e}") from e
        got = getattr(logits, "shape", None)
        if got != (PROBE_BATCH, int(num_classes)) or not jnp.issubdtype(logits.dtype, jnp.floating):
            raise self._error(
                APPLY_FN,
                f"returned {type(logits).__name__} of shape {got} and dtype "
                f"{getattr(logits, 'dtype', None)} for a batch of {PROBE_BATCH} inputs of "
                f"shape {shape[1:]}",
                f"float logits [{PROBE_BATCH}, {num_classes}] (the data's {num_classes} classes)",
            )
        if not np.all(np.isfinite(np.asarray(logits))):
            raise self._error(APPLY_FN, "returned logits that are not all finite")

        def loss(p):
            return jnp.sum(jax.nn.log_softmax(self.apply(p, x))[:, 0])

        try:
            grad = jax.jit(jax.grad(loss))(params)
        except Exception as e:
            raise self._error(
                APPLY_FN, f"cannot be differentiated by jax.grad: {type(e).__name__}: {e}"
            ) from e
        if not all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grad)):
            raise self._error(APPLY_FN, "has a gradient that is not all finite")
        return params

    def _error(self, function: str, what: str, expected: str | None = None) -> InputError:
        return InputError(
            f"{self.name}: {function} {what}",
            function=function,
            expected=expected or f"{_SIGNATURES[function]} (pure JAX; see dp_ftrl.model_module)",
        )


def builtin_model(hidden_units: Sequence[int] = (128,)) -> JaxModel:
    """The built-in MLP module (`mlp_module`) with these hidden layers: frontier's default."""
    module = importlib.import_module(BUILTIN_MODULE)
    config = {"hidden_units": [int(u) for u in hidden_units]}
    return JaxModel(BUILTIN_MODULE, module.init, module.apply, config)


def load_model(
    module_file: str | None = None,
    module_path: str | None = None,
    custom_config: str | Mapping[str, Any] | None = None,
    *,
    hidden_units: Sequence[int] = (128,),
) -> JaxModel:
    """The module named by `module_file` or `module_path`, else the built-in MLP.

    `module_path` may be TFX's packaged form ``module@wheel`` (a TFX runner packages a
    `module_file` that way); TFX's `udf_utils.get_fn` installs the wheel and imports it.

    Args:
      module_file: a Python file with `init` and `apply`.
      module_path: an importable ``package.module`` with them instead (one of the two).
      custom_config: the module's config, a JSON object (text or mapping), or None.
      hidden_units: the built-in MLP's hidden layers (when no module is named; a
        `hidden_units` in `custom_config` wins).

    Returns:
      The `JaxModel` (not yet checked against data: see `JaxModel.check`).

    Raises:
      InputError: naming the module (and function): both or a missing file, an error while
        importing it, no `init` or `apply`; or naming `custom_config` when it is not a JSON
        object.
    """
    config = parse_custom_config(custom_config)
    if not module_file and not module_path:
        model = builtin_model(hidden_units)
        return dataclasses.replace(model, config={**model.config, **config})
    check_module_file(module_file, module_path)
    init_fn, apply_fn = (
        module_function(module_file, module_path, fn, _SIGNATURES[fn]) for fn in (INIT_FN, APPLY_FN)
    )
    return JaxModel(module_file or module_path, init_fn, apply_fn, config)


def check_module_file(module_file: str | None, module_path: str | None) -> None:
    """At most one of `module_file` and `module_path`; a given local file must exist.

    Raises:
      InputError: naming the file or the parameter.
    """
    if module_file and not module_path and "://" not in module_file:
        if not os.path.isfile(module_file):
            raise InputError(
                "no such module file",
                file=module_file,
                expected=f"a Python file with {INIT_FN} and {APPLY_FN} (dp_ftrl.model_module)",
            )
    check_module_choice(module_file, module_path)
