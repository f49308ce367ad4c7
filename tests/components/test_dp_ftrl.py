"""DP-FTRL federated simulation: partitioning, participation schedule, tree aggregation (noise
variance against theory and against the best linear unbiased estimator), the FTRL-with-momentum
server step, clipped and vectorised client updates, end-to-end training, parameter checks."""

from __future__ import annotations

import dataclasses
import math
import pathlib
import sys

import jax
import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import (
    FederatedConfig,
    check_schedule,
    ftrl_init,
    ftrl_update,
    gaussian_noise_multiplier_for_rho,
    momentum_init,
    momentum_update,
    partition_clients,
    rounds,
    schedule_participation,
    train_federated,
    tree_rho,
)
from frontier.components.dp_ftrl.clients import pack_clients
from frontier.components.dp_ftrl.model import (
    flatten_params,
    init_params,
    model_logits,
    to_keras_weights,
)
from frontier.components.dp_ftrl.rounds import client_deltas, local_sgd, round_delta_sum
from frontier.components.dp_ftrl.tree import (
    efficient_node_variance,
    efficient_weight,
    prefix_noise_variance,
    tree_prefix_sums,
)

# The per-client reference loop lives with the benchmark that times it.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
from dp_ftrl_reference import round_delta_sum_loop  # noqa: E402

# --- partitioning ----------------------------------------------------------------------------


def test_iid_partition_is_balanced_complete_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    part = partition_clients(labels, 7, "iid", seed=3)
    sizes = np.bincount(part, minlength=7)
    assert part.shape == (100,) and sizes.sum() == 100 and sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(part, partition_clients(labels, 7, "iid", seed=3))
    assert not np.array_equal(part, partition_clients(labels, 7, "iid", seed=4))


def test_dirichlet_partition_skews_labels_more_for_small_alpha():
    labels = np.repeat(np.arange(10), 100)

    def mean_label_entropy(alpha):
        part = partition_clients(labels, 20, "dirichlet", alpha=alpha, seed=0, min_examples=5)
        assert np.bincount(part, minlength=20).min() >= 5
        counts = np.zeros((20, 10))
        np.add.at(counts, (part, labels), 1)
        p = counts / counts.sum(axis=1, keepdims=True)
        return float(-(p * np.log(np.where(p > 0, p, 1))).sum(axis=1).mean())

    skewed, uniform = mean_label_entropy(0.1), mean_label_entropy(100.0)
    assert skewed < 1.2 < 2.1 < uniform <= math.log(10)
    a = partition_clients(labels, 20, "dirichlet", alpha=0.5, seed=1)
    np.testing.assert_array_equal(a, partition_clients(labels, 20, "dirichlet", alpha=0.5, seed=1))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_clients=0), "num_clients"),
        (dict(num_clients=11), "num_clients"),
        (dict(scheme="shards"), "scheme"),
        (dict(scheme="dirichlet", alpha=0.0), "alpha"),
        (dict(seed=-1), "seed"),
        (dict(min_examples=0), "min_examples"),
    ],
)
def test_partition_rejects_bad_parameters(kwargs, name):
    args = dict(labels=np.arange(10) % 2, num_clients=2) | kwargs
    with pytest.raises(InputError, match=name) as err:
        partition_clients(**args)
    assert err.value.parameter == name and str(err.value).startswith(f"parameter {name!r}: ")


# --- participation ---------------------------------------------------------------------------


def violations(schedule, num_clients, k, max_p, sep):
    """Independent, obviously correct checker: the list of broken constraints."""
    found = []
    rounds_of = {}
    for t, row in enumerate(schedule):
        present = [int(c) for c in row if c != -1]
        if len(row) != k or any(not 0 <= c < num_clients for c in present):
            found.append(("slot", t))
        if len(set(present)) != len(present):
            found.append(("twice in a round", t))
        for c in present:
            rounds_of.setdefault(c, []).append(t)
    for c, rs in rounds_of.items():
        if len(rs) > max_p:
            found.append(("participations", c))
        if any(b - a < sep for a, b in zip(rs, rs[1:], strict=False)):
            found.append(("separation", c))
    return found


