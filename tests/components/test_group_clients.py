"""GroupClients (a population's examples grouped by user) and DpFtrlTrainer reading its store."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import TINY_FEDERATED, examples_artifact, federated_examples, run_executor

from frontier.components.common.errors import InputError


def _group(tmp_path, uri: str) -> dict:
    from frontier.components.common.versioning import COMPONENT_VERSION_KEY
    from frontier.components.group_clients import spec
    from frontier.components.group_clients.executor import Executor

    params = {spec.SPLIT_KEY: "train", spec.NUM_SHARDS_KEY: 3, COMPONENT_VERSION_KEY: "test"}
    return run_executor(
        Executor, tmp_path / "group", {spec.EXAMPLES_KEY: examples_artifact(uri)}, params
    )


def _train(tmp_path, name: str, examples_uri: str, store=None, budget: float = 0.0) -> dict:
    from frontier.components.dp_ftrl import FederatedConfig, spec
    from frontier.components.dp_ftrl.executor import Executor

    params = {
        spec.MECHANISM_KEY: "blt_dp_ftrl",
        spec.BASELINES_KEY: json.dumps(["fedavg"]),
        spec.PRIVACY_BUDGET_KEY: budget,
        spec.FEATURE_SCALE_KEY: 16.0,
        **spec.config_to_properties(FederatedConfig(**TINY_FEDERATED)),
    }
    inputs = {spec.EXAMPLES_KEY: examples_artifact(examples_uri)}
    if store is not None:
        inputs[spec.CLIENT_STORE_KEY] = store
    return run_executor(Executor, tmp_path / name, inputs, params)


def test_the_store_holds_every_users_examples_and_the_trainer_reads_it(
    tmp_path, digits_examples_uri
):
    from frontier.components.common.examples_io import load_split
    from frontier.components.dp_ftrl import spec
    from frontier.components.dp_ftrl.client_store import ClientStore, InMemoryClientSource
    from frontier.components.group_clients import spec as group_spec
    from frontier.schemas.artifacts import PRIVACY_LEDGER_FILE

    uri = federated_examples(tmp_path, digits_examples_uri)
    store_artifact = _group(tmp_path, uri)[group_spec.CLIENT_STORE_KEY]
    store = ClientStore(store_artifact.uri)
    train = load_split(uri, "train")
    memory = InMemoryClientSource(train["x"], train["label"], train["client_id"])
    assert store_artifact.get_int_custom_property(group_spec.CLIENTS_PROPERTY) == 20
    assert store_artifact.get_int_custom_property(group_spec.EXAMPLES_PROPERTY) == len(train["x"])
    np.testing.assert_array_equal(
        store.client_ids(np.arange(20)).astype(bytes), memory.client_ids(np.arange(20))
    )
    a, b = store.read(np.arange(20)), memory.read(np.arange(20))
    np.testing.assert_array_equal(a.sizes, b.sizes)
    starts = np.cumsum(a.sizes) - a.sizes
    for start, size in zip(starts, a.sizes, strict=True):  # the same rows, in some order
        rows = slice(start, start + size)
        key = lambda x, y: sorted(map(tuple, np.column_stack([x, y])))  # noqa: E731
        assert key(a.x[rows], a.y[rows]) == key(b.x[rows], b.y[rows])

    out = _train(tmp_path, "from_store", uri, store_artifact)
    direct = _train(tmp_path, "from_memory", uri)
    ledgers = [
        json.load(open(os.path.join(o[spec.PRIVACY_LEDGER_KEY].uri, PRIVACY_LEDGER_FILE)))
        for o in (out, direct)
    ]
    assert ledgers[0]["epsilon"] == ledgers[1]["epsilon"] and ledgers[0]["clients"] == 20
    # The train accuracy, from one pass over the store, is the served model's on the split.
    from frontier.components.trainer import predict_examples

    preds = predict_examples(out[spec.MODEL_KEY].uri, uri, "train")
    assert out[spec.MODEL_KEY].get_float_custom_property("train_accuracy") == pytest.approx(
        float(np.mean(preds["classes"] == preds["label"])), abs=1e-6
    )


def test_a_store_of_other_data_is_refused_before_training(tmp_path, digits_examples_uri):

    from frontier.components.dp_ftrl.client_store import write_client_store
    from frontier.schemas.artifacts import ClientStore

    uri = federated_examples(tmp_path, digits_examples_uri)
    rng = np.random.default_rng(0)
    path = str(tmp_path / "other_store")
    write_client_store(
        rng.normal(size=(30, 5)).astype(np.float32), rng.integers(0, 3, 30), np.arange(30) % 6, path
    )
    store = ClientStore()
    store.uri = path
    with pytest.raises(InputError, match="client_store.*5 features"):
        _train(tmp_path, "other", uri, store)
    assert not [f for _, _, files in os.walk(tmp_path / "other") for f in files]
