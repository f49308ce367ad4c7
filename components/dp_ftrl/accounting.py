"""Privacy accounting for DP-FTRL with tree aggregation, and for DP-FedAvg without amplification.

Plain functions, no TFX. The mechanism (Kairouz et al., "Practical and Private (Deep)
Learning without Sampling or Shuffling", ICML 2021, appendix D; deployed for Gboard in
Xu et al., "Federated Learning of Gboard Language Models with Differential Privacy", 2023):

* Training runs ``rounds`` rounds, numbered ``0 .. rounds - 1``. In each round every
  participating client contributes one model delta clipped to L2 norm ``<= clip``; the
  server sums them.
* The per-round sums are the leaves of a binary tree. Every tree node holds the sum of the
  leaves under it plus independent Gaussian noise of standard deviation
  ``noise_multiplier * clip`` (per coordinate); the model is a post-processing of the
  released nodes.
* A client takes part in at most ``max_participations`` rounds, and two of its rounds ``x < y``
  always satisfy ``y - x >= min_separation`` (so ``min_separation = 1`` only forbids taking
  part twice in one round). TensorFlow Privacy's ``min_separation`` counts the rounds strictly
  between two participations, i.e. it is ours minus one.
* With ``restart_every = N`` the tree is restarted every ``N`` rounds: rounds
  ``[0, N), [N, 2N), ...`` each get their own tree (the last one may be shorter). The
  participation constraints still hold over the whole run.

**Which tree nodes count.** A node is released when its last leaf has arrived, so after
``T`` rounds of one tree the released nodes are exactly the *dyadic intervals*
``[j * 2**l, (j + 1) * 2**l)`` (relative to the tree's first round) that lie inside
``[0, T)``. For ``T`` not a power of two there is no single root: the released nodes form a
forest of complete subtrees, one per set bit of ``T`` (2000 = 1024 + 512 + 256 + 128 + 64 + 16).
A round in the first 1024 lies under ``floor(log2(T)) + 1 = 11`` released nodes, which gives
the single-participation value ``rho = 11 / (2 * 7**2) = 11/98``; a tree padded to 2048
leaves would count its never-completed root as a twelfth node, and would give
``rho = 115/98`` instead of 79/98 = 0.8061 for the production configuration. This is also the
tree of TensorFlow Privacy's ``tree_aggregation_accountant`` (complete left subtree of size
``2**floor(log2 T)``, root counted only for powers of two), and since "released by round
``r``" does not depend on the total length, the account after ``r`` rounds is the account of
a run of ``r`` rounds (`epsilon_after`, `rho_over_rounds`).

**Sensitivity.** Adding or removing one client changes a node by the sum of its clipped
deltas in the rounds under the node, L2 norm ``<= count * clip``. All released nodes together
are one Gaussian mechanism with squared L2 sensitivity
``clip**2 * max_pattern sum_nodes count(node)**2``, the maximum running over the allowed
participation patterns, hence ``rho = sensitivity_squared / (2 * noise_multiplier**2)``
(``clip`` cancels). `tree_sensitivity_squared` computes this maximum exactly by a dynamic
programme over the tree (see `_combine`); `epsilon` comes from ``rho`` through the RDP curve
``alpha -> alpha * rho`` and dp_accounting's RDP-to-(epsilon, delta) conversion.

**Both mechanisms, one path.** Every rho and epsilon of the project comes from `account`
(given the mechanism and the run's parameters; `tree_account` and `gaussian_account` are its
two cases): rho is ``sensitivity_squared / (2 * noise_multiplier**2)`` for both, with the
tree's worst-case sum of squared node counts (above) or, for DP-FedAvg's fresh Gaussian noise
each round (no amplification), the most rounds one client can take part in,
`participation_cap` ``= min(max_participations, 1 + (rounds - 1) // min_separation)``.
`epsilon_per_round` gives an
account's epsilon after each round, `calibrate_noise_multiplier` the noise for a target
epsilon, and `matched_gaussian_account` the DP-FedAvg account at a DP-FTRL account's rho (the
baseline of the federated simulation).

**BLT-DP-FTRL** (`MECHANISM_BLT`): the noise is ``C^-1 z`` for a buffered-linear Toeplitz
``C`` (`blt`); `blt_for_run` optimises it once per (rounds, participations, separation) and
`blt_sensitivity_squared` gives its exact min-separation sensitivity (its coefficients are
positive and non-increasing), so rho is again ``sensitivity_squared / (2 noise_multiplier**2)``
with ``noise_multiplier`` the std of ``z`` over clip. `matched_account` gives any mechanism's
account at a tree account's rho.

**Impossible participation patterns are refused, not capped.** Two of a client's rounds are
at least ``min_separation`` apart, so ``rounds`` rounds hold at most
``1 + (rounds - 1) // min_separation`` participations (`max_possible_participations`). A
configuration asking for more (e.g. ``max_participations = 10`` in 20 rounds at separation 5,
which allow 4) describes a run that cannot happen: `account`, `calibrate_noise_multiplier`,
`epsilon_over_rounds` and `TreeAccountingConfig` raise an `InputError` naming
``max_participations`` and the largest possible value (`check_participations`), instead of
accounting it silently as the smaller, possible number. The sensitivity functions
(`tree_sensitivity_squared`, `sensitivity_squared`, `tree_rho`, `rho_over_rounds`,
`participation_cap`) and `epsilon_after` are maxima over "at most ``max_participations``"
and stay defined for any value: they also account prefixes of a run, which allow fewer
participations than the whole run.

The production configuration (noise multiplier 7.0, 2000 rounds, at most 6 participations,
min separation 313) has sensitivity_squared = 79, rho = 79/98 = 0.8061 and
epsilon = 8.90 at delta = 1e-10.

Typical use::

    from frontier.components.dp_ftrl import MECHANISM_TREE, account
    result = account(MECHANISM_TREE, 7.0, rounds=2000, max_participations=6,
                     min_separation=313, delta=1e-10)
    result.rho, result.epsilon        # 0.8061..., 8.8986...
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import dp_accounting
import numpy as np

from frontier.components.common.checks import (
    check_choice,
    check_int,
    check_optional_int,
    check_positive,
    check_real,
)
from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import blt

MECHANISM_TREE = "dp_ftrl_tree_aggregation"
MECHANISM_GAUSSIAN = "dp_fedavg_gaussian"
MECHANISM_BLT = "dp_ftrl_blt"
ACCOUNTED_MECHANISMS = (MECHANISM_TREE, MECHANISM_BLT, MECHANISM_GAUSSIAN)

__all__ = [
    "ACCOUNTED_MECHANISMS",
    "MECHANISM_BLT",
    "MECHANISM_GAUSSIAN",
    "MECHANISM_TREE",
    "PrivacyAccount",
    "TreeAccountingConfig",
    "account",
    "blt_for_run",
    "blt_sensitivity_squared",
    "calibrate_noise_multiplier",
    "check_participations",
    "epsilon_after",
    "epsilon_over_rounds",
    "epsilon_per_round",
    "epsilons_of_rho_curve",
    "gaussian_account",
    "gaussian_noise_multiplier_for_rho",
    "gaussian_rho",
    "matched_account",
    "matched_gaussian_account",
    "max_possible_participations",
    "participation_cap",
    "rho_over_rounds",
    "sensitivity_squared",
    "tree_account",
    "tree_rho",
    "tree_sensitivity_squared",
    "zcdp_to_epsilon",
]


# --- parameter checks ------------------------------------------------------------------------


def _check_delta(delta: Any) -> float:
    return check_real(delta, "delta", low=0.0, low_ok=False, high=1.0)


def _check_orders(orders: Sequence[float] | None) -> np.ndarray | None:
    if orders is None:
        return None
    arr = np.asarray(orders, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 1.0):
        raise InputError(
            f"orders must be a non-empty list of finite RDP orders, got {orders!r}",
            parameter="orders",
            expected="finite numbers > 1",
        )
    return arr


def _check_run(
    rounds: Any, max_participations: Any, min_separation: Any, restart_every: Any
) -> tuple[int, int, int, int | None]:
    """(rounds, k, gap, restart_every) of a tree run, checked; gap = min(separation, rounds)."""
    rounds = check_int(rounds, "rounds", 1)
    k = check_int(max_participations, "max_participations", 1)
    # A gap >= rounds already allows only one participation.
    gap = min(check_int(min_separation, "min_separation", 1), rounds)
    return rounds, k, gap, check_optional_int(restart_every, "restart_every", 1)


def _check_mechanism(mechanism: Any) -> str:
    return check_choice(mechanism, "mechanism", ACCOUNTED_MECHANISMS)


# --- the dynamic programme -------------------------------------------------------------------
#
# A *segment* is a run of consecutive rounds [0, n) (relative offsets). For a pattern of
# participations inside it let first and last be its first and last offsets; its *front
# slack* is `first` and its *back slack* is `n - 1 - last`. A participation to the left of
# the segment, with back slack t inside its own segment, is compatible with our pattern iff
# t + first >= gap - 1 (the two rounds differ by t + 1 + first >= gap). So slacks matter only
# up to gap - 1 and are stored capped: a in [0, min(n, gap)).
#
# For each participation count c >= 1 a segment stores level sets of
#   F_c(a, b) = max of sum_nodes count(node)**2 over the patterns with c participations,
#               front slack >= a and back slack >= b (nodes inside the segment only)
# as `values` (increasing) and `slack[i, a]` = the largest b with F_c(a, b) >= values[i]
# (-1: none). F_c is non-increasing in a and in b, so each level set is described by one
# vector over a; there are few distinct values, so this is much smaller than the full
# (a, b) table. Count 0 is implicit (value 0, no constraint).
#
# `_combine(left, right)` gives the table of the concatenated segment: the pattern splits
# into a left part (c_L) and a right part (c_R). With both non-empty, the best left part at
# level v_L and front slack a leaves back slack t = slack_L[v_L](a) (larger t only helps the
# right part), so the right part's front slack must be >= gap - 1 - t and the best back slack
# at level v_R is slack_R[v_R](gap - 1 - t): one gather per pair of levels, exact. With one
# side empty, slacks pass through shifted by the other side's length. If the concatenation is
# itself a released node (two sibling complete subtrees), every c gains c**2.
#
# Complete subtrees of size 2**l have tables depending only on (l, gap, k): they are built by
# doubling and cached. A run is the left-to-right fold of the complete subtrees of each
# restarted tree (binary decomposition of its length); the fold's state needs only a = 0
# (the run starts at round 0), so its slack has one column.


@dataclasses.dataclass(frozen=True)
class _Table:
    """Level sets of one segment. `levels[c] = (values (m,), slack (m, A))` for c >= 1."""

    length: int
    levels: dict[int, tuple[np.ndarray, np.ndarray]]


def _gather(slack: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """slack[:, idx] with -1 where idx is out of range (idx >= width means 'no room')."""
    width = slack.shape[1]
    padded = np.concatenate([slack, np.full((slack.shape[0], 1), -1, dtype=slack.dtype)], axis=1)
    return padded[:, np.minimum(idx, width)]


def _reduce(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Level sets from candidates sorted by decreasing value: cumulative max, redundant dropped."""
    rows = np.maximum.accumulate(rows, axis=0)
    last = np.append(values[1:] != values[:-1], True)  # last row of each value holds its max
    values, rows = values[last], rows[last]
    keep = (rows >= 0).any(axis=1)
    # A level whose row equals the next higher level's row is dominated by it.
    keep[1:] &= (rows[1:] != rows[:-1]).any(axis=1)
    if not keep.any():
        return None
    return values[keep][::-1].copy(), rows[keep][::-1].copy()


