"""Tree aggregation: noisy prefix sums of a stream, with the plain and the efficient estimator.

Plain NumPy functions, no TFX. The tree is the accountant's
(`frontier.components.dp_ftrl.accounting`): leaves ``x_0, x_1, ...`` (one per round, e.g. the
sum of the clipped client deltas of the round, any array shape) and one *node* per dyadic
interval ``[j * 2**l, (j + 1) * 2**l)`` of leaves, *released* (given its noise) when its last
leaf arrives. Node ``v`` releases

    y_v = sum of the leaves under v + N(0, noise_std**2)        (per coordinate, independent)

After ``n`` leaves the released nodes form a forest of complete subtrees, one per set bit of
``n`` (n = 6 = 4 + 2: roots [0, 4) and [4, 6)); every released node lies in one of them. The
prefix sum ``S_n = x_0 + ... + x_{n-1}`` is the sum of the roots' leaf sums. Two estimators:

* **plain**: the sum of the roots' released values ``y``. Noise variance per coordinate
  ``popcount(n) * noise_std**2``.
* **efficient** (Honaker, "Efficient Use of Differentially Private Binary Trees", 2015; the
  estimator of TensorFlow Privacy's ``EfficientTreeAggregator``): each node's value is
  estimated from its own ``y`` *and* its children's estimates, by inverse-variance weighting,
  bottom-up. A leaf's estimate is its ``y`` (variance ``v_0 = s**2``, ``s = noise_std``);
  a node at level ``l >= 1`` with children estimates ``z_L, z_R`` (each of variance
  ``v_{l-1}``, independent of ``y_v``) gets

      z_v = a_l * y_v + (1 - a_l) * (z_L + z_R),     1 / v_l = 1 / s**2 + 1 / (2 v_{l-1}),

  so ``s**2 / v_l = 1 + (s**2 / v_{l-1}) / 2 = 2 - 2**-l``, i.e.

      v_l = s**2 * 2**l / (2**(l + 1) - 1),          a_l = v_l / s**2 = 2**l / (2**(l + 1) - 1)

  (a_0 = 1, a_1 = 2/3, a_2 = 4/7, ...; the weights do not depend on ``s``). The prefix
  estimate is the sum of the roots' ``z``: variance ``sum over set bits l of n of v_l``.
  Since ``v_l / s**2 = 1 / (2 - 2**-l)`` falls from 1 (a leaf) towards 1/2, this is never
  more than the plain estimator's and about half of it when the roots are high (n = 4096:
  0.500; n = 4095, roots of levels 0..11: 0.567).

Why only children and not parents: at time ``n`` the prefix's nodes are the *roots* of the
released forest; their parents cover leaves that have not arrived and are not released. Every
released node lies inside one root, so the bottom-up estimate of each root is already its best
linear unbiased estimate given everything released so far (the top-down half of Honaker's
two-pass estimator only improves non-root nodes, i.e. sums that are not prefixes at time n),
and the prefix sum, a sum of roots, is estimated optimally by the sum of their estimates.

With ``restart_every = N`` the tree is restarted every N leaves (prefix sums then run over the
current segment only), as in the accountant.

Typical use::

    state = tree_init()
    for t in range(rounds):
        state = tree_add(state, leaf_t, noise_std, rng)
        noisy_prefix = tree_prefix_sum(state, "efficient")
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import (
    check_choice,
    check_int,
    check_optional_int,
    check_real,
)
from frontier.components.common.errors import InputError

__all__ = [
    "ESTIMATORS",
    "PrefixSums",
    "TreeState",
    "efficient_node_variance",
    "efficient_weight",
    "prefix_noise_variance",
    "tree_add",
    "tree_init",
    "tree_prefix_sum",
    "tree_prefix_sums",
]

ESTIMATORS = ("efficient", "plain")


class TreeState(NamedTuple):
    """The aggregator's state: the roots of the released forest, left to right.

    Attributes:
      leaves: number of leaves n added since the (re)start.
      levels: level l of each root (its interval has 2**l leaves), strictly decreasing; the
        set bits of n.
      sums: exact leaf sum of each root (secret; kept by the aggregator to form parents).
      noisy: released value ``y`` of each root (float64, leaf shape).
      efficient: Honaker estimate ``z`` of each root (float64, leaf shape).
    """

    leaves: int
    levels: tuple[int, ...]
    sums: tuple[np.ndarray, ...]
    noisy: tuple[np.ndarray, ...]
    efficient: tuple[np.ndarray, ...]


class PrefixSums(NamedTuple):
    """Noisy prefix sums of a whole stream from one draw of the node noise.

    Attributes:
      plain: float64 [T, ...]: entry t estimates the sum of leaves of the current segment up
        to and including leaf t, by the plain estimator.
      efficient: the same by the efficient (Honaker) estimator, from the same noise.
    """

    plain: np.ndarray
    efficient: np.ndarray


def efficient_weight(level: int) -> float:
    """Weight ``a_l = 2**l / (2**(l + 1) - 1)`` of a level-l node's own noisy value."""
    return 2.0**level / (2.0 ** (level + 1) - 1.0)


def efficient_node_variance(level: int, noise_std: float) -> float:
    """Noise variance ``v_l = noise_std**2 * 2**l / (2**(l + 1) - 1)`` of a root's estimate."""
    return noise_std**2 * efficient_weight(level)


