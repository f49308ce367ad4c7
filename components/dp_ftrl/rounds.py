"""One round's client computation in JAX: local SGD, clipping, the sum of clipped deltas.

No TFX. A client starts from the global model, runs ``local_epochs`` epochs of plain SGD
(step ``client_lr``, mini-batches of ``batch_size`` examples in a fresh seeded order each
epoch, mean softmax cross-entropy per batch) and returns its model delta
``w_local - w_global`` as a flat vector (`model.flatten_params`), clipped to L2 norm
``clip`` (`clip_deltas`). The K clients of a round are one jitted XLA call: `local_sgd` is
``vmap``-ed over clients (padded to a common length by `clients.pack_clients`), in chunks of
``client_chunk`` clients run one after another inside the call; clipping and the sum over
clients happen inside it too (`round_delta_sum`). Client c's batch orders come from
``jax.random.fold_in(round_key, c)``, so they do not depend on its slot in the round.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.checks import check_int
from frontier.components.dp_ftrl.clients import ClientData
from frontier.components.dp_ftrl.model import Params, batch_loss, flatten_jnp, inverse_std

__all__ = ["DEFAULT_CLIENT_CHUNK", "client_deltas", "clip_deltas", "local_sgd", "round_delta_sum"]

DEFAULT_CLIENT_CHUNK = 128  # clients per vmapped chunk of a round (see `_round_sum_jit`)


def local_sgd(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    input_mean: jax.Array,
    inv_std: jax.Array,
    client_lr: float | jax.Array,
    *,
    local_epochs: int,
    batch_size: int,
) -> Params:
    """One client's local SGD (JAX, jit- and vmap-able).

    Each epoch draws a uniformly random order of the client's real examples (from `key`), and
    takes ``P / batch_size`` steps on consecutive slices of it; real examples come first, so
    a client with n examples takes ``ceil(n / batch_size)`` real steps and the remaining
    all-padding steps have zero gradient (no-ops). A step minimises the mean cross-entropy
    over the real examples of its batch.

    Args:
      params: starting model.
      x: float32 [P, D] the client's padded inputs (P a multiple of batch_size).
      y: int32 [P] labels.
      mask: float32 [P], 1 for a real example.
      key: JAX PRNG key of the batch orders.
      input_mean, inv_std: standardisation, float32 [D] (see `model_logits`).
      client_lr: step size.
      local_epochs: passes over the data.
      batch_size: examples per step.

    Returns:
      The local model after ``local_epochs * P / batch_size`` steps.
    """
    x, y, mask = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
    pad = x.shape[0]
    steps = pad // batch_size

    def order(k):
        prio = jnp.where(mask > 0, jax.random.uniform(k, (pad,)), 2.0)
        return jnp.argsort(prio).reshape(steps, batch_size)

    orders = jax.vmap(order)(jax.random.split(key, local_epochs)).reshape(-1, batch_size)

    def step(p, idx):
        g = jax.grad(batch_loss)(p, x[idx], y[idx], mask[idx], input_mean, inv_std)
        return jax.tree_util.tree_map(lambda a, b: a - client_lr * b, p, g), None

    return jax.lax.scan(step, params, orders)[0]


def clip_deltas(deltas: jax.Array, clip: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Scales each row to L2 norm at most `clip`: ``row * min(1, clip / ||row||)``.

    Args:
      deltas: float [K, d] flat client deltas.
      clip: the norm bound (``inf``: no clipping).

    Returns:
      (clipped [K, d], norms [K] before clipping).
    """
    norms = jnp.sqrt(jnp.sum(deltas * deltas, axis=1))
    scale = jnp.minimum(1.0, clip / jnp.maximum(norms, 1e-30))
    return deltas * scale[:, None], norms


def _round_deltas(
    params,
    clients,
    key,
    data_x,
    data_y,
    data_mask,
    input_mean,
    inv_std,
    client_lr,
    clip,
    *,
    local_epochs,
    batch_size,
):
    """Clipped flat deltas [K, d] (zero rows for slots -1) and norms [K] (NaN there); JAX."""
    valid = clients >= 0
    idx = jnp.maximum(clients, 0)
    keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(idx)
    local = functools.partial(local_sgd, local_epochs=local_epochs, batch_size=batch_size)
    final = jax.vmap(local, in_axes=(None, 0, 0, 0, 0, None, None, None))(
        params, data_x[idx], data_y[idx], data_mask[idx], keys, input_mean, inv_std, client_lr
    )
    deltas = jax.vmap(flatten_jnp)(final) - flatten_jnp(params)
    clipped, norms = clip_deltas(deltas, clip)
    return clipped * valid[:, None], jnp.where(valid, norms, jnp.nan)