def _combine(left: _Table, right: _Table, *, gap: int, k: int, counted: bool, fold: bool) -> _Table:
    """Table of the segment `left` followed by `right`; `counted`: it is a released node."""
    n_l, n_r = left.length, right.length
    n = n_l + n_r
    width = 1 if fold else min(n, gap)  # the fold only ever asks for front slack 0
    b_cap = min(n, gap) - 1
    a = np.arange(width)
    counts: list[np.ndarray] = []
    values: list[np.ndarray] = []
    rows: list[np.ndarray] = []

    def add(c: np.ndarray | int, v: np.ndarray, r: np.ndarray) -> None:
        counts.append(np.broadcast_to(np.asarray(c, dtype=np.int64), v.shape))
        values.append(v)
        rows.append(r)

    # Right part empty: back slack grows by the right segment's length.
    for c, (v, slack) in left.levels.items():
        s = _gather(slack, a)
        add(c, v, np.where(s >= 0, np.minimum(s + n_r, b_cap), -1))
    # Left part empty: the right part's front slack is a - n_l.
    for c, (v, slack) in right.levels.items():
        add(c, v, _gather(slack, np.maximum(a - n_l, 0)))
    # Both non-empty.
    if left.levels and right.levels:
        r_counts = np.concatenate(
            [np.full(len(v), c, dtype=np.int64) for c, (v, _) in right.levels.items()]
        )
        r_values = np.concatenate([v for v, _ in right.levels.values()])
        r_slack = np.concatenate([s for _, s in right.levels.values()], axis=0)
        for c_l, (v, slack) in left.levels.items():
            fits = c_l + r_counts <= k
            if not fits.any():
                continue
            rc, rv, rs = c_l + r_counts[fits], r_values[fits], r_slack[fits]
            t = _gather(slack, a)  # (m_l, width): back slack of the left part
            for i in range(len(v)):
                need = np.where(t[i] >= 0, gap - 1 - t[i], rs.shape[1])  # right's front slack
                add(rc, v[i] + rv, _gather(rs, need))

    all_counts = np.concatenate(counts)
    all_values = np.concatenate(values)
    all_rows = np.concatenate(rows, axis=0)
    order = np.lexsort((-all_values, all_counts))  # by count, then decreasing value
    all_counts, all_values, all_rows = all_counts[order], all_values[order], all_rows[order]
    bounds = np.flatnonzero(np.diff(all_counts)) + 1
    levels = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(all_counts)], strict=True):
        c = int(all_counts[lo])
        reduced = _reduce(all_values[lo:hi], all_rows[lo:hi])
        if reduced is not None:
            lv, lr = reduced
            levels[c] = (lv + c * c if counted else lv, lr)
    return _Table(n, levels)


