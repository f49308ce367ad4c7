"""Buffered-linear Toeplitz (BLT) matrix factorization noise for DP-FTRL, as plain functions.

No TFX. Written from Dvijotham, McMahan, Pillutla, Steinke and Thakurta, "Efficient and
Near-Optimal Noise Generation for Streaming Differential Privacy" (arXiv 2404.16706), and
McMahan, Xu and Zhang, "A Hassle-free Algorithm for Private Learning in Practice: Don't Use
Tree Aggregation, Use BLTs" (arXiv 2408.08868) for multiple participations; the
min-separation sensitivity is Kalinin and Lampert's (arXiv 2405.13763, Theorem 2).

**The mechanism.** Rounds ``t = 0 .. n - 1`` give the sums ``x_t`` of clipped client deltas;
the server needs their prefix sums ``A x`` (``A`` lower-triangular ones). A matrix
factorization mechanism writes ``A = B C``, releases ``C x + z`` (``z ~ N(0, sigma**2 clip**2)``
per coordinate and round) and estimates ``A x + B z``; equivalently the server adds the
*correlated* noise ``(C^-1 z)_t`` to round t's sum and keeps plain prefix sums. A BLT with
``d`` buffers is the lower-triangular Toeplitz ``C`` with

    c_0 = 1,    c_t = sum_j omega_j * theta_j**(t - 1)    (t >= 1),

``omega_j > 0`` and ``0 < theta_j < 1`` (`BltParams`). Its inverse is again a BLT with ``d``
buffers (its poles are the eigenvalues of ``diag(theta) - omega 1^T``), and more usefully
``n = C^-1 z`` satisfies ``C n = z``, i.e. the d-state recurrence

    n_t = z_t - sum_j omega_j S_j,      then   S_j <- theta_j * S_j + n_t       (S_j = 0 at t = 0)

(`BltNoise`): the noise of a round costs ``O(d * model size)`` memory and work, not
``O(rounds)``, and needs neither ``C^-1``'s parameters nor a matrix.

**Sensitivity.** A client takes part in at most ``k`` rounds, any two at least ``b`` apart
(frontier's convention: rounds ``x < y`` satisfy ``y - x >= b``; TensorFlow Privacy and the
Gboard papers count ``y - x - 1``, see `from_tf_privacy_separation`). Adding or removing
it changes ``C x`` by ``sum_{i in pattern} C[:, i] g_i`` with ``||g_i|| <= clip``; with
``C >= 0`` entrywise (so ``C^T C >= 0``) the worst case has all ``g_i`` equal and

    sens**2 = max over patterns of ||C u_pattern||**2        (units of clip**2).

When the coefficients are also non-increasing (``c_0 >= c_1 >= ... >= 0``), the maximum is the
pattern ``0, b, 2b, ...`` with ``min(k, 1 + (n - 1) // b)`` participations (Kalinin and
Lampert, Theorem 2), so ``sens**2`` costs ``O(n k)`` (`sensitivity_squared`). A BLT with
``sum(omega) <= 1`` is non-increasing (``c_1 = sum(omega) <= 1 = c_0``, then every term
decays); `optimize_blt` only returns such BLTs. For any other ``C`` the formula can be wrong
(too small), so `sensitivity_squared` then uses the proven upper bound
`sensitivity_squared_bound` and says so in its result. `sensitivity_squared_brute_force`
maximises over every pattern, for tests on small ``n``.

**Error and optimisation.** The noise of the prefix-sum estimate after round t has variance
``sigma**2 clip**2 * ||(A C^-1)[t, :]||**2``; ``A C^-1`` is Toeplitz with coefficients
``cumsum(c^-1)``, so the whole curve is ``O(n)`` (`prefix_variance`). At a fixed zCDP
``rho = sens**2 / (2 sigma**2)`` the noise std is ``sigma = sens / sqrt(2 rho)``, so a
mechanism's error at equal privacy is ``sens**2 * variance`` per unit sigma: `optimize_blt`
minimises ``sens**2 * mean_t variance_t`` ("rmse": the mean squared error over the rounds'
prefix sums, what `benchmarks/dp_ftrl.py` compares) or ``sens**2 * max_t variance_t``
("max", jax_privacy's default), by L-BFGS in float64 (the parameters' powers over thousands of
rounds lose float32's precision), with several starts, adding buffers while one more lowers
the loss by at least 1 %.

jax_privacy (`jax_privacy.matrix_factorization.buffered_toeplitz`) has BLTs but needs Python
3.11+ and JAX 0.7.1+, newer than this stack (Python 3.10 for TFX 1.16, JAX 0.4.30); this module
is checked against the papers' statements (dense ``C^-1``, brute-force sensitivity) in
`tests/components/test_dp_ftrl_blt.py`, and against jax_privacy on paper only.

Typical use::

    params = optimize_blt(rounds=2000, max_participations=6, min_separation=314)
    sens2 = sensitivity_squared(blt_coefficients(params, 2000), 6, 314).value
    noise = BltNoise(params, shape=(d,))
    for t in range(rounds):
        x_t_noisy = x_t + noise.next(sigma * clip * rng.standard_normal(d))
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import check_choice, check_int
from frontier.components.common.errors import InputError

__all__ = [
    "OBJECTIVES",
    "BltNoise",
    "BltParams",
    "Sensitivity",
    "blt_coefficients",
    "from_tf_privacy_separation",
    "inverse_coefficients",
    "optimize_blt",
    "pattern_sum",
    "prefix_variance",
    "sensitivity_squared",
    "sensitivity_squared_bound",
    "sensitivity_squared_brute_force",
    "to_tf_privacy_separation",
]

OBJECTIVES = ("rmse", "max")
DEFAULT_MAX_BUFFERS = 4
_MIN_GAIN = 0.01  # a buffer more must lower the loss by this fraction
_STARTS = 6  # optimiser starts per buffer count (2 deterministic, the rest seeded)
_BRUTE_FORCE_MAX_ROUNDS = 24


class BltParams(NamedTuple):
    """A BLT: ``c_0 = 1``, ``c_t = sum_j omega[j] * theta[j]**(t - 1)`` for ``t >= 1``.

    Attributes:
      omega: float64 [d] buffer weights (> 0 for the sensitivity formula).
      theta: float64 [d] buffer decays, in (0, 1).
    """

    omega: np.ndarray
    theta: np.ndarray

    @property
    def buffers(self) -> int:
        return int(np.asarray(self.omega).size)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-serialisable ``{"omega": [...], "theta": [...]}``."""
        return {"omega": [float(v) for v in self.omega], "theta": [float(v) for v in self.theta]}