def test_schedule_never_violates_constraints_over_random_configs():
    rng = np.random.default_rng(0)
    short_seen = full_seen = 0
    for trial in range(60):
        num_clients = int(rng.integers(1, 40))
        k = int(rng.integers(1, num_clients + 3))
        rounds = int(rng.integers(1, 60))
        max_p = int(rng.integers(1, 6))
        sep = int(rng.integers(1, 12))
        s = schedule_participation(num_clients, rounds, k, max_p, sep, seed=trial)
        assert s.shape == (rounds, k) and s.dtype == np.int64
        assert violations(s, num_clients, k, max_p, sep) == []
        check_schedule(s, num_clients, k, max_p, sep)
        # Greedy: a round is short only when every eligible client was taken.
        count = np.zeros(num_clients, int)
        last = np.full(num_clients, -(10**9))
        for t, row in enumerate(s):
            eligible = int(((count < max_p) & (t - last >= sep)).sum())
            present = row[row >= 0]
            assert present.size == min(k, eligible)
            assert np.all(row[present.size :] == -1) and np.all(np.diff(present) > 0)
            count[present] += 1
            last[present] = t
            short_seen += present.size < k
            full_seen += present.size == k
    assert short_seen and full_seen


def test_schedule_is_seeded():
    a = schedule_participation(50, 30, 5, 3, 4, seed=7)
    np.testing.assert_array_equal(a, schedule_participation(50, 30, 5, 3, 4, seed=7))
    assert not np.array_equal(a, schedule_participation(50, 30, 5, 3, 4, seed=8))


@pytest.mark.parametrize(
    "edit, what",
    [
        (lambda s: s.__setitem__((0, 1), s[0, 0]), "min_separation"),  # twice in one round
        (lambda s: s.__setitem__((1, 0), s[0, 0]), "min_separation"),  # rounds 0 and 1, sep 2
        (lambda s: s.__setitem__((0, 0), 99), "client index"),
        (lambda s: s.__setitem__((0, 0), -2), "client index"),
    ],
)
def test_check_schedule_names_the_broken_constraint(edit, what):
    s = np.array([[0, 1], [2, 3], [4, 5]])
    edit(s)
    with pytest.raises(InputError, match=what) as err:
        check_schedule(s, 6, 2, 3, 2)
    assert err.value.parameter == "schedule" and "parameter 'schedule'" in str(err.value)


def test_check_schedule_counts_participations_and_checks_shape():
    s = np.array([[0], [-1], [0], [-1], [0]])
    check_schedule(s, 1, 1, 3, 2)
    with pytest.raises(InputError, match="max_participations") as err:
        check_schedule(s, 1, 1, 2, 2)
    assert err.value.row == 5
    with pytest.raises(InputError, match="schedule"):
        check_schedule(s, 1, 2, 3, 2)  # wrong width
    with pytest.raises(InputError, match="schedule"):
        check_schedule(s.astype(float), 1, 1, 3, 2)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0, 5, 1, 1, 1), "num_clients"),
        ((3, 0, 1, 1, 1), "rounds"),
        ((3, 5, 0, 1, 1), "clients_per_round"),
        ((3, 5, 1, 0, 1), "max_participations"),
        ((3, 5, 1, 1, 0), "min_separation"),
        ((3, 5, 1.5, 1, 1), "clients_per_round"),
    ],
)
def test_schedule_rejects_bad_parameters(args, name):
    with pytest.raises(InputError, match=name):
        schedule_participation(*args)


# --- tree aggregation ------------------------------------------------------------------------


def released_nodes(n):
    """Dyadic intervals [j 2^l, (j+1) 2^l) inside [0, n), as (lo, hi)."""
    nodes, size = [], 1
    while size <= n:
        nodes += [(j, j + size) for j in range(0, n - size + 1, size)]
        size *= 2
    return nodes