_LEAF = _Table(1, {1: (np.array([1], dtype=np.int64), np.zeros((1, 1), dtype=np.int64))})
_EMPTY = _Table(0, {})
_COMPLETE_CACHE: dict[tuple[int, int, int], _Table] = {}


def _complete(level: int, gap: int, k: int) -> _Table:
    """Table of a complete subtree of 2**level rounds (all its nodes released)."""
    if level == 0:
        return _LEAF
    key = (level, gap, k)
    if key not in _COMPLETE_CACHE:
        child = _complete(level - 1, gap, k)
        _COMPLETE_CACHE[key] = _combine(child, child, gap=gap, k=k, counted=True, fold=False)
    return _COMPLETE_CACHE[key]


def _segments(rounds: int, restart_every: int | None) -> list[int]:
    n = restart_every if restart_every is not None else rounds
    full, rest = divmod(rounds, n)
    return [n] * full + ([rest] if rest else [])


def _blocks(length: int) -> list[int]:
    """Levels of the complete subtrees of a tree of `length` rounds, left to right."""
    return [lvl for lvl in range(length.bit_length() - 1, -1, -1) if length >> lvl & 1]


def _best(state: _Table) -> int:
    """The worst case of a whole run: any count, back slack 0 at the end."""
    best = 0
    for values, slack in state.levels.values():
        ok = slack[:, 0] >= 0
        if ok.any():
            best = max(best, int(values[ok].max()))
    return best


def _prefix_states(rounds: int, k: int, gap: int, restart_every: int | None) -> Iterator[_Table]:
    """Fold states after 1, 2, ..., rounds rounds (binary-counter reuse: ~1 combine each)."""
    base = _EMPTY
    for seg in _segments(rounds, restart_every):
        stack = [base]  # stack[j]: state after the j largest blocks of the current prefix p
        for p in range(1, seg + 1):
            trailing_ones = ((p - 1) ^ p).bit_length() - 1  # blocks of p-1 that merge into one
            del stack[len(stack) - trailing_ones :]
            stack.append(
                _combine(
                    stack[-1],
                    _complete(trailing_ones, gap, k),
                    gap=gap,
                    k=k,
                    counted=False,
                    fold=True,
                )
            )
            yield stack[-1]
        base = stack[-1]