_round_deltas_jit = jax.jit(_round_deltas, static_argnames=("local_epochs", "batch_size"))


@functools.partial(jax.jit, static_argnames=("local_epochs", "batch_size", "client_chunk"))
def _round_sum_jit(params, clients, *rest, local_epochs, batch_size, client_chunk):
    # Chunks of `client_chunk` clients run one after another (lax.scan), each vmapped: the
    # working set (per-client parameter copies and deltas) stays in cache. Measured on 2 CPU
    # cores, 1000 clients of a 64-128-10 MLP: 3x faster with chunks of 128 than in one vmap.
    k = clients.shape[0]
    chunk = min(client_chunk, k)
    n = -(-k // chunk)
    padded = jnp.concatenate([clients, jnp.full(n * chunk - k, -1, clients.dtype)])

    def body(total, chunk_clients):
        clipped, norms = _round_deltas(
            params, chunk_clients, *rest, local_epochs=local_epochs, batch_size=batch_size
        )
        return total + clipped.sum(axis=0), norms

    zeros = jnp.zeros_like(flatten_jnp(params))
    total, norms = jax.lax.scan(body, zeros, padded.reshape(n, chunk))
    return total, norms.reshape(-1)[:k]


def _round_args(params, clients, key, data, input_mean, input_var, client_lr, clip):
    """The jitted round's positional arguments as JAX arrays (float32; clip None: inf)."""
    return (
        jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params),
        jnp.asarray(clients, jnp.int32),
        key,
        jnp.asarray(data.x),
        jnp.asarray(data.y),
        jnp.asarray(data.mask),
        jnp.asarray(input_mean, jnp.float32),
        jnp.asarray(inverse_std(input_var)),
        jnp.float32(client_lr),
        jnp.float32(math.inf if clip is None else clip),
    )


def client_deltas(
    params: Params,
    clients: np.ndarray,
    key: jax.Array,
    data: ClientData,
    input_mean: np.ndarray,
    input_var: np.ndarray,
    *,
    client_lr: float,
    local_epochs: int,
    batch_size: int,
    clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (clipped) model deltas of one round's clients, vectorised (one XLA call).

    Client c's batch orders come from ``jax.random.fold_in(key, c)``, so they do not depend
    on its slot in the round.

    Args:
      params: the global model.
      clients: int [K] client indices, -1 for an empty slot.
      key: the round's JAX PRNG key.
      data: `pack_clients` output (its batch size must divide P).
      input_mean, input_var: standardisation statistics [D].
      client_lr, local_epochs, batch_size: local SGD (see `local_sgd`).
      clip: L2 bound (None: no clipping).

    Returns:
      (float32 [K, d] flat clipped deltas, zero rows for empty slots; float32 [K] norms
      before clipping, NaN for empty slots).
    """
    clipped, norms = _round_deltas_jit(
        *_round_args(params, clients, key, data, input_mean, input_var, client_lr, clip),
        local_epochs=int(local_epochs),
        batch_size=int(batch_size),
    )
    return np.asarray(clipped), np.asarray(norms)


def round_delta_sum(
    params: Params,
    clients: np.ndarray,
    key: jax.Array,
    data: ClientData,
    input_mean: np.ndarray,
    input_var: np.ndarray,
    *,
    client_lr: float,
    local_epochs: int,
    batch_size: int,
    clip: float | None = None,
    client_chunk: int = DEFAULT_CLIENT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum over a round's clients of their clipped deltas (vectorised; see `client_deltas`).

    One jitted XLA call: chunks of `client_chunk` clients are vmapped, chunks run in sequence
    inside the call. `data`'s arrays may already be JAX device arrays (then nothing is copied;
    NumPy arrays are copied to the device on every call).

    Args:
      params, clients, key, data, input_mean, input_var, client_lr, local_epochs,
        batch_size, clip: as for `client_deltas`.
      client_chunk: clients per vmapped chunk (memory / cache trade-off; results equal up to
        float32 summation order).

    Returns:
      (float32 [d] sum of clipped deltas, float32 [K] norms before clipping, NaN for empty
      slots).
    """
    total, norms = _round_sum_jit(
        *_round_args(params, clients, key, data, input_mean, input_var, client_lr, clip),
        local_epochs=int(local_epochs),
        batch_size=int(batch_size),
        client_chunk=check_int(client_chunk, "client_chunk", 1),
    )
    return np.asarray(total), np.asarray(norms)
