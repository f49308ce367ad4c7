"""Reference for `frontier.components.dp_ftrl.rounds.round_delta_sum`: a Python loop over
clients, one jitted local-SGD call each.

Same local SGD, keys and clipping as the vectorised round; `benchmarks/dp_ftrl.py` times the
two side by side, and `tests/components/test_dp_ftrl.py` checks that they agree. Not part of
the package: nobody trains with it.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.dp_ftrl.model import flatten_jnp, inverse_std
from frontier.components.dp_ftrl.rounds import local_sgd

__all__ = ["round_delta_sum_loop"]


@functools.partial(jax.jit, static_argnames=("local_epochs", "batch_size"))
def _one_client_delta(
    params, x, y, mask, key, mean, inv_std, client_lr, *, local_epochs, batch_size
):
    """One client's flat model delta (unclipped), float32 [d]."""
    final = local_sgd(
        params, x, y, mask, key, mean, inv_std, client_lr,
        local_epochs=local_epochs, batch_size=batch_size,
    )  # fmt: skip
    return flatten_jnp(final) - flatten_jnp(params)


def round_delta_sum_loop(params, clients, key, data, input_mean, input_var, *, clip=None, **local):
    """`round_delta_sum` computed client by client (float64 clipping and sum).

    The arguments are `round_delta_sum`'s without `client_chunk` (`local`: client_lr,
    local_epochs, batch_size).

    Returns:
      As `round_delta_sum`: float32 [d] sum of the clipped deltas, float32 [K] norms before
      clipping (NaN for empty slots, index -1).
    """
    client_lr = jnp.float32(local["client_lr"])
    local_epochs, batch_size = int(local["local_epochs"]), int(local["batch_size"])
    p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    mean = jnp.asarray(input_mean, jnp.float32)
    inv_std = jnp.asarray(inverse_std(input_var))
    bound = math.inf if clip is None else float(np.float32(clip))
    dx, dy, dm = jnp.asarray(data.x), jnp.asarray(data.y), jnp.asarray(data.mask)
    total = np.zeros(int(flatten_jnp(p).shape[0]))
    norms = []
    for c in np.asarray(clients):
        if c < 0:
            norms.append(np.nan)
            continue
        delta = _one_client_delta(
            p, dx[c], dy[c], dm[c], jax.random.fold_in(key, int(c)), mean, inv_std,
            client_lr, local_epochs=local_epochs, batch_size=batch_size,
        )  # fmt: skip
        delta = np.asarray(delta, np.float64)
        norm = float(np.sqrt(np.sum(delta * delta)))
        norms.append(norm)
        total += delta * min(1.0, bound / max(norm, 1e-30))
    return total.astype(np.float32), np.asarray(norms, np.float32)