def tree_sensitivity_squared(
    rounds: int,
    max_participations: int,
    min_separation: int,
    *,
    restart_every: int | None = None,
) -> int:
    """Worst-case squared L2 sensitivity of all released tree nodes, in units of clip**2.

    The maximum, over participation patterns with at most `max_participations` rounds any
    two of which differ by at least `min_separation`, of ``sum over released nodes of
    count(node)**2`` (see the module docstring for which nodes are released). Exact.

    Cost: for the production configuration (2000 rounds, 6 participations, separation 313)
    a few tens of milliseconds. In general about ``log2(rounds) * L**2 * min(gap, rounds)``
    array work, where L is the number of distinct (count, value) levels of a subtree (small
    unless max_participations is large); memory ``O(L * min_separation)`` per subtree size.

    Args:
      rounds: number of rounds T >= 1 (tree leaves).
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: minimum difference y - x between two of a client's rounds, >= 1.
      restart_every: restart the tree every this many rounds (None: one tree).

    Returns:
      The integer ``max sum count**2`` (dimensionless; multiply by clip**2 for the L2
      sensitivity squared).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rounds, k, gap, restart_every = _check_run(
        rounds, max_participations, min_separation, restart_every
    )
    state = _EMPTY
    for seg in _segments(rounds, restart_every):
        for level in _blocks(seg):
            block = _complete(level, gap, k)
            state = _combine(state, block, gap=gap, k=k, counted=False, fold=True)
    return _best(state)


def participation_cap(rounds: int, max_participations: int, min_separation: int | None) -> int:
    """Most of `rounds` rounds that one client can take part in.

    Two of a client's rounds differ by at least `min_separation`, so a run of `rounds`
    rounds holds at most ``1 + (rounds - 1) // min_separation`` of them:
    ``min(max_participations, 1 + (rounds - 1) // min_separation)`` (None: separation 1, i.e.
    ``min(max_participations, rounds)``). The one cap of the project: the Gaussian account,
    the federated simulation's DP-FedAvg noise and `frontier privacy` all use it.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    k = check_int(max_participations, "max_participations", 1)
    return min(k, max_possible_participations(rounds, min_separation))


def max_possible_participations(rounds: int, min_separation: int | None) -> int:
    """Most rounds one client can take part in: ``1 + (rounds - 1) // min_separation``.

    Args:
      rounds: number of rounds, >= 1.
      min_separation: least difference between two of a client's rounds, >= 1 (None: 1).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rounds = check_int(rounds, "rounds", 1)
    gap = 1 if min_separation is None else check_int(min_separation, "min_separation", 1)
    return 1 + (rounds - 1) // gap


def check_participations(rounds: int, max_participations: int, min_separation: int | None) -> int:
    """`max_participations` after checking that a client can take part that often.

    The accountant refuses a participation pattern that cannot happen rather than cap it
    silently (see the module docstring): `rounds` rounds at `min_separation` hold at most
    `max_possible_participations` participations.

    Args:
      rounds: number of rounds, >= 1.
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: least difference between two of a client's rounds, >= 1 (None: 1).

    Returns:
      `max_participations` as an int.

    Raises:
      InputError: naming `max_participations` and the largest possible value, or a parameter
        out of range.
    """
    k = check_int(max_participations, "max_participations", 1)
    most = max_possible_participations(rounds, min_separation)
    if k > most:
        at = "" if min_separation is None else f" at min_separation {min_separation}"
        raise InputError(
            f"max_participations is {k}, but {rounds} rounds{at} allow at most {most} "
            "participations per client",
            parameter="max_participations",
            expected=f"max_participations <= {most}, or more rounds or a smaller min_separation",
        )
    return k


def blt_for_run(rounds: int, max_participations: int, min_separation: int) -> blt.BltParams:
    """The BLT of a run: `blt.optimize_blt` with its defaults (RMSE objective, up to 4
    buffers), computed once per configuration and process (a second or two).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rounds = check_int(rounds, "rounds", 1)
    k = participation_cap(rounds, max_participations, min_separation)
    gap = check_int(min_separation, "min_separation", 1)
    return _blt_for_run(rounds, k, gap)


@functools.lru_cache(maxsize=16)
def _blt_for_run(rounds: int, k: int, gap: int) -> blt.BltParams:
    if rounds == 1:  # nothing to correlate: C = [1]
        return blt.BltParams(np.array([0.5]), np.array([0.5]))
    return blt.optimize_blt(rounds, k, gap)