class Sensitivity(NamedTuple):
    """A mechanism's squared L2 sensitivity under min-separation participation.

    Attributes:
      value: squared sensitivity in units of clip**2.
      exact: True when `value` is the maximum (non-negative, non-increasing coefficients);
        False when it is `sensitivity_squared_bound`'s upper bound.
    """

    value: float
    exact: bool


def from_tf_privacy_separation(separation: int) -> int:
    """frontier's min_separation (``y - x``) from TF Privacy's / Gboard's (``y - x - 1``)."""
    return check_int(separation, "min_separation", 0) + 1


def to_tf_privacy_separation(min_separation: int) -> int:
    """TF Privacy's / Gboard's min_separation (``y - x - 1``) from frontier's (``y - x``)."""
    return check_int(min_separation, "min_separation", 1) - 1


def _check_params(params: BltParams) -> BltParams:
    omega = np.asarray(params.omega, dtype=np.float64).reshape(-1)
    theta = np.asarray(params.theta, dtype=np.float64).reshape(-1)
    if omega.shape != theta.shape or omega.size == 0:
        raise InputError(
            f"omega has shape {omega.shape}, theta {theta.shape}",
            parameter="blt",
            expected="omega and theta of one shape [d], d >= 1",
        )
    if not (np.all(np.isfinite(omega)) and np.all((theta > 0) & (theta < 1))):
        raise InputError(
            f"theta is {theta.tolist()}, omega {omega.tolist()}",
            parameter="blt",
            expected="finite omega and every theta in (0, 1)",
        )
    return BltParams(omega, theta)