def tree_init() -> TreeState:
    """An empty tree (no leaves)."""
    return TreeState(0, (), (), (), ())


def tree_add(
    state: TreeState, leaf: np.ndarray, noise_std: float, rng: np.random.Generator
) -> TreeState:
    """Adds the next leaf and releases the nodes it completes.

    The nodes completed by leaf number n (0-based) are the leaf itself and, for each trailing
    one-bit of n, the parent of the two last roots; each gets fresh Gaussian noise, drawn in
    that order (leaf first, then increasing level) as ``noise_std * rng.standard_normal``.

    Args:
      state: the tree after n leaves.
      leaf: the next leaf, any shape (the same every round); converted to float64.
      noise_std: per-coordinate noise standard deviation of every node, >= 0 (0: exact).
      rng: the NumPy generator that draws the noise.

    Returns:
      The tree after n + 1 leaves.
    """
    leaf = np.array(leaf, dtype=np.float64)  # a copy: the state keeps it

    def noise() -> np.ndarray | float:
        return noise_std * rng.standard_normal(leaf.shape) if noise_std > 0 else 0.0

    levels, sums = list(state.levels), list(state.sums)
    noisy, eff = list(state.noisy), list(state.efficient)
    level, total = 0, leaf
    y = leaf + noise()
    z = y
    while levels and levels[-1] == level:
        levels.pop()
        total = sums.pop() + total
        noisy.pop()
        z_children = eff.pop() + z
        level += 1
        y = total + noise()
        a = efficient_weight(level)
        z = a * y + (1.0 - a) * z_children
    levels.append(level)
    sums.append(total)
    noisy.append(y)
    eff.append(z)
    return TreeState(state.leaves + 1, tuple(levels), tuple(sums), tuple(noisy), tuple(eff))


def tree_prefix_sum(state: TreeState, estimator: str = "efficient") -> np.ndarray | float:
    """Noisy estimate of the sum of all leaves added since the (re)start.

    Args:
      state: the tree.
      estimator: "efficient" (Honaker) or "plain".

    Returns:
      float64 array of the leaf shape (0.0 for an empty tree).
    """
    roots = (
        state.efficient
        if check_choice(estimator, "estimator", ESTIMATORS) == "efficient"
        else state.noisy
    )
    if not roots:
        return 0.0
    total = roots[0].copy()
    for r in roots[1:]:
        total += r
    return total


def tree_prefix_sums(
    leaves: np.ndarray,
    noise_std: float,
    seed: int | np.random.Generator = 0,
    *,
    restart_every: int | None = None,
) -> PrefixSums:
    """Noisy prefix sums of a whole stream, by both estimators from the same node noise.

    Vectorised over the trailing axes: pass leaves of shape [T, M] to get M independent
    repetitions at once (the noise is independent per coordinate).

    Args:
      leaves: [T, ...] the stream, T >= 1.
      noise_std: per-coordinate noise standard deviation of every node, >= 0.
      seed: seed or NumPy generator of the noise.
      restart_every: restart the tree every this many leaves (None: one tree).

    Returns:
      `PrefixSums` with float64 arrays of the shape of `leaves`.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    leaves = np.asarray(leaves, dtype=np.float64)
    if leaves.ndim < 1 or leaves.shape[0] < 1:
        raise InputError(
            f"leaves have shape {leaves.shape}", column="leaves", expected="shape [T, ...], T >= 1"
        )
    noise_std = check_real(noise_std, "noise_std", low=0.0)
    restart_every = check_optional_int(restart_every, "restart_every", 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    plain = np.empty_like(leaves)
    eff = np.empty_like(leaves)
    state = tree_init()
    for t in range(leaves.shape[0]):
        if restart_every is not None and t % restart_every == 0:
            state = tree_init()
        state = tree_add(state, leaves[t], noise_std, rng)
        plain[t] = tree_prefix_sum(state, "plain")
        eff[t] = tree_prefix_sum(state, "efficient")
    return PrefixSums(plain, eff)


def prefix_noise_variance(
    rounds: int,
    noise_std: float,
    estimator: str = "efficient",
    *,
    restart_every: int | None = None,
) -> np.ndarray:
    """Theoretical per-coordinate noise variance of the prefix-sum estimate after each leaf.

    After leaf t (0-based) the current segment holds ``n = t % restart_every + 1`` leaves
    (``n = t + 1`` without restarts) and the variance is

    * plain: ``noise_std**2 * popcount(n)``;
    * efficient: ``noise_std**2 * sum over set bits l of n of 2**l / (2**(l + 1) - 1)``.

    Args:
      rounds: number of leaves T, >= 1.
      noise_std: per-node noise standard deviation, >= 0.
      estimator: "efficient" or "plain".
      restart_every: restart period (None: one tree).

    Returns:
      float64 [T] (units: squared units of the leaves).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rounds = check_int(rounds, "rounds", 1)
    noise_std = check_real(noise_std, "noise_std", low=0.0)
    estimator = check_choice(estimator, "estimator", ESTIMATORS)
    restart_every = check_optional_int(restart_every, "restart_every", 1)
    t = np.arange(int(rounds), dtype=np.int64)
    n = (t % restart_every if restart_every is not None else t) + 1
    out = np.zeros(int(rounds), dtype=np.float64)
    for level in range(int(n.max()).bit_length()):
        bit = (n >> level) & 1
        out += bit * (efficient_weight(level) if estimator == "efficient" else 1.0)
    return noise_std**2 * out
