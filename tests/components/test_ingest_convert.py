"""Tests of Ingest's conversion steps (`convert.py`): the split is deterministic,
seeded and order-independent, empty splits and repeated example ids are
errors."""

from __future__ import annotations

import os

import pytest
from ingest_helpers import (
    TABLE_HEADER,
    by_id,
    csv_config,
    hidden_entries,
    run_executor,
    table_rows,
    whole_and_subset,
    write_csv,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    assign_split,
    check_split_counts,
    check_unique_ids,
    read_arrays,
)


def test_split_is_deterministic_seeded_and_honours_the_ratio():
    def eval_ids(seed, fraction=0.2):
        _, splits = read_arrays(
            IngestConfig.create("sklearn:breast_cancer", seed=seed, eval_fraction=fraction)
        )
        return set(splits["eval"]["example_id"]), len(splits["train"]["label"])

    a, train_a = eval_ids(0)
    b, _ = eval_ids(0)
    c, _ = eval_ids(1)
    assert a == b
    assert a != c
    assert abs(len(a) / 569 - 0.2) < 0.05 and len(a) + train_a == 569
    big, _ = eval_ids(0, 0.5)
    assert abs(len(big) / 569 - 0.5) < 0.06
    assert a <= big  # a larger fraction only moves examples from train to eval


def test_split_of_an_example_does_not_depend_on_the_other_rows(tmp_path):
    def split_of(path):
        _, splits = read_arrays(csv_config(path, example_id_column="id", seed=7, eval_fraction=0.3))
        return {eid: s for eid, (s, _) in by_id(splits).items()}

    # A quarter of the rows, in another order, in another file: same splits.
    _, subset = whole_and_subset(tmp_path, table_rows(200), TABLE_HEADER, 5, 50, split_of)
    assert len(subset) == 50 and set(subset.values()) == {"train", "eval"}


def test_empty_split_is_an_error_naming_eval_fraction(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [[1, 2, "cat"]])
    assert assign_split("t.csv#2", 0, 0.2) == "train"
    with pytest.raises(
        InputError,
        match=r"parameter 'eval_fraction': the eval split would be empty: 0 of 1 rows go to eval "
        r"with eval_fraction 0.2 \(expected examples in both train and eval: a larger",
    ):
        run_executor(tmp_path, source=path, feature_columns=["a", "b"], classes=["cat", "dog"])
    # Nothing published: no splits, no dataset_info.json, no page, no temp folders.
    out = tmp_path / "out"
    assert not [f for _, _, files in os.walk(out) for f in files]
    assert hidden_entries(out) == []
    # The plain reader says the same; a train split can be empty too.
    with pytest.raises(InputError, match=r"the eval split would be empty: 0 of 1 rows"):
        read_arrays(csv_config(path))
    path = write_csv(tmp_path / "u.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, 4, "dog"]])
    with pytest.raises(InputError, match=r"the train split would be empty: 0 of 2 rows.*smaller"):
        read_arrays(csv_config(path, eval_fraction=0.9))
    check_split_counts({"train": 1, "eval": 1}, 0.5)  # one of each is enough


def test_check_unique_ids_and_read_arrays_reject_repeated_ids(tmp_path):
    check_unique_ids([("a", "f.csv", 2), ("b", "f.csv", 3), ("c", "g.csv", None)])
    with pytest.raises(
        InputError,
        match=r"^file f\.csv, row 2: example id 'b' occurs 3 times "
        r"\(file f\.csv row 2; file f\.csv row 5; file g\.csv row 1\)",
    ):
        check_unique_ids(
            [("a", "f.csv", 3), ("b", "g.csv", 1), ("b", "f.csv", 5), ("b", "f.csv", 2)]
        )
    rows = [[1, 2, "cat", "a"], [3, 4, "dog", "b"], [5, 6, "cat", "a"]]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label", "id"], rows)
    with pytest.raises(InputError, match=r"example id 'a' occurs 2 times .*t\.csv row 4\)"):
        read_arrays(csv_config(path, example_id_column="id"))