def blt_coefficients(params: BltParams, rounds: int) -> np.ndarray:
    """float64 [rounds]: the first column ``c_0 .. c_{rounds-1}`` of the BLT's ``C``."""
    omega, theta = _check_params(params)
    rounds = check_int(rounds, "rounds", 1)
    powers = theta[None, :] ** np.arange(rounds - 1, dtype=np.float64)[:, None]
    return np.concatenate([[1.0], powers @ omega])


def inverse_coefficients(params: BltParams, rounds: int) -> np.ndarray:
    """float64 [rounds]: the first column of ``C^-1`` (its impulse response, `BltNoise`)."""
    omega, theta = _check_params(params)
    rounds = check_int(rounds, "rounds", 1)
    out = np.empty(rounds)
    state = np.zeros_like(omega)
    z = 1.0
    for t in range(rounds):
        out[t] = z - omega @ state
        state = theta * state + out[t]
        z = 0.0
    return out


def prefix_variance(inverse: np.ndarray) -> np.ndarray:
    """Per-coordinate variance of each round's prefix-sum noise, per unit noise std.

    Args:
      inverse: float64 [n] the first column of ``C^-1`` (`inverse_coefficients`).

    Returns:
      float64 [n]: entry t is ``||(A C^-1)[t, :]||**2`` (multiply by ``(sigma * clip)**2``).
    """
    b = np.cumsum(np.asarray(inverse, dtype=np.float64))
    return np.cumsum(b * b)


