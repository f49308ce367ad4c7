"""DP-FTRL rounds on several devices, from packed per-round data, and bucketed by client size."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl.clients import (
    bucket_clients,
    bucket_length,
    pack_bucket,
    pack_clients,
)
from frontier.components.dp_ftrl.model import init_params
from frontier.components.dp_ftrl.rounds import packed_round_delta_sum, round_delta_sum

D, C, HIDDEN = 5, 3, (7,)
LOCAL = dict(client_lr=0.3, local_epochs=2, batch_size=4, clip=0.05)


def population(sizes, seed=0):
    """(x [N, D], y [N], client ids [N]) with client c holding sizes[c] examples."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=(ids.size, D)).astype(np.float32)
    return x, rng.integers(0, C, size=ids.size), ids


def round_of(x, y, ids, clients):
    """What a client store returns for `clients`: (x [n, D], y [n], sizes [K]), -1 empty."""
    rows = [np.flatnonzero(ids == c) if c >= 0 else np.zeros(0, int) for c in clients]
    take = np.concatenate(rows)
    return x[take], y[take], np.array([r.size for r in rows])


def stats():
    rng = np.random.default_rng(1)
    return rng.normal(size=D).astype(np.float32), rng.uniform(0.5, 2, size=D)


def test_packed_round_equals_in_memory_round():
    x, y, ids = population([3, 9, 1, 6, 4, 7, 2, 5])
    data = pack_clients(x, y, ids, LOCAL["batch_size"])
    params = init_params(D, C, HIDDEN, seed=2)
    clients = np.array([5, -1, 0, 3, 7, 1])
    key = jax.random.PRNGKey(4)
    mean, var = stats()
    want, want_norms = round_delta_sum(params, clients, key, data, mean, var, **LOCAL)
    rx, ry, sizes = round_of(x, y, ids, clients)
    for chunk in (128, 2):
        got, norms = packed_round_delta_sum(
            params, rx, ry, sizes, clients, key, mean, var, client_chunk=chunk, **LOCAL
        )
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(norms, want_norms, rtol=1e-5)
        assert np.isnan(norms[1])