def blt_sensitivity_squared(
    rounds: int, max_participations: int, min_separation: int, *, prefix: bool = False
) -> float | np.ndarray:
    """Squared sensitivity (units of clip**2) of BLT-DP-FTRL with the run's `blt_for_run`.

    `blt.sensitivity_squared`: exact, since the optimised BLT's coefficients are positive and
    non-increasing (pattern ``0, b, 2b, ...``, Kalinin and Lampert, Theorem 2).

    Args:
      rounds, max_participations, min_separation: the run's (min_separation >= 1, frontier's
        ``y - x`` convention).
      prefix: return the curve over the run's prefixes instead: float64 [rounds], entry
        r - 1 the squared sensitivity of what the first r rounds release (the worst pattern
        of the whole run restricted to them, which is the worst pattern of the prefix).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    params = blt_for_run(rounds, max_participations, min_separation)
    k = participation_cap(rounds, max_participations, min_separation)
    c = blt.blt_coefficients(params, rounds)
    sens = blt.sensitivity_squared(c, k, min_separation)
    if not prefix:
        return sens.value
    if not sens.exact:  # the bound of the whole run bounds every prefix
        return np.full(rounds, sens.value)
    u = blt.pattern_sum(c, k, min_separation)
    return np.cumsum(u * u)


def sensitivity_squared(
    mechanism: str,
    rounds: int,
    max_participations: int,
    min_separation: int | None,
    *,
    restart_every: int | None = None,
) -> float:
    """Worst-case squared L2 sensitivity of a whole run, in units of clip**2.

    `MECHANISM_TREE`: `tree_sensitivity_squared` (`min_separation` required).
    `MECHANISM_BLT`: `blt_sensitivity_squared` (`min_separation` required; `restart_every`
    does not apply and is ignored).
    `MECHANISM_GAUSSIAN`: one Gaussian release of sensitivity clip per round a client takes
    part in, i.e. `participation_cap` (`restart_every` does not apply and is ignored).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    mechanism = _check_mechanism(mechanism)
    if mechanism == MECHANISM_TREE:
        return tree_sensitivity_squared(
            rounds, max_participations, min_separation, restart_every=restart_every
        )
    if mechanism == MECHANISM_BLT:
        if min_separation is None:
            raise InputError(
                "BLT-DP-FTRL needs min_separation", parameter="min_separation", expected=">= 1"
            )
        return blt_sensitivity_squared(rounds, max_participations, min_separation)
    return participation_cap(rounds, max_participations, min_separation)


def _rho(sens2: float, noise_multiplier: float) -> float:
    """zCDP of a Gaussian mechanism: ``sensitivity**2 / (2 * sigma**2)`` in units of clip."""
    return sens2 / (2.0 * noise_multiplier * noise_multiplier)


def tree_rho(
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    min_separation: int,
    *,
    restart_every: int | None = None,
) -> float:
    """rho (zCDP, per client) of DP-FTRL with tree aggregation.

    The arguments are `tree_account`'s without delta.

    Returns:
      ``tree_sensitivity_squared(...) / (2 * noise_multiplier**2)``.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    nm = check_positive(noise_multiplier, "noise_multiplier")
    sens2 = tree_sensitivity_squared(
        rounds, max_participations, min_separation, restart_every=restart_every
    )
    return _rho(sens2, nm)


def rho_over_rounds(
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    min_separation: int,
    *,
    restart_every: int | None = None,
) -> np.ndarray:
    """rho after each round: entry r - 1 is `tree_rho` of a run stopped after r rounds.

    Shares work between prefixes (about one subtree combination per round), so the whole
    curve costs a small multiple of one `tree_rho` call. The arguments are `tree_account`'s
    without delta.

    Returns:
      float64 array of shape (rounds,), non-decreasing.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    nm = check_positive(noise_multiplier, "noise_multiplier")
    rounds, k, gap, restart_every = _check_run(
        rounds, max_participations, min_separation, restart_every
    )
    sens2 = np.array(
        [_best(s) for s in _prefix_states(rounds, k, gap, restart_every)], dtype=np.float64
    )
    return _rho(sens2, nm)


# --- (epsilon, delta) ------------------------------------------------------------------------