def test_efficient_weights_follow_the_inverse_variance_recursion():
    s2, v = 2.5, 2.5  # v_0 = s^2
    for level in range(1, 30):
        v_next = 1.0 / (1.0 / s2 + 1.0 / (2.0 * v))
        assert efficient_node_variance(level, math.sqrt(s2)) == pytest.approx(v_next, rel=1e-12)
        assert efficient_weight(level) == pytest.approx(v_next / s2, rel=1e-12)
        v = v_next
    assert efficient_weight(0) == 1.0 and efficient_weight(1) == pytest.approx(2 / 3)


def test_efficient_estimator_has_the_variance_of_the_best_linear_unbiased_estimator():
    # Generalised least squares over all released nodes (unknown leaves, i.i.d. node noise):
    # Var(1' beta_hat) = s^2 1' (A'A)^-1 1, which no linear unbiased estimator beats.
    for n in range(1, 65):
        nodes = released_nodes(n)
        a = np.zeros((len(nodes), n))
        for i, (lo, hi) in enumerate(nodes):
            a[i, lo:hi] = 1.0
        ones = np.ones(n)
        blue = ones @ np.linalg.solve(a.T @ a, ones)
        assert prefix_noise_variance(n, 1.0, "efficient")[-1] == pytest.approx(blue, rel=1e-9)
        assert prefix_noise_variance(n, 1.0, "plain")[-1] == bin(n).count("1")


def test_zero_noise_prefix_sums_are_exact_and_restart_resets_the_sum():
    leaves = np.random.default_rng(0).normal(size=(23, 3, 2))
    out = tree_prefix_sums(leaves, 0.0, seed=0)
    np.testing.assert_allclose(out.plain, np.cumsum(leaves, axis=0), atol=1e-12)
    np.testing.assert_allclose(out.efficient, np.cumsum(leaves, axis=0), atol=1e-12)
    restarted = tree_prefix_sums(leaves, 0.0, restart_every=5)
    for start in range(0, 23, 5):
        seg = np.cumsum(leaves[start : start + 5], axis=0)
        np.testing.assert_allclose(restarted.plain[start : start + 5], seg, atol=1e-12)
        np.testing.assert_allclose(restarted.efficient[start : start + 5], seg, atol=1e-12)
    # Noise is unbiased: leaves shift the prefix sums, nothing else.
    noisy = tree_prefix_sums(leaves, 1.0, seed=4)
    noise_only = tree_prefix_sums(np.zeros_like(leaves), 1.0, seed=4)
    np.testing.assert_allclose(noisy.efficient - noise_only.efficient, out.efficient, atol=1e-9)


@pytest.mark.parametrize("restart_every", [None, 12])
def test_prefix_sum_noise_variance_matches_theory_within_sampling_error(restart_every):
    # 40 rounds (not a power of two: forests of up to 4 roots), 16 seeds x 2000 coordinates =
    # M = 32,000 independent repetitions per round, vectorised.
    rounds, std, m_per_seed, seeds = 40, 1.7, 2000, 16
    draws = [
        tree_prefix_sums(
            np.zeros((rounds, m_per_seed)), std, seed=seed, restart_every=restart_every
        )
        for seed in range(seeds)
    ]
    m = m_per_seed * seeds
    # Sampling error of a Gaussian variance estimate: relative sd sqrt(2 / (M - 1)); 5 sd over
    # 40 rounds x 2 estimators has a false-alarm probability ~ 5e-5.
    tol = 5 * math.sqrt(2.0 / (m - 1))
    for name in ("plain", "efficient"):
        noise = np.concatenate([getattr(d, name) for d in draws], axis=1)  # [rounds, M]
        theory = prefix_noise_variance(rounds, std, name, restart_every=restart_every)
        empirical = noise.var(axis=1, ddof=1)
        np.testing.assert_array_less(np.abs(empirical / theory - 1.0), tol)
        np.testing.assert_array_less(np.abs(noise.mean(axis=1)), 5 * np.sqrt(theory / m))
    if restart_every:
        theory = prefix_noise_variance(rounds, std, "efficient", restart_every=restart_every)
        np.testing.assert_array_equal(theory[12:24], theory[:12])  # the restart resets it


