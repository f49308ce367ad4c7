"""Tests of the Ingest component: every format round-trips, splits are
deterministic, bad input fails with a message that says where, and the output
is what stock TFX components read."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import os
import re
import shutil

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    add_label_noise,
    assign_split,
    check_split_counts,
    check_unique_ids,
    client_name,
    flip_summary_of,
    hash_partition,
    noisy_label,
    partition_summary_of,
    plan_source,
    read_arrays,
    sanitize_key,
    spec,
)
from frontier.components.ingest.clients import client_index_of_name
from frontier.schemas.artifacts import HTML_FILE_NAME
from frontier.schemas.dataset import DatasetInfo

# -- helpers -------------------------------------------------------------------


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def table_rows(n=30):
    """Rows of a small table: a, b floats; label cat/dog; weak label; client; id."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        a, b = rng.normal(size=2).round(3)
        label = "cat" if i % 3 else "dog"
        weak = "dog" if i % 5 == 0 else label
        rows.append([a, b, label, weak, f"user{i % 4}", f"ex{i:03d}"])
    return rows


TABLE_HEADER = ["a", "b", "label", "noisy", "user", "id"]


def run_executor(tmp_path, name="out", **kwargs):
    """Runs the executor directly (no pipeline); returns (examples uri, info, report html)."""
    from tfx.types import standard_artifacts

    from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
    from frontier.components.ingest.executor import Executor
    from frontier.schemas.artifacts import HtmlReport

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / name / "examples")
    report = HtmlReport()
    report.uri = str(tmp_path / name / "report")
    props = IngestConfig.create(**kwargs).to_exec_properties()
    props[COMPONENT_VERSION_KEY] = code_version("ingest")
    Executor().Do({}, {spec.EXAMPLES_KEY: [examples], spec.VISUALIZATION_KEY: [report]}, props)
    with open(os.path.join(report.uri, HTML_FILE_NAME)) as f:
        page = f.read()
    return examples, DatasetInfo.read(examples.uri), page


def load_all(uri):
    """Both splits loaded, as {split: arrays}."""
    from frontier.components.common.examples_io import load_split

    return {s: load_split(uri, s) for s in spec.SPLIT_NAMES}


def by_id(splits):
    """example id -> (split, index) over all splits."""
    out = {}
    for s, arrays in splits.items():
        for i, eid in enumerate(arrays["example_id"]):
            out[eid.decode() if isinstance(eid, bytes) else eid] = (s, i)
    return out


def hidden_entries(root):
    """Hidden files or folders (`.ingest-tmp-*`, Beam's temp folders) anywhere under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.startswith(".") or name.startswith("beam-temp"):
                found.append(os.path.join(dirpath, name))
    return found


def all_files(root):
    """Relative path -> bytes of every file under root."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def check_consistent(info, splits):
    """Counts in the DatasetInfo match the data."""
    for s, arrays in splits.items():
        assert info.split_counts[s] == len(arrays["label"])
        counts = np.bincount(arrays["label"], minlength=info.num_classes)
        assert tuple(counts) == info.class_counts[s]
        assert arrays["x"].shape == (len(arrays["label"]), info.input_dim)


# -- round trips through the executor --------------------------------------------


def test_csv_round_trip_with_all_roles(tmp_path):
    rows = table_rows(30)
    path = write_csv(tmp_path / "table.csv", TABLE_HEADER, rows)
    examples, info, page = run_executor(
        tmp_path,
        source=path,
        feature_columns=["a", "b"],
        label_column="label",
        weak_label_column="noisy",
        client_id_column="user",
        example_id_column="id",
        classes=["cat", "dog"],
        seed=3,
    )
    assert info.feature_keys == ("a", "b") and info.feature_dims == (1, 1)
    assert info.class_names == ("cat", "dog")
    assert info.role_keys == ("label", "weak_label", "client_id", "example_id")
    assert info.image_shape is None
    assert sum(info.split_counts.values()) == 30

    splits = load_all(examples.uri)
    check_consistent(info, splits)
    index = by_id(splits)
    assert sorted(index) == [r[5] for r in rows]
    for a, b, label, weak, user, eid in rows:
        s, i = index[eid]
        assert s == assign_split(eid, 3, 0.2)  # the documented rule, in Beam as in plain Python
        np.testing.assert_allclose(splits[s]["x"][i], [a, b], rtol=1e-6)
        assert splits[s]["label"][i] == ["cat", "dog"].index(label)
        assert splits[s]["weak_label"][i] == ["cat", "dog"].index(weak)
        assert splits[s]["client_id"][i] == user.encode()

    # Stock ExampleGen's layout and artifact properties.
    assert sorted(os.listdir(examples.uri)) == ["Split-eval", "Split-train", "dataset_info.json"]
    assert all(
        f.startswith("data_tfrecord-") and f.endswith(".gz")
        for f in os.listdir(os.path.join(examples.uri, "Split-train"))
    )
    assert json.loads(examples.split_names) == ["train", "eval"]
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert not examples.has_custom_property(spec.LABEL_NOISE_KEY)  # no noise, no noise properties
    # The page names the source, the roles and the counts.
    assert "table.csv" in page and "noisy" in page and "weak_label" in page
    assert "Examples per split and class" in page and "0: cat" in page
    assert "ex0" in page  # sample rows (parsed back with the feature spec)
    assert hidden_entries(tmp_path / "out") == []  # no temp folders left after success