def zcdp_to_epsilon(rho: float, delta: float, *, orders: Sequence[float] | None = None) -> float:
    """epsilon at `delta` of a rho-zCDP mechanism, by dp_accounting's RDP conversion.

    rho-zCDP is (alpha, alpha * rho)-RDP for every order alpha > 1
    (`dp_accounting.ZCDpEvent`); the RDP accountant converts with the bound of Canonne,
    Kamath and Steinke (2020) and takes the best order.

    Args:
      rho: zCDP parameter, > 0.
      delta: target delta, 0 < delta < 1.
      orders: RDP orders to try (default: dp_accounting's `DEFAULT_RDP_ORDERS`, 1.1 .. 1024).

    Returns:
      epsilon (natural-log units).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rho = check_positive(rho, "rho")
    return _epsilon(rho, _check_delta(delta), _check_orders(orders))


def _epsilon(rho: float, delta: float, orders: np.ndarray | None) -> float:
    accountant = dp_accounting.rdp.RdpAccountant(orders)
    accountant.compose(dp_accounting.ZCDpEvent(rho=rho))
    return float(accountant.get_epsilon(delta))


def _epsilons(rho: np.ndarray, delta: float, orders: np.ndarray | None) -> np.ndarray:
    """`_epsilon` of each entry of a rho curve (converting each distinct value once)."""
    unique, inverse = np.unique(rho, return_inverse=True)  # few distinct values
    eps = np.array([_epsilon(float(r), delta, orders) for r in unique])
    return eps[inverse]


@dataclasses.dataclass(frozen=True)
class PrivacyAccount:
    """The privacy guarantee of one training configuration (user-level, add/remove one client).

    Attributes:
      mechanism: `MECHANISM_TREE` (DP-FTRL, tree aggregation) or `MECHANISM_GAUSSIAN`
        (DP-FedAvg, fresh Gaussian noise per round, no amplification).
      rho: zCDP parameter.
      epsilon: epsilon at `delta` (RDP conversion).
      delta: the delta of `epsilon`.
      noise_multiplier: noise standard deviation / clip norm.
      rounds: number of rounds accounted for.
      max_participations: most rounds one client takes part in.
      min_separation: minimum difference between two of a client's rounds (for the Gaussian
        mechanism it caps the participations, see `participation_cap`; None: not given).
      restart_every: tree restart period in rounds (None: no restart, or Gaussian).
      sensitivity_squared: the worst-case ``sum count**2`` (units of clip**2; for the
        Gaussian mechanism the participation cap).
    """

    mechanism: str
    rho: float
    epsilon: float
    delta: float
    noise_multiplier: float
    rounds: int
    max_participations: int
    min_separation: int | None
    restart_every: int | None
    sensitivity_squared: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of all fields."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The fields as a JSON object (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def account(
    mechanism: str,
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    min_separation: int | None,
    delta: float,
    *,
    restart_every: int | None = None,
    orders: Sequence[float] | None = None,
) -> PrivacyAccount:
    """rho and (epsilon, delta) of a run of either mechanism: the project's one accountant.

    Args:
      mechanism: `MECHANISM_TREE` (DP-FTRL, tree aggregation) or `MECHANISM_GAUSSIAN`
        (DP-FedAvg, fresh Gaussian noise each round, no amplification).
      noise_multiplier: noise standard deviation per tree node (tree) or per round
        (Gaussian) / clip norm, > 0.
      rounds: number of rounds, >= 1.
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: minimum difference y - x between two of a client's rounds, >= 1
        (required for the tree; for the Gaussian mechanism None means 1).
      delta: target delta, 0 < delta < 1.
      restart_every: restart the tree every this many rounds (None: one tree; tree only).
      orders: RDP orders for the conversion (default: dp_accounting's).

    Returns:
      A `PrivacyAccount` with ``rho = sensitivity_squared(...) / (2 * noise_multiplier**2)``.

    Raises:
      InputError: a parameter is out of range (the message names it), or more
        participations than `rounds` allow at `min_separation` (`check_participations`).
    """
    nm = check_positive(noise_multiplier, "noise_multiplier")
    delta, orders_arr = _check_delta(delta), _check_orders(orders)
    _check_mechanism(mechanism)
    check_participations(rounds, max_participations, min_separation)
    sens2 = sensitivity_squared(
        mechanism, rounds, max_participations, min_separation, restart_every=restart_every
    )
    rho = _rho(sens2, nm)
    tree = mechanism == MECHANISM_TREE
    return PrivacyAccount(
        mechanism=mechanism,
        rho=rho,
        epsilon=_epsilon(rho, delta, orders_arr),
        delta=delta,
        noise_multiplier=nm,
        rounds=int(rounds),
        max_participations=int(max_participations),
        min_separation=None if min_separation is None else int(min_separation),
        restart_every=None if restart_every is None or not tree else int(restart_every),
        sensitivity_squared=float(sens2),
    )


def tree_account(
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    min_separation: int,
    delta: float,
    *,
    restart_every: int | None = None,
    orders: Sequence[float] | None = None,
) -> PrivacyAccount:
    """rho and (epsilon, delta) of DP-FTRL with tree aggregation: `account(MECHANISM_TREE, ...)`.

    The arguments are `account`'s (noise_multiplier per tree node; min_separation >= 1
    required); e.g. the production configuration
    ``tree_account(7.0, 2000, 6, 313, 1e-10)`` has rho 79/98 and epsilon 8.90.
    """
    return account(
        MECHANISM_TREE,
        noise_multiplier,
        rounds,
        max_participations,
        min_separation,
        delta,
        restart_every=restart_every,
        orders=orders,
    )


def epsilon_after(
    rounds_run: int,
    noise_multiplier: float,
    max_participations: int,
    min_separation: int,
    delta: float,
    *,
    restart_every: int | None = None,
    orders: Sequence[float] | None = None,
) -> float:
    """epsilon at `delta` once `rounds_run` rounds have been run (the nodes released so far).

    The `tree_account` of a run of `rounds_run` rounds (a node's release does not depend on
    the run's length); the other arguments are `tree_account`'s. A prefix of a run may allow
    fewer participations than `max_participations`: it is accounted as the most it allows
    (not refused, unlike `account`).

    Returns:
      epsilon (natural-log units).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    check_int(rounds_run, "rounds_run", 1)
    nm = check_positive(noise_multiplier, "noise_multiplier")
    delta, orders_arr = _check_delta(delta), _check_orders(orders)
    sens2 = tree_sensitivity_squared(
        rounds_run, max_participations, min_separation, restart_every=restart_every
    )
    return _epsilon(_rho(sens2, nm), delta, orders_arr)


def epsilon_over_rounds(
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    min_separation: int,
    delta: float,
    *,
    restart_every: int | None = None,
    orders: Sequence[float] | None = None,
) -> np.ndarray:
    """epsilon at `delta` after each round of DP-FTRL, for "epsilon over rounds" plots.

    The arguments are `tree_account`'s.

    Returns:
      float64 array of shape (rounds,); entry r - 1 equals `epsilon_after(r, ...)`.

    Raises:
      InputError: a parameter is out of range (the message names it), or more
        participations than `rounds` allow at `min_separation` (`check_participations`).
    """
    delta, orders_arr = _check_delta(delta), _check_orders(orders)
    check_participations(rounds, max_participations, min_separation)
    rho = rho_over_rounds(
        noise_multiplier,
        rounds,
        max_participations,
        min_separation,
        restart_every=restart_every,
    )
    return _epsilons(rho, delta, orders_arr)


def epsilon_per_round(
    privacy: PrivacyAccount, *, orders: Sequence[float] | None = None
) -> np.ndarray:
    """epsilon after each round of the run that `privacy` accounts for.

    The tree's curve is `epsilon_over_rounds`; the Gaussian mechanism's rho after r rounds
    is ``privacy.rho * participation_cap(r, ...) / participation_cap(rounds, ...)``. The last
    entry is ``privacy.epsilon`` exactly.

    Args:
      privacy: an `account` (or `matched_gaussian_account`) result.
      orders: RDP orders for the conversion (default: dp_accounting's).

    Returns:
      float64 array of shape (privacy.rounds,), non-decreasing.
    """
    p = privacy
    if p.mechanism == MECHANISM_TREE:
        return epsilon_over_rounds(
            p.noise_multiplier,
            p.rounds,
            p.max_participations,
            p.min_separation,
            p.delta,
            restart_every=p.restart_every,
            orders=orders,
        )
    if p.mechanism == MECHANISM_BLT:
        sens2 = blt_sensitivity_squared(
            p.rounds, p.max_participations, p.min_separation, prefix=True
        )
        return epsilons_of_rho_curve(p.rho * sens2 / sens2[-1], p.delta, orders)
    caps = [
        participation_cap(r, p.max_participations, p.min_separation) for r in range(1, p.rounds + 1)
    ]
    rho = p.rho * (np.asarray(caps, dtype=np.float64) / caps[-1])
    return _epsilons(rho, p.delta, _check_orders(orders))


def epsilons_of_rho_curve(
    rho: np.ndarray, delta: float, orders: Sequence[float] | None = None
) -> np.ndarray:
    """epsilon at `delta` of each entry of a non-decreasing rho curve (e.g. after each round).

    Each distinct value is converted (`zcdp_to_epsilon`) when there are at most 64 (the
    tree's and the Gaussian mechanism's curves are steps); a smooth curve (BLT's) is
    converted at 64 quantiles and interpolated between them, its last entry exactly (the
    per-round epsilon is for plots and progress; the run's epsilon is the last).

    Args:
      rho: float [R] zCDP after each round, >= 0.
      delta: target delta, 0 < delta < 1.
      orders: RDP orders (default: dp_accounting's).

    Returns:
      float64 [R].
    """
    rho = np.asarray(rho, dtype=np.float64)
    delta, orders = _check_delta(delta), _check_orders(orders)
    if np.unique(rho).size <= 64:
        return _epsilons(rho, delta, orders)
    grid = np.unique(np.quantile(rho, np.linspace(0.0, 1.0, 64)))
    eps = np.array([_epsilon(float(r), delta, orders) if r > 0 else 0.0 for r in grid])
    out = np.interp(rho, grid, eps)
    out[-1] = eps[-1]
    return out


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    rounds: int,
    max_participations: int,
    min_separation: int | None,
    *,
    restart_every: int | None = None,
    orders: Sequence[float] | None = None,
    tol: float = 1e-6,
    mechanism: str = MECHANISM_TREE,
) -> float:
    """Smallest noise multiplier (within `tol`) whose `account` has epsilon <= target.

    The sensitivity does not depend on the noise, and epsilon decreases with the noise
    multiplier, so this brackets the answer and hands it to dp_accounting's
    `calibrate_dp_mechanism` (Brent's method with a bisection fallback that guarantees
    epsilon <= target_epsilon for the returned value).

    Args:
      target_epsilon: epsilon to reach, > 0.
      delta, rounds, max_participations, min_separation, restart_every, orders: as `account`.
      tol: absolute tolerance on the noise multiplier, > 0.
      mechanism: `MECHANISM_TREE` (default) or `MECHANISM_GAUSSIAN`.

    Returns:
      The noise multiplier.

    Raises:
      InputError: a parameter is out of range (the message names it), or more
        participations than `rounds` allow at `min_separation` (`check_participations`).
    """
    target_epsilon = check_positive(target_epsilon, "target_epsilon")
    delta = _check_delta(delta)
    tol = check_positive(tol, "tol")
    orders_arr = _check_orders(orders)
    _check_mechanism(mechanism)
    check_participations(rounds, max_participations, min_separation)
    sens2 = sensitivity_squared(
        mechanism, rounds, max_participations, min_separation, restart_every=restart_every
    )
    return _calibrate(sens2, target_epsilon, delta, orders_arr, tol)