def test_bucketed_round_with_sizes_2_2_2_200_equals_unbucketed():
    sizes = [2, 2, 2, 200]
    x, y, ids = population(sizes, seed=3)
    params = init_params(D, C, HIDDEN, seed=5)
    key = jax.random.PRNGKey(6)
    mean, var = stats()
    clients = np.arange(4)
    rx, ry, rsizes = round_of(x, y, ids, clients)
    assert [b.pad for b in bucket_clients(rsizes, LOCAL["batch_size"])] == [4, 256]
    args = (params, rx, ry, rsizes, clients, key, mean, var)
    bucketed, norms_b = packed_round_delta_sum(*args, **LOCAL)
    single, norms_s = packed_round_delta_sum(*args, bucketed=False, **LOCAL)
    data = pack_clients(x, y, ids, LOCAL["batch_size"])  # every client padded to 200
    memory, norms_m = round_delta_sum(params, clients, key, data, mean, var, **LOCAL)
    for total, norms in ((single, norms_s), (memory, norms_m)):
        np.testing.assert_allclose(bucketed, total, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(norms_b, norms, rtol=1e-5)


def test_bucket_length_is_batches_rounded_up_to_a_power_of_two():
    np.testing.assert_array_equal(
        bucket_length(np.array([0, 1, 10, 11, 20, 21, 40, 41, 200]), 10),
        [10, 10, 10, 20, 20, 40, 40, 80, 320],
    )
    buckets = bucket_clients(np.array([20, 2, 200, 15]), 10)
    assert [(b.pad, list(b.slots)) for b in buckets] == [(10, [1]), (20, [0, 3]), (320, [2])]
    with pytest.raises(InputError, match="sizes"):
        bucket_length(np.array([1.5]), 10)


def test_pack_bucket_pads_the_chosen_slots():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    bx, by, bm = pack_bucket(x, y, np.array([2, 0, 3, 1]), np.array([2, 0]), pad=4)
    np.testing.assert_array_equal(by, [[2, 3, 4, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(bm, [[1, 1, 1, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(bx[0, :3], x[2:5])
    with pytest.raises(InputError, match="sizes"):
        pack_bucket(x, y, np.array([2, 2]), np.array([0]), pad=4)
    with pytest.raises(InputError, match="pad"):
        pack_bucket(x, y, np.array([6]), np.array([0]), pad=4)


SHARDED_CHECK = textwrap.dedent(
    """
    import os
    import jax, numpy as np
    from frontier.components.dp_ftrl import use_cpu_cores
    from frontier.components.dp_ftrl.clients import pack_clients
    from frontier.components.dp_ftrl.model import init_params
    from frontier.components.dp_ftrl.rounds import (
        client_deltas, packed_round_delta_sum, place_population, round_delta_sum,
    )
    assert use_cpu_cores(4) == 4  # after importing jax, before its first computation
    assert len(jax.local_devices()) == 4, jax.local_devices()
    assert os.environ["NPROC"] == "1"
    assert "--xla_cpu_enable_fast_math=false" in os.environ["XLA_FLAGS"]  # kept
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 9, size=12)
    ids = np.repeat(np.arange(12), sizes)
    x = rng.normal(size=(ids.size, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=ids.size)
    data = pack_clients(x, y, ids, 4)
    params = init_params(5, 3, (7,), seed=1)
    mean, var = np.zeros(5, np.float32), np.ones(5, np.float32)
    local = dict(client_lr=0.3, local_epochs=2, batch_size=4, clip=0.05, client_chunk=2)
    clients = np.array([3, 11, -1, 0, 7, 5, 9])  # 7 slots: padded to 8 over 4 devices
    key = jax.random.PRNGKey(2)
    one = jax.local_devices()[:1]
    a, na = round_delta_sum(params, clients, key, data, mean, var, devices=one, **local)
    b, nb = round_delta_sum(params, clients, key, data, mean, var, **local)
    take = np.concatenate([np.flatnonzero(ids == c) for c in clients if c >= 0])
    sz = np.array([(ids == c).sum() if c >= 0 else 0 for c in clients])
    c, nc = packed_round_delta_sum(
        params, x[take], y[take], sz, clients, key, mean, var, **local
    )
    placed = place_population(data)  # on the 4 devices once
    assert placed.x.sharding.device_set == set(jax.local_devices())
    assert place_population(placed).x is placed.x  # already there: no copy
    d, nd = round_delta_sum(params, clients, key, placed, mean, var, **local)
    e, ne = round_delta_sum(params, clients, key, placed, mean, var, devices=one, **local)
    per_client, _ = client_deltas(
        params, clients, key, placed, mean, var, client_lr=0.3, local_epochs=2, batch_size=4,
        clip=0.05,
    )  # the first device, from the population on all four
    np.testing.assert_allclose(per_client.sum(axis=0), a, rtol=1e-5, atol=1e-7)
    for total, norms in ((b, nb), (c, nc), (d, nd), (e, ne)):
        np.testing.assert_allclose(total, a, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(norms, na, rtol=1e-5)
    print("SHARDED_OK", float(np.abs(b - a).max()))
    """
)


def test_round_sharded_over_4_host_devices_equals_the_single_device_round():
    # The devices are made when JAX's backend starts: this process already has one device.
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_enable_fast_math=false", JAX_PLATFORMS="cpu")
    env.pop("NPROC", None)
    done = subprocess.run(
        [sys.executable, "-c", SHARDED_CHECK], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SHARDED_OK" in done.stdout


def test_short_rounds_of_many_sizes_compile_a_few_shapes():
    """Rounds left short by the schedule (3, 4, ..., 17 clients) are padded to a multiple of
    8 below a chunk, so they share 3 compiled shapes instead of one each."""
    from frontier.components.dp_ftrl import rounds

    x, y, ids = population([4] * 17)
    params = init_params(D, C, HIDDEN, seed=2)
    mean, var = stats()
    before = rounds._packed_sum_jit._cache_size()
    for k in range(3, 18):
        clients = np.arange(k)
        rx, ry, sizes = round_of(x, y, ids, clients)
        packed_round_delta_sum(
            params, rx, ry, sizes, clients, jax.random.PRNGKey(k), mean, var, **LOCAL
        )
    assert rounds._packed_sum_jit._cache_size() - before <= 3  # 8, 16, 24 slots


def test_cpu_device_environment_sets_the_count_and_one_thread_keeping_other_flags():
    from frontier.components.dp_ftrl import cpu_device_environment

    env = cpu_device_environment(
        3, {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_dump_to=/tmp/x"}
    )
    assert env == {
        "XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=3",
        "NPROC": "1",
    }
    assert cpu_device_environment(2, {})["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    with pytest.raises(InputError, match="cores"):
        cpu_device_environment(0, {})


def test_use_cpu_cores_after_jax_started_accepts_its_devices_and_refuses_others():
    from frontier.components.dp_ftrl import use_cpu_cores

    count = len(jax.devices("cpu"))  # starts the backend if nothing has yet
    before = dict(os.environ)
    with pytest.raises(InputError, match="already started with"):
        use_cpu_cores(count + 1)
    if count == 1:
        assert use_cpu_cores(1) == 1  # one device: its thread count does not matter
    assert dict(os.environ) == before  # nothing set that could no longer take effect