def pattern_sum(coefficients: np.ndarray, participations: int, min_separation: int) -> np.ndarray:
    """``C u`` for the pattern ``0, b, 2b, ...`` of `participations` rounds: float64 [n].

    ``||C u||**2`` is the squared sensitivity when the coefficients are non-negative and
    non-increasing; its running sum over t is that of each prefix of the run.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    out = np.zeros_like(c)
    for i in range(participations):
        start = i * min_separation
        out[start:] += c[: c.size - start]
    return out


def _participations(rounds: int, max_participations: int, min_separation: int) -> int:
    k = check_int(max_participations, "max_participations", 1)
    b = check_int(min_separation, "min_separation", 1)
    return min(k, 1 + (rounds - 1) // b)


def sensitivity_squared(
    coefficients: np.ndarray, max_participations: int, min_separation: int
) -> Sensitivity:
    """Squared sensitivity of the Toeplitz mechanism with first column `coefficients`.

    Exact (Kalinin and Lampert, Theorem 2: the pattern ``0, b, 2b, ...``) when the
    coefficients are non-negative and non-increasing; otherwise `sensitivity_squared_bound`,
    a proven upper bound, with ``exact=False``.

    Args:
      coefficients: float [n] ``c_0 .. c_{n-1}``.
      max_participations: k, most rounds of one client, >= 1.
      min_separation: b, least ``y - x`` between two of its rounds (frontier's convention).

    Returns:
      `Sensitivity` in units of clip**2.
    """
    c = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    k = _participations(c.size, max_participations, min_separation)
    if np.all(c >= 0) and np.all(np.diff(c) <= 0):
        u = pattern_sum(c, k, int(min_separation))
        return Sensitivity(float(u @ u), True)
    return Sensitivity(sensitivity_squared_bound(c, k, min_separation), False)


def _toeplitz(coefficients: np.ndarray) -> np.ndarray:
    c = np.asarray(coefficients, dtype=np.float64)
    idx = np.arange(c.size)
    diff = idx[:, None] - idx[None, :]
    return np.where(diff >= 0, c[np.maximum(diff, 0)], 0.0)


def sensitivity_squared_bound(
    coefficients: np.ndarray, max_participations: int, min_separation: int
) -> float:
    """An upper bound on the squared sensitivity of any lower-triangular Toeplitz ``C``.

    With ``G = C^T C`` and a pattern P of at most k rounds pairwise >= b apart,
    ``||sum_{i in P} C[:, i] g_i||**2 <= sum_{i, j in P} |G_ij|`` for ``||g_i|| <= 1``. Row i's
    part is at most ``r_i = |G_ii| + (the k - 1 largest |G_ij| with |i - j| >= b)``, so the
    bound is the sum of the k largest ``r_i``. O(n**2) memory: for n up to a few thousand.

    Returns:
      The bound, in units of clip**2.
    """
    c = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    n = c.size
    k = _participations(n, max_participations, min_separation)
    gram = np.abs(_toeplitz(c).T @ _toeplitz(c))
    idx = np.arange(n)
    far = np.abs(idx[:, None] - idx[None, :]) >= int(min_separation)
    off = np.where(far, gram, 0.0)
    if k > 1:
        top = -np.partition(-off, k - 2, axis=1)[:, : k - 1]
        rows = np.diag(gram) + top.sum(axis=1)
    else:
        rows = np.diag(gram).copy()
    return float(np.sort(rows)[::-1][:k].sum())


def sensitivity_squared_brute_force(
    coefficients: np.ndarray, max_participations: int, min_separation: int
) -> float:
    """``max ||C u_P||**2`` over every pattern P (at most k rounds, pairwise >= b apart).

    The exact squared sensitivity when ``C >= 0`` entrywise (the worst case then has all the
    client's contributions aligned). Exponential: for tests, ``n <= 24``.

    Raises:
      InputError: more than 24 rounds.
    """
    c = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    n = c.size
    if n > _BRUTE_FORCE_MAX_ROUNDS:
        raise InputError(
            f"{n} rounds", parameter="coefficients", expected=f"<= {_BRUTE_FORCE_MAX_ROUNDS}"
        )
    k = _participations(n, max_participations, min_separation)
    b = int(min_separation)
    matrix = _toeplitz(c)
    best = 0.0
    for size in range(1, k + 1):
        for pattern in itertools.combinations(range(n), size):
            if any(y - x < b for x, y in itertools.pairwise(pattern)):
                continue
            v = matrix[:, list(pattern)].sum(axis=1)
            best = max(best, float(v @ v))
    return best


class BltNoise:
    """Streaming correlated noise ``C^-1 z`` of a BLT, from d buffers of the model's shape.

    ``next(z_t)`` returns ``n_t = z_t - sum_j omega_j S_j`` and updates
    ``S_j <- theta_j S_j + n_t``. Memory: ``d`` float64 arrays of `shape`.
    """

    def __init__(self, params: BltParams, shape: tuple[int, ...]):
        self.params = _check_params(params)
        self.buffers = np.zeros((self.params.buffers, *shape), dtype=np.float64)

    def next(self, z: np.ndarray) -> np.ndarray:
        """The correlated noise of the next round from its fresh Gaussian draw `z` (shape)."""
        omega, theta = self.params
        noise = np.asarray(z, dtype=np.float64) - np.tensordot(omega, self.buffers, axes=1)
        self.buffers *= theta.reshape(-1, *([1] * (self.buffers.ndim - 1)))
        self.buffers += noise
        return noise


# --- optimisation ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _loss_and_grad(rounds: int, participations: int, min_separation: int, buffers: int, kind: str):
    """A jitted float64 ``(loss, grad)`` of the unconstrained parameters (see `_unpack`)."""
    import jax
    import jax.numpy as jnp

    def unpack(u):
        theta = jax.nn.sigmoid(u[:buffers])
        total = jax.nn.sigmoid(u[buffers])  # sum(omega) < 1: non-increasing coefficients
        omega = total * jax.nn.softmax(u[buffers + 1 :])
        return omega, theta

    def loss(u):
        omega, theta = unpack(u)
        steps = jnp.arange(rounds - 1, dtype=u.dtype)
        c = jnp.concatenate([jnp.ones(1, u.dtype), (theta[None, :] ** steps[:, None]) @ omega])
        pattern = jnp.zeros(rounds, u.dtype)
        for i in range(participations):
            start = i * min_separation
            pattern = pattern.at[start:].add(c[: rounds - start])
        sens2 = pattern @ pattern

        def step(state, z):
            out = z - omega @ state
            return theta * state + out, out

        impulse = jnp.zeros(rounds, u.dtype).at[0].set(1.0)
        _, inverse = jax.lax.scan(step, jnp.zeros(buffers, u.dtype), impulse)
        b = jnp.cumsum(inverse)
        variance = jnp.cumsum(b * b)
        error = jnp.mean(variance) if kind == "rmse" else jnp.max(variance)
        return jnp.log(sens2) + jnp.log(error)  # log: the scale spans decades

    return jax.jit(jax.value_and_grad(loss)), jax.jit(unpack)


def _starts(rounds: int, buffers: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Initial unconstrained parameters: decay times spread over [1, rounds], then random."""
    logit = lambda p: math.log(p / (1.0 - p))  # noqa: E731
    out = []
    for spread in (1.0, 0.5):
        taus = rounds ** (spread * (np.arange(1, buffers + 1) / (buffers + 1)))
        theta = np.clip(1.0 - 1.0 / np.maximum(taus, 1.5), 1e-3, 1 - 1e-6)
        out.append(np.concatenate([[logit(t) for t in theta], [0.0], np.zeros(buffers)]))
    for _ in range(_STARTS - len(out)):
        theta = 1.0 - 1.0 / rounds ** rng.uniform(0.05, 1.0, buffers)
        theta = np.clip(theta, 1e-3, 1 - 1e-6)
        extra = rng.normal(0.0, 1.0, buffers + 1)
        out.append(np.concatenate([[logit(t) for t in theta], extra]))
    return out


def _optimize(
    rounds: int, participations: int, min_separation: int, buffers: int, kind: str, seed: int
) -> tuple[float, BltParams]:
    from jax.experimental import enable_x64
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    best_loss, best_u = math.inf, None
    with enable_x64():
        value_grad, unpack = _loss_and_grad(rounds, participations, min_separation, buffers, kind)

        def fun(u):
            value, grad = value_grad(np.asarray(u, np.float64))
            return float(value), np.asarray(grad, np.float64)

        for u0 in _starts(rounds, buffers, rng):
            result = minimize(fun, u0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
            if np.isfinite(result.fun) and result.fun < best_loss:
                best_loss, best_u = float(result.fun), result.x
        omega, theta = unpack(np.asarray(best_u, np.float64))
    return best_loss, BltParams(np.asarray(omega, np.float64), np.asarray(theta, np.float64))


def optimize_blt(
    rounds: int,
    max_participations: int,
    min_separation: int,
    *,
    buffers: int | None = None,
    max_buffers: int = DEFAULT_MAX_BUFFERS,
    objective: str = "rmse",
    seed: int = 0,
) -> BltParams:
    """The BLT that minimises ``sens**2 * error`` for the run's participation constraints.

    ``error`` is the prefix-sum noise variance per unit noise std, averaged over the rounds
    ("rmse") or its largest value ("max"). The result has ``sum(omega) < 1`` and
    ``0 < theta < 1``, so its coefficients are positive and non-increasing and
    `sensitivity_squared` is exact for it. Deterministic given the arguments.

    Args:
      rounds: n, >= 2.
      max_participations: k, most rounds of one client, >= 1.
      min_separation: b, least ``y - x`` between two of its rounds (frontier's convention;
        `from_tf_privacy_separation` converts TF Privacy's).
      buffers: d, the number of buffers (None: the smallest d <= max_buffers after which one
        more buffer lowers the loss by less than 1 %).
      max_buffers: the most buffers tried when `buffers` is None.
      objective: "rmse" or "max".
      seed: seed of the random optimiser starts.

    Returns:
      `BltParams` (float64).

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    rounds = check_int(rounds, "rounds", 2)
    k = _participations(rounds, max_participations, min_separation)
    b = check_int(min_separation, "min_separation", 1)
    kind = check_choice(objective, "objective", OBJECTIVES)
    seed = check_int(seed, "seed", 0)
    if buffers is not None:
        return _optimize(rounds, k, b, check_int(buffers, "buffers", 1), kind, seed)[1]
    max_buffers = check_int(max_buffers, "max_buffers", 1)
    loss, params = _optimize(rounds, k, b, 1, kind, seed)
    for d in range(2, max_buffers + 1):
        more_loss, more = _optimize(rounds, k, b, d, kind, seed)
        if 1.0 - math.exp(more_loss - loss) < _MIN_GAIN:  # losses are logs
            break
        loss, params = more_loss, more
    return params
