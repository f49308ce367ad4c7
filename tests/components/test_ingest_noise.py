"""Tests of Ingest's synthetic label noise (`noise.py`): flips at the rate,
seeded per example, order-independent, checked, written and reported."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ingest_helpers import (
    TABLE_HEADER,
    all_files,
    by_id,
    check_consistent,
    csv_config,
    ids_of,
    load_all,
    make_images,
    run_executor,
    table_rows,
    whole_and_subset,
    write_csv,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    add_label_noise,
    flip_summary_of,
    noisy_label,
    plan_source,
    read_arrays,
    spec,
)


def noisy_digits(**kw):
    """read_arrays of sklearn:digits (1797 rows, 10 classes) with label noise."""
    return read_arrays(IngestConfig.create("sklearn:digits", **kw))


def test_symmetric_noise_flips_about_the_rate_never_to_the_same_class():
    _, clean = noisy_digits()
    info, splits = noisy_digits(label_noise="symmetric", noise_rate=0.4, noise_seed=3)
    assert info.role_keys == ("label", "true_label", "example_id")
    assert info.source == "sklearn:digits, symmetric label noise 0.4 (seed 3)"
    for s in spec.SPLIT_NAMES:  # same split, features and clean labels as without noise
        assert ids_of(splits[s]) == ids_of(clean[s])
        np.testing.assert_array_equal(splits[s]["x"], clean[s]["x"])
        np.testing.assert_array_equal(splits[s]["true_label"], clean[s]["label"])
    # eval is untouched: true_label == label.
    np.testing.assert_array_equal(splits["eval"]["label"], splits["eval"]["true_label"])
    train = splits["train"]
    n = len(train["label"])
    flipped = train["label"] != train["true_label"]
    # Bernoulli flips: the realized fraction is within 4 standard deviations of the rate.
    assert abs(flipped.mean() - 0.4) < 4 * np.sqrt(0.4 * 0.6 / n)
    # Never to the same class, and to each of the other 9 classes about equally
    # (offsets 1..9 modulo 10; ~64 expected each).
    offsets = (train["label"][flipped] - train["true_label"][flipped]) % 10
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 30
    # Class counts in dataset_info are those of the labels as written.
    check_consistent(info, splits)
    # The plain function gives the same labels.
    np.testing.assert_array_equal(
        add_label_noise(train["true_label"], train["example_id"], 10, "symmetric", 0.4, 3),
        train["label"],
    )
    summary = flip_summary_of(train["true_label"], train["label"], 10)
    assert summary.flipped == flipped.sum() and np.trace(summary.matrix) == n - flipped.sum()


def test_asymmetric_noise_maps_each_class_to_the_next():
    info, splits = noisy_digits(label_noise="asymmetric", noise_rate=0.3, noise_seed=1)
    train = splits["train"]
    flipped = train["label"] != train["true_label"]
    np.testing.assert_array_equal(
        train["label"][flipped], (train["true_label"][flipped] + 1) % 10
    )  # 9 -> 0 included
    assert set(train["true_label"][flipped]) == set(range(10))
    assert abs(flipped.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(flipped))
    np.testing.assert_array_equal(splits["eval"]["label"], splits["eval"]["true_label"])
    # A higher rate only adds flips (same draws), to the same classes.
    _, more = noisy_digits(label_noise="asymmetric", noise_rate=0.6, noise_seed=1)
    more_flipped = more["train"]["label"] != more["train"]["true_label"]
    assert (more_flipped >= flipped).all() and more_flipped.sum() > flipped.sum()
    np.testing.assert_array_equal(more["train"]["label"][flipped], train["label"][flipped])


def test_noise_rate_zero_and_one_and_the_plain_function():
    info, splits = noisy_digits(label_noise="symmetric", noise_rate=0.0)
    assert "true_label" in info.role_keys  # noise on at rate 0: the column, no flips
    for s in spec.SPLIT_NAMES:
        np.testing.assert_array_equal(splits[s]["label"], splits[s]["true_label"])
    _, splits = noisy_digits(label_noise="symmetric", noise_rate=1.0)
    assert (splits["train"]["label"] != splits["train"]["true_label"]).all()
    np.testing.assert_array_equal(splits["eval"]["label"], splits["eval"]["true_label"])
    # One example's label depends only on (seed, id, class); kind none is the identity.
    draws = [noisy_label(2, f"id{i}", 5, "symmetric", 0.5, 7) for i in range(200)]
    assert draws == [noisy_label(2, f"id{i}", 5, "symmetric", 0.5, 7) for i in range(200)]
    assert draws != [noisy_label(2, f"id{i}", 5, "symmetric", 0.5, 8) for i in range(200)]
    assert set(draws) == {0, 1, 2, 3, 4}
    assert noisy_label(4, "x", 5, "asymmetric", 1.0, 0) == 0
    assert noisy_label(4, "x", 5, "none", 1.0, 0) == 4
    with pytest.raises(ValueError, match="at least 2 classes"):
        noisy_label(0, "x", 1, "symmetric", 0.5, 0)


def test_noisy_label_of_an_example_does_not_depend_on_the_other_rows(tmp_path):
    def labels_of(path):
        config = csv_config(
            path, example_id_column="id", label_noise="symmetric", noise_rate=0.5, noise_seed=2
        )
        _, splits = read_arrays(config)
        return {
            eid: (s, int(splits[s]["label"][i]), int(splits[s]["true_label"][i]))
            for eid, (s, i) in by_id(splits).items()
        }

    whole, _ = whole_and_subset(tmp_path, table_rows(200), TABLE_HEADER, 6, 60, labels_of)
    assert any(lab != true for s, lab, true in whole.values() if s == "train")


def test_label_noise_in_the_executor_is_seeded_byte_for_byte_and_reported(tmp_path):
    from frontier.components.common.examples_io import split_files

    path = write_csv(tmp_path / "t.csv", TABLE_HEADER, table_rows(80))
    kwargs = dict(
        source=path,
        feature_columns=["a", "b"],
        classes=["cat", "dog"],
        example_id_column="id",
        eval_fraction=0.25,
        seed=2,
        label_noise="symmetric",
        noise_rate=0.4,
        noise_seed=5,
    )
    examples, info, page = run_executor(tmp_path, name="first", **kwargs)
    assert info.role_keys == ("label", "true_label", "example_id")
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    # Beam writes what the plain reader computes.
    _, plain = read_arrays(IngestConfig.create(**kwargs))
    for s in spec.SPLIT_NAMES:
        order = np.argsort(ids_of(splits[s]))
        plain_order = np.argsort(ids_of(plain[s]))
        for key in ("label", "true_label"):
            np.testing.assert_array_equal(splits[s][key][order], plain[s][key][plain_order])
    np.testing.assert_array_equal(splits["eval"]["label"], splits["eval"]["true_label"])
    train = splits["train"]
    fraction = float(np.mean(train["label"] != train["true_label"]))
    assert 0 < fraction < 1
    # The settings and the realized fraction on the artifact and the page.
    assert examples.get_string_custom_property(spec.LABEL_NOISE_KEY) == "symmetric"
    assert examples.get_float_custom_property(spec.NOISE_RATE_KEY) == 0.4
    assert examples.get_int_custom_property(spec.NOISE_SEED_KEY) == 5
    assert examples.get_float_custom_property(spec.FLIPPED_FRACTION_PROPERTY) == pytest.approx(
        fraction
    )
    assert "Label noise (train split)" in page and "realized flip fraction" in page
    assert f"{fraction:.4f}" in page and "symmetric label noise 0.4 (seed 5)" in page
    assert "flipped to (class id: count)" in page and "true_label" in page

    # Same seeds: the same files, byte for byte. Another noise seed: other
    # train labels, the same eval split (clean labels) and the same partition.
    first = all_files(examples.uri)
    assert all_files(run_executor(tmp_path, name="second", **kwargs)[0].uri) == first
    other, _, _ = run_executor(tmp_path, name="other", **{**kwargs, "noise_seed": 6})
    other_splits = load_all(other.uri)
    assert ids_of(other_splits["train"]) == ids_of(train)
    np.testing.assert_array_equal(other_splits["train"]["true_label"], train["true_label"])
    assert (other_splits["train"]["label"] != train["label"]).any()
    for a, b in zip(split_files(examples.uri, "eval"), split_files(other.uri, "eval"), strict=True):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read()


def test_label_noise_is_refused_without_labels_with_true_label_or_one_class(tmp_path):
    noise = dict(label_noise="symmetric", noise_rate=0.2)
    path = write_csv(tmp_path / "u.csv", ["a", "b"], [[1, 2], [3, 4]])
    with pytest.raises(
        InputError,
        match=r"u\.csv, parameter 'label_noise': label_noise 'symmetric' needs labels, but there is "
        r"no label column 'label' \(named in label_column\) \(expected labelled data",
    ):
        read_arrays(csv_config(path, **noise))
    np.savez(tmp_path / "u.npz", x=np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"u\.npz, parameter 'label_noise': .*no label array 'y'"):
        read_arrays(
            IngestConfig.create(
                str(tmp_path / "u.npz"), label_column="y", classes=["0", "1"], **noise
            )
        )
    rows = [[1, 2, "cat", "dog"], [3, 4, "dog", "dog"]]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label", "true_label"], rows)
    with pytest.raises(
        InputError, match=r"t\.csv, column 'true_label': the data already has a 'true_label' column"
    ):
        read_arrays(csv_config(path, **noise))
    make_images(tmp_path / "imgs", per_class=2)
    shutil.rmtree(tmp_path / "imgs" / "dog")
    with pytest.raises(
        InputError, match=r"imgs, parameter 'label_noise': label noise 'symmetric' needs at least 2"
    ):
        plan_source(IngestConfig.create(str(tmp_path / "imgs"), **noise))