def test_parquet_round_trip_with_vector_column_and_integer_labels(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 25
    vec = [[float(i), float(i) + 0.5, -float(i)] for i in range(n)]
    table = pa.table(
        {
            "size": pa.array(np.arange(n, dtype=np.int64)),
            "vec": pa.array(vec, type=pa.list_(pa.float32())),
            "y": pa.array([i % 3 for i in range(n)], type=pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")
    examples, info, _ = run_executor(
        tmp_path,
        source=str(tmp_path / "data.parquet"),
        feature_columns=["size", "vec"],
        label_column="y",
        classes=["0", "1", "2"],
    )
    assert info.feature_keys == ("size", "vec") and info.feature_dims == (1, 3)
    assert info.role_keys == ("label", "example_id")
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    index = by_id(splits)
    assert sorted(index) == sorted(f"data.parquet#{i + 1}" for i in range(n))
    for i in range(n):
        s, j = index[f"data.parquet#{i + 1}"]
        np.testing.assert_allclose(splits[s]["x"][j], [i, *vec[i]])
        assert splits[s]["label"][j] == i % 3


def test_npz_round_trip_images_from_3d_array(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(40, 4, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    examples, info, page = run_executor(
        tmp_path, source=str(tmp_path / "d.npz"), label_column="y", classes=["0", "1", "2"]
    )
    assert info.feature_keys == ("x",) and info.feature_dims == (20,)
    assert info.image_shape == (4, 5, 1)
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    for eid, (s, j) in by_id(splits).items():
        i = int(eid.split("#")[1]) - 1
        np.testing.assert_array_equal(splits[s]["x"][j], x[i].ravel())
        assert splits[s]["label"][j] == y[i]
    assert "data:image/png;base64" in page  # a grid of sample images


def test_tfrecord_round_trip(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "data.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for i in range(20):
            feats = {
                "f": tf.train.Feature(float_list=tf.train.FloatList(value=[i, 2.0 * i])),
                "g": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 7])),
                "kind": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[b"odd" if i % 2 else b"even"])
                ),
                "cid": tf.train.Feature(int64_list=tf.train.Int64List(value=[i // 5])),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    examples, info, _ = run_executor(
        tmp_path,
        source=path,
        feature_columns=["f", "g"],
        label_column="kind",
        client_id_column="cid",
        classes=["even", "odd"],
    )
    assert info.feature_dims == (2, 1)
    assert info.role_keys == ("label", "client_id", "example_id")
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    for eid, (s, j) in by_id(splits).items():
        i = int(eid.split("#")[1]) - 1
        np.testing.assert_allclose(splits[s]["x"][j], [i, 2 * i, i % 7])
        assert splits[s]["label"][j] == i % 2
        assert splits[s]["client_id"][j] == str(i // 5).encode()


def make_images(root, sizes=None, mode="RGB", per_class=6):
    from PIL import Image

    rng = np.random.default_rng(2)
    pixels = {}
    for c in ("cat", "dog"):
        os.makedirs(root / c, exist_ok=True)
        for k in range(per_class):
            w, h = (sizes or {}).get((c, k), (3, 2))
            arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(arr, "RGB").convert(mode).save(root / c / f"{k}.png")
            pixels[f"{c}/{k}.png"] = arr
    (root / "cat" / "notes.txt").write_text("not an image; ignored")
    return pixels


def test_image_folder_round_trip_rgb(tmp_path):
    pixels = make_images(tmp_path / "imgs")
    examples, info, page = run_executor(
        tmp_path, source=str(tmp_path / "imgs"), color_mode="rgb", eval_fraction=0.3
    )
    assert info.feature_keys == ("image",) and info.image_shape == (2, 3, 3)
    assert info.class_names == ("cat", "dog")
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    index = by_id(splits)
    assert sorted(index) == sorted(pixels)
    for rel, (s, j) in index.items():
        np.testing.assert_allclose(splits[s]["x"][j], pixels[rel].ravel() / 255.0, atol=1e-6)
        assert splits[s]["label"][j] == ("cat", "dog").index(rel.split("/")[0])
    assert "data:image/png;base64" in page


def test_image_folder_grayscale_converts_rgb_files(tmp_path):
    from PIL import Image

    pixels = make_images(tmp_path / "imgs", per_class=3)
    info, splits = read_arrays(IngestConfig.create(str(tmp_path / "imgs"), color_mode="grayscale"))
    assert info.image_shape == (2, 3, 1)
    with pytest.raises(
        InputError, match=r"column 'client_id_column': format 'images' has no such columns"
    ):
        read_arrays(IngestConfig.create(str(tmp_path / "imgs"), client_id_column="user"))
    for rel, (s, j) in by_id(splits).items():
        gray = np.asarray(Image.fromarray(pixels[rel], "RGB").convert("L"), np.float32) / 255.0
        np.testing.assert_allclose(splits[s]["x"][j], gray.ravel(), atol=1e-6)


def test_sklearn_digits(tmp_path):
    from sklearn.datasets import load_digits

    examples, info, page = run_executor(tmp_path, source="sklearn:digits", seed=1)
    digits = load_digits()
    assert info.image_shape == (8, 8, 1)
    assert info.feature_keys[:2] == ("pixel_0_0", "pixel_0_1") and info.input_dim == 64
    assert info.class_names == tuple(str(i) for i in range(10))
    assert sum(info.split_counts.values()) == 1797
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    s, j = by_id(splits)["digits#100"]
    np.testing.assert_array_equal(splits[s]["x"][j], digits.data[99])  # 0..16 as in sklearn
    assert splits[s]["label"][j] == digits.target[99]
    assert "data:image/png;base64" in page


@pytest.mark.parametrize(
    "name, n, first_key",
    [
        ("iris", 150, "sepal_length_cm"),
        ("wine", 178, "alcohol"),
        ("breast_cancer", 569, "mean_radius"),
    ],
)
def test_other_sklearn_loaders_plain(name, n, first_key):
    info, splits = read_arrays(IngestConfig.create(f"sklearn:{name}"))
    assert info.feature_keys[0] == first_key and info.image_shape is None
    assert sum(len(a["label"]) for a in splits.values()) == n
    assert all(k == sanitize_key(k) for k in info.feature_keys)


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


# -- splits --------------------------------------------------------------------


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
    rows = table_rows(200)
    full = write_csv(tmp_path / "full.csv", TABLE_HEADER, rows)
    order = np.random.default_rng(5).permutation(len(rows))[:50]
    part = write_csv(tmp_path / "part.csv", TABLE_HEADER, [rows[i] for i in order])

    def split_of(path):
        _, splits = read_arrays(csv_config(path, example_id_column="id", seed=7, eval_fraction=0.3))
        return {eid: s for eid, (s, _) in by_id(splits).items()}

    whole, subset = split_of(full), split_of(part)
    assert len(subset) == 50 and set(subset.values()) == {"train", "eval"}
    # A quarter of the rows, in another order, in another file: same splits.
    assert subset == {eid: whole[eid] for eid in subset}


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


def test_empty_split_is_an_error_naming_eval_fraction(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [[1, 2, "cat"]])
    assert assign_split("t.csv#2", 0, 0.2) == "train"
    with pytest.raises(
        InputError,
        match=r"column 'eval_fraction': the eval split would be empty: 0 of 1 rows go to eval "
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


# -- bad input -----------------------------------------------------------------


def csv_config(path, **kw):
    base = dict(source=str(path), feature_columns=["a", "b"], classes=["cat", "dog"])
    base.update(kw)
    return IngestConfig.create(**base)


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


@pytest.mark.parametrize(
    "bad, what",
    [
        ("abc", r"value 'abc' is not a number \(expected a number\)"),
        ("", r"missing value"),
        ("nan", r"value nan is not finite"),
        ("-inf", r"value -inf is not finite"),
        ("1e300", r"value 1e\+300 overflows float32"),
    ],
)
def test_bad_numeric_values_name_file_row_column(tmp_path, bad, what):
    rows = [[1, 2, "cat"], [3, 4, "dog"], [5, bad, "cat"]]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], rows)
    with pytest.raises(InputError, match=r"file .*t\.csv, row 4, column 'b': " + what):
        read_arrays(csv_config(path))


def test_label_outside_declared_classes(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, 4, "cow"]])
    with pytest.raises(
        InputError,
        match=r"t\.csv, row 3, column 'label': label 'cow' is not a declared class.*\['cat', 'dog'\]",
    ):
        read_arrays(csv_config(path))
    # Integer labels are matched by name; the message says how to declare them.
    path = write_csv(tmp_path / "u.csv", ["a", "b", "label"], [[1, 2, 0]])
    with pytest.raises(InputError, match=r"label '0' is not a declared class; .*'0', '1'"):
        read_arrays(csv_config(path))
    # CSV text is matched as written: 3.0 is not class "3" (a Parquet or NPZ 3.0 would be).
    path = write_csv(tmp_path / "v.csv", ["a", "b", "label"], [[1, 2, "3"], [3, 4, " 3.0 "]])
    with pytest.raises(
        InputError,
        match=r"v\.csv, row 3, column 'label': label '3\.0' is not a declared class; text labels "
        r"\(such as CSV fields\) are matched as written, so '3\.0' does not match class '3' "
        r"\(write 3 or declare '3\.0'\)",
    ):
        read_arrays(csv_config(path, classes=["3", "4"]))
    np.savez(tmp_path / "f.npz", x=np.zeros((4, 2)), y=np.array([3.0, 4.0, 3.0, 4.0]))
    config = IngestConfig.create(
        str(tmp_path / "f.npz"), label_column="y", classes=["3", "4"], eval_fraction=0.5, seed=2
    )
    _, splits = read_arrays(config)
    assert sorted(np.concatenate([a["label"] for a in splits.values()])) == [0, 0, 1, 1]


def test_wrong_field_count_and_empty_sources(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, "dog"]])
    with pytest.raises(InputError, match=r"t\.csv, row 3: 2 fields \(expected 3 fields"):
        read_arrays(csv_config(path))
    empty = write_csv(tmp_path / "e.csv", ["a", "b", "label"], [])
    with pytest.raises(InputError, match=r"file .*e\.csv: the source has no rows"):
        read_arrays(csv_config(empty))
    np.savez(tmp_path / "e.npz", x=np.zeros((0, 3)), label=np.zeros((0,)))
    with pytest.raises(InputError, match=r"no rows"):
        read_arrays(IngestConfig.create(str(tmp_path / "e.npz"), classes=["a"]))
    os.makedirs(tmp_path / "imgs" / "cat")
    with pytest.raises(InputError, match=r"imgs: the image folder has no images"):
        read_arrays(IngestConfig.create(str(tmp_path / "imgs")))


def test_npz_planning_reads_headers_and_readers_only_the_needed_arrays(tmp_path, monkeypatch):
    from frontier.components.ingest import readers

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2, 3)), rng.integers(0, 2, size=30)
    # An array of Python objects beside the data: np.load refuses to load it
    # (no pickles), so reading it at all would fail.
    np.savez_compressed(
        tmp_path / "d.npz", x=x, y=y, meta=np.array([{"k": 1}], dtype=object), big=np.zeros(10**6)
    )
    config = IngestConfig.create(
        str(tmp_path / "d.npz"), label_column="y", classes=["0", "1"], eval_fraction=0.5
    )
    with monkeypatch.context() as m:  # planning decompresses no array
        m.setattr(readers, "_load_npz", lambda *a: pytest.fail("planning loaded arrays"))
        plan = plan_source(config)
    assert plan.feature_dims == (6,) and plan.image_shape == (2, 3, 1)
    info, splits = read_arrays(config)
    assert sum(info.split_counts.values()) == 30
    # A needed array of objects, or of another length, is named from its header.
    np.savez(tmp_path / "o.npz", x=x, y=np.array([None] * 30, dtype=object))
    with pytest.raises(InputError, match=r"o\.npz, column 'y': array holds Python objects"):
        plan_source(dataclasses.replace(config, source=str(tmp_path / "o.npz")))
    np.savez(tmp_path / "n.npz", x=x, y=y[:29])
    with pytest.raises(InputError, match=r"n\.npz, column 'y': array has 29 rows but 'x' has 30"):
        plan_source(dataclasses.replace(config, source=str(tmp_path / "n.npz")))
    (tmp_path / "z.npz").write_text("not a zip")
    with pytest.raises(InputError, match=r"z\.npz: cannot be read as NPZ"):
        plan_source(dataclasses.replace(config, source=str(tmp_path / "z.npz")))