def test_efficient_variance_never_exceeds_plain_and_approaches_half():
    plain = prefix_noise_variance(4096, 1.0, "plain")
    eff = prefix_noise_variance(4096, 1.0, "efficient")
    assert np.all(eff <= plain + 1e-12)
    n = np.arange(1, 4097)
    np.testing.assert_array_equal(eff == plain, n == 1)  # equal only for the lone leaf
    # A level-l root has variance 2**l / (2**(l+1) - 1) -> 1/2 of a plain node's.
    assert eff[4095] == pytest.approx(4096 / 8191)  # n = 4096: one root
    assert 0.56 < eff[4094] / plain[4094] < 0.57  # n = 4095: 12 roots of levels 0..11


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: prefix_noise_variance(5, -1.0), "noise_std"),
        (lambda: prefix_noise_variance(5, 1.0, "optimal"), "estimator"),
        (lambda: prefix_noise_variance(0, 1.0), "rounds"),
        (lambda: tree_prefix_sums(np.zeros(3), 1.0, restart_every=0), "restart_every"),
        (lambda: tree_prefix_sums(np.zeros((0, 2)), 1.0), "leaves"),
    ],
)
def test_tree_rejects_bad_parameters(call, name):
    with pytest.raises(InputError, match=name):
        call()


# --- the server step -------------------------------------------------------------------------


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.7, True)])
def test_ftrl_without_noise_is_server_sgd_with_momentum_on_mean_deltas(momentum, nesterov):
    rng = np.random.default_rng(1)
    w0, k, lr = rng.normal(size=5), 4, 0.3
    leaves = rng.normal(size=(37, 5))
    ftrl, sgd = ftrl_init(w0), momentum_init(w0)
    w_gd = w0.copy()
    for leaf in leaves:
        ftrl = ftrl_update(
            ftrl, leaf, clients_per_round=k, server_lr=lr, momentum=momentum,
            nesterov=nesterov, noise_std=0.0, rng=rng,
        )  # fmt: skip
        sgd = momentum_update(sgd, leaf / k, server_lr=lr, momentum=momentum, nesterov=nesterov)
        w_gd = w_gd + lr * leaf / k
        np.testing.assert_allclose(ftrl.w, sgd.w, rtol=1e-10, atol=1e-10)
        if momentum == 0:
            np.testing.assert_allclose(ftrl.w, w_gd, rtol=1e-12, atol=1e-12)


def test_ftrl_restart_resets_base_model_prefix_sum_and_momentum():
    leaves = np.random.default_rng(2).normal(size=(10, 6))
    kw = dict(clients_per_round=3, server_lr=0.5, momentum=0.8, nesterov=False, noise_std=0.4)
    a = ftrl_init(np.ones(6))
    rng_a = np.random.default_rng(9)
    for leaf in leaves:
        a = ftrl_update(a, leaf, rng=rng_a, restart_every=5, **kw)
    b = ftrl_init(np.ones(6))
    rng_b = np.random.default_rng(9)
    for leaf in leaves[:5]:
        b = ftrl_update(b, leaf, rng=rng_b, **kw)
    b = ftrl_init(b.w)  # a fresh run from the model reached at the restart
    for leaf in leaves[5:]:
        b = ftrl_update(b, leaf, rng=rng_b, **kw)
    np.testing.assert_array_equal(a.w, b.w)
    assert a.tree.leaves == 5


# --- client updates --------------------------------------------------------------------------

K, P, D, C, HIDDEN = 6, 8, 5, 3, (7,)


