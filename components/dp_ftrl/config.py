"""The hyper-parameters of a federated run (`FederatedConfig`), checked on construction.

Plain Python, no TFX, no JAX. `MECHANISMS` names what `train_federated` can run: "dp_ftrl"
(tree-aggregated noise, the paper's DP-FTRLM), "blt_dp_ftrl" (BLT matrix-factorization
noise at the same rho), "dp_fedavg" (fresh Gaussian noise each round at the same rho) and
"fedavg" (no clipping, no noise); `federated`'s module docstring states
each exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from frontier.components.common.checks import (
    check_choice,
    check_int,
    check_optional_int,
    check_positive,
    check_real,
)
from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl.accounting import check_participations
from frontier.components.dp_ftrl.tree import ESTIMATORS
from frontier.components.trainer.model import parse_hidden_units

__all__ = ["MECHANISMS", "FederatedConfig"]

MECHANISMS = ("dp_ftrl", "blt_dp_ftrl", "dp_fedavg", "fedavg")
_POSITIVE_INTS = (
    "clients_per_round",
    "rounds",
    "max_participations",
    "min_separation",
    "local_epochs",
    "local_batch_size",
    "eval_every",
)


@dataclasses.dataclass(frozen=True)
class FederatedConfig:
    """Hyper-parameters of a federated run; checked on construction (`InputError` names the field).

    `max_participations` must be reachable: at most ``1 + (rounds - 1) // min_separation``
    (`accounting.check_participations`; the accountant refuses impossible patterns).

    Attributes:
      clients_per_round: K, clients per round, >= 1.
      rounds: number of rounds R, >= 1.
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: least difference y - x between two rounds x < y of one client, >= 1.
      local_epochs: passes of local SGD over a client's data, >= 1.
      local_batch_size: examples per local SGD step, >= 1.
      client_lr: local SGD step size, > 0.
      server_lr: server step size eta, > 0 (1 with momentum 0: FedAvg's plain average).
      momentum: server momentum gamma, 0 <= gamma < 1.
      nesterov: Nesterov instead of heavy-ball momentum.
      clip: L2 norm bound of a client's model delta (DP mechanisms), > 0.
      noise_multiplier: DP-FTRL's noise std per tree node / clip, >= 0 (0: no privacy);
        BLT-DP-FTRL and DP-FedAvg derive theirs from it (same rho). FedAvg ignores it.
      restart_every: restart the tree every this many rounds (None: one tree).
      seed: seed of every random choice, >= 0.
      hidden_units: sizes of the hidden Dense layers (a sequence or a JSON list string).
      delta: the delta of the reported epsilon, 0 < delta < 1.
      eval_every: evaluate on `eval_data` every this many rounds (and after the last), >= 1.
      estimator: DP-FTRL's prefix-sum estimator, "efficient" (Honaker) or "plain".
    """

    clients_per_round: int = 10
    rounds: int = 100
    max_participations: int = 1
    min_separation: int = 1
    local_epochs: int = 1
    local_batch_size: int = 16
    client_lr: float = 0.1
    server_lr: float = 1.0
    momentum: float = 0.9
    nesterov: bool = False
    clip: float = 1.0
    noise_multiplier: float = 1.0
    restart_every: int | None = None
    seed: int = 0
    hidden_units: tuple[int, ...] = (128,)
    delta: float = 1e-6
    eval_every: int = 10
    estimator: str = "efficient"

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            check_int(getattr(self, name), name, 1)
        check_int(self.seed, "seed", 0)
        # A run in which a client cannot take part max_participations times is refused, as by
        # the accountant (whatever the mechanism).
        check_participations(self.rounds, self.max_participations, self.min_separation)
        check_optional_int(self.restart_every, "restart_every", 1)
        for name in ("client_lr", "server_lr", "clip"):
            check_positive(getattr(self, name), name)
        check_real(self.momentum, "momentum", low=0.0, high=1.0)
        check_real(self.noise_multiplier, "noise_multiplier", low=0.0)
        check_real(self.delta, "delta", low=0.0, low_ok=False, high=1.0)
        if not isinstance(self.nesterov, bool):
            raise InputError(
                f"nesterov is {self.nesterov!r}", parameter="nesterov", expected="True or False"
            )
        check_choice(self.estimator, "estimator", ESTIMATORS)
        object.__setattr__(self, "hidden_units", parse_hidden_units(self.hidden_units))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of all fields."""
        d = dataclasses.asdict(self)
        d["hidden_units"] = list(self.hidden_units)
        return d