def test_npz_errors_name_array(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.array([0, 1, 0]))
    with pytest.raises(InputError, match=r"d\.npz, column 'label': no such array.*\['x', 'y'\]"):
        read_arrays(IngestConfig.create(str(tmp_path / "d.npz"), classes=["0", "1"]))
    np.savez(tmp_path / "n.npz", x=np.array([[0.0, 1.0], [np.nan, 2.0]]), y=np.array([0, 1]))
    with pytest.raises(InputError, match=r"n\.npz, row 2, column 'x': value nan is not finite"):
        read_arrays(
            IngestConfig.create(str(tmp_path / "n.npz"), label_column="y", classes=["0", "1"])
        )


def test_images_of_different_sizes_name_both_files(tmp_path):
    make_images(tmp_path / "imgs", sizes={("dog", 2): (4, 2)}, per_class=3)
    with pytest.raises(InputError) as e:
        read_arrays(IngestConfig.create(str(tmp_path / "imgs")))
    msg = str(e.value)
    assert os.path.join("dog", "2.png") in msg and "4x2" in msg
    assert "cat/0.png is 3x2" in msg and "same size" in msg


def test_configuration_errors_raise_at_construction():
    from frontier.components.ingest import Ingest

    with pytest.raises(InputError, match=r"column 'format': unknown format 'xls'"):
        Ingest("data.xls", format="xls", feature_columns=["a"], classes=["x"])
    with pytest.raises(
        InputError, match=r"column 'feature_columns': format 'csv' needs the feature columns"
    ):
        Ingest("data.csv", classes=["x"])
    with pytest.raises(InputError, match=r"column 'classes': format 'parquet' needs the classes"):
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


