"""BLT-DP-FTRL and the mechanism interface: the BLT's sensitivity against a brute force over
every participation pattern, its streaming noise against the dense ``C^-1 z``, the optimised
BLT's error against the tree's at equal rho, the accountant's BLT account, and every private
mechanism's per-round noise against its reference form (the tree's prefix-sum DP-FTRLM)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import (
    MECHANISM_BLT,
    MECHANISM_TREE,
    FederatedConfig,
    account,
    blt,
    matched_account,
    noise,
    server,
    train_federated,
    tree_sensitivity_squared,
)
from frontier.components.dp_ftrl.accounting import epsilon_per_round
from frontier.components.dp_ftrl.tree import prefix_noise_variance, tree_prefix_sums


def _dense(coefficients: np.ndarray) -> np.ndarray:
    n = len(coefficients)
    return np.array([[coefficients[i - j] if i >= j else 0.0 for j in range(n)] for i in range(n)])


def _random_blt(rng: np.random.Generator) -> blt.BltParams:
    d = int(rng.integers(1, 4))
    return blt.BltParams(rng.uniform(0.01, 1.0, d) / d, rng.uniform(0.01, 0.99, d))


# --- sensitivity -----------------------------------------------------------------------------


def test_min_separation_sensitivity_equals_the_brute_force_over_all_patterns():
    rng = np.random.default_rng(0)
    for _ in range(120):
        n, k, b = int(rng.integers(2, 13)), int(rng.integers(1, 5)), int(rng.integers(1, 6))
        c = blt.blt_coefficients(_random_blt(rng), n)
        sens = blt.sensitivity_squared(c, k, b)
        assert sens.exact
        assert sens.value == pytest.approx(blt.sensitivity_squared_brute_force(c, k, b), rel=1e-12)


def test_coefficients_that_are_not_non_increasing_get_an_upper_bound_not_the_formula():
    c = np.array([1.0, 0.1, 2.0, 0.1, 0.1, 1.5, 0.1, 0.1])
    exact = blt.sensitivity_squared_brute_force(c, 3, 2)
    u = blt.pattern_sum(c, 3, 2)
    assert u @ u < exact  # the closed form would under-state the sensitivity here
    sens = blt.sensitivity_squared(c, 3, 2)
    assert not sens.exact and sens.value >= exact
    rng = np.random.default_rng(1)
    for _ in range(40):
        c = np.concatenate([[1.0], rng.uniform(0, 2, int(rng.integers(1, 10)))])
        k, b = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        assert blt.sensitivity_squared_bound(c, k, b) >= blt.sensitivity_squared_brute_force(
            c, k, b
        ) * (1 - 1e-12)


def test_tf_privacy_separation_is_frontiers_minus_one():
    assert blt.from_tf_privacy_separation(313) == 314
    assert blt.to_tf_privacy_separation(314) == 313
    with pytest.raises(InputError, match="min_separation"):
        blt.to_tf_privacy_separation(0)


# --- noise -----------------------------------------------------------------------------------


def test_streamed_noise_is_the_inverse_factor_times_z_and_its_variance_is_exact():
    params = blt.BltParams(np.array([0.3, 0.2]), np.array([0.9, 0.4]))
    n = 40
    inverse = np.linalg.inv(_dense(blt.blt_coefficients(params, n)))
    z = np.random.default_rng(2).normal(size=(n, 3))
    stream = blt.BltNoise(params, (3,))
    assert stream.buffers.shape == (2, 3)  # O(buffers x model), not O(rounds)
    out = np.stack([stream.next(zt) for zt in z])
    np.testing.assert_allclose(out, inverse @ z, atol=1e-12)
    np.testing.assert_allclose(blt.inverse_coefficients(params, n), inverse[:, 0], atol=1e-14)
    workload = np.tril(np.ones((n, n))) @ inverse
    np.testing.assert_allclose(
        blt.prefix_variance(blt.inverse_coefficients(params, n)), (workload**2).sum(axis=1)
    )


def test_bad_blt_parameters_are_refused_with_their_name():
    with pytest.raises(InputError, match="blt"):
        blt.blt_coefficients(blt.BltParams(np.array([0.5]), np.array([1.2])), 5)
    with pytest.raises(InputError, match="blt"):
        blt.BltNoise(blt.BltParams(np.array([0.5, 0.1]), np.array([0.5])), (2,))
    with pytest.raises(InputError, match="objective"):
        blt.optimize_blt(10, 2, 3, objective="median")


# --- optimisation ----------------------------------------------------------------------------


def _rmse_ratio(rounds: int, k: int, b: int, params: blt.BltParams) -> float:
    sens = blt.sensitivity_squared(blt.blt_coefficients(params, rounds), k, b)
    variance = blt.prefix_variance(blt.inverse_coefficients(params, rounds))
    tree = tree_sensitivity_squared(rounds, k, b) * prefix_noise_variance(rounds, 1.0).mean()
    return float(np.sqrt(sens.value * variance.mean() / tree))


def test_optimised_blt_is_monotone_deterministic_and_beats_the_tree_at_equal_rho():
    params = blt.optimize_blt(300, 4, 50)
    c = blt.blt_coefficients(params, 300)
    assert np.all(c > 0) and np.all(np.diff(c) <= 0) and params.omega.sum() < 1
    assert np.all((params.theta > 0) & (params.theta < 1))
    assert blt.sensitivity_squared(c, 4, 50).exact
    again = blt.optimize_blt(300, 4, 50)
    np.testing.assert_array_equal(params.omega, again.omega)
    ratio = _rmse_ratio(300, 4, 50, params)
    assert ratio < 0.7
    one = blt.optimize_blt(300, 4, 50, buffers=1)
    assert one.buffers == 1 and _rmse_ratio(300, 4, 50, one) >= ratio * (1 - 1e-6)


# --- the accountant --------------------------------------------------------------------------


def test_blt_account_and_the_tree_matched_account_share_rho():
    tree = account(MECHANISM_TREE, 2.0, 60, 3, 20, 1e-6)
    matched = matched_account(tree, MECHANISM_BLT)
    assert matched.rho == tree.rho and matched.mechanism == MECHANISM_BLT
    own = account(MECHANISM_BLT, matched.noise_multiplier, 60, 3, 20, 1e-6)
    assert own.rho == pytest.approx(tree.rho, rel=1e-12)
    assert own.epsilon == pytest.approx(tree.epsilon, rel=1e-9)
    eps = epsilon_per_round(own)
    assert eps.shape == (60,) and np.all(np.diff(eps) >= 0) and eps[-1] == own.epsilon
    with pytest.raises(InputError, match="min_separation"):
        account(MECHANISM_BLT, 2.0, 60, 3, None, 1e-6)


# --- the mechanism interface -----------------------------------------------------------------

CONFIG = FederatedConfig(
    clients_per_round=3, rounds=21, max_participations=3, min_separation=5, server_lr=0.4,
    momentum=0.8, noise_multiplier=0.7, clip=0.5, seed=4,
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(noise.MECHANISMS))
def test_each_mechanism_accounts_as_the_accountant(name):
    mech = noise.mechanism_for(name, CONFIG)
    direct = account(mech.account_name, 1.3, 21, 3, 5, 1e-6)
    assert mech.account(1.3, 1e-6) == direct
    curve = mech.sensitivity_squared(prefix=True)
    assert curve.shape == (21,) and curve[-1] == pytest.approx(mech.sensitivity_squared())
    assert mech.prefix_variance().shape == (21,)


@pytest.mark.parametrize("estimator, restart", [("efficient", None), ("plain", 8)])
def test_tree_noise_per_round_sums_to_the_trees_prefix_noise(estimator, restart):
    mech = dataclasses.replace(
        noise.mechanism_for("dp_ftrl", CONFIG), estimator=estimator, restart_every=restart
    )
    rng = np.random.default_rng(5)
    state, out = mech.init((4,)), []
    for _ in range(21):
        n, state = mech.next(state, 0.3, rng)
        out.append(n)
    prefix = tree_prefix_sums(np.zeros((21, 4)), 0.3, seed=5, restart_every=restart)
    expected = getattr(prefix, estimator)
    running = np.cumsum(out, axis=0)
    if restart is not None:  # prefix sums restart with the tree
        for start in range(restart, 21, restart):
            running[start:] -= running[start - 1]
    np.testing.assert_allclose(running, expected, atol=1e-12)


@pytest.mark.parametrize("nesterov, restart", [(False, None), (True, None), (False, 6)])
def test_private_server_with_tree_noise_is_the_papers_prefix_sum_dp_ftrlm(nesterov, restart):
    config = dataclasses.replace(CONFIG, nesterov=nesterov, restart_every=restart)
    leaves = np.random.default_rng(6).normal(size=(21, 5))
    reference = server.dp_ftrl_server(config, 0.35, np.random.default_rng(7))
    unified = server.server_optimizer("dp_ftrl", config, 0.35, np.random.default_rng(7))
    a, b = reference.init(np.ones(5)), unified.init(np.ones(5))
    for leaf in leaves:
        wa, a = reference.update(a, leaf, 3)
        wb, b = unified.update(b, leaf, 3)
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-10)


def test_blt_server_adds_the_streamed_correlated_noise():
    config = dataclasses.replace(CONFIG, momentum=0.0, server_lr=1.0)
    mech = noise.mechanism_for("blt_dp_ftrl", config)
    opt = server.server_optimizer("blt_dp_ftrl", config, 0.5, np.random.default_rng(8))
    state = opt.init(np.zeros(2))
    for _ in range(21):
        w, state = opt.update(state, np.zeros(2), 3)
    z = 0.5 * np.random.default_rng(8).standard_normal((21, 2))
    inverse = np.linalg.inv(_dense(blt.blt_coefficients(mech.blt_params(), 21)))
    np.testing.assert_allclose(w, (inverse @ z).sum(axis=0) / 3, atol=1e-10)


def test_training_with_blt_records_its_buffers_at_the_trees_rho():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    ids = np.repeat(np.arange(12), 10)
    config = dataclasses.replace(CONFIG, hidden_units=(4,), local_batch_size=5, eval_every=7)
    run = train_federated(x, y, ids, config, "blt_dp_ftrl", eval_data=(x[:30], y[:30]))
    tree = train_federated(x, y, ids, config, "dp_ftrl")
    assert run.noise.rho == tree.noise.rho and run.noise.estimator is None
    assert set(run.noise.blt) == {"omega", "theta"} and run.noise.noise_multiplier > 0
    eps = [h["epsilon"] for h in run.history]
    assert eps[-1] == pytest.approx(run.noise.epsilon) and eps == sorted(eps)
    assert run.history[-1]["eval_accuracy"] is not None


def test_a_mechanism_must_implement_the_interface():
    with pytest.raises(TypeError, match="abstract"):
        noise.NoiseMechanism(rounds=3, max_participations=1, min_separation=1)
