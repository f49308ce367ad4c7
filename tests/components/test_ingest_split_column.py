"""Tests of Ingest's predefined splits (`split_column`): each row lands in the
split it names, the column is read but never written, label noise stays on
`train`, and bad values, empty splits and clashing or unsupported
configurations fail naming the file, row, column or parameter."""

from __future__ import annotations

import html
import os

import numpy as np
import pytest
from ingest_helpers import (
    by_id,
    check_consistent,
    csv_config,
    hidden_entries,
    ids_of,
    load_all,
    make_images,
    run_executor,
    write_csv,
)

from frontier.components.common.errors import InputError
from frontier.components.ingest import (
    IngestConfig,
    assign_split,
    plan_source,
    read_arrays,
    row_split,
    spec,
)
from frontier.components.ingest.readers import read_shard

HEADER = ["a", "b", "label", "fold", "id"]


def fold_rows(n=24):
    """CSV rows (a, b, label, fold, id): every third row `eval`, the others
    `train`, some written with spaces around the name."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        a, b = rng.normal(size=2).round(3)
        fold = "eval" if i % 3 == 0 else "train"
        rows.append(
            [a, b, "cat" if i % 2 else "dog", f" {fold} " if i % 5 == 0 else fold, f"r{i:02d}"]
        )
    return rows


def named_ids(rows, split):
    """The ids of the rows whose fold is `split`."""
    return sorted(r[4] for r in rows if r[3].strip() == split)


def stored_keys(examples_uri, split):
    """The feature keys of the first stored example of a split."""
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files

    files = split_files(examples_uri, split)
    record = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP"))).numpy()
    return sorted(tf.train.Example.FromString(record).features.feature)


def test_npz_rows_land_in_the_split_they_name_and_noise_stays_on_train(tmp_path):
    # The case that asked for it: synthetic training rows and real held-out
    # test rows in one NPZ, the split array saying which is which.
    rng = np.random.default_rng(3)
    n_train, n_eval = 30, 12
    x = rng.uniform(size=(n_train + n_eval, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=n_train + n_eval)
    split = np.array(["train"] * n_train + ["eval"] * n_eval)
    order = rng.permutation(len(y))  # interleaved, so no rule of position could pass
    np.savez(tmp_path / "d.npz", x=x[order], y=y[order], split=split[order])
    examples, info, page = run_executor(
        tmp_path,
        source=str(tmp_path / "d.npz"),
        label_column="y",
        split_column="split",
        classes=["0", "1", "2"],
        eval_fraction=0.9,  # ignored: with eval_fraction 0.9 train would be small
        label_noise="symmetric",
        noise_rate=0.5,
        noise_seed=1,
    )
    assert info.split_counts == {"train": n_train, "eval": n_eval}
    assert info.role_keys == ("label", "true_label", "example_id")  # no split key
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    for name in spec.SPLIT_NAMES:
        expected = sorted(f"d.npz#{i + 1}" for i in range(len(y)) if split[order][i] == name)
        assert sorted(ids_of(splits[name])) == expected
        assert "split" not in stored_keys(examples.uri, name)
    for eid, (s, j) in by_id(splits).items():
        i = int(eid.split("#")[1]) - 1
        np.testing.assert_array_equal(splits[s]["x"][j], x[order][i].ravel())
        assert splits[s]["true_label"][j] == y[order][i]
    # Noise on train only: eval keeps its clean labels, train has flips.
    np.testing.assert_array_equal(splits["eval"]["label"], splits["eval"]["true_label"])
    assert (splits["train"]["label"] != splits["train"]["true_label"]).any()
    # Recorded on the artifact, in the description and on the page.
    assert examples.get_string_custom_property(spec.SPLIT_COLUMN_KEY) == "split"
    assert info.source.endswith(", splits from column 'split'")
    assert html.escape("predefined: each row names its split in column 'split'") in page
    assert "<td>split</td><td>split</td><td>(not written: names the split)</td>" in page


def test_csv_split_column_with_a_client_partition_matches_the_in_memory_reader(tmp_path):
    rows = fold_rows()
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    kwargs = dict(
        source=path,
        feature_columns=["a", "b"],
        classes=["cat", "dog"],
        example_id_column="id",
        split_column="fold",
        client_partition="iid",
        num_clients=3,
    )
    examples, info, _ = run_executor(tmp_path, **kwargs)
    beam = load_all(examples.uri)
    check_consistent(info, beam)
    assert info.role_keys == ("label", "client_id", "example_id")
    for name in spec.SPLIT_NAMES:
        assert sorted(ids_of(beam[name])) == named_ids(rows, name)
        assert "fold" not in stored_keys(examples.uri, name)
    # The in-memory reader splits the same way, and agrees row for row.
    mem_info, mem = read_arrays(IngestConfig.create(**kwargs))
    assert mem_info.split_counts == info.split_counts
    assert mem_info.class_counts == info.class_counts
    assert mem_info.source == info.source
    for name in spec.SPLIT_NAMES:
        beam_order = np.argsort(ids_of(beam[name]))
        mem_order = np.argsort(ids_of(mem[name]))
        assert [ids_of(beam[name])[i] for i in beam_order] == named_ids(rows, name)
        assert [ids_of(mem[name])[i] for i in mem_order] == named_ids(rows, name)
        np.testing.assert_allclose(beam[name]["x"][beam_order], mem[name]["x"][mem_order])
        for key in ("label", "client_id"):
            got = [v.decode() if isinstance(v, bytes) else v for v in beam[name][key][beam_order]]
            assert got == list(mem[name][key][mem_order]), key


def test_split_column_does_not_depend_on_seed_or_eval_fraction(tmp_path):
    rows = fold_rows()
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    for seed, fraction in ((0, 0.2), (7, 0.95), (123, 0.01)):
        _, splits = read_arrays(
            csv_config(
                path, example_id_column="id", split_column="fold", seed=seed, eval_fraction=fraction
            )
        )
        assert {s: sorted(ids_of(a)) for s, a in splits.items()} == {
            s: named_ids(rows, s) for s in spec.SPLIT_NAMES
        }
    # Without the column, the plain rule: row_split is assign_split.
    plan = plan_source(csv_config(path, example_id_column="id"))
    raw = next(read_shard(plan, plan.shards[0]))
    assert row_split(plan, raw, "r00", 4, 0.3) == assign_split("r00", 4, 0.3)


def test_tfrecord_split_feature(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(6):
            feats = {
                "f": tf.train.Feature(float_list=tf.train.FloatList(value=[i])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2])),
                "fold": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[b"eval" if i < 2 else b"train"])
                ),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    _, splits = read_arrays(
        IngestConfig.create(path, feature_columns=["f"], split_column="fold", classes=["0", "1"])
    )
    assert sorted(ids_of(splits["eval"])) == ["d.tfrecord#1", "d.tfrecord#2"]
    assert len(ids_of(splits["train"])) == 4 and "fold" not in splits["train"]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("test", r"split 'test' is not a split name; Ingest writes 'train' and 'eval' only"),
        ("Train", r"split 'Train' is not a split name; split names are matched as written"),
        ("  ", r"missing split"),
        ("1", r"split '1' is not a split name"),
    ],
)
def test_bad_split_value_names_file_row_and_column(tmp_path, value, what):
    rows = fold_rows(6)
    rows[3][3] = value  # CSV line 5: the header is line 1
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    expected = rf"^file {path}, row 5, column 'fold': {what}.*\(expected one of the split names \['train', 'eval'\]\)$"
    with pytest.raises(InputError, match=expected):
        read_arrays(csv_config(path, split_column="fold"))


def test_bad_split_values_inside_beam_and_in_other_formats(tmp_path):
    # Inside Beam: the same message, and nothing published.
    rows = fold_rows(6)
    rows[4][3] = "validation"
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    with pytest.raises(InputError) as e:
        run_executor(
            tmp_path,
            source=path,
            feature_columns=["a", "b"],
            classes=["cat", "dog"],
            split_column="fold",
        )
    assert str(e.value).startswith(
        f"file {path}, row 6, column 'fold': split 'validation' is not a split name"
    )
    out = tmp_path / "out"
    assert not [f for _, _, files in os.walk(out) for f in files]
    assert hidden_entries(out) == []
    # NPZ numbers are named by their integral form, like labels.
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.zeros(3), s=np.array([0.0, 1.0, 1.0]))
    config = IngestConfig.create(
        str(tmp_path / "d.npz"), label_column="y", split_column="s", classes=["0"]
    )
    with pytest.raises(
        InputError, match=r"d\.npz, row 1, column 's': split '0' is not a split name"
    ):
        read_arrays(config)
    # A Parquet null is a missing split.
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = {"a": [1.0, 2.0, 3.0], "label": ["cat"] * 3, "s": ["train", "eval", None]}
    pq.write_table(pa.table(table), tmp_path / "d.parquet")
    config = IngestConfig.create(
        str(tmp_path / "d.parquet"), feature_columns=["a"], split_column="s", classes=["cat"]
    )
    with pytest.raises(InputError, match=r"d\.parquet, row 3, column 's': missing split"):
        read_arrays(config)
    # A file without the column names the parameter that asked for it.
    path = write_csv(tmp_path / "u.csv", ["a", "b", "label"], [[1, 2, "cat"]])
    with pytest.raises(
        InputError, match=r"column 'fold': no such column \(named in split_column\)"
    ):
        plan_source(csv_config(path, split_column="fold"))


def test_empty_split_names_the_split_column(tmp_path):
    rows = [[1, 2, "cat", "train", "a"], [3, 4, "dog", " train", "b"]]
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    message = (
        r"^column 'fold', parameter 'split_column': the eval split would be empty: 0 of 2 rows"
        r" name 'eval' in the split column 'fold' \(expected examples in both train and eval"
    )
    with pytest.raises(InputError, match=message):
        read_arrays(csv_config(path, split_column="fold"))
    with pytest.raises(InputError, match=message):
        run_executor(
            tmp_path,
            source=path,
            feature_columns=["a", "b"],
            classes=["cat", "dog"],
            split_column="fold",
        )
    out = tmp_path / "out"
    assert not [f for _, _, files in os.walk(out) for f in files]
    rows = [[1, 2, "cat", "eval", "a"]]
    path = write_csv(tmp_path / "u.csv", HEADER, rows)
    with pytest.raises(InputError, match=r"the train split would be empty: .* 'fold'"):
        read_arrays(csv_config(path, split_column="fold"))


def test_split_column_clashing_with_another_role_or_a_feature_is_refused():
    from frontier.components.ingest import Ingest

    base = dict(feature_columns=["a", "b"], classes=["cat", "dog"])
    for kwargs, match in [
        (
            dict(split_column="label"),
            r"parameter 'split_column': column 'label' given for both label_column and "
            r"split_column \(expected a different column for each role\)",
        ),
        (dict(split_column="w", weak_label_column="w"), r"parameter 'split_column': column 'w'"),
        (dict(split_column="u", client_id_column="u"), r"parameter 'split_column': column 'u'"),
        (dict(split_column="i", example_id_column="i"), r"parameter 'split_column': column 'i'"),
        (
            dict(split_column="b"),
            r"parameter 'feature_columns': column 'b' is both a feature and the split_column",
        ),
    ]:
        with pytest.raises(InputError, match=match):
            Ingest("d.csv", **base, **kwargs)
        with pytest.raises(InputError, match=match):
            IngestConfig.create("d.csv", **base, **kwargs)


def test_split_column_is_refused_for_sklearn_and_image_folders(tmp_path):
    from frontier.components.ingest import Ingest

    with pytest.raises(
        InputError,
        match=r"parameter 'split_column': format 'sklearn' has no such columns \(expected no "
        r"weak_label/client_id/example_id/video_id/split column",
    ):
        Ingest("sklearn:digits", split_column="split")
    make_images(tmp_path / "imgs", per_class=2)
    with pytest.raises(
        InputError, match=r"parameter 'split_column': format 'images' has no such columns"
    ):
        read_arrays(IngestConfig.create(str(tmp_path / "imgs"), split_column="split"))


def test_split_column_is_an_execution_property_that_reads_back():
    from frontier.components.ingest import Ingest

    base = dict(feature_columns=["a", "b"], classes=["cat", "dog"])
    props = Ingest("d.csv", split_column="fold", **base).exec_properties
    assert props[spec.SPLIT_COLUMN_KEY] == "fold"
    assert IngestConfig.from_exec_properties(props).split_column == "fold"
    # Left out when unset, like the other optional role columns (so the cache
    # key of an existing pipeline does not change).
    props = Ingest("d.csv", **base).exec_properties
    assert props.get(spec.SPLIT_COLUMN_KEY) is None
    assert IngestConfig.from_exec_properties(props).split_column is None
    assert IngestConfig.create("d.csv", split_column="", **base).split_column is None


def test_a_video_id_column_keeps_each_videos_clips_in_one_split(tmp_path):
    """Without a split column, the split is drawn per video: clips of one video (SPL's
    untrimmed videos) never land in train and eval both; `video_id` is written."""
    rng = np.random.default_rng(4)
    videos = np.repeat([f"video-{v:03d}" for v in range(30)], 6)  # 6 clips each
    x = rng.uniform(size=(len(videos), 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=len(videos))
    np.savez(tmp_path / "v.npz", x=x, y=y, video=videos)
    examples, info, page = run_executor(
        tmp_path,
        source=str(tmp_path / "v.npz"),
        label_column="y",
        video_id_column="video",
        classes=["0", "1", "2"],
        eval_fraction=0.3,
    )
    assert "video_id" in info.role_keys
    splits = load_all(examples.uri)
    check_consistent(info, splits)
    seen = {s: {v.decode() for v in splits[s]["video_id"]} for s in spec.SPLIT_NAMES}
    assert seen["train"] and seen["eval"] and not seen["train"] & seen["eval"]
    assert seen["train"] | seen["eval"] == set(videos)
    counts = [len(splits[s]["video_id"]) for s in spec.SPLIT_NAMES]
    assert all(c % 6 == 0 for c in counts)  # whole videos
    assert "<td>video_id</td>" in page