def _calibrate(
    sens2: float, target_epsilon: float, delta: float, orders: np.ndarray | None, tol: float
) -> float:
    def eps(nm: float) -> float:
        return _epsilon(_rho(sens2, nm), delta, orders)

    # Start from the classical conversion epsilon = rho + 2 sqrt(rho log(1/delta)), which
    # over-estimates epsilon, so this noise multiplier already meets the target.
    log_inv_delta = math.log(1.0 / delta)
    rho0 = (math.sqrt(log_inv_delta + target_epsilon) - math.sqrt(log_inv_delta)) ** 2
    high = math.sqrt(sens2 / (2.0 * rho0))
    while eps(high) > target_epsilon:
        high *= 2.0
    low = high / 2.0
    while eps(low) <= target_epsilon:
        low /= 2.0
    return float(
        dp_accounting.calibrate_dp_mechanism(
            lambda: dp_accounting.rdp.RdpAccountant(orders),
            lambda nm: dp_accounting.ZCDpEvent(rho=_rho(sens2, nm)),
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(low, high),
            tol=tol,
        )
    )


# --- DP-FedAvg without amplification ---------------------------------------------------------


def gaussian_rho(noise_multiplier: float, participations: int) -> float:
    """rho of DP-FedAvg with fresh Gaussian noise each round and no sampling amplification.

    Each round is a Gaussian mechanism with sensitivity clip and noise std
    ``noise_multiplier * clip``, i.e. ``1 / (2 noise_multiplier**2)``-zCDP; a client present
    in `participations` rounds gets the sum.

    Args:
      noise_multiplier: noise standard deviation per round / clip norm, > 0.
      participations: rounds one client takes part in, >= 1.

    Returns:
      ``participations / (2 * noise_multiplier**2)``.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    nm = check_positive(noise_multiplier, "noise_multiplier")
    return _rho(check_int(participations, "participations", 1), nm)


def gaussian_noise_multiplier_for_rho(rho: float, participations: int) -> float:
    """Inverse of `gaussian_rho`: the per-round noise multiplier that gives `rho`.

    E.g. ``gaussian_noise_multiplier_for_rho(tree_rho(...), k)`` is the DP-FedAvg noise with
    the same guarantee as a DP-FTRL configuration (see `matched_gaussian_account`).

    Args:
      rho: zCDP parameter, > 0.
      participations: rounds one client takes part in, >= 1.

    Returns:
      ``sqrt(participations / (2 * rho))``.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rho = check_positive(rho, "rho")
    k = check_int(participations, "participations", 1)
    return math.sqrt(k / (2.0 * rho))


