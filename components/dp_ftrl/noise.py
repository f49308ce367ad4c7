"""The private mechanisms of the federated simulation behind one small interface.

Plain NumPy, no TFX. Every private mechanism here releases noisy prefix sums of the rounds'
sums of clipped deltas ``X_t``, and every one can be run as *per-round noise*: the server
adds ``n_t`` to ``X_t`` and keeps plain prefix sums, with ``n_t`` chosen so that
``sum_{s <= t} n_s`` is the mechanism's prefix-sum noise. A `NoiseMechanism` says

* **noise state and next noise**: ``init(shape) -> state`` and
  ``next(state, noise_std, rng) -> (n_t, state)``, ``noise_std = noise_multiplier * clip``;
* **sensitivity**: ``sensitivity_squared(prefix=False)``, the worst case over the run's
  participation patterns in units of clip**2 (``prefix=True``: after each round);
* **privacy event**: ``event(noise_multiplier)``, a `dp_accounting.ZCDpEvent` with
  ``rho = sensitivity_squared / (2 noise_multiplier**2)``; `account` turns it into the
  project's `accounting.PrivacyAccount` through the one accountant;
* ``prefix_variance()``: the prefix-sum noise variance after each round per unit
  ``noise_std`` (the error the mechanisms are compared on), and ``restarts(t)`` (the
  server drops its momentum where the mechanism starts afresh).

Three mechanisms (`MECHANISMS`, by `train_federated`'s names):

* `TreeMechanism` ("dp_ftrl"): tree aggregation with the plain or efficient (Honaker)
  estimator (`tree`); the tree is fed zero leaves, so its prefix estimate is pure noise
  ``e_t`` and ``n_t = e_t - e_{t-1}`` (``e_{-1} = 0``; with ``restart_every`` the tree and
  ``e`` start again). The same node noise as `tree.tree_add` on the real sums, drawn in the
  same order: the run equals DP-FTRLM in its prefix-sum form (`server.ftrl_update`; tested).
* `BltMechanism` ("blt_dp_ftrl"): ``n = C^-1 z`` of the run's buffered-linear Toeplitz
  factorization (`blt`, `accounting.blt_for_run`), streamed from d buffers.
* `GaussianMechanism` ("dp_fedavg"): fresh ``N(0, noise_std**2)`` each round.

A fourth mechanism is one class with these methods, registered in `MECHANISMS` (and, for
the MLMD ledger and `frontier privacy`, given a name in `accounting.ACCOUNTED_MECHANISMS`).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import dp_accounting
import numpy as np

from frontier.components.common.checks import check_choice, check_positive
from frontier.components.dp_ftrl import accounting, blt, tree

__all__ = [
    "MECHANISMS",
    "BltMechanism",
    "GaussianMechanism",
    "NoiseMechanism",
    "TreeMechanism",
    "mechanism_for",
]


@dataclasses.dataclass(frozen=True)
class NoiseMechanism(abc.ABC):
    """A private mechanism of a run of `rounds` rounds (see the module docstring); an
    abstract base: a mechanism implements the four abstract methods.

    Attributes:
      rounds: rounds of the run, >= 1.
      max_participations: most rounds of one client, >= 1.
      min_separation: least ``y - x`` between two of a client's rounds (frontier's
        convention; `blt.from_tf_privacy_separation` converts TF Privacy's).
    """

    name: ClassVar[str]  # train_federated's mechanism name
    account_name: ClassVar[str]  # the accountant's (`accounting.ACCOUNTED_MECHANISMS`)

    rounds: int
    max_participations: int
    min_separation: int

    @abc.abstractmethod
    def sensitivity_squared(self, prefix: bool = False) -> float | np.ndarray:
        """Squared sensitivity of the run (units of clip**2); ``prefix``: float64 [rounds]
        after each round."""

    @abc.abstractmethod
    def prefix_variance(self) -> np.ndarray:
        """float64 [rounds]: prefix-sum noise variance after each round, per unit noise_std."""

    @abc.abstractmethod
    def init(self, shape: tuple[int, ...]) -> Any:
        """The noise state before round 0, for sums of `shape`."""

    @abc.abstractmethod
    def next(
        self, state: Any, noise_std: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, Any]:
        """(float64 noise ``n_t`` of the state's shape, the next state)."""

    def restarts(self, t: int) -> bool:
        """Whether round t starts a new segment (the server resets its momentum)."""
        del t
        return False

    def event(self, noise_multiplier: float) -> dp_accounting.ZCDpEvent:
        """The run's privacy event at `noise_multiplier` (noise std / clip)."""
        nm = check_positive(noise_multiplier, "noise_multiplier")
        return dp_accounting.ZCDpEvent(rho=self.sensitivity_squared() / (2.0 * nm * nm))

    def account(self, noise_multiplier: float, delta: float) -> accounting.PrivacyAccount:
        """The run's `accounting.PrivacyAccount`: `event`'s rho, epsilon at `delta` by the
        accountant's conversion (`accounting.zcdp_to_epsilon`); for the built-in mechanisms
        the same as `accounting.account` (tested)."""
        rho = self.event(noise_multiplier).rho
        return accounting.PrivacyAccount(
            mechanism=self.account_name,
            rho=rho,
            epsilon=accounting.zcdp_to_epsilon(rho, delta),
            delta=float(delta),
            noise_multiplier=float(noise_multiplier),
            rounds=int(self.rounds),
            max_participations=int(self.max_participations),
            min_separation=int(self.min_separation),
            restart_every=getattr(self, "restart_every", None),
            sensitivity_squared=float(self.sensitivity_squared()),
        )


@dataclasses.dataclass(frozen=True)
class GaussianMechanism(NoiseMechanism):
    """DP-FedAvg without amplification: fresh Gaussian noise on every round's sum."""

    name: ClassVar[str] = "dp_fedavg"
    account_name: ClassVar[str] = accounting.MECHANISM_GAUSSIAN

    def sensitivity_squared(self, prefix: bool = False) -> float | np.ndarray:
        cap = accounting.participation_cap
        if not prefix:
            return float(cap(self.rounds, self.max_participations, self.min_separation))
        return np.array(
            [
                cap(r, self.max_participations, self.min_separation)
                for r in range(1, self.rounds + 1)
            ],
            dtype=np.float64,
        )

    def prefix_variance(self) -> np.ndarray:
        return np.arange(1, self.rounds + 1, dtype=np.float64)

    def init(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def next(self, state, noise_std, rng):
        noise = noise_std * rng.standard_normal(state) if noise_std > 0 else np.zeros(state)
        return noise, state


@dataclasses.dataclass(frozen=True)
class TreeMechanism(NoiseMechanism):
    """DP-FTRL's tree aggregation as per-round noise (see the module docstring).

    Attributes:
      estimator: "efficient" (Honaker) or "plain".
      restart_every: restart the tree every this many rounds (None: one tree).
    """

    name: ClassVar[str] = "dp_ftrl"
    account_name: ClassVar[str] = accounting.MECHANISM_TREE

    estimator: str = "efficient"
    restart_every: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.estimator, "estimator", tree.ESTIMATORS)

    def sensitivity_squared(self, prefix: bool = False) -> float | np.ndarray:
        args = (self.rounds, self.max_participations, self.min_separation)
        if not prefix:
            return float(
                accounting.tree_sensitivity_squared(*args, restart_every=self.restart_every)
            )
        # rho_over_rounds is sens2 / (2 nm**2); at nm = sqrt(1/2) it is sens2 itself.
        return accounting.rho_over_rounds(np.sqrt(0.5), *args, restart_every=self.restart_every)

    def prefix_variance(self) -> np.ndarray:
        return tree.prefix_noise_variance(
            self.rounds, 1.0, self.estimator, restart_every=self.restart_every
        )

    def init(self, shape):
        # (round t, the zero-leaf tree, its last prefix estimate e_{t-1}, the leaf shape)
        return (0, tree.tree_init(), 0.0, tuple(shape))

    def restarts(self, t: int) -> bool:
        return self.restart_every is not None and t > 0 and t % self.restart_every == 0

    def next(self, state, noise_std, rng):
        t, zero_tree, last, shape = state
        if self.restarts(t):
            zero_tree, last = tree.tree_init(), 0.0
        zero_tree = tree.tree_add(zero_tree, np.zeros(shape), noise_std, rng)
        estimate = tree.tree_prefix_sum(zero_tree, self.estimator)
        return estimate - last, (t + 1, zero_tree, estimate, shape)


@dataclasses.dataclass(frozen=True)
class BltMechanism(NoiseMechanism):
    """BLT-DP-FTRL: the correlated noise ``C^-1 z`` of a buffered-linear Toeplitz ``C``.

    Attributes:
      params: the BLT (None: `accounting.blt_for_run` of the run, the optimised one; other
        parameters are accounted by `blt.sensitivity_squared`, which falls back to an upper
        bound for coefficients that are not non-increasing).
    """

    name: ClassVar[str] = "blt_dp_ftrl"
    account_name: ClassVar[str] = accounting.MECHANISM_BLT

    params: blt.BltParams | None = None

    def blt_params(self) -> blt.BltParams:
        """The BLT this mechanism runs."""
        if self.params is not None:
            return self.params
        return accounting.blt_for_run(self.rounds, self.max_participations, self.min_separation)

    def sensitivity_squared(self, prefix: bool = False) -> float | np.ndarray:
        if self.params is None:
            args = (self.rounds, self.max_participations, self.min_separation)
            return accounting.blt_sensitivity_squared(*args, prefix=prefix)
        c = blt.blt_coefficients(self.params, self.rounds)
        k = accounting.participation_cap(self.rounds, self.max_participations, self.min_separation)
        sens = blt.sensitivity_squared(c, k, self.min_separation)
        if not prefix:
            return sens.value
        if not sens.exact:
            return np.full(self.rounds, sens.value)
        u = blt.pattern_sum(c, k, self.min_separation)
        return np.cumsum(u * u)

    def prefix_variance(self) -> np.ndarray:
        return blt.prefix_variance(blt.inverse_coefficients(self.blt_params(), self.rounds))

    def init(self, shape):
        return blt.BltNoise(self.blt_params(), tuple(shape))

    def next(self, state, noise_std, rng):
        shape = state.buffers.shape[1:]
        z = noise_std * rng.standard_normal(shape) if noise_std > 0 else np.zeros(shape)
        return state.next(z), state


MECHANISMS: dict[str, type[NoiseMechanism]] = {
    m.name: m for m in (TreeMechanism, BltMechanism, GaussianMechanism)
}


def mechanism_for(name: str, config: Any) -> NoiseMechanism:
    """The `NoiseMechanism` of `name` for a `FederatedConfig`-like `config` (rounds,
    max_participations, min_separation, estimator, restart_every)."""
    kind = MECHANISMS[check_choice(name, "mechanism", tuple(MECHANISMS))]
    common = dict(
        rounds=config.rounds,
        max_participations=config.max_participations,
        min_separation=config.min_separation,
    )
    if kind is TreeMechanism:
        return TreeMechanism(
            **common, estimator=config.estimator, restart_every=config.restart_every
        )
    return kind(**common)