# -- label noise -------------------------------------------------------------------


def noisy_digits(**kw):
    """read_arrays of sklearn:digits (1797 rows, 10 classes) with label noise."""
    return read_arrays(IngestConfig.create("sklearn:digits", **kw))


def ids_of(arrays):
    return [e.decode() if isinstance(e, bytes) else e for e in arrays["example_id"]]


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
    rows = table_rows(200)
    full = write_csv(tmp_path / "full.csv", TABLE_HEADER, rows)
    order = np.random.default_rng(6).permutation(len(rows))[:60]
    part = write_csv(tmp_path / "part.csv", TABLE_HEADER, [rows[i] for i in order])

    def labels_of(path):
        config = csv_config(
            path, example_id_column="id", label_noise="symmetric", noise_rate=0.5, noise_seed=2
        )
        _, splits = read_arrays(config)
        return {
            eid: (s, int(splits[s]["label"][i]), int(splits[s]["true_label"][i]))
            for eid, (s, i) in by_id(splits).items()
        }

    whole, subset = labels_of(full), labels_of(part)
    assert subset == {eid: whole[eid] for eid in subset}
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


def test_label_noise_parameters_are_checked_at_construction():
    from frontier.components.ingest import Ingest

    for kwargs, match in [
        (
            dict(label_noise="uniform"),
            r"column 'label_noise': unknown label noise 'uniform' "
            r"\(expected one of \['none', 'symmetric', 'asymmetric'\]\)",
        ),
        (
            dict(label_noise="symmetric", noise_rate=1.5),
            r"column 'noise_rate': noise_rate 1.5 is out of range \(expected a number in \[0, 1\]",
        ),
        (dict(label_noise="symmetric", noise_rate=-0.1), r"column 'noise_rate'.*out of range"),
        (dict(label_noise="symmetric", noise_rate=float("nan")), r"column 'noise_rate'"),
        (dict(label_noise="symmetric", noise_rate="0.4"), r"column 'noise_rate': got '0.4'"),
        (
            dict(noise_rate=0.3),
            r"column 'noise_rate': noise_rate 0.3 given with label_noise 'none'",
        ),
        (
            dict(label_noise="asymmetric", noise_rate=0.2, noise_seed=1.5),
            r"column 'noise_seed': got 1.5 \(expected an integer seed\)",
        ),
        (dict(label_noise="asymmetric", noise_rate=0.2, noise_seed="3"), r"column 'noise_seed'"),
        (dict(label_noise="asymmetric", noise_seed=True), r"column 'noise_seed'"),
    ]:
        with pytest.raises(InputError, match=match):
            Ingest("sklearn:iris", **kwargs)
    with pytest.raises(
        InputError, match=r"column 'label_noise': label noise needs at least 2 classes"
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


def test_label_noise_is_refused_without_labels_with_true_label_or_one_class(tmp_path):
    noise = dict(label_noise="symmetric", noise_rate=0.2)
    path = write_csv(tmp_path / "u.csv", ["a", "b"], [[1, 2], [3, 4]])
    with pytest.raises(
        InputError,
        match=r"u\.csv, column 'label_noise': label_noise 'symmetric' needs labels, but there is "
        r"no label column 'label' \(named in label_column\) \(expected labelled data",
    ):
        read_arrays(csv_config(path, **noise))
    np.savez(tmp_path / "u.npz", x=np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"u\.npz, column 'label_noise': .*no label array 'y'"):
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
        InputError, match=r"imgs, column 'label_noise': label noise 'symmetric' needs at least 2"
    ):
        plan_source(IngestConfig.create(str(tmp_path / "imgs"), **noise))


