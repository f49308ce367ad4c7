"""Tests of the Ingest executor and component as a whole: byte-for-byte
reproducible artifacts, nothing published on a failure inside Beam, and the
output read by stock TFX components in a real pipeline."""

from __future__ import annotations

import gzip
import os

import pytest
from ingest_helpers import (
    TABLE_HEADER,
    all_files,
    hidden_entries,
    run_executor,
    table_rows,
    write_csv,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.schemas.dataset import DatasetInfo


def test_same_seed_gives_the_same_artifacts_byte_for_byte(tmp_path):
    os.makedirs(tmp_path / "d")
    rows = table_rows(60)
    write_csv(tmp_path / "d" / "p1.csv", TABLE_HEADER, rows[:30])
    write_csv(tmp_path / "d" / "p2.csv", TABLE_HEADER, rows[30:])
    kwargs = dict(
        source=str(tmp_path / "d"),
        feature_columns=["a", "b"],
        classes=["cat", "dog"],
        example_id_column="id",
        seed=4,
    )
    first = all_files(run_executor(tmp_path, name="first", **kwargs)[0].uri)
    second = all_files(run_executor(tmp_path, name="second", **kwargs)[0].uri)
    assert sorted(first) == sorted(second)
    shards = [k for k in first if k.endswith(".gz")]
    assert {k.split(os.sep)[0] for k in shards} == {"Split-train", "Split-eval"}
    for name in shards:  # the records, in the same order
        assert gzip.decompress(first[name]) == gzip.decompress(second[name]), name
    # The compressed files too: Beam's gzip writer puts no timestamp in the
    # header (MTIME is 0), so nothing in them depends on when they were written.
    assert all(first[k][4:8] == b"\0\0\0\0" for k in shards)
    assert first == second  # and dataset_info.json


def test_bad_value_inside_beam_keeps_message_and_publishes_nothing(tmp_path):
    rows = [[1, 2, "cat"]] * 5 + [[1, "x7", "dog"]]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], rows)
    with pytest.raises(InputError) as e:
        run_executor(tmp_path, source=path, feature_columns=["a", "b"], classes=["cat", "dog"])
    assert str(e.value).startswith(f"file {path}, row 7, column 'b': value 'x7' is not a number")
    assert e.value.row == 7
    # Nothing published and no temp folder (`.ingest-tmp-*`, Beam's) left anywhere.
    out = tmp_path / "out"
    assert not [f for _, _, files in os.walk(out) for f in files]
    assert hidden_entries(out) == []


def test_duplicate_example_ids_are_rejected(tmp_path):
    rows = [[1, 2, "cat", "a"], [3, 4, "dog", "b"], [5, 6, "cat", "a"]]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label", "id"], rows)
    with pytest.raises(
        InputError,
        match=r"example id 'a' occurs 2 times \(file .*t\.csv row 2; file .*t\.csv row 4\)",
    ):
        run_executor(
            tmp_path,
            source=path,
            feature_columns=["a", "b"],
            classes=["cat", "dog"],
            example_id_column="id",
        )


def test_local_dag_runner_with_stock_statistics_gen(tmp_path):
    from tfx import v1 as tfx

    from frontier.components.ingest import Ingest

    path = write_csv(tmp_path / "t.csv", TABLE_HEADER, table_rows(40))
    ingest = Ingest(
        path,
        feature_columns=["a", "b"],
        classes=["cat", "dog"],
        client_id_column="user",
        example_id_column="id",
    )
    stats = tfx.components.StatisticsGen(examples=ingest.outputs[spec.EXAMPLES_KEY])
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="ingest-test",
        pipeline_root=str(tmp_path / "root"),
        components=[ingest, stats],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "mlmd.sqlite")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)

    stats_dirs = []
    for root, _, files in os.walk(tmp_path / "root" / "StatisticsGen"):
        if "FeatureStats.pb" in files:
            stats_dirs.append(os.path.basename(root))
    assert sorted(stats_dirs) == ["Split-eval", "Split-train"]
    examples_root = tmp_path / "root" / "Ingest" / "examples"
    (uri,) = [os.path.join(examples_root, d) for d in os.listdir(examples_root)]
    info = DatasetInfo.read(uri)
    assert sum(info.split_counts.values()) == 40
