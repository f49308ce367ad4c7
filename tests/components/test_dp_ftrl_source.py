"""Federated training from a client source: the same run as from arrays, a population of a
million synthetic clients that is never materialised, an on-disk store, and bad sources."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import FederatedConfig, train_federated
from frontier.components.dp_ftrl.client_store import (
    ClientStore,
    InMemoryClientSource,
    SyntheticClientSource,
    write_client_store,
)
from frontier.components.dp_ftrl.federated import train_federated_source

CONFIG = FederatedConfig(
    clients_per_round=6, rounds=8, max_participations=2, min_separation=3,
    local_batch_size=4, client_lr=0.3, server_lr=0.5, noise_multiplier=0.8, clip=0.5,
    hidden_units=(5,), eval_every=4, seed=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 11, size=24)  # unequal clients: several size buckets
    ids = np.repeat(np.arange(24) * 7 + 100, sizes)
    x = rng.normal(size=(ids.size, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y, ids


@pytest.mark.parametrize("mechanism", ["dp_ftrl", "blt_dp_ftrl", "fedavg"])
def test_a_source_run_equals_the_in_memory_run(population, mechanism):
    x, y, ids = population
    eval_data = (x[:40], y[:40])
    direct = train_federated(x, y, ids, CONFIG, mechanism, eval_data)
    source = train_federated_source(InMemoryClientSource(x, y, ids), CONFIG, mechanism, eval_data)
    np.testing.assert_array_equal(source.schedule, direct.schedule)
    np.testing.assert_array_equal(source.client_ids, direct.client_ids)
    for a, b in zip(source.params, direct.params, strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert source.history[-1]["eval_accuracy"] == pytest.approx(
        direct.history[-1]["eval_accuracy"], abs=1 / 40 + 1e-9
    )
    assert source.noise.epsilon == direct.noise.epsilon


def test_a_store_on_disk_trains_like_the_arrays(population, tmp_path):
    x, y, ids = population
    write_client_store(x, y, ids, str(tmp_path / "store"), num_shards=3)
    store = ClientStore(str(tmp_path / "store"))
    a = train_federated_source(store, CONFIG, "dp_ftrl")
    b = train_federated_source(InMemoryClientSource(x, y, ids), CONFIG, "dp_ftrl")
    np.testing.assert_allclose(a.params[0]["kernel"], b.params[0]["kernel"], rtol=1e-5, atol=1e-6)


def test_a_million_synthetic_clients_train_without_being_materialised():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 16, size=(30, 4, 4))
    labels = np.arange(30) % 3
    source = SyntheticClientSource(
        images, labels, 1_000_000, 5, num_classes=3, pixel_max=16.0, seed=2
    )
    config = dataclasses.replace(CONFIG, clients_per_round=50, rounds=4, min_separation=2)
    run = train_federated_source(source, config, "blt_dp_ftrl")
    assert run.schedule.shape == (4, 50) and run.schedule.max() < 1_000_000
    assert len(run.client_ids) == 1_000_000 and all(h["clients"] == 50 for h in run.history)
    assert np.all(np.isfinite(run.params[0]["kernel"]))


def test_bad_sources_are_refused_with_their_parameter(population):
    x, y, ids = population
    with pytest.raises(InputError, match="parameter 'source'"):
        train_federated_source((x, y, ids), CONFIG)
    too_many = dataclasses.replace(CONFIG, clients_per_round=25)
    with pytest.raises(InputError, match="clients_per_round"):
        train_federated_source(InMemoryClientSource(x, y, ids), too_many)
    with pytest.raises(InputError, match="eval_data"):
        train_federated_source(InMemoryClientSource(x, y, ids), CONFIG, eval_data=(x[:, :2], y))
