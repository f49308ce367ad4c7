"""Tests of Ingest's file listing and column checks (`files.py`): directories,
globs and explicit formats, and errors that name the file, the column and the
closest existing name."""

from __future__ import annotations

import os

import pytest
from ingest_helpers import by_id, csv_config, write_csv

from frontier.components.common.errors import InputError
from frontier.components.ingest import IngestConfig, plan_source, read_arrays


def test_directory_of_csv_files_ids_relative_to_it(tmp_path):
    os.makedirs(tmp_path / "d")
    write_csv(tmp_path / "d" / "p1.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, 4, "dog"]])
    write_csv(tmp_path / "d" / "p2.csv", ["a", "b", "label"], [[5, 6, "dog"]])
    (tmp_path / "d" / "_SUCCESS").write_text("")
    info, splits = read_arrays(csv_config(tmp_path / "d"))
    assert sorted(by_id(splits)) == ["p1.csv#2", "p1.csv#3", "p2.csv#2"]
    assert info.source.startswith("csv: ") and "(2 files)" in info.source
    # The format is known only after listing; then the configuration is checked.
    with pytest.raises(InputError, match=r"format 'csv' needs the feature columns"):
        read_arrays(IngestConfig.create(str(tmp_path / "d"), classes=["cat", "dog"]))
    # A misspelled column is reported in the file that lacks it.
    write_csv(tmp_path / "d" / "p3.csv", ["a", "bb", "label"], [[5, 6, "dog"]])
    with pytest.raises(InputError, match=r"p3\.csv, column 'b': no such column.*did you mean 'bb'"):
        read_arrays(csv_config(tmp_path / "d"))


def test_explicit_format_reads_only_its_files_of_a_directory(tmp_path):
    os.makedirs(tmp_path / "d")
    write_csv(tmp_path / "d" / "p1.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, 4, "dog"]])
    (tmp_path / "d" / "README.md").write_text("# not data\n")
    (tmp_path / "d" / "shard-0").write_text("a,b,label\n5,6,cat\n")  # no extension

    def files_read(source):
        plan = plan_source(csv_config(source, format="csv"))  # checks every file's header
        return [os.path.basename(shard.path) for shard in plan.shards]

    assert files_read(tmp_path / "d") == ["p1.csv"]
    # A glob reads whatever it matches, in the given format.
    assert files_read(tmp_path / "d" / "shard-*") == ["shard-0"]
    with pytest.raises(
        InputError,
        match=r"d: directory holds no data files of format 'parquet' \(expected files named "
        r"\*\.parquet, \*\.pq \(or a glob such as .*d/\* to read files of any name\)\)",
    ):
        read_arrays(csv_config(tmp_path / "d", format="parquet"))


def test_missing_file_and_unmatched_glob(tmp_path):
    with pytest.raises(InputError, match=r"file .*nope\.csv: no such file or directory"):
        read_arrays(csv_config(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match=r"file .*\*\.csv: no file matches"):
        read_arrays(csv_config(tmp_path / "*.csv"))


def test_misspelled_column_names_file_column_and_suggestion(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["alpha", "beta", "label"], [[1, 2, "cat"]])
    with pytest.raises(InputError) as e:
        read_arrays(csv_config(path, feature_columns=["alpha", "betta"]))
    msg = str(e.value)
    assert "t.csv" in msg and "column 'betta'" in msg
    assert "did you mean 'beta'" in msg and "'alpha', 'beta', 'label'" in msg
    assert e.value.column == "betta" and e.value.file == path
    with pytest.raises(
        InputError, match=r"column 'lable'.*named in label_column.*did you mean 'label'"
    ):
        read_arrays(csv_config(path, feature_columns=["alpha"], label_column="lable"))