def random_round(rng, scale):
    params = init_params(D, C, HIDDEN, seed=int(rng.integers(1 << 30)))
    params = [{k: v * scale for k, v in layer.items()} for layer in params]
    sizes = rng.integers(1, P + 1, size=K + 2)
    ids = np.repeat(np.arange(K + 2), sizes)
    x = rng.normal(size=(ids.size, D)) * rng.uniform(0.1, 10)
    y = rng.integers(0, C, size=ids.size)
    data = pack_clients(x, y, ids, batch_size=4)
    clients = rng.choice(K + 2, size=K, replace=False)
    clients[rng.integers(K)] = -1
    stats = (rng.normal(size=D).astype(np.float32), rng.uniform(0.5, 2, size=D))
    return params, clients, data, stats


def test_every_client_delta_is_clipped_over_random_models_and_data():
    rng = np.random.default_rng(0)
    for trial in range(25):
        params, clients, data, (mean, var) = random_round(rng, scale=rng.uniform(0.1, 5))
        clip = float(10 ** rng.uniform(-2, 1))
        kw = dict(client_lr=float(10 ** rng.uniform(-2, 0.5)), local_epochs=2, batch_size=4)
        key = jax.random.PRNGKey(trial)
        clipped, norms = client_deltas(params, clients, key, data, mean, var, clip=clip, **kw)
        raw, raw_norms = client_deltas(params, clients, key, data, mean, var, **kw)
        assert clipped.shape == (K, flatten_params(params).size)
        got = np.linalg.norm(clipped.astype(np.float64), axis=1)
        assert np.all(got <= clip * (1 + 1e-5))
        empty = clients < 0
        assert np.all(clipped[empty] == 0) and np.all(np.isnan(norms[empty]))
        np.testing.assert_allclose(norms[~empty], np.linalg.norm(raw[~empty], axis=1), rtol=1e-5)
        small = ~empty & (raw_norms <= clip)
        np.testing.assert_array_equal(clipped[small], raw[small])  # untouched below the bound
        big = ~empty & (raw_norms > clip)
        np.testing.assert_allclose(got[big], clip, rtol=1e-5)
        cos = (clipped[big] * raw[big]).sum(1) / (got[big] * raw_norms[big])
        np.testing.assert_allclose(cos, 1.0, rtol=1e-5)  # same direction


