"""The baseline MLP as plain parameters: init, flatten, logits, evaluation, Keras conversion.

No TFX. The model is the MLP of `frontier.components.trainer.model.build_model` (model_type
"mlp"): standardise the inputs ``(x - mean) / max(sqrt(var), 1e-7)``, then ``Dense(u, relu)``
for each ``u`` in ``hidden_units``, then ``Dense(num_classes, softmax)``. Parameters are a
list of ``{"kernel": [in, out], "bias": [out]}`` float32 dicts, one per Dense layer, in
Keras's layout; the server works on their flat vector (`flatten_params`, kernel row-major
then bias, layer by layer). `to_keras_weights` names them for Keras (``hidden0, hidden1, ...,
probabilities``) and `to_keras_model` builds the Keras model and loads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.trainer.model import HEAD_LAYER

__all__ = [
    "Params",
    "evaluate",
    "flatten_params",
    "init_params",
    "model_logits",
    "to_keras_model",
    "to_keras_weights",
    "unflatten_params",
]

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Normalization divides by max(sqrt(var), eps)

Params = list  # [{"kernel": [in, out], "bias": [out]}, ...], one dict per Dense layer


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
      ``[{"kernel": float32 [in, out], "bias": float32 [out]}, ...]``.
    """
    rng = np.random.default_rng(seed)
    sizes = [int(input_dim), *map(int, hidden_units), int(num_classes)]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
        params.append({"kernel": kernel, "bias": np.zeros(fan_out, dtype=np.float32)})
    return params


def param_shapes(params: Params) -> tuple[tuple[int, int], ...]:
    """The kernels' shapes [(in, out), ...] (what `unflatten_params` needs)."""
    return tuple(tuple(int(s) for s in layer["kernel"].shape) for layer in params)


def flatten_params(params: Params) -> np.ndarray:
    """The flat parameter vector [d]: per layer, the kernel (row-major) then the bias."""
    return np.concatenate(
        [np.concatenate([np.ravel(p["kernel"]), np.ravel(p["bias"])]) for p in params]
    )


def flatten_jnp(params: Params) -> jax.Array:
    """`flatten_params` in JAX (jit- and vmap-able)."""
    return jnp.concatenate(
        [jnp.concatenate([jnp.ravel(p["kernel"]), jnp.ravel(p["bias"])]) for p in params]
    )


def unflatten_params(flat: np.ndarray, shapes: Sequence[tuple[int, int]]) -> Params:
    """Inverse of `flatten_params` given the kernels' shapes [(in, out), ...]; float32."""
    flat = np.asarray(flat)
    params, i = [], 0
    for fan_in, fan_out in shapes:
        kernel = flat[i : i + fan_in * fan_out].reshape(fan_in, fan_out)
        i += fan_in * fan_out
        bias = flat[i : i + fan_out]
        i += fan_out
        params.append({"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)})
    if i != flat.size:
        raise InputError(
            f"flat parameters have {flat.size} entries", parameter="flat", expected=f"{i}"
        )
    return params


def inverse_std(input_var: np.ndarray) -> np.ndarray:
    """float32 [D] ``1 / max(sqrt(var), 1e-7)``: Keras's Normalization layer's scale."""
    return (1.0 / np.maximum(np.sqrt(np.asarray(input_var, np.float32)), KERAS_EPSILON)).astype(
        np.float32
    )


def model_logits(params: Params, x: jax.Array, input_mean: jax.Array, inv_std: jax.Array):
    """Logits [B, C] of the MLP on inputs [B, D] (JAX; softmax of these = Keras's output).

    Args:
      params: the layers (see `init_params`).
      x: float32 [B, D].
      input_mean: float32 [D] standardisation mean.
      inv_std: float32 [D], ``1 / max(sqrt(var), 1e-7)``.
    """
    h = (x - input_mean) * inv_std
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["kernel"] + layer["bias"])
    return h @ params[-1]["kernel"] + params[-1]["bias"]


def batch_loss(params, x, y, weight, input_mean, inv_std):
    """Mean softmax cross-entropy (nats) over the examples of weight 1 (JAX; 0 if none)."""
    logits = model_logits(params, x, input_mean, inv_std)
    ll = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)[:, 0]
    return -(ll * weight).sum() / jnp.maximum(weight.sum(), 1.0)


@jax.jit
def _eval_jit(params, x, y, input_mean, inv_std):
    logits = model_logits(params, x, input_mean, inv_std)
    ll = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)[:, 0]
    return jnp.mean(jnp.argmax(logits, axis=1) == y), -jnp.mean(ll)


def evaluate(
    params: Params, x: np.ndarray, y: np.ndarray, input_mean: np.ndarray, input_var: np.ndarray
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy in nats) of the MLP on (x [M, D], y [M])."""
    acc, loss = _eval_jit(
        params,
        jnp.asarray(x, jnp.float32),
        jnp.asarray(y, jnp.int32),
        jnp.asarray(input_mean, jnp.float32),
        jnp.asarray(inverse_std(input_var)),
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
