"""DP-FTRL tree-aggregation accountant: the production numbers, the dynamic programme against
exhaustive enumeration, monotonicity, restarts, epsilon over rounds, calibration, DP-FedAvg,
parameter checks."""

from __future__ import annotations

import itertools
import json
import math
import time

import dp_accounting
import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import (
    MECHANISM_GAUSSIAN,
    MECHANISM_TREE,
    PrivacyAccount,
    TreeAccountingConfig,
    account,
    calibrate_noise_multiplier,
    check_participations,
    epsilon_after,
    epsilon_over_rounds,
    gaussian_account,
    gaussian_noise_multiplier_for_rho,
    gaussian_rho,
    max_possible_participations,
    participation_cap,
    rho_over_rounds,
    tree_account,
    tree_rho,
    tree_sensitivity_squared,
    zcdp_to_epsilon,
)

PRODUCTION = dict(noise_multiplier=7.0, rounds=2000, max_participations=6, min_separation=313)


# --- an independent reference: enumerate every participation pattern ------------------------


def released_nodes(rounds: int, restart_every: int | None = None) -> list[tuple[int, int]]:
    """Dyadic intervals [j 2^l, (j+1) 2^l) inside each restarted tree, as [lo, hi)."""
    period = restart_every or rounds
    nodes = []
    for start in range(0, rounds, period):
        length = min(period, rounds - start)
        size = 1
        while size <= length:
            nodes += [(start + j, start + j + size) for j in range(0, length - size + 1, size)]
            size *= 2
    return nodes


def brute_force(rounds, max_participations, min_separation, restart_every=None) -> int:
    nodes = released_nodes(rounds, restart_every)
    incidence = np.zeros((len(nodes), rounds), dtype=np.int64)
    for i, (lo, hi) in enumerate(nodes):
        incidence[i, lo:hi] = 1
    best = 0
    for k in range(1, max_participations + 1):
        patterns = [
            p
            for p in itertools.combinations(range(rounds), k)
            if all(y - x >= min_separation for x, y in zip(p, p[1:], strict=False))
        ]
        if not patterns:
            break
        indicator = np.zeros((len(patterns), rounds), dtype=np.int64)
        for row, p in enumerate(patterns):
            indicator[row, list(p)] = 1
        best = max(best, int(((indicator @ incidence.T) ** 2).sum(axis=1).max()))
    return best


# --- the production configuration ------------------------------------------------------------


def test_production_configuration_gives_rho_0_8061_and_epsilon_8_9():
    account = tree_account(**PRODUCTION, delta=1e-10)
    assert account.sensitivity_squared == 79
    assert account.rho == pytest.approx(0.8061, abs=5e-5)
    assert account.rho == pytest.approx(79 / 98, rel=1e-12)
    # dp_accounting's default orders give 8.8986 (best order 6.1).
    assert account.epsilon == pytest.approx(8.9, abs=0.05)
    assert account.mechanism == MECHANISM_TREE


def test_production_does_not_depend_on_the_off_by_one_in_min_separation():
    # TensorFlow Privacy counts the rounds strictly between two participations (ours - 1).
    for separation in (312, 313, 314):
        assert tree_sensitivity_squared(2000, 6, separation) == 79


def test_production_is_fast():
    # A sanity bound only; timings belong in benchmarks (TF Privacy takes minutes here).
    start = time.perf_counter()
    tree_rho(**PRODUCTION)
    assert time.perf_counter() - start < 5.0


def test_single_participation_counts_the_released_nodes_on_a_leaf_path():
    assert tree_rho(7.0, 2000, 1, 313) == 11 / 98
    for rounds in (1, 2, 3, 7, 8, 9, 1023, 1024, 1025, 2000, 2048):
        assert tree_sensitivity_squared(rounds, 1, 1) == math.floor(math.log2(rounds)) + 1