def test_vectorised_round_equals_per_client_python_loop():
    rng = np.random.default_rng(5)
    params, clients, data, (mean, var) = random_round(rng, scale=1.0)
    kw = dict(client_lr=0.3, local_epochs=2, batch_size=4, clip=0.05)
    key = jax.random.PRNGKey(3)
    total_loop, norms_loop = round_delta_sum_loop(params, clients, key, data, mean, var, **kw)
    for chunk in (128, 4):  # one chunk; two chunks, the second padded
        total, norms = round_delta_sum(
            params, clients, key, data, mean, var, client_chunk=chunk, **kw
        )
        np.testing.assert_allclose(total, total_loop, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(norms, norms_loop, rtol=1e-4)


@pytest.mark.parametrize(
    "hidden, max_size, epochs, batch, unrolled",
    [
        ((), 5, 1, 5, True),  # no hidden layer: the first layer is the output layer
        ((7,), 20, 2, 10, True),  # the benchmark's shape, steps unrolled in slot order
        ((6, 4), 12, 3, 4, True),  # two hidden layers
        ((7,), 40, 2, 10, False),  # more slots than rounds._UNROLL_MAX_SLOTS: lax.scan
    ],
)
def test_low_rank_mlp_round_equals_the_vmapped_local_sgd(hidden, max_size, epochs, batch, unrolled):
    """round_delta_sum takes rounds._mlp_chunk_sum for the MLP; client_deltas the vmapped path."""
    rng = np.random.default_rng(len(hidden) + max_size)
    params = init_params(D, C, hidden, seed=3)
    sizes = rng.integers(1, max_size + 1, size=12)
    sizes[0] = max_size
    ids = np.repeat(np.arange(12), sizes)
    x = rng.normal(size=(ids.size, D)) * 2
    data = pack_clients(x, rng.integers(0, C, size=ids.size), ids, batch)
    assert data.x.shape[1] <= rounds._LOW_RANK_MAX_PAD
    assert (epochs * data.x.shape[1] <= rounds._UNROLL_MAX_SLOTS) == unrolled
    clients = np.array([3, 0, -1, 7, 11, 5, 2, 9, 1, -1], np.int32)
    mean, var = rng.normal(size=D), rng.uniform(0.5, 2, size=D)
    kw = dict(client_lr=0.4, local_epochs=epochs, batch_size=batch, clip=0.3)
    key = jax.random.PRNGKey(7)
    clipped, norms = client_deltas(params, clients, key, data, mean, var, **kw)
    total, low_norms = round_delta_sum(params, clients, key, data, mean, var, **kw)
    np.testing.assert_allclose(total, clipped.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(low_norms, norms, rtol=1e-5)  # NaN for the empty slots too


def test_local_sgd_on_a_padded_client_is_plain_sgd_on_its_real_examples():
    rng = np.random.default_rng(6)
    params = init_params(D, C, HIDDEN, seed=1)
    x = rng.normal(size=(3, D)).astype(np.float32)
    y = np.array([0, 2, 1], np.int32)
    mean, inv_std = np.zeros(D, np.float32), np.ones(D, np.float32)

    def loss(p):
        logits = model_logits(p, x, mean, inv_std)
        return -jax.nn.log_softmax(logits)[np.arange(3), y].mean()

    expected = params
    for _ in range(2):  # 2 epochs, one real step each (3 examples <= batch 4)
        grad = jax.grad(loss)(expected)
        expected = jax.tree_util.tree_map(lambda a, g: a - 0.5 * g, expected, grad)
    pad_x = np.zeros((8, D), np.float32)
    pad_x[:3] = x
    pad_y = np.zeros(8, np.int32)
    pad_y[:3] = y
    mask = np.zeros(8, np.float32)
    mask[:3] = 1
    got = local_sgd(
        params, pad_x, pad_y, mask, jax.random.PRNGKey(0), mean, inv_std, 0.5,
        local_epochs=2, batch_size=4,
    )  # fmt: skip
    np.testing.assert_allclose(flatten_params(got), flatten_params(expected), rtol=1e-5, atol=1e-6)


def test_pack_clients_groups_and_pads():
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    data = pack_clients(x, np.arange(7) % 3, np.array(["b", "a", "b", "c", "b", "a", "b"]), 3)
    assert list(data.ids) == ["a", "b", "c"] and list(data.sizes) == [2, 4, 1]
    assert data.x.shape == (3, 6, 2) and data.mask.sum() == 7
    np.testing.assert_array_equal(data.x[1, :4, 0], [0, 4, 8, 12])  # input order kept
    np.testing.assert_array_equal(data.mask[2], [1, 0, 0, 0, 0, 0])


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs():
    """3 well-separated classes in 6-D, 30 clients of 4..8 examples, and a test set."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 4

    def sample(n):
        y = rng.integers(0, 3, size=n)
        return (centres[y] + rng.normal(size=(n, 6))).astype(np.float32), y

    sizes = rng.integers(4, 9, size=30)
    x, y = sample(int(sizes.sum()))
    return x, y, np.repeat(np.arange(30), sizes), sample(300)


BASE = FederatedConfig(
    clients_per_round=8,
    rounds=12,
    max_participations=4,
    min_separation=3,
    local_epochs=2,
    local_batch_size=4,
    client_lr=0.1,
    server_lr=1.0,
    momentum=0.5,
    clip=1.0,
    noise_multiplier=0.8,
    hidden_units=(8,),
    eval_every=4,
    seed=3,
)


def test_fedavg_learns_a_separable_problem(blobs):
    x, y, ids, test = blobs
    result = train_federated(x, y, ids, BASE, "fedavg", eval_data=test)
    assert result.history[-1]["eval_accuracy"] > 0.9  # chance: 1/3
    assert result.evaluate(*test)[0] == result.history[-1]["eval_accuracy"]
    assert result.noise.epsilon is None and all(h["epsilon"] is None for h in result.history)


def test_same_seed_same_model_other_seed_other_model(blobs):
    x, y, ids, _ = blobs
    a = train_federated(x, y, ids, BASE, "dp_ftrl")
    b = train_federated(x, y, ids, BASE, "dp_ftrl")
    c = train_federated(x, y, ids, dataclasses.replace(BASE, seed=4), "dp_ftrl")
    np.testing.assert_array_equal(flatten_params(a.params), flatten_params(b.params))
    np.testing.assert_array_equal(a.schedule, b.schedule)
    assert not np.allclose(flatten_params(a.params), flatten_params(c.params))


@pytest.mark.parametrize("nesterov", [False, True])
def test_dp_ftrl_without_noise_and_clipping_is_fedavg_with_server_momentum(blobs, nesterov):
    x, y, ids, _ = blobs
    config = dataclasses.replace(BASE, noise_multiplier=0.0, clip=1e6, nesterov=nesterov)
    ftrl = train_federated(x, y, ids, config, "dp_ftrl")
    fedavg = train_federated(x, y, ids, config, "fedavg")
    assert ftrl.short_rounds.size == 0  # full rounds: the fixed divisor K is the count
    np.testing.assert_allclose(
        flatten_params(ftrl.params), flatten_params(fedavg.params), rtol=1e-4, atol=1e-5
    )
    assert ftrl.noise.epsilon is None


def test_history_noise_and_matched_privacy_of_the_baseline(blobs):
    x, y, ids, test = blobs
    seen = []
    ftrl = train_federated(x, y, ids, BASE, "dp_ftrl", eval_data=test, on_round=seen.append)
    fedavg = train_federated(x, y, ids, BASE, "dp_fedavg")
    assert seen == ftrl.history and [h["round"] for h in seen] == list(range(12))
    assert [h["eval_accuracy"] is not None for h in seen] == [(t + 1) % 4 == 0 for t in range(12)]
    rho = tree_rho(0.8, 12, 4, 3)
    assert ftrl.noise.rho == fedavg.noise.rho == rho
    assert ftrl.noise.epsilon == pytest.approx(fedavg.noise.epsilon, rel=1e-9)
    assert fedavg.noise.noise_multiplier == gaussian_noise_multiplier_for_rho(rho, 4)
    eps = [h["epsilon"] for h in ftrl.history]
    assert all(a <= b for a, b in zip(eps, eps[1:], strict=False)) and eps[-1] == ftrl.noise.epsilon
    np.testing.assert_allclose(
        ftrl.noise.prefix_noise_std, np.sqrt(prefix_noise_variance(12, 0.8)) / 8
    )
    assert all(0 <= h["clipped_fraction"] <= 1 and h["clients"] == 8 for h in seen)


def test_trained_parameters_load_into_the_keras_model():
    params = init_params(D, C, HIDDEN, seed=0)
    weights = to_keras_weights(params)
    assert list(weights) == ["hidden0", "probabilities"]
    assert weights["hidden0"][0].shape == (D, 7) and weights["probabilities"][1].shape == (C,)
    keras = pytest.importorskip("keras")
    from frontier.components.trainer.model import build_model

    x_public = np.random.default_rng(0).normal(3, 2, size=(50, D)).astype(np.float32)
    model = build_model((D, C), "mlp", HIDDEN, train_x=x_public)
    for name, w in weights.items():
        model.get_layer(name).set_weights(w)
    from frontier.components.trainer.model import feature_stats

    mean, var = feature_stats(x_public)
    inv_std = 1 / np.maximum(np.sqrt(var), 1e-7)
    ours = jax.nn.softmax(model_logits(params, x_public, mean, inv_std))
    np.testing.assert_allclose(model.predict(x_public, verbose=0), ours, rtol=1e-4, atol=1e-6)
    del keras


@pytest.mark.parametrize(
    "field, value",
    [
        ("clients_per_round", 0),
        ("rounds", 0),
        ("max_participations", 0),
        ("min_separation", 0),
        ("local_epochs", 0),
        ("local_batch_size", 2.0),
        ("client_lr", 0.0),
        ("server_lr", -1.0),
        ("momentum", 1.0),
        ("nesterov", "yes"),
        ("clip", 0.0),
        ("noise_multiplier", -0.1),
        ("noise_multiplier", math.inf),
        ("restart_every", 0),
        ("seed", -1),
        ("hidden_units", "[0]"),
        ("delta", 1.0),
        ("eval_every", 0),
        ("estimator", "honaker"),
    ],
)
def test_config_rejects_bad_parameters_naming_them(field, value):
    with pytest.raises(InputError, match=field) as err:
        dataclasses.replace(BASE, **{field: value})
    assert err.value.parameter == field


def test_config_refuses_more_participations_than_the_rounds_allow():
    """12 rounds at least 3 apart hold at most 4 participations (0, 3, 6, 9)."""
    assert dataclasses.replace(BASE, max_participations=4).max_participations == 4
    with pytest.raises(InputError, match=r"12 rounds at min_separation 3 allow at most 4") as err:
        dataclasses.replace(BASE, max_participations=5)
    assert err.value.parameter == "max_participations"


def test_train_federated_rejects_bad_input_naming_it(blobs):
    x, y, ids, test = blobs
    cases = [
        (dict(mechanism="dp_sgd"), "mechanism"),
        (dict(config=dataclasses.replace(BASE, clients_per_round=31)), "clients_per_round"),
        (dict(y=y + 5, num_classes=3), "label"),
        (dict(x=x[:, 0]), "x"),
        (dict(client_ids=ids[:-1]), "client_id"),
        (dict(eval_data=(test[0][:, :2], test[1])), "eval_data"),
        (dict(schedule=np.zeros((12, 8), int)), "schedule"),
        (dict(standardize_with=x[:, :2]), "standardize_with"),
    ]
    for kwargs, name in cases:
        args = dict(x=x, y=y, client_ids=ids, config=BASE) | kwargs
        with pytest.raises(InputError, match=name):
            train_federated(**args)


def test_synthetic_population_is_seeded_label_skewed_and_in_range():
    from frontier.components.dp_ftrl import synthetic_population

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 16, (50, 8, 8)).astype(np.float32)
    labels = np.arange(50) % 10
    x, y, clients = synthetic_population(
        images, labels, 30, 12, num_classes=10, pixel_max=16.0, alpha=0.1, seed=3
    )
    assert x.shape == (360, 8, 8) and y.shape == clients.shape == (360,)
    assert x.min() >= 0.0 and x.max() <= 16.0
    assert np.array_equal(clients, np.repeat(np.arange(30), 12))
    again = synthetic_population(
        images, labels, 30, 12, num_classes=10, pixel_max=16.0, alpha=0.1, seed=3
    )
    assert all(np.array_equal(a, b) for a, b in zip((x, y, clients), again, strict=True))
    # alpha 0.1: most of a client's examples are of one or two classes.
    top_share = [np.bincount(y[clients == c]).max() / 12 for c in range(30)]
    assert np.mean(top_share) > 0.6
    # Without shift or noise, each example is a base image of its own label.
    x0, y0, _ = synthetic_population(
        images, labels, 5, 4, num_classes=10, pixel_max=16.0, shift=0, pixel_noise=0.0
    )
    for image, label in zip(x0, y0, strict=True):
        (match,) = np.flatnonzero((images == image).all(axis=(1, 2)))
        assert labels[match] == label
    with pytest.raises(ValueError, match=r"no base image of classes \[9\]"):
        synthetic_population(
            images[labels < 9], labels[labels < 9], 5, 4, num_classes=10, pixel_max=16.0
        )
