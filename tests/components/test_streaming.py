"""Reading a split as a stream: exactly the split's examples, and one checking pass."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import examples_artifact, tiny_digits

from frontier.components.common.errors import InputError


def _stream(uri: str, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    from frontier.components.common.streaming import batches
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(uri)
    parts = list(batches(uri, "train", info, batch_size=48, **kwargs).as_numpy_iterator())
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _rows(x: np.ndarray, y: np.ndarray) -> list[tuple]:
    return sorted(zip(map(tuple, x.tolist()), y.tolist(), strict=True))


def test_stream_yields_exactly_the_split_with_and_without_shuffling(digits_examples_uri):
    from frontier.components.common.examples_io import load_split

    split = load_split(digits_examples_uri, "train")
    x, y = _stream(digits_examples_uri)
    np.testing.assert_array_equal(x, split["x"])  # file order, every example once
    np.testing.assert_array_equal(y, split["label"])
    shuffled_x, shuffled_y = _stream(digits_examples_uri, shuffle_seed=7)
    assert len(shuffled_y) == len(split["label"])
    assert _rows(shuffled_x, shuffled_y) == _rows(split["x"], split["label"])  # same examples
    assert not np.array_equal(shuffled_y, split["label"])  # in another order
    again_x, _ = _stream(digits_examples_uri, shuffle_seed=7)
    np.testing.assert_array_equal(again_x, shuffled_x)  # the same order for the same seed


def test_summary_matches_the_in_memory_statistics(digits_examples_uri):
    from frontier.components.common.examples_io import load_split
    from frontier.components.common.streaming import summarize
    from frontier.components.trainer import feature_stats
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    split = load_split(digits_examples_uri, "train", info)
    summary = summarize(digits_examples_uri, "train", info, batch_size=37)
    mean, variance = feature_stats(split["x"], info.image_shape)
    np.testing.assert_allclose(summary.feature_mean, mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(summary.feature_variance, variance, rtol=1e-5)
    assert summary.count == len(split["label"])
    np.testing.assert_array_equal(summary.class_counts, np.bincount(split["label"], minlength=10))
    tabular = dataclasses.replace(info, image_shape=None)  # per column, not per channel
    column_mean, column_variance = feature_stats(split["x"])
    per_column = summarize(digits_examples_uri, "train", tabular, batch_size=50)
    np.testing.assert_allclose(per_column.feature_mean, column_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(per_column.feature_variance, column_variance, rtol=1e-5)


def test_summary_names_the_first_bad_row(tmp_path):
    from frontier.components.common.examples_io import write_examples
    from frontier.components.common.streaming import summarize

    info, splits = tiny_digits(n_train=60, n_eval=10)
    splits["train"]["label"] = splits["train"]["label"].copy()
    splits["train"]["label"][41] = 12
    artifact = examples_artifact(tmp_path / "bad")
    write_examples(artifact, splits, info)
    with pytest.raises(InputError, match=r"row 42, column 'label': class id 12 out of range"):
        summarize(artifact.uri, "train", info, batch_size=16)
    splits["train"]["label"][41] = 1
    splits["train"]["x"] = splits["train"]["x"].copy()
    splits["train"]["x"][17, 3] = np.nan
    nan_artifact = examples_artifact(tmp_path / "nan")
    write_examples(nan_artifact, splits, info)
    with pytest.raises(InputError, match=r"row 18, column 'pixels'.*NaN"):
        summarize(nan_artifact.uri, "train", info, batch_size=16)
