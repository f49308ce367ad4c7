"""Tests of Ingest's synthetic client partition (`clients.py`): iid and
Dirichlet clients per example, order-independent, checked, written and
reported."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from ingest_helpers import (
    TABLE_HEADER,
    by_id,
    check_consistent,
    csv_config,
    hidden_entries,
    ids_of,
    load_all,
    run_executor,
    table_rows,
    whole_and_subset,
    write_csv,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    client_name,
    hash_partition,
    partition_summary_of,
    read_arrays,
    spec,
)
from frontier.components.ingest.clients import client_index_of_name


def partitioned(source="sklearn:digits", **kw):
    """read_arrays of a source with a client partition."""
    return read_arrays(IngestConfig.create(source, **kw))


def client_indices(arrays):
    return np.asarray([client_index_of_name(c) for c in arrays["client_id"]], np.int64)


def summary_of(splits, num_clients, num_classes=10, label_key="label"):
    return partition_summary_of(
        {s: (client_indices(a), a[label_key]) for s, a in splits.items()}, num_clients, num_classes
    )


def test_iid_partition_gives_every_example_a_client_deterministically():
    info, splits = partitioned(client_partition="iid", num_clients=20, partition_seed=1)
    assert info.role_keys == ("label", "client_id", "example_id")
    assert info.source == "sklearn:digits, iid partition into 20 clients (seed 1)"
    _, plain = partitioned()
    for s in spec.SPLIT_NAMES:  # same split and labels as without clients
        assert ids_of(splits[s]) == ids_of(plain[s])
        np.testing.assert_array_equal(splits[s]["label"], plain[s]["label"])
        # Every example of both splits has a client id `client-000kk`, k < 20.
        assert all(re.fullmatch(r"client-000[01]\d", c) for c in splits[s]["client_id"])
    summary = summary_of(splits, 20)
    sizes = summary.sizes()
    assert sizes.sum() == 1797 and summary.clients_with_examples("train") == 20
    # IID: multinomial sizes around 1797 / 20 (standard deviation about 9.2).
    assert np.abs(sizes - 1797 / 20).max() < 5 * np.sqrt(1797 / 20)
    assert summary.mean_client_entropy() > 0.95 * summary.global_entropy()
    # Seeded: the same seed, the same clients; the plain function agrees; another seed differs.
    _, again = partitioned(client_partition="iid", num_clients=20, partition_seed=1)
    train = splits["train"]
    assert list(again["train"]["client_id"]) == list(train["client_id"])
    np.testing.assert_array_equal(
        hash_partition(train["label"], train["example_id"], 20, "iid", seed=1),
        client_indices(train),
    )
    assert (
        hash_partition(train["label"], train["example_id"], 20, "iid", seed=2)
        != client_indices(train)
    ).mean() > 0.8
    assert client_name(42, 20) == "client-00042" and client_name(7, 123456) == "client-000007"


def test_dirichlet_partition_skews_labels_and_follows_the_clean_label():
    _, iid = partitioned(client_partition="iid", num_clients=20)
    _, skewed = partitioned(
        client_partition="dirichlet",
        num_clients=20,
        partition_alpha=0.1,
        label_noise="symmetric",
        noise_rate=0.4,
    )
    flat = summary_of(iid, 20)
    skew = summary_of(skewed, 20, label_key="true_label")
    # Label skew: far fewer classes per client, lower label entropy, labels far
    # from the global distribution.
    assert skew.mean_client_entropy("train") < 0.6 * flat.mean_client_entropy("train")
    assert skew.classes_per_client("train") < 0.6 * flat.classes_per_client("train")
    assert skew.mean_tv_distance("train") > 3 * flat.mean_tv_distance("train")
    # The partition follows the clean class: the same clients without noise.
    _, clean = partitioned(client_partition="dirichlet", num_clients=20, partition_alpha=0.1)
    for s in spec.SPLIT_NAMES:
        assert list(skewed[s]["client_id"]) == list(clean[s]["client_id"])
    # A large alpha approaches IID.
    _, near = partitioned(client_partition="dirichlet", num_clients=20, partition_alpha=100.0)
    assert summary_of(near, 20).mean_client_entropy() > 0.95 * flat.global_entropy()


def test_hash_partition_has_the_distribution_of_partition_clients():
    """Same law as dp_ftrl.partition_clients (not the same assignment): the label
    skew statistics agree, averaged over seeds."""
    from sklearn.datasets import load_digits

    from frontier.components.dp_ftrl import PARTITION_SCHEMES, partition_clients

    assert PARTITION_SCHEMES == (spec.IID, spec.DIRICHLET)
    y = load_digits().target
    ids = [f"sklearn:digits#{i}" for i in range(len(y))]
    for alpha in (0.1, 0.5):
        ours, theirs = [], []
        for seed in range(5):
            h = hash_partition(y, ids, 20, "dirichlet", alpha, seed, num_classes=10)
            p = partition_clients(y, 20, "dirichlet", alpha, seed)
            for out, assignment in ((ours, h), (theirs, p)):
                summary = partition_summary_of({"all": (assignment, y)}, 20, 10)
                out.append((summary.mean_client_entropy(), summary.mean_tv_distance()))
        (h_entropy, h_tv), (p_entropy, p_tv) = np.mean(ours, 0), np.mean(theirs, 0)
        assert abs(h_entropy - p_entropy) < 0.2 and abs(h_tv - p_tv) < 0.05


def test_client_of_an_example_does_not_depend_on_the_other_rows(tmp_path):
    rows = [r[:3] + r[5:] for r in table_rows(200)]  # no user column
    header = ["a", "b", "label", "id"]

    def clients_of(path):
        config = csv_config(
            path,
            example_id_column="id",
            client_partition="dirichlet",
            num_clients=8,
            partition_alpha=0.3,
            partition_seed=4,
        )
        _, splits = read_arrays(config)
        return {eid: splits[s]["client_id"][i] for eid, (s, i) in by_id(splits).items()}

    whole, _ = whole_and_subset(tmp_path, rows, header, 6, 60, clients_of)
    assert len(set(whole.values())) > 1


def test_client_partition_is_refused_when_the_source_has_client_ids(tmp_path):
    path = write_csv(tmp_path / "t.csv", TABLE_HEADER, table_rows(20))
    with pytest.raises(
        InputError,
        match=r"parameter 'client_partition': the source already has client ids \(client_id_column "
        r"'user'\); a partition would replace them",
    ):
        csv_config(path, client_id_column="user", client_partition="iid", num_clients=3)
    rows = [[1, 2, "cat", "u1"], [3, 4, "dog", "u2"]]
    path = write_csv(tmp_path / "c.csv", ["a", "b", "label", "client_id"], rows)
    with pytest.raises(
        InputError,
        match=r"c\.csv, column 'client_id': the data already has a 'client_id' column, and "
        r"client_partition 'iid' would write a second one",
    ):
        read_arrays(csv_config(path, client_partition="iid", num_clients=2))


def test_more_clients_than_examples_fails_at_run_time_and_publishes_nothing(tmp_path):
    with pytest.raises(
        InputError,
        match=r"file sklearn:iris, parameter 'num_clients': num_clients 151 is more than the 150 "
        r"examples of the source",
    ):
        partitioned("sklearn:iris", client_partition="iid", num_clients=151)
    with pytest.raises(InputError, match=r"parameter 'num_clients': num_clients 151"):
        run_executor(tmp_path, source="sklearn:iris", client_partition="iid", num_clients=151)
    examples = tmp_path / "out" / "examples"
    assert not [p for p in os.listdir(examples) if p.startswith("Split-")]
    assert not os.path.exists(examples / "dataset_info.json") and not hidden_entries(examples)


def test_client_partition_in_the_executor_is_written_and_reported(tmp_path):
    kwargs = dict(
        source="sklearn:iris",
        client_partition="dirichlet",
        num_clients=6,
        partition_alpha=0.3,
        partition_seed=2,
    )
    examples, info, page = run_executor(tmp_path, **kwargs)
    assert info.role_keys == ("label", "client_id", "example_id")
    assert info.source == "sklearn:iris, dirichlet(0.3) partition into 6 clients (seed 2)"
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    # Beam writes what the plain reader computes: client ids as bytes, every example.
    _, plain = read_arrays(IngestConfig.create(**kwargs))
    for s in spec.SPLIT_NAMES:
        assert all(isinstance(c, bytes) for c in splits[s]["client_id"])
        written = dict(zip(ids_of(splits[s]), splits[s]["client_id"], strict=True))
        expected = dict(zip(ids_of(plain[s]), plain[s]["client_id"], strict=True))
        assert {k: v.decode() for k, v in written.items()} == expected
    summary = summary_of(splits, 6, num_classes=3)
    assert examples.get_string_custom_property(spec.CLIENT_PARTITION_KEY) == "dirichlet"
    assert examples.get_int_custom_property(spec.NUM_CLIENTS_KEY) == 6
    assert examples.get_float_custom_property(spec.PARTITION_ALPHA_KEY) == 0.3
    assert examples.get_int_custom_property(spec.PARTITION_SEED_KEY) == 2
    assert examples.get_int_custom_property(
        spec.TRAIN_CLIENTS_PROPERTY
    ) == summary.clients_with_examples("train")
    assert not examples.has_custom_property(spec.LABEL_NOISE_KEY)
    # The page: settings, per-split client statistics, the label skew, the first clients.
    assert "Client partition" in page and "clients with examples" in page
    assert "client label entropy (mean, bits)" in page and "TV distance" in page
    assert f"{summary.clients_with_examples('train')} of 6" in page
    assert f"{summary.mean_client_entropy('train'):.3f}" in page
    assert "client-00000 .. client-00005" in page and "(generated: dirichlet(0.3)" in page
