"""Tests of Ingest's readers: every format (CSV, Parquet, NPZ, TFRecord, image
folders, scikit-learn data sets) round-trips through the executor, and bad
values in a file fail with a message that names the file, row and column."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from ingest_helpers import (
    TABLE_HEADER,
    by_id,
    check_consistent,
    csv_config,
    hidden_entries,
    load_all,
    make_images,
    run_executor,
    table_rows,
    write_csv,
    write_png,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    assign_split,
    plan_source,
    read_arrays,
    sanitize_key,
    spec,
)


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
    assert info.image_encoding is None  # float pixels keep the float32 layout
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    for eid, (s, j) in by_id(splits).items():
        i = int(eid.split("#")[1]) - 1
        np.testing.assert_array_equal(splits[s]["x"][j], x[i].ravel())
        assert splits[s]["label"][j] == y[i]
    assert "data:image/png;base64" in page  # a grid of sample images


def _stored_keys(examples_uri: str) -> list[str]:
    """The feature keys of the first stored train example."""
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files

    files = split_files(examples_uri, "train")
    record = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP"))).numpy()
    return sorted(tf.train.Example.FromString(record).features.feature)


def test_npz_uint8_images_are_stored_compact(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(30, 4, 5, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 2)
    examples, info, _ = run_executor(
        tmp_path, source=str(tmp_path / "d.npz"), label_column="y", classes=["0", "1"]
    )
    assert info.image_shape == (4, 5, 3)
    assert (info.image_encoding, info.pixel_divisor) == ("uint8", 1)
    assert _stored_keys(examples.uri) == ["example_id", "label", "x/divisor", "x/uint8"]
    splits = load_all(examples.uri)
    for eid, (s, j) in by_id(splits).items():
        i = int(eid.split("#")[1]) - 1
        np.testing.assert_array_equal(splits[s]["x"][j], x[i].ravel().astype(np.float32))


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


def test_image_folder_round_trip_rgb(tmp_path):
    pixels = make_images(tmp_path / "imgs")
    examples, info, page = run_executor(
        tmp_path, source=str(tmp_path / "imgs"), color_mode="rgb", eval_fraction=0.3
    )
    assert info.feature_keys == ("image",) and info.image_shape == (2, 3, 3)
    assert info.class_names == ("cat", "dog")
    # Stored compact (uint8 bytes, divisor 255), read back as the float32 pixels / 255.
    assert (info.image_encoding, info.pixel_divisor) == ("uint8", 255)
    assert _stored_keys(examples.uri) == ["example_id", "image/divisor", "image/uint8", "label"]
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    index = by_id(splits)
    assert sorted(index) == sorted(pixels)
    for rel, (s, j) in index.items():
        np.testing.assert_array_equal(splits[s]["x"][j], pixels[rel].ravel() / np.float32(255))
        assert splits[s]["label"][j] == ("cat", "dog").index(rel.split("/")[0])
    assert "data:image/png;base64" in page
    assert "uint8 bytes, decoded as k / 255" in page


def test_image_folder_grayscale_converts_rgb_files(tmp_path):
    from PIL import Image

    pixels = make_images(tmp_path / "imgs", per_class=3)
    info, splits = read_arrays(IngestConfig.create(str(tmp_path / "imgs"), color_mode="grayscale"))
    assert info.image_shape == (2, 3, 1)
    with pytest.raises(
        InputError, match=r"parameter 'client_id_column': format 'images' has no such columns"
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


# -- odd files: encodings, malformed CSV, image layouts and modes, decimals -------


def _raw_values(config, column="label"):
    """`column` of every raw row of a source, in file order (no split needed)."""
    from frontier.components.ingest import read_shard

    plan = plan_source(config)
    return [r.values[column] for shard in plan.shards for r in read_shard(plan, shard)]


def test_csv_encoding_undecodable_byte_names_file_line_and_byte(tmp_path):
    path = tmp_path / "l1.csv"
    path.write_bytes("a,b,label\n1,2,cat\n3,4,caf\xe9\n5,6,dog\n".encode("latin-1"))
    config = csv_config(path, classes=["cat", "café", "dog"])
    with pytest.raises(InputError) as e:
        read_arrays(config)
    assert e.value.file == str(path) and e.value.row == 3
    assert "bytes e9 at byte offset 25 of the file cannot be decoded as utf-8" in str(e.value)
    assert "'encoding'" in str(e.value)
    # The same file in its own encoding; a UTF-8 file with a byte-order mark.
    assert _raw_values(dataclasses.replace(config, encoding="latin-1")) == ["cat", "café", "dog"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfa,b,label\n1,2,cat\n3,4,caf\xc3\xa9\n")
    assert _raw_values(csv_config(bom), "a") == ["1", "3"]  # the mark is not in 'a'
    assert _raw_values(csv_config(bom)) == ["cat", "café"]
    with pytest.raises(InputError, match=r"parameter 'encoding': unknown text encoding 'klingon'"):
        csv_config(path, encoding="klingon")
    with pytest.raises(InputError, match=r"unknown text encoding 'base64'"):
        csv_config(path, encoding="base64")
    props = csv_config(path, encoding="latin-1").to_exec_properties()
    assert IngestConfig.from_exec_properties(props).encoding == "latin-1"


def test_csv_nul_and_malformed_quotes_name_file_and_line(tmp_path):
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"a,b,label\n1,2,cat\n3,4\x00,dog\n")
    with pytest.raises(InputError, match=r"nul\.csv, row 3: NUL character at position 4"):
        read_arrays(csv_config(nul))
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("a,b,label\n1,2,cat\n3,4,dog\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"u16\.csv, row 1: .*'utf-16'"):
        read_arrays(csv_config(utf16))
    assert _raw_values(csv_config(utf16, encoding="utf-16")) == ["cat", "dog"]
    open_quote = tmp_path / "q.csv"
    open_quote.write_text('a,b,label\n1,2,cat\n3,4,"dog\n5,6,cat\n')
    with pytest.raises(
        InputError, match=r"q\.csv, row 3: malformed CSV: a quoted field opened on line 3 is not"
    ):
        read_arrays(csv_config(open_quote))
    stray = tmp_path / "s.csv"
    stray.write_text('a,b,label\n1,2,cat\n3,4,"dog"x\n')
    with pytest.raises(InputError, match=r"s\.csv, row 3: malformed CSV: ',' expected after"):
        read_arrays(csv_config(stray))
    ragged = write_csv(tmp_path / "r.csv", ["a", "b", "label"], [[1, 2, "cat"], [3, 4, "dog", 5]])
    with pytest.raises(InputError, match=r"r\.csv, row 3: 4 fields \(expected 3 fields"):
        read_arrays(csv_config(ragged))
    # A quoted line break is one record; the next is numbered by its own line.
    ok = tmp_path / "ok.csv"
    ok.write_bytes(b'a,b,label\r\n1,"2",cat\r\n3,4,"dog"\r\n5,6\r\n')
    with pytest.raises(InputError, match=r"ok\.csv, row 4: 2 fields"):
        read_arrays(csv_config(ok))


def test_image_folder_layout_errors_say_what_was_expected_and_found(tmp_path):
    make_images(tmp_path / "imgs", per_class=2)
    write_csv(tmp_path / "imgs" / "labels.csv", ["file", "label"], [["cat/0.png", "cat"]])
    with pytest.raises(InputError) as e:
        read_arrays(IngestConfig.create(str(tmp_path / "imgs")))
    msg = str(e.value)
    assert "both data files (1 file: 'labels.csv') and sub-folders of images" in msg
    assert "one sub-folder per class" in msg and "format='images'" in msg
    assert "feature" not in msg
    # format='images' reads the sub-folders; a folder of loose images says so.
    info, _ = read_arrays(IngestConfig.create(str(tmp_path / "imgs"), format="images"))
    assert sum(info.split_counts.values()) == 4
    os.makedirs(tmp_path / "flat")
    for k in range(2):
        os.replace(tmp_path / "imgs" / "cat" / f"{k}.png", tmp_path / "flat" / f"{k}.png")
    with pytest.raises(InputError, match=r"flat: directory holds images but no class sub-folders"):
        read_arrays(IngestConfig.create(str(tmp_path / "flat")))
    with pytest.raises(InputError, match=r"no sub-folders \(found 2 files: '0\.png', '1\.png'\)"):
        read_arrays(IngestConfig.create(str(tmp_path / "flat"), format="images"))
    # A data directory with a sub-folder of something else is read as data.
    data = tmp_path / "data"
    os.makedirs(data / "logs")
    write_csv(data / "t.csv", TABLE_HEADER, table_rows(10))
    assert sum(read_arrays(csv_config(data))[0].split_counts.values()) == 10


def test_16_bit_png_is_scaled_by_65535_and_stored_as_float32(tmp_path):
    rng = np.random.default_rng(5)
    grey = {}
    for c in ("a", "b"):
        os.makedirs(tmp_path / "g" / c)
        for k in range(2):
            arr = rng.integers(0, 65536, size=(2, 3, 1), dtype=np.uint16)
            arr[0, 0, 0] = 65535 * (k == 0)  # black and white both present
            write_png(tmp_path / "g" / c / f"{k}.png", arr, color_type=0)
            grey[f"{c}/{k}.png"] = arr
    info, splits = read_arrays(IngestConfig.create(str(tmp_path / "g")))
    assert info.image_encoding is None and info.pixel_divisor is None  # k/65535 is no uint8/255
    for rel, (s, j) in by_id(splits).items():
        np.testing.assert_array_equal(
            splits[s]["x"][j], grey[rel].ravel().astype(np.float32) / np.float32(65535)
        )
    # 16-bit RGB (which Pillow reads as 8 bits) keeps 16 bits; grey is 601-2 luma.
    rgb = rng.integers(0, 65536, size=(2, 3, 3), dtype=np.uint16)
    write_png(tmp_path / "g" / "a" / "0.png", rgb, color_type=2)
    plan = plan_source(IngestConfig.create(str(tmp_path / "g"), color_mode="rgb"))
    from frontier.components.ingest.readers import image_pixels, read_shard

    row = next(read_shard(plan, plan.shards[0]))
    np.testing.assert_array_equal(row.values["image"], rgb.astype(np.float32) / np.float32(65535))
    pixels, full = image_pixels(str(tmp_path / "g" / "a" / "0.png"), 1)
    luma = np.rint(rgb.astype(np.float64) @ [0.299, 0.587, 0.114])[..., None]
    assert full == 65535 and np.array_equal(pixels, luma)
    # An 8-bit image among 16-bit ones is named.
    write_png(tmp_path / "g" / "b" / "1.png", rgb[..., :1].astype(np.uint8), 0, bit_depth=8)
    with pytest.raises(InputError, match=r"b/1\.png: image has 8-bit pixels but a/0\.png has 16"):
        read_arrays(IngestConfig.create(str(tmp_path / "g")))


def test_palette_alpha_and_other_modes(tmp_path):
    from PIL import Image

    from frontier.components.ingest.readers import image_pixels

    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    Image.fromarray(rgb, "RGB").convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(image_pixels(str(tmp_path / "p.png"), 3)[0], rgb)
    opaque = np.concatenate([rgb, np.full((1, 3, 1), 255, np.uint8)], axis=-1)
    Image.fromarray(opaque, "RGBA").save(tmp_path / "o.png")
    np.testing.assert_array_equal(image_pixels(str(tmp_path / "o.png"), 3)[0], rgb)
    clear = opaque.copy()
    clear[0, 1, 3] = 0
    Image.fromarray(clear, "RGBA").save(tmp_path / "c.png")
    with pytest.raises(InputError, match=r"c\.png: image has an alpha channel \(mode RGBA\) and 1"):
        image_pixels(str(tmp_path / "c.png"), 3)
    Image.fromarray(clear[..., [0, 3]], "LA").save(tmp_path / "la.png")
    with pytest.raises(InputError, match=r"mode LA.*flatten them onto a background"):
        image_pixels(str(tmp_path / "la.png"), 1)
    Image.fromarray(clear, "RGBA").convert("P").save(tmp_path / "pt.png", transparency=0)
    with pytest.raises(InputError, match=r"pt\.png: image has an alpha channel \(mode P\)"):
        image_pixels(str(tmp_path / "pt.png"), 3)
    write_png(tmp_path / "la16.png", np.full((1, 2, 2), 65535, np.uint16), color_type=4)
    assert image_pixels(str(tmp_path / "la16.png"), 3)[0].shape == (1, 2, 3)
    Image.fromarray(np.arange(6, dtype=np.int32).reshape(2, 3), "I").save(tmp_path / "i.tif")
    with pytest.raises(InputError, match=r"i\.tif: image has 32-bit integer pixels"):
        image_pixels(str(tmp_path / "i.tif"), 1)
    Image.new("1", (3, 1), 1).save(tmp_path / "bw.png")
    assert image_pixels(str(tmp_path / "bw.png"), 1)[0].ravel().tolist() == [255, 255, 255]
    Image.fromarray(rgb, "RGB").convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    pixels, full = image_pixels(str(tmp_path / "cmyk.jpg"), 3)
    assert full == 255 and pixels.shape == (1, 3, 3)


def test_parquet_decimals_are_read_as_floats(tmp_path, caplog):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    d = decimal.Decimal
    price = [d("1.25"), d("-3.50"), d("12345678901234567.89"), d("0.10")]
    table = pa.table(
        {
            "price": pa.array(price, pa.decimal128(20, 2)),
            "label": pa.array([d(0), d(1), d(0), d(1)], pa.decimal128(3, 0)),
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    config = IngestConfig.create(
        str(tmp_path / "d.parquet"), feature_columns=["price"], classes=["0", "1"]
    )
    with caplog.at_level("WARNING"):
        info, splits = read_arrays(config)
    got = sorted(float(v) for a in splits.values() for v in a["x"][:, 0])
    assert got == sorted(float(np.float32(float(p))) for p in price)
    assert sorted(np.concatenate([a["label"] for a in splits.values()])) == [0, 0, 1, 1]
    lossy = [r.getMessage() for r in caplog.records if "decimal" in r.getMessage()]
    assert lossy and "column 'price'" in lossy[0] and "first at row 3" in lossy[0]
    assert not any("'label'" in m for m in lossy)
