"""Tests of `IngestConfig` (`spec.py`): configuration errors are raised at
construction, naming the parameter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.ingest import IngestConfig, hash_partition, spec


def test_configuration_errors_raise_at_construction():
    from frontier.components.ingest import Ingest

    with pytest.raises(InputError, match=r"parameter 'format': unknown format 'xls'"):
        Ingest("data.xls", format="xls", feature_columns=["a"], classes=["x"])
    with pytest.raises(
        InputError, match=r"parameter 'feature_columns': format 'csv' needs the feature columns"
    ):
        Ingest("data.csv", classes=["x"])
    with pytest.raises(
        InputError, match=r"parameter 'classes': format 'parquet' needs the classes"
    ):
        Ingest("data.parquet", feature_columns=["a"])
    with pytest.raises(InputError, match=r"unknown scikit-learn data set 'mnist'.*sklearn:digits"):
        Ingest("sklearn:mnist")
    with pytest.raises(InputError, match=r"eval_fraction"):
        Ingest("sklearn:iris", eval_fraction=1.0)
    with pytest.raises(InputError, match=r"both a feature and the label_column"):
        Ingest("d.csv", feature_columns=["a", "label"], classes=["x"])
    with pytest.raises(InputError, match=r"color_mode"):
        Ingest("imgs/", color_mode="cmyk")
    # A good one carries its parameters as scalar execution properties.
    comp = Ingest("d.csv", feature_columns=["a", "b"], classes=["x", "y"], seed=5)
    props = comp.exec_properties
    assert json.loads(props[spec.FEATURE_COLUMNS_KEY]) == ["a", "b"]
    assert props[spec.SEED_KEY] == 5 and len(props["component_version"]) == 16


def test_label_noise_parameters_are_checked_at_construction():
    from frontier.components.ingest import Ingest

    for kwargs, match in [
        (
            dict(label_noise="uniform"),
            r"parameter 'label_noise': unknown label noise 'uniform' "
            r"\(expected one of \['none', 'symmetric', 'asymmetric'\]\)",
        ),
        (
            dict(label_noise="symmetric", noise_rate=1.5),
            r"parameter 'noise_rate': noise_rate 1.5 is out of range \(expected a number in \[0, 1\]",
        ),
        (dict(label_noise="symmetric", noise_rate=-0.1), r"parameter 'noise_rate'.*out of range"),
        (dict(label_noise="symmetric", noise_rate=float("nan")), r"parameter 'noise_rate'"),
        (dict(label_noise="symmetric", noise_rate="0.4"), r"parameter 'noise_rate': got '0.4'"),
        (
            dict(noise_rate=0.3),
            r"parameter 'noise_rate': noise_rate 0.3 given with label_noise 'none'",
        ),
        (
            dict(label_noise="asymmetric", noise_rate=0.2, noise_seed=1.5),
            r"parameter 'noise_seed': got 1.5 \(expected an integer seed\)",
        ),
        (dict(label_noise="asymmetric", noise_rate=0.2, noise_seed="3"), r"parameter 'noise_seed'"),
        (dict(label_noise="asymmetric", noise_seed=True), r"parameter 'noise_seed'"),
    ]:
        with pytest.raises(InputError, match=match):
            Ingest("sklearn:iris", **kwargs)
    with pytest.raises(
        InputError, match=r"parameter 'label_noise': label noise needs at least 2 classes"
    ):
        Ingest("d.csv", feature_columns=["a"], classes=["x"], label_noise="symmetric")
    # A good one carries the noise as scalar execution properties that read back.
    comp = Ingest("sklearn:iris", label_noise="asymmetric", noise_rate=0.25, noise_seed=np.int64(9))
    props = comp.exec_properties
    assert props[spec.LABEL_NOISE_KEY] == "asymmetric"
    assert props[spec.NOISE_RATE_KEY] == 0.25 and props[spec.NOISE_SEED_KEY] == 9
    config = IngestConfig.from_exec_properties(props)
    assert (config.label_noise, config.noise_rate, config.noise_seed) == ("asymmetric", 0.25, 9)
    assert Ingest("sklearn:iris").exec_properties[spec.LABEL_NOISE_KEY] == "none"


def test_client_partition_parameters_are_checked_at_construction():
    from frontier.components.ingest import Ingest

    for kwargs, match in [
        (
            dict(client_partition="random", num_clients=3),
            r"parameter 'client_partition': unknown client partition 'random' "
            r"\(expected one of \['none', 'iid', 'dirichlet'\]\)",
        ),
        (
            dict(client_partition="iid"),
            r"parameter 'num_clients': client_partition 'iid' needs num_clients, got 0",
        ),
        (dict(client_partition="dirichlet", num_clients=-2), r"parameter 'num_clients'"),
        (dict(client_partition="iid", num_clients=2.5), r"parameter 'num_clients': got 2.5"),
        (dict(client_partition="iid", num_clients="4"), r"parameter 'num_clients': got '4'"),
        (
            dict(num_clients=10),
            r"parameter 'num_clients': num_clients 10 given with client_partition 'none'",
        ),
        (
            dict(client_partition="dirichlet", num_clients=4, partition_alpha=0),
            r"parameter 'partition_alpha': partition_alpha 0 is out of range \(expected a finite "
            r"number > 0",
        ),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=-1.0), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=float("inf")), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=float("nan")), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha="1"), "alpha"),
        (
            dict(client_partition="iid", num_clients=4, partition_seed=0.5),
            r"parameter 'partition_seed': got 0.5 \(expected an integer seed\)",
        ),
    ]:
        with pytest.raises(InputError, match=match):
            Ingest("sklearn:iris", **kwargs)
    # A good one carries the partition as scalar execution properties that read back.
    comp = Ingest(
        "sklearn:iris",
        client_partition="dirichlet",
        num_clients=np.int64(5),
        partition_alpha=0.2,
        partition_seed=3,
    )
    props = comp.exec_properties
    assert props[spec.CLIENT_PARTITION_KEY] == "dirichlet" and props[spec.NUM_CLIENTS_KEY] == 5
    assert props[spec.PARTITION_ALPHA_KEY] == 0.2 and props[spec.PARTITION_SEED_KEY] == 3
    config = IngestConfig.from_exec_properties(props)
    assert (config.client_partition, config.num_clients) == ("dirichlet", 5)
    assert (config.partition_alpha, config.partition_seed) == (0.2, 3)
    defaults = Ingest("sklearn:iris").exec_properties
    assert (defaults[spec.CLIENT_PARTITION_KEY], defaults[spec.NUM_CLIENTS_KEY]) == ("none", 0)
    with pytest.raises(InputError, match="parameter 'num_clients'"):  # the plain function too
        hash_partition([0, 1], ["a", "b"], 0)
