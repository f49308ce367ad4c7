"""Model parameters as plain pytrees: the flat layout, the loss, evaluation; the baseline MLP.

No TFX. Any model of the simulation is a JAX model module (`model_module`): its parameters
are a pytree of float32 arrays and ``apply(params, x) -> logits``. The server works on their
flat vector: the leaves in `jax.tree_util` order, each raveled row-major
(`flatten_params` / `flatten_jnp`, inverse `unflatten_like`; what
`jax.flatten_util.ravel_pytree` gives for float32 leaves). Inputs reach ``apply``
standardised, ``(x - mean) * inv_std`` with public statistics (`inverse_std`; mean 0 and
variance 1: none), for every module.

The built-in model (`mlp_module`) is the MLP of `frontier.components.trainer.model.build_model`
(model_type "mlp"): ``Dense(u, relu)`` for each ``u`` in ``hidden_units``, then
``Dense(num_classes)`` (softmax of these logits = Keras's output). Its parameters are a list of
`Dense` layers, ``{"kernel": [in, out], "bias": [out]}`` float32 dicts in Keras's layout whose
pytree order is kernel then bias (so the flat vector is kernel row-major then bias, layer by
layer, as it always was). `to_keras_weights` names them for Keras (``hidden0, hidden1, ...,
probabilities``) and `to_keras_model` builds the Keras model and loads them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.trainer.model import HEAD_LAYER

__all__ = [
    "Dense",
    "Params",
    "evaluate",
    "flatten_jnp",
    "flatten_params",
    "init_params",
    "mlp_logits",
    "model_logits",
    "softmax_loss",
    "to_keras_model",
    "to_keras_weights",
    "unflatten_like",
    "unflatten_params",
]

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Normalization divides by max(sqrt(var), eps)

Params = Any  # a pytree of float32 arrays; the MLP's: [Dense, ...], one per layer


class Dense(dict):
    """One Dense layer of the MLP, ``{"kernel": [in, out], "bias": [out]}``: a dict whose
    pytree order is kernel then bias (a plain dict's would be bias, kernel: sorted keys),
    which keeps the MLP's flat layout kernel-first."""

    def __init__(self, kernel: Any, bias: Any):
        super().__init__(kernel=kernel, bias=bias)


jax.tree_util.register_pytree_with_keys(
    Dense,
    lambda d: (
        (
            (jax.tree_util.DictKey("kernel"), d["kernel"]),
            (jax.tree_util.DictKey("bias"), d["bias"]),
        ),
        None,
    ),
    lambda _, children: Dense(*children),
    flatten_func=lambda d: ((d["kernel"], d["bias"]), None),
)


def init_params(
    input_dim: int, num_classes: int, hidden_units: Sequence[int], seed: int = 0
) -> Params:
    """Initial MLP parameters: Glorot-uniform kernels (Keras's default), zero biases.

    Args:
      input_dim: D.
      num_classes: C.
      hidden_units: hidden layer sizes.
      seed: seed of the draw.

    Returns:
      ``[Dense(kernel=float32 [in, out], bias=float32 [out]), ...]``.
    """
    rng = np.random.default_rng(seed)
    sizes = [int(input_dim), *map(int, hidden_units), int(num_classes)]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
        params.append(Dense(kernel, np.zeros(fan_out, dtype=np.float32)))
    return params


def param_shapes(params: Params) -> tuple[tuple[int, int], ...]:
    """The kernels' shapes [(in, out), ...] (what `unflatten_params` needs)."""
    return tuple(tuple(int(s) for s in layer["kernel"].shape) for layer in params)


def flatten_params(params: Params) -> np.ndarray:
    """The flat parameter vector [d]: the leaves in pytree order, each raveled row-major
    (for the MLP: per layer, the kernel then the bias)."""
    leaves = jax.tree_util.tree_leaves(params)
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in leaves])


def flatten_jnp(params: Params) -> jax.Array:
    """`flatten_params` in JAX (jit- and vmap-able)."""
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(params)])


def unflatten_like(flat: np.ndarray, template: Params) -> Params:
    """Inverse of `flatten_params`: `flat` [d] as a pytree shaped like `template`, float32
    NumPy leaves.

    Raises:
      InputError: `flat` does not have the template's number of entries.
    """
    flat = np.asarray(flat)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    sizes = [int(np.size(leaf)) for leaf in leaves]
    if flat.shape != (sum(sizes),):
        raise InputError(
            f"flat parameters have shape {flat.shape}", parameter="flat", expected=f"[{sum(sizes)}]"
        )
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return jax.tree_util.tree_unflatten(
        treedef,
        [
            p.reshape(np.shape(leaf)).astype(np.float32)
            for p, leaf in zip(parts, leaves, strict=True)
        ],
    )