# -- client partition -------------------------------------------------------------


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
    full = write_csv(tmp_path / "full.csv", header, rows)
    order = np.random.default_rng(6).permutation(len(rows))[:60]
    part = write_csv(tmp_path / "part.csv", header, [rows[i] for i in order])

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

    whole, subset = clients_of(full), clients_of(part)
    assert subset == {eid: whole[eid] for eid in subset}
    assert len(set(whole.values())) > 1


def test_client_partition_parameters_are_checked_at_construction():
    from frontier.components.ingest import Ingest

    for kwargs, match in [
        (
            dict(client_partition="random", num_clients=3),
            r"column 'client_partition': unknown client partition 'random' "
            r"\(expected one of \['none', 'iid', 'dirichlet'\]\)",
        ),
        (
            dict(client_partition="iid"),
            r"column 'num_clients': client_partition 'iid' needs num_clients, got 0",
        ),
        (dict(client_partition="dirichlet", num_clients=-2), r"column 'num_clients'"),
        (dict(client_partition="iid", num_clients=2.5), r"column 'num_clients': got 2.5"),
        (dict(client_partition="iid", num_clients="4"), r"column 'num_clients': got '4'"),
        (
            dict(num_clients=10),
            r"column 'num_clients': num_clients 10 given with client_partition 'none'",
        ),
        (
            dict(client_partition="dirichlet", num_clients=4, partition_alpha=0),
            r"column 'partition_alpha': partition_alpha 0 is out of range \(expected a finite "
            r"number > 0",
        ),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=-1.0), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=float("inf")), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha=float("nan")), "alpha"),
        (dict(client_partition="dirichlet", num_clients=4, partition_alpha="1"), "alpha"),
        (
            dict(client_partition="iid", num_clients=4, partition_seed=0.5),
            r"column 'partition_seed': got 0.5 \(expected an integer seed\)",
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
    with pytest.raises(InputError, match="column 'num_clients'"):  # the plain function too
        hash_partition([0, 1], ["a", "b"], 0)


def test_client_partition_is_refused_when_the_source_has_client_ids(tmp_path):
    path = write_csv(tmp_path / "t.csv", TABLE_HEADER, table_rows(20))
    with pytest.raises(
        InputError,
        match=r"column 'client_partition': the source already has client ids \(client_id_column "
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
        match=r"file sklearn:iris, column 'num_clients': num_clients 151 is more than the 150 "
        r"examples of the source",
    ):
        partitioned("sklearn:iris", client_partition="iid", num_clients=151)
    with pytest.raises(InputError, match=r"column 'num_clients': num_clients 151"):
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


# -- in a real pipeline ------------------------------------------------------------


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
