"""Server optimisers of the federated simulation, optax-style: ``init(w0) -> state`` and
``update(state, delta_sum, present) -> (w, state)``.

Plain NumPy on the flat float64 model vector (`model.flatten_params`), no TFX. The update
takes the round's sum of (clipped) client deltas ``X_t`` and the number of clients present,
and returns the next model and state; the randomness comes from the generator the optimiser
was built with.

* `private_server`: every private mechanism (`noise.NoiseMechanism`: tree-aggregated
  DP-FTRL, BLT-DP-FTRL, DP-FedAvg): the mechanism's per-round noise ``n_t`` is added to
  ``X_t``, then server SGD with momentum on ``(X_t + n_t) / K`` (`momentum_update`),
  the momentum reset where the mechanism restarts. For the tree this is exactly DP-FTRLM
  in its prefix-sum form (`ftrl_init` / `ftrl_update`, the paper's Algorithm 1 with
  momentum; equations in `federated`'s docstring): both give
  ``w_{t+1} = w_{t0} + server_lr * sum_{j <= t} g_j (1 - momentum**(t - j + 1)) / (1 - momentum)``
  for the noisy mean deltas ``g_j`` (tested on the same noise draws).
* `fedavg_server`: server SGD with momentum on the mean delta of the clients present.

`server_optimizer(mechanism, config, noise_std, rng)` picks and configures one, so the
training loop does not branch on the mechanism.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from frontier.components.common.checks import check_choice
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig
from frontier.components.dp_ftrl.noise import NoiseMechanism, mechanism_for
from frontier.components.dp_ftrl.tree import TreeState, tree_add, tree_init, tree_prefix_sum

__all__ = [
    "FtrlState",
    "MomentumState",
    "PrivateState",
    "ServerOptimizer",
    "dp_fedavg_server",
    "dp_ftrl_server",
    "fedavg_server",
    "ftrl_init",
    "ftrl_update",
    "momentum_init",
    "momentum_update",
    "private_server",
    "server_optimizer",
]


class ServerOptimizer(NamedTuple):
    """A server optimiser as a pair of pure-ish functions (optax's `GradientTransformation`).

    Attributes:
      init: ``init(w0) -> state`` for the flat initial model w0 [d].
      update: ``update(state, delta_sum, present) -> (w, state)``: delta_sum float64 [d] is
        the round's sum of (clipped) client deltas, present the number of clients in it; w is
        the model after the round (flat float64 [d]).
    """

    init: Callable[[np.ndarray], Any]
    update: Callable[[Any, np.ndarray, int], tuple[np.ndarray, Any]]


class FtrlState(NamedTuple):
    """DP-FTRL server state (flat float64 vectors).

    Attributes:
      rounds: rounds done so far.
      w: the current model ``w_t``.
      w_base: ``w_{t0}``, the model at the start of the current tree.
      tree: the tree of the current segment (leaves: sums of clipped deltas).
      momentum: ``m_{t-1}`` (0.0 right after a (re)start).
    """

    rounds: int
    w: np.ndarray
    w_base: np.ndarray
    tree: TreeState
    momentum: np.ndarray | float


def ftrl_init(w0: np.ndarray) -> FtrlState:
    """DP-FTRL server state before round 0 at model `w0` (flat)."""
    w0 = np.array(w0, dtype=np.float64)
    return FtrlState(0, w0, w0, tree_init(), 0.0)


def ftrl_update(
    state: FtrlState,
    delta_sum: np.ndarray,
    *,
    clients_per_round: int,
    server_lr: float,
    momentum: float,
    nesterov: bool,
    noise_std: float,
    rng: np.random.Generator,
    estimator: str = "efficient",
    restart_every: int | None = None,
) -> FtrlState:
    """One DP-FTRLM server step (see the module docstring for the equations).

    Args:
      state: the state after t rounds.
      delta_sum: [d] the round's sum of clipped client deltas, ``X_t``.
      clients_per_round: K, the fixed divisor of the prefix sum.
      server_lr: eta.
      momentum: gamma.
      nesterov: Nesterov instead of heavy ball.
      noise_std: per-node noise std on the sum (``noise_multiplier * clip``).
      rng: NumPy generator of the tree noise.
      estimator: "efficient" or "plain".
      restart_every: restart the tree (and ``w_{t0}``, momentum) every this many rounds.

    Returns:
      The state after t + 1 rounds; its ``w`` is ``w_{t+1}``.
    """
    t, w, w_base, tree, m = state
    if restart_every is not None and t > 0 and t % restart_every == 0:
        w_base, tree, m = w, tree_init(), 0.0
    tree = tree_add(tree, delta_sum, noise_std, rng)
    d = tree_prefix_sum(tree, estimator) / clients_per_round
    m = momentum * m + d
    w = w_base + server_lr * (momentum * m + d if nesterov else m)
    return FtrlState(t + 1, w, w_base, tree, m)


class MomentumState(NamedTuple):
    """Server SGD-with-momentum state (flat float64): model ``w`` and velocity ``v``."""

    w: np.ndarray
    v: np.ndarray | float


def momentum_init(w0: np.ndarray) -> MomentumState:
    """Server momentum state at model `w0` (flat), zero velocity."""
    return MomentumState(np.array(w0, dtype=np.float64), 0.0)


def momentum_update(
    state: MomentumState,
    mean_delta: np.ndarray,
    *,
    server_lr: float,
    momentum: float,
    nesterov: bool,
) -> MomentumState:
    """Server SGD with momentum on the (noisy) mean delta g (the negative pseudo-gradient).

    ``v = momentum * v + g``; ``w += server_lr * v`` (heavy ball) or
    ``w += server_lr * (momentum * v + g)`` (Nesterov). With momentum 0 and server_lr 1 this
    is FedAvg's ``w += g``.
    """
    v = momentum * state.v + mean_delta
    step = momentum * v + mean_delta if nesterov else v
    return MomentumState(state.w + server_lr * step, v)


def dp_ftrl_server(
    config: FederatedConfig, noise_std: float, rng: np.random.Generator
) -> ServerOptimizer:
    """DP-FTRLM in the paper's prefix-sum form: `ftrl_init` and `ftrl_update`.

    The simulation runs the equal `private_server` with `noise.TreeMechanism`; this form
    is kept as the reference it is tested against.

    Args:
      config: server_lr, momentum, nesterov, clients_per_round (the fixed divisor K: the
        count of clients present would depend on the data), estimator, restart_every.
      noise_std: per-coordinate noise std of a tree node (``noise_multiplier * clip``).
      rng: the generator of the tree noise.
    """
    c = config

    def update(state: FtrlState, delta_sum: np.ndarray, present: int):
        del present  # the divisor is the fixed K
        state = ftrl_update(
            state,
            delta_sum,
            clients_per_round=c.clients_per_round,
            server_lr=c.server_lr,
            momentum=c.momentum,
            nesterov=c.nesterov,
            noise_std=noise_std,
            rng=rng,
            estimator=c.estimator,
            restart_every=c.restart_every,
        )
        return state.w, state

    return ServerOptimizer(ftrl_init, update)


class PrivateState(NamedTuple):
    """`private_server`'s state: the round, the momentum state and the mechanism's noise state."""

    rounds: int
    momentum: MomentumState
    noise: Any


def private_server(
    config: FederatedConfig,
    mechanism: NoiseMechanism,
    noise_std: float,
    rng: np.random.Generator,
) -> ServerOptimizer:
    """Server momentum on ``(X_t + n_t) / K``, ``n_t`` the mechanism's noise of round t.

    Args:
      config: server_lr, momentum, nesterov, clients_per_round (the fixed divisor K: the
        count of clients present would depend on the data).
      mechanism: the noise (`noise.TreeMechanism`, `noise.BltMechanism`,
        `noise.GaussianMechanism`, ...).
      noise_std: the mechanism's per-coordinate noise std (``noise_multiplier * clip``).
      rng: the generator of the noise.
    """
    c = config
    step = dict(server_lr=c.server_lr, momentum=c.momentum, nesterov=c.nesterov)

    def init(w0: np.ndarray) -> PrivateState:
        w0 = np.array(w0, dtype=np.float64)
        return PrivateState(0, momentum_init(w0), mechanism.init(w0.shape))

    def update(state: PrivateState, delta_sum: np.ndarray, present: int):
        del present  # the divisor is the fixed K
        t, moment, noise_state = state
        if mechanism.restarts(t):
            moment = MomentumState(moment.w, 0.0)
        noise, noise_state = mechanism.next(noise_state, noise_std, rng)
        moment = momentum_update(moment, (delta_sum + noise) / c.clients_per_round, **step)
        return moment.w, PrivateState(t + 1, moment, noise_state)

    return ServerOptimizer(init, update)


def _momentum_server(
    config: FederatedConfig, mean_delta: Callable[[np.ndarray, int], np.ndarray]
) -> ServerOptimizer:
    """Server SGD with momentum on ``mean_delta(delta_sum, present)`` (`momentum_update`)."""
    c = config

    def update(state: MomentumState, delta_sum: np.ndarray, present: int):
        step = dict(server_lr=c.server_lr, momentum=c.momentum, nesterov=c.nesterov)
        state = momentum_update(state, mean_delta(delta_sum, present), **step)
        return state.w, state

    return ServerOptimizer(momentum_init, update)


def dp_fedavg_server(
    config: FederatedConfig, noise_std: float, rng: np.random.Generator
) -> ServerOptimizer:
    """DP-FedAvg: server momentum on ``g = (X_t + N(0, noise_std**2)) / K``
    (`private_server` with `noise.GaussianMechanism`).

    Args:
      config: server_lr, momentum, nesterov, clients_per_round (the fixed divisor K).
      noise_std: per-coordinate noise std on a round's sum (``noise_multiplier * clip``).
      rng: the generator of the noise, fresh each round.
    """
    return private_server(config, mechanism_for("dp_fedavg", config), noise_std, rng)


def fedavg_server(config: FederatedConfig) -> ServerOptimizer:
    """FedAvg: server momentum on the unweighted mean delta of the clients present."""

    def mean(delta_sum: np.ndarray, present: int) -> np.ndarray:
        return delta_sum / present if present else np.zeros_like(delta_sum)

    return _momentum_server(config, mean)


def server_optimizer(
    mechanism: str, config: FederatedConfig, noise_std: float, rng: np.random.Generator
) -> ServerOptimizer:
    """The server optimiser of `mechanism` (one of `config.MECHANISMS`) for `config`.

    Args:
      mechanism: "fedavg", or a private mechanism of `noise.MECHANISMS` ("dp_ftrl",
        "blt_dp_ftrl", "dp_fedavg"), run by `private_server`.
      config: the run's settings.
      noise_std: the mechanism's per-coordinate noise std (``noise_multiplier * clip``);
        unused by FedAvg.
      rng: the generator of that noise.

    Raises:
      InputError: for a mechanism that is not one of `MECHANISMS`.
    """
    check_choice(mechanism, "mechanism", MECHANISMS)
    if mechanism == "fedavg":
        return fedavg_server(config)
    return private_server(config, mechanism_for(mechanism, config), noise_std, rng)