def unflatten_params(flat: np.ndarray, shapes: Sequence[tuple[int, int]]) -> Params:
    """Inverse of `flatten_params` for the MLP given its kernels' shapes [(in, out), ...]."""
    template = [Dense(np.zeros(shape), np.zeros(shape[1])) for shape in shapes]
    return unflatten_like(flat, template)


def inverse_std(input_var: np.ndarray) -> np.ndarray:
    """float32 [D] ``1 / max(sqrt(var), 1e-7)``: Keras's Normalization layer's scale."""
    return (1.0 / np.maximum(np.sqrt(np.asarray(input_var, np.float32)), KERAS_EPSILON)).astype(
        np.float32
    )


def mlp_logits(params: Params, x: jax.Array) -> jax.Array:
    """Logits [B, C] of the MLP on (standardised) inputs [B, ...] flattened to [B, D] (JAX).

    Args:
      params: the layers (see `init_params`).
      x: float32 [B, D] (or [B, ...] with D entries per example).
    """
    h = jnp.reshape(x, (x.shape[0], -1))
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["kernel"] + layer["bias"])
    return h @ params[-1]["kernel"] + params[-1]["bias"]


def model_logits(params: Params, x: jax.Array, input_mean: jax.Array, inv_std: jax.Array):
    """Logits [B, C] of the MLP on raw inputs [B, D] (JAX; softmax of these = Keras's output).

    Args:
      params: the layers (see `init_params`).
      x: float32 [B, D].
      input_mean: float32 [D] standardisation mean.
      inv_std: float32 [D], ``1 / max(sqrt(var), 1e-7)``.
    """
    return mlp_logits(params, (x - input_mean) * inv_std)


def softmax_loss(logits: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy (nats) of logits [B, C] against y [B] over the examples
    of weight 1 (weight float [B]; 0 if none) (JAX)."""
    ll = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)[:, 0]
    return -(ll * weight).sum() / jnp.maximum(weight.sum(), 1.0)


def batch_loss(params, x, y, weight, input_mean, inv_std):
    """`softmax_loss` of the MLP on raw inputs x [B, D] (JAX)."""
    return softmax_loss(model_logits(params, x, input_mean, inv_std), y, weight)


@functools.partial(jax.jit, static_argnames=("apply",))
def _eval_jit(params, x, y, input_mean, inv_std, apply):
    logits = apply(params, (x - input_mean) * inv_std)
    ll = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)[:, 0]
    return jnp.mean(jnp.argmax(logits, axis=1) == y), -jnp.mean(ll)


def evaluate(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    input_mean: np.ndarray,
    input_var: np.ndarray,
    apply: Callable[[Params, jax.Array], jax.Array] = mlp_logits,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy in nats) of a model on (x [M, D], y [M]).

    Args:
      params: the model's parameters.
      x, y: raw inputs and int labels.
      input_mean, input_var: the standardisation statistics [D] (see `inverse_std`).
      apply: the model module's ``apply(params, x_standardised) -> logits [M, C]`` (default
        the MLP's).
    """
    acc, loss = _eval_jit(
        params,
        jnp.asarray(x, jnp.float32),
        jnp.asarray(y, jnp.int32),
        jnp.asarray(input_mean, jnp.float32),
        jnp.asarray(inverse_std(input_var)),
        apply,
    )
    return float(acc), float(loss)


def to_keras_weights(params: Params) -> dict[str, list[np.ndarray]]:
    """The parameters by Keras layer name of `build_model`'s MLP, for ``layer.set_weights``.

    Returns:
      ``{"hidden0": [kernel [in, out], bias [out]], ..., "probabilities": [kernel, bias]}``
      (float32 NumPy). The standardisation layer has no weights (its statistics are
      constants set by ``build_model(train_x=...)``).
    """
    names = [f"hidden{i}" for i in range(len(params) - 1)] + [HEAD_LAYER]
    return {
        name: [np.asarray(p["kernel"], np.float32), np.asarray(p["bias"], np.float32)]
        for name, p in zip(names, params, strict=True)
    }


def to_keras_model(params: Params, standardize_with: np.ndarray | None = None):
    """The Keras model of `frontier.components.trainer.model.build_model` with these weights.

    Args:
      params: trained parameters (e.g. ``FederatedResult.params``).
      standardize_with: the `standardize_with` array given to `train_federated` (None: none).

    Returns:
      A `keras.Model` float32 [B, D] -> probabilities [B, C], ready for the trainer's export.
    """
    from frontier.components.trainer.model import build_model

    input_dim = params[0]["kernel"].shape[0]
    num_classes = params[-1]["kernel"].shape[1]
    hidden = [int(p["kernel"].shape[1]) for p in params[:-1]]
    model = build_model((input_dim, num_classes), "mlp", hidden, train_x=standardize_with)
    for name, weights in to_keras_weights(params).items():
        model.get_layer(name).set_weights(weights)
    return model