def test_every_round_participation_counts_every_node_by_its_size():
    for rounds in (1, 5, 16, 37, 100):
        expected = sum((hi - lo) ** 2 for lo, hi in released_nodes(rounds))
        assert tree_sensitivity_squared(rounds, rounds, 1) == expected


# --- against exhaustive enumeration ----------------------------------------------------------


@pytest.mark.parametrize("rounds", [1, 2, 3, 5, 8, 11, 16, 19])
@pytest.mark.parametrize("restart_every", [None, 3, 4, 6])
def test_dynamic_programme_matches_enumeration(rounds, restart_every):
    for k in (1, 2, 3):
        for separation in (1, 2, 3, 4, 5, 7, 16):
            got = tree_sensitivity_squared(rounds, k, separation, restart_every=restart_every)
            want = brute_force(rounds, k, separation, restart_every)
            assert got == want, (rounds, k, separation, restart_every)


def test_dynamic_programme_matches_enumeration_with_four_participations():
    for rounds, separation, restart_every in [(24, 3, None), (24, 5, None), (21, 2, 8)]:
        got = tree_sensitivity_squared(rounds, 4, separation, restart_every=restart_every)
        assert got == brute_force(rounds, 4, separation, restart_every)


# --- monotonicity ----------------------------------------------------------------------------


def test_more_participations_smaller_separation_or_more_rounds_never_lower_rho():
    for restart_every in (None, 50):
        table = np.array(
            [
                [
                    tree_sensitivity_squared(150, k, s, restart_every=restart_every)
                    for s in (1, 2, 5, 13, 30, 64, 150)
                ]
                for k in range(1, 7)
            ]
        )
        assert np.all(np.diff(table, axis=0) >= 0)  # more participations
        assert np.all(np.diff(table, axis=1) <= 0)  # larger separation
    curve = rho_over_rounds(1.0, 300, 4, 20)
    assert np.all(np.diff(curve) >= 0)


# --- restarts --------------------------------------------------------------------------------


def test_restart_period_at_least_the_run_is_no_restart():
    for restart_every in (2000, 2001, 10**6):
        assert tree_sensitivity_squared(2000, 6, 313, restart_every=restart_every) == 79


def test_restart_every_round_makes_each_round_its_own_node():
    for rounds, k, separation in [(10, 3, 1), (10, 20, 1), (10, 20, 3), (100, 6, 7)]:
        expected = min(k, math.ceil(rounds / separation))
        assert tree_sensitivity_squared(rounds, k, separation, restart_every=1) == expected


def test_one_participation_per_restarted_tree_adds_the_tree_depths():
    # TF Privacy's DP-FTRL-TreeRestart formula: sum over trees of floor(log2 steps) + 1.
    for rounds, period in [(2000, 500), (1000, 300), (64, 16)]:
        trees = math.ceil(rounds / period)
        lengths = [min(period, rounds - start) for start in range(0, rounds, period)]
        expected = sum(math.floor(math.log2(n)) + 1 for n in lengths)
        got = tree_sensitivity_squared(rounds, trees, period, restart_every=period)
        assert got == expected


def test_constraints_span_restarted_trees():
    # 16 rounds, 2 participations at least 8 apart (e.g. rounds 0 and 8). One tree: each leaf
    # has 4 nodes of its own below the shared root of 16, which counts 2**2: 4 + 4 + 4.
    # Restarted every 8: one leaf in each tree of 8, 4 nodes each, nothing shared.
    assert tree_sensitivity_squared(16, 2, 8) == 12
    assert tree_sensitivity_squared(16, 2, 8, restart_every=8) == 8
    # The separation holds across the restart: 2 participations 5 apart in trees of 8 still
    # cannot share a node of size 4, whatever the offset.
    assert tree_sensitivity_squared(16, 2, 5, restart_every=8) == brute_force(16, 2, 5, 8)
    assert tree_sensitivity_squared(2000, 6, 313, restart_every=500) < 79


# --- epsilon over rounds ---------------------------------------------------------------------


