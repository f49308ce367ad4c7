"""TFRecords as Beam batches (`common.record_batches`): every record read once, in
file order, written back intact; int64 columns appended without re-parsing."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


def _example(i: int) -> bytes:
    example = tf.train.Example()
    example.features.feature["id"].int64_list.value[:] = [i]
    example.features.feature["x"].float_list.value[:] = [i / 2, -i]
    return example.SerializeToString(deterministic=True)


def _write(path: str, records: list[bytes], compressed: bool) -> None:
    with tf.io.TFRecordWriter(path, options="GZIP" if compressed else None) as w:
        for r in records:
            w.write(r)


def _read(files: list[str], compressed: bool) -> list[bytes]:
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP" if compressed else "")
    return [r.numpy() for r in ds]


def _check_ids(batch, columns):
    """Exactly the columns asked for, a parsed `id` is each record's own, and
    the byte count is the records' own; passes the records on."""
    assert sorted(batch.columns) == sorted(columns)
    assert batch.num_bytes == sum(len(r) for r in batch.records.numpy())
    if "id" in columns:
        ids = [
            tf.train.Example.FromString(r).features.feature["id"].int64_list.value[0]
            for r in batch.records.numpy()
        ]
        np.testing.assert_array_equal(batch.columns["id"], ids)
    return batch.records


@pytest.mark.parametrize("compressed", [True, False])
def test_read_yields_every_record_once_in_file_order_and_write_round_trips(tmp_path, compressed):
    import apache_beam as beam

    from frontier.components.common.record_batches import ReadRecordBatches, WriteRecordBatches

    files = {f"f{j}": [_example(100 * j + i) for i in range(n)] for j, n in enumerate((25, 7, 0))}
    paths = []
    for name, records in files.items():
        paths.append(str(tmp_path / name))
        _write(paths[-1], records, compressed)
    sizes_file = str(tmp_path / "sizes.txt")
    out_prefix = str(tmp_path / "out" / "data")
    with beam.Pipeline() as p:  # DirectRunner
        # the compressed case parses a column, the other reads the records only
        columns = ("id",) if compressed else ()
        batches = p | ReadRecordBatches(
            paths, batch_size=10, compressed=compressed, int_columns=columns
        )
        _ = (
            batches
            | beam.Map(lambda b: int(b.records.shape[0]))
            | beam.combiners.ToList()
            | beam.Map(lambda sizes: ",".join(map(str, sorted(sizes))))
            | beam.io.WriteToText(sizes_file, shard_name_template="")
        )
        _ = (
            batches
            | beam.Map(_check_ids, columns)
            | WriteRecordBatches(out_prefix, ".gz" if compressed else "", compressed)
        )

    with open(sizes_file) as f:
        assert f.read().strip() == "5,7,10,10"  # per file: 10, 10, 5; 7; nothing for the empty one
    written = sorted(glob.glob(out_prefix + "*"))
    assert written and all("-of-" in os.path.basename(w) for w in written)
    got = _read(written, compressed)
    assert sorted(got) == sorted(files["f0"] + files["f1"])
    for records in files.values():  # each file's records keep their order
        positions = [got.index(r) for r in records]
        assert positions == sorted(positions)


def test_append_int_features_adds_columns_every_parser_reads():
    from frontier.components.common.record_batches import append_int_features

    records = [_example(i) for i in range(6)]
    teacher = np.array([3, 1, 3, 0, 1, 3])
    spl = np.array([7, 7, 2, 2, 7, 9])
    out = append_int_features(records, {"teacher_label": teacher, "spl_label": spl}).numpy()
    again = append_int_features(tf.constant(records), {"teacher_label": teacher, "spl_label": spl})
    assert out.tolist() == again.numpy().tolist()  # deterministic, list or tensor in
    spec = {k: tf.io.FixedLenFeature([], tf.int64) for k in ("id", "teacher_label", "spl_label")}
    parsed = tf.io.parse_example(out, spec)
    np.testing.assert_array_equal(parsed["id"], np.arange(6))
    np.testing.assert_array_equal(parsed["teacher_label"], teacher)
    np.testing.assert_array_equal(parsed["spl_label"], spl)
    for i, record in enumerate(out):  # the Python parser sees one merged map
        feature = tf.train.Example.FromString(record).features.feature
        assert sorted(feature) == ["id", "spl_label", "teacher_label", "x"]
        assert list(feature["x"].float_list.value) == [i / 2, -i]
        assert feature["teacher_label"].int64_list.value[:] == [teacher[i]]


def test_append_int_features_replaces_existing_keys_when_asked():
    from frontier.components.common.record_batches import append_int_features

    first = append_int_features([_example(1), _example(2)], {"teacher_label": np.array([4, 5])})
    again = append_int_features(first, {"teacher_label": np.array([6, 7])}, replace=True)
    for record, want in zip(again.numpy(), (6, 7), strict=True):
        example = tf.train.Example.FromString(record)
        assert example.features.feature["teacher_label"].int64_list.value[:] == [want]
        # re-serialized: one entry per key, no appended duplicate
        assert example.SerializeToString(deterministic=True) == record
    with pytest.raises(ValueError, match="3 records, 2 values"):
        append_int_features([_example(0)] * 3, {"teacher_label": np.array([1, 2])})