def gaussian_account(
    noise_multiplier: float,
    rounds: int,
    max_participations: int,
    delta: float,
    *,
    min_separation: int | None = None,
    orders: Sequence[float] | None = None,
) -> PrivacyAccount:
    """rho and (epsilon, delta) of DP-FedAvg without amplification (`MECHANISM_GAUSSIAN`).

    `account(MECHANISM_GAUSSIAN, ...)` with `account`'s arguments (noise_multiplier per
    round). A client takes part in at most `participation_cap` rounds: `max_participations`,
    capped by `rounds` and, when given, by `min_separation` (None: 1).
    """
    return account(
        MECHANISM_GAUSSIAN,
        noise_multiplier,
        rounds,
        max_participations,
        min_separation,
        delta,
        orders=orders,
    )


def matched_account(
    tree: PrivacyAccount, mechanism: str, sensitivity: float | None = None
) -> PrivacyAccount:
    """The account of `mechanism` with the same rho (and epsilon) as a DP-FTRL `tree` account.

    Its noise multiplier is ``sqrt(sensitivity_squared / (2 rho))``: for
    `MECHANISM_GAUSSIAN` ``gaussian_noise_multiplier_for_rho(tree.rho, k)`` with k the
    `participation_cap` of the tree's run (the federated simulation's "dp_fedavg"
    baseline), for `MECHANISM_BLT` the noise of the run's `blt_for_run` (its
    "blt_dp_ftrl"). rho and epsilon are the tree's (the mechanism's own formula gives them
    back up to rounding). Comparing mechanisms at equal rho is what the papers do.

    Args:
      tree: a `MECHANISM_TREE` account.
      mechanism: the name the account carries.
      sensitivity: the mechanism's squared sensitivity for the tree's run (units of
        clip**2); None: `sensitivity_squared(mechanism, ...)` (`mechanism` one of
        `ACCOUNTED_MECHANISMS`).

    Raises:
      InputError: `tree` is not a `MECHANISM_TREE` account, or `mechanism` is unknown and
        no sensitivity is given.
    """
    if not isinstance(tree, PrivacyAccount) or tree.mechanism != MECHANISM_TREE:
        raise InputError(
            f"matched_account got {tree!r}", parameter="tree", expected="a tree account"
        )
    if sensitivity is None:
        if _check_mechanism(mechanism) == MECHANISM_TREE:
            return tree
        sensitivity = sensitivity_squared(
            mechanism, tree.rounds, tree.max_participations, tree.min_separation
        )
    sens2 = check_positive(sensitivity, "sensitivity")
    return dataclasses.replace(
        tree,
        mechanism=mechanism,
        noise_multiplier=math.sqrt(sens2 / (2.0 * tree.rho)),
        restart_every=None,
        sensitivity_squared=float(sens2),
    )


def matched_gaussian_account(tree: PrivacyAccount) -> PrivacyAccount:
    """`matched_account(tree, MECHANISM_GAUSSIAN)`: DP-FedAvg at a DP-FTRL account's rho."""
    return matched_account(tree, MECHANISM_GAUSSIAN)


# --- configuration value ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TreeAccountingConfig:
    """A DP-FTRL tree-aggregation configuration, checked on construction.

    Like `account`, it refuses more participations than the rounds allow at the separation
    (`check_participations`).

    Attributes:
      noise_multiplier: noise standard deviation per tree node / clip norm, > 0.
      rounds: number of rounds, >= 1.
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: minimum difference y - x between two of a client's rounds, >= 1.
      restart_every: restart the tree every this many rounds (None: one tree).
    """

    noise_multiplier: float
    rounds: int
    max_participations: int
    min_separation: int
    restart_every: int | None = None

    def __post_init__(self) -> None:
        check_positive(self.noise_multiplier, "noise_multiplier")
        check_int(self.rounds, "rounds", 1)
        check_int(self.max_participations, "max_participations", 1)
        check_int(self.min_separation, "min_separation", 1)
        check_optional_int(self.restart_every, "restart_every", 1)
        check_participations(self.rounds, self.max_participations, self.min_separation)

    def rho(self) -> float:
        """`tree_rho` of this configuration."""
        return tree_rho(
            self.noise_multiplier,
            self.rounds,
            self.max_participations,
            self.min_separation,
            restart_every=self.restart_every,
        )

    def account(self, delta: float, *, orders: Sequence[float] | None = None) -> PrivacyAccount:
        """`tree_account` of this configuration at `delta`."""
        return tree_account(
            self.noise_multiplier,
            self.rounds,
            self.max_participations,
            self.min_separation,
            delta,
            restart_every=self.restart_every,
            orders=orders,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of all fields."""
        return dataclasses.asdict(self)