@pytest.mark.parametrize("restart_every", [None, 7, 16])
def test_rho_over_rounds_equals_accounting_each_prefix(restart_every):
    curve = rho_over_rounds(2.0, 45, 3, 4, restart_every=restart_every)
    expected = [tree_rho(2.0, r, 3, 4, restart_every=restart_every) for r in range(1, 46)]
    np.testing.assert_array_equal(curve, expected)


def test_epsilon_over_rounds_ends_at_the_full_account():
    curve = epsilon_over_rounds(**PRODUCTION, delta=1e-10)
    assert curve.shape == (2000,)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == tree_account(**PRODUCTION, delta=1e-10).epsilon
    for r in (1, 313, 314, 1024):
        assert curve[r - 1] == epsilon_after(r, 7.0, 6, 313, 1e-10)


# --- (epsilon, delta) and calibration --------------------------------------------------------


def test_zcdp_conversion_is_the_gaussian_one():
    for rho in (0.01, 0.8061, 5.0):
        accountant = dp_accounting.rdp.RdpAccountant()
        accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier=1 / math.sqrt(2 * rho)))
        assert zcdp_to_epsilon(rho, 1e-10) == pytest.approx(accountant.get_epsilon(1e-10))
        classic = rho + 2 * math.sqrt(rho * math.log(1e10))
        assert zcdp_to_epsilon(rho, 1e-10) < classic


def test_calibration_inverts_epsilon():
    eps = tree_account(**PRODUCTION, delta=1e-10).epsilon
    nm = calibrate_noise_multiplier(eps, 1e-10, 2000, 6, 313)
    assert nm == pytest.approx(7.0, abs=1e-4)
    for target, restart_every in [(1.0, None), (8.9, None), (3.0, 500)]:
        nm = calibrate_noise_multiplier(target, 1e-10, 2000, 6, 313, restart_every=restart_every)
        got = tree_account(nm, 2000, 6, 313, 1e-10, restart_every=restart_every).epsilon
        assert got <= target
        assert got == pytest.approx(target, abs=1e-3)


# --- DP-FedAvg without amplification ---------------------------------------------------------


def test_gaussian_mechanism_and_its_inverse():
    assert gaussian_rho(7.0, 6) == 6 / 98
    rho = tree_rho(**PRODUCTION)
    nm = gaussian_noise_multiplier_for_rho(rho, 6)
    assert gaussian_rho(nm, 6) == pytest.approx(rho)
    assert nm == pytest.approx(7.0 * math.sqrt(6 / 79))
    account = gaussian_account(7.0, rounds=3, max_participations=3, delta=1e-10)
    assert account.mechanism == MECHANISM_GAUSSIAN
    assert account.rho == 3 / 98
    assert account.epsilon == zcdp_to_epsilon(3 / 98, 1e-10)
    with pytest.raises(InputError, match=r"3 rounds allow at most 3 participations"):
        gaussian_account(7.0, rounds=3, max_participations=6, delta=1e-10)


# --- value types -----------------------------------------------------------------------------


def test_account_and_config_are_frozen_and_serialisable():
    config = TreeAccountingConfig(**PRODUCTION)
    account = config.account(1e-10)
    assert isinstance(account, PrivacyAccount)
    assert account == tree_account(**PRODUCTION, delta=1e-10)
    assert config.rho() == account.rho
    assert json.loads(account.to_json()) == account.to_dict()
    assert account.to_dict()["min_separation"] == 313
    assert json.loads(json.dumps(config.to_dict()))["restart_every"] is None
    with pytest.raises(AttributeError):
        account.rho = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.rounds = 1  # type: ignore[misc]


