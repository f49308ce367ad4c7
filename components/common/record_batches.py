"""TFRecord files as Beam PCollections of record *batches*, read and written.

Why batches: Beam's Python SDK costs a few microseconds per element and per
transform (tens of microseconds for a read, a `RunInference` and a parse per
record on the DirectRunner), which is more than a small model's whole
inference per example. `ReadRecordBatches` makes each element a
`RecordBatch` of up to `batch_size` serialized records (a string tensor)
and the int64 columns asked for, read and parsed by `tf.data` (C++:
framing, CRC checks, GZIP, `tf.io.parse_example`) in TensorFlow's threads
ahead of the pipeline, so a pipeline pays Beam's costs once per batch and
the work per record is vectorised. `WriteRecordBatches` writes such batches
through Beam's file sink (temporary files, then a rename on finalisation, as
`WriteToTFRecord` does), each file written by TensorFlow's `TFRecordWriter`.

Parallelism is per file: the matched files are redistributed (`Reshuffle`)
before they are read, so a distributed runner reads several at once; a split
that is one huge file is read by one worker. frontier's and stock TFX's
example writers shard splits into several files. Each file costs about
30 ms on top of its records (making its `tf.data` dataset, the parse map and
the iterator; measured on a 2-core machine), 1.5 microseconds a record in
files of 20,000 records: files of a few thousand records waste time on it.

`append_int_features` adds int64 columns to serialized `tf.Example`s without
parsing them: by the protocol buffer wire format, a serialized message
followed by another is the serialization of their merge, so appending a
serialized `Example` that holds only the new features adds them. That costs
a bytes concatenation per record instead of a parse and a re-serialization
(about 20 microseconds per record in Python). The columns must be new: a
key present twice reads as its last value in protobuf but is logged as data
loss by TensorFlow's parser, so records that may already hold a key are
parsed and re-serialized instead (`replace=True`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes

from frontier.components.common.streaming import PREFETCH_BATCHES  # batches read ahead

DEFAULT_BATCH_SIZE = 256  # records per element


class RecordBatch(NamedTuple):
    """Up to `batch_size` records of one file, in file order.

    Attributes:
      records: the serialized records, a string `tf.Tensor` [B] (kept as a
        tensor: converting them to Python bytes costs about a microsecond a
        record, and a model takes the tensor as it is; `.numpy()` gives an
        object array of bytes).
      columns: the scalar int64 columns asked for, key -> int64 [B].
      num_bytes: the records' total size in bytes (serialized, before
        compression), counted by the reader in `tf.data`'s threads: Beam's
        `RunInference` asks every batch for it (a metric), and counting it
        then, with eager TensorFlow ops in the pipeline's thread, cost about
        3 microseconds a record (`benchmarks/spl_labeler.py`).
    """

    records: Any
    columns: dict[str, np.ndarray]
    num_bytes: int


class _ReadBatches(beam.DoFn):
    """File path -> `RecordBatch`es."""

    def __init__(self, batch_size: int, compressed: bool, int_columns: Sequence[str]) -> None:
        self._batch_size, self._compressed = int(batch_size), compressed
        self._int_columns = tuple(int_columns)

    def process(self, path: str) -> Iterator[RecordBatch]:
        import tensorflow as tf

        spec = {key: tf.io.FixedLenFeature([], tf.int64) for key in self._int_columns}
        ds = tf.data.TFRecordDataset(path, compression_type="GZIP" if self._compressed else "")

        def parse(records):
            size = tf.reduce_sum(tf.cast(tf.strings.length(records), tf.int64))
            return records, tf.io.parse_example(records, spec) if spec else {}, size

        # Prefetching reads and parses the next batches in TensorFlow's threads
        # while Beam runs this one through the pipeline.
        for records, columns, size in (
            ds.batch(self._batch_size).map(parse).prefetch(PREFETCH_BATCHES)
        ):
            yield RecordBatch(records, {k: v.numpy() for k, v in columns.items()}, int(size))


@beam.ptransform_fn
def ReadRecordBatches(  # noqa: N802 - Beam's PTransform naming
    pbegin: beam.pvalue.PBegin,
    files: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    compressed: bool = True,
    int_columns: Sequence[str] = (),
) -> beam.PCollection:
    """The records of `files` (GZIP TFRecords, or uncompressed ones with
    `compressed=False`) as `RecordBatch`es of up to `batch_size` records, with
    the scalar int64 `int_columns` of serialized `tf.Example`s parsed (every
    record must hold them).

    Records keep their file's order inside a file; batches of different files
    may arrive in any order."""
    return (
        pbegin
        | "Files" >> beam.Create(list(files))
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(_ReadBatches(batch_size, compressed, int_columns))
    )


class _RecordBatchSink(filebasedsink.FileBasedSink):
    """Beam's file sink (temporary files, renamed when the pipeline succeeds)
    over batches of records, each temporary file written by TensorFlow's
    `TFRecordWriter`: framing, CRCs and GZIP in C++, on any file system
    TensorFlow reads (local, gs://)."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str, compressed: bool) -> None:
        super().__init__(
            file_path_prefix,
            coder=beam.coders.BytesCoder(),  # unused: `write_record` takes whole batches
            file_name_suffix=file_name_suffix,
            compression_type=CompressionTypes.UNCOMPRESSED,  # the writer compresses
        )
        self._compressed = compressed

    def open(self, temp_path: str):
        import tensorflow as tf

        return tf.io.TFRecordWriter(temp_path, options="GZIP" if self._compressed else None)

    def write_record(self, file_handle, value) -> None:
        if hasattr(value, "numpy"):  # a string tensor
            value = value.numpy()
        for record in value:
            file_handle.write(record)

    def close(self, file_handle) -> None:
        file_handle.close()


@beam.ptransform_fn
def WriteRecordBatches(  # noqa: N802 - Beam's PTransform naming
    batches: beam.PCollection,
    file_path_prefix: str,
    file_name_suffix: str = "",
    compressed: bool = True,
) -> beam.PCollection:
    """Writes batches of serialized records (a string tensor [B] or any
    iterable of bytes per element) as TFRecord files
    `<prefix>-SSSSS-of-NNNNN<suffix>`, GZIP unless `compressed=False`; the
    files appear only when the pipeline succeeds."""
    return batches | "Write" >> beam.io.Write(
        _RecordBatchSink(file_path_prefix, file_name_suffix, compressed)
    )


@functools.lru_cache(maxsize=4096)
def _features_only(keys: tuple[str, ...], values: tuple[int, ...]) -> bytes:
    """A serialized `tf.Example` holding only int64 scalars keys -> values."""
    import tensorflow as tf

    example = tf.train.Example()
    for key, value in zip(keys, values, strict=True):
        example.features.feature[key].int64_list.value[:] = [int(value)]
    return example.SerializeToString(deterministic=True)


def append_int_features(
    records: Any,
    columns: Mapping[str, np.ndarray],
    replace: bool = False,
) -> Any:
    """Each serialized `tf.Example` with int64 scalar columns added.

    Args:
      records: serialized examples [B]: a string tensor or a sequence of bytes.
      columns: key -> int values [B].
      replace: the records may already hold some of the keys: parse each
        record, set the keys and re-serialize (deterministic). Otherwise the
        keys must be new, and each record gets a serialized `Example` of the
        new columns appended (see the module docstring): one string join in
        TensorFlow, the bytes of each distinct row of values built once.

    Returns:
      The serialized examples, a string tensor [B], in order; the same inputs
      give the same bytes.
    """
    import tensorflow as tf

    keys = tuple(columns)
    values = np.stack([np.asarray(columns[k], np.int64) for k in keys], axis=1)
    records = tf.convert_to_tensor(records, tf.string)
    if records.shape[0] != len(values):
        raise ValueError(f"append_int_features: {records.shape[0]} records, {len(values)} values")
    if len(values) == 0:
        return records
    if replace:
        out = []
        for record, row in zip(records.numpy(), values, strict=True):
            example = tf.train.Example.FromString(record)
            for key, value in zip(keys, row, strict=True):
                example.features.feature[key].int64_list.value[:] = [int(value)]
            out.append(example.SerializeToString(deterministic=True))
        return tf.constant(out, tf.string)
    rows, index = np.unique(values, axis=0, return_inverse=True)
    suffixes = tf.constant([_features_only(keys, tuple(row)) for row in rows.tolist()])
    return tf.strings.join([records, tf.gather(suffixes, index.reshape(-1))])