# --- bad parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: tree_rho(0.0, 2000, 6, 313), "noise_multiplier"),
        (lambda: tree_rho(-1.0, 2000, 6, 313), "noise_multiplier"),
        (lambda: tree_rho(float("nan"), 2000, 6, 313), "noise_multiplier"),
        (lambda: tree_rho("7", 2000, 6, 313), "noise_multiplier"),
        (lambda: tree_rho(7.0, 0, 6, 313), "rounds"),
        (lambda: tree_rho(7.0, 20.5, 6, 313), "rounds"),
        (lambda: tree_rho(7.0, True, 6, 313), "rounds"),
        (lambda: tree_rho(7.0, 2000, 0, 313), "max_participations"),
        (lambda: tree_rho(7.0, 2000, 6, 0), "min_separation"),
        (lambda: tree_rho(7.0, 2000, 6, 313, restart_every=0), "restart_every"),
        (lambda: tree_account(**PRODUCTION, delta=0.0), "delta"),
        (lambda: tree_account(**PRODUCTION, delta=1.0), "delta"),
        (lambda: tree_account(**PRODUCTION, delta=1e-10, orders=[0.5, 2]), "orders"),
        (lambda: zcdp_to_epsilon(0.0, 1e-10), "rho"),
        (lambda: epsilon_after(0, 7.0, 6, 313, 1e-10), "rounds_run"),
        (lambda: calibrate_noise_multiplier(0.0, 1e-10, 2000, 6, 313), "target_epsilon"),
        (lambda: calibrate_noise_multiplier(8.9, 1e-10, 2000, 6, 313, tol=0), "tol"),
        (lambda: gaussian_rho(7.0, 0), "participations"),
        (lambda: gaussian_noise_multiplier_for_rho(-0.1, 6), "rho"),
        (lambda: TreeAccountingConfig(7.0, 2000, 6, -3), "min_separation"),
    ],
)
def test_bad_parameters_are_rejected_by_name(call, name):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.parameter == name and info.value.column is None
    assert str(info.value).startswith(f"parameter {name!r}: ")


# --- impossible participation patterns -------------------------------------------------------


def test_more_participations_than_the_rounds_allow_are_refused_not_capped():
    """20 rounds at least 5 apart hold at most 4 participations (rounds 0, 5, 10, 15)."""
    assert max_possible_participations(20, 5) == 4 and max_possible_participations(20, None) == 20
    assert check_participations(20, 4, 5) == 4
    message = (
        r"^parameter 'max_participations': max_participations is 10, but 20 rounds at "
        r"min_separation 5 allow at most 4 participations per client \(expected "
        r"max_participations <= 4, or more rounds or a smaller min_separation\)$"
    )
    for call in (
        lambda: account(MECHANISM_TREE, 7.0, 20, 10, 5, 1e-5),
        lambda: account(MECHANISM_GAUSSIAN, 7.0, 20, 10, 5, 1e-5),
        lambda: tree_account(7.0, 20, 10, 5, 1e-5),
        lambda: gaussian_account(7.0, 20, 10, 1e-5, min_separation=5),
        lambda: calibrate_noise_multiplier(8.0, 1e-5, 20, 10, 5),
        lambda: calibrate_noise_multiplier(8.0, 1e-5, 20, 10, 5, mechanism=MECHANISM_GAUSSIAN),
        lambda: epsilon_over_rounds(7.0, 20, 10, 5, 1e-5),
        lambda: TreeAccountingConfig(7.0, 20, 10, 5),
    ):
        with pytest.raises(InputError, match=message) as info:
            call()
        assert info.value.parameter == "max_participations"
    # One more round makes a fifth participation possible (rounds 0, 5, 10, 15, 20).
    assert tree_account(7.0, 21, 5, 5, 1e-5).max_participations == 5
    # The sensitivity and prefix functions stay defined for any max_participations: a prefix
    # of a possible run allows fewer participations than the whole run.
    assert tree_sensitivity_squared(20, 10, 5) == tree_sensitivity_squared(20, 4, 5)
    assert participation_cap(20, 10, 5) == 4
    assert epsilon_after(3, 7.0, 6, 313, 1e-10) == tree_account(7.0, 3, 1, 313, 1e-10).epsilon
