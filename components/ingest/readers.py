"""One reader per format: a shard of a planned source -> `RawRow`s.

`read_shard(plan, shard)` yields the rows of one `Shard` (a file, or a row
range of a built-in data set) with their provenance (file and 1-based row).
Turning a raw row into typed values is `convert.convert_row`'s job; deciding
what to read is `plan.plan_source`'s. The header helpers here
(`csv_header`, `parquet_columns`, `tfrecord_examples`, `npz_headers`,
`open_image`, `load_sklearn`) are what planning looks at.

Row numbers (`RawRow.row`, and `row` in errors) are 1-based: for CSV the line
number in the file (the header is line 1, so the first data row is 2); for
Parquet, NPZ and TFRecord the record's position in its file; for a built-in
data set the position in the data set; images have none (the file names them).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.components.ingest.files import open_file, relative, sanitize_key
from frontier.schemas.dataset import LABEL_KEY

if TYPE_CHECKING:  # plan.py imports this module
    from frontier.components.ingest.plan import SourcePlan


class _Missing:
    """Marks a column absent from one record (TFRecord features are per record)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclasses.dataclass(frozen=True)
class RawRow:
    """One source row before conversion.

    Attributes:
      file: the file it came from (`sklearn:<name>` for built-in data).
      row: 1-based row (see the module docstring), None for an image.
      values: source column name -> raw value (str for CSV, Python values for
        Parquet, NumPy values for NPZ, value lists for TFRecord, a float32
        [H, W, C] array in [0, 1] for an image); `MISSING` where a record
        lacks a column.
      default_id: the example id used when no example-id column is given:
        `<file relative to the source root>#<row>` or the image's relative path.
    """

    file: str
    row: int | None
    values: Mapping[str, Any]
    default_id: str


@dataclasses.dataclass(frozen=True)
class Shard:
    """One unit of reading work: a file, or rows [start, stop) of a built-in data set."""

    path: str
    start: int = 0
    stop: int | None = None


def read_shard(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    """Yields the raw rows of one shard, in file order.

    Raises:
      InputError: a file that cannot be read in the plan's format, a CSV line
        with the wrong number of fields, an image of another size.
    """
    readers = {
        spec.CSV: _read_csv,
        spec.PARQUET: _read_parquet,
        spec.NPZ: _read_npz,
        spec.TFRECORD: _read_tfrecord,
        spec.IMAGES: _read_image,
        spec.SKLEARN: _read_sklearn,
    }
    return readers[plan.format](plan, shard)


# -- CSV -----------------------------------------------------------------------


def _text(f):
    """Text lines from a local text file or a (binary-capable) GFile."""
    if isinstance(f, io.TextIOBase):
        return f
    return (line if isinstance(line, str) else line.decode("utf-8") for line in f)


def csv_header(path: str) -> list[str]:
    """The column names of a CSV file.

    Raises:
      InputError: an empty file or a header naming a column twice.
    """
    with open_file(path, "r") as f:
        header = next(csv.reader(_text(f)), None)
    if not header:
        raise InputError(
            "file is empty (no header line)",
            file=path,
            row=1,
            expected="a header line naming the columns",
        )
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(
            f"header names columns {dup} more than once",
            file=path,
            row=1,
            expected="distinct column names",
        )
    return header


def _read_csv(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = relative(path, plan.root)
    with open_file(path, "r") as f:
        reader = csv.reader(_text(f))
        header = next(reader, None)
        if not header:
            return
        index = {name: i for i, name in enumerate(header)}
        cols = [(c, index[c]) for c in plan.needed_columns if c in index]
        for fields in reader:
            line = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if len(fields) != len(header):
                raise InputError(
                    f"{len(fields)} fields",
                    file=path,
                    row=line,
                    expected=f"{len(header)} fields, as in the header",
                )
            yield RawRow(path, line, {c: fields[i] for c, i in cols}, f"{rel}#{line}")


# -- Parquet -------------------------------------------------------------------


def parquet_columns(path: str) -> list[str]:
    """The column names of a Parquet file (from its footer only).

    Raises:
      InputError: a file that is not Parquet.
    """
    import pyarrow.parquet as pq

    try:
        with open_file(path, "rb") as f:
            return list(pq.read_schema(f).names)
    except Exception as e:  # pyarrow raises its own types for corrupt files
        raise InputError(
            f"cannot be read as Parquet ({e})", file=path, expected="a Parquet file"
        ) from e


def _read_parquet(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    path = shard.path
    rel = relative(path, plan.root)
    row = 0
    with open_file(path, "rb") as f:
        pf = pq.ParquetFile(f)
        cols = [c for c in plan.needed_columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=4096, columns=cols):
            for values in batch.to_pylist():
                row += 1
                yield RawRow(path, row, values, f"{rel}#{row}")


# -- NPZ -----------------------------------------------------------------------

_NPZ_EXPECTED = "a NumPy .npz archive of numeric or string arrays (no pickled objects)"


def _npz_error(path: str, e: Exception, column: str | None = None) -> InputError:
    return InputError(
        f"cannot be read as NPZ ({e})", file=path, column=column, expected=_NPZ_EXPECTED
    )


def _npy_header(member) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) from the header of an open `.npy` stream, or None for a
    header version that NumPy reads only privately (3.0)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        return None
    return tuple(int(d) for d in shape), dtype


def npz_headers(
    path: str, names: Sequence[str]
) -> tuple[list[str], dict[str, tuple[tuple[int, ...], np.dtype]]]:
    """The array names of an .npz archive, and the shape and dtype of those of
    `names` that it holds, read from the `.npy` headers: no array is
    decompressed beyond its first few hundred bytes.

    Returns:
      (all array names, {name: (shape, dtype)} for the requested names present).

    Raises:
      InputError: a file that is not an .npz archive, an unreadable member, or
        an array of Python objects.
    """
    try:
        with open_file(path, "rb") as f, zipfile.ZipFile(f) as zf:
            members = {m[:-4] if m.endswith(".npy") else m: m for m in zf.namelist()}
            headers = {}
            for name in names:
                if name not in members:
                    continue
                try:
                    with zf.open(members[name]) as member:
                        header = _npy_header(member)
                    if header is None:  # a rare header version: load that one array
                        with zf.open(members[name]) as member:
                            arr = np.lib.format.read_array(member, allow_pickle=False)
                        header = arr.shape, arr.dtype
                except Exception as e:
                    raise _npz_error(path, e, name) from e
                if header[1].hasobject:
                    raise InputError(
                        "array holds Python objects", file=path, column=name, expected=_NPZ_EXPECTED
                    )
                headers[name] = header
            return sorted(members), headers
    except InputError:
        raise
    except Exception as e:
        raise _npz_error(path, e) from e


def _load_npz(path: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `names` (those present) of an .npz archive; the others stay compressed."""
    try:
        with open_file(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in names if k in z.files}
    except Exception as e:
        raise _npz_error(path, e) from e


def _read_npz(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = relative(path, plan.root)
    arrays = _load_npz(path, plan.needed_columns)
    cols = list(arrays)
    n = arrays[cols[0]].shape[0] if cols else 0
    for i in range(n):
        yield RawRow(path, i + 1, {c: arrays[c][i] for c in cols}, f"{rel}#{i + 1}")


# -- TFRecord ------------------------------------------------------------------


def tfrecord_examples(path: str) -> Iterator[tuple[int, Any]]:
    """(1-based record number, `tf.train.Example`) of a TFRecord file
    (gzip-compressed when its name ends in `.gz`).

    Raises:
      InputError: a file that is not TFRecord, a record that is not an Example.
    """
    import tensorflow as tf

    compression = "GZIP" if path.lower().endswith(".gz") else ""
    try:
        for i, record in enumerate(
            tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator()
        ):
            try:
                example = tf.train.Example.FromString(record)
            except Exception as e:
                raise InputError(
                    f"record is not a tf.train.Example ({e})",
                    file=path,
                    row=i + 1,
                    expected="serialized tf.train.Example records",
                ) from e
            yield i + 1, example
    except tf.errors.OpError as e:
        raise InputError(
            f"cannot be read as TFRecord ({e.message})",
            file=path,
            expected="a TFRecord file (gzip-compressed when its name ends in .gz)",
        ) from e


def _feature_values(feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _read_tfrecord(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = relative(path, plan.root)
    for row, example in tfrecord_examples(path):
        feats = example.features.feature
        values = {
            c: _feature_values(feats[c]) if c in feats else MISSING for c in plan.needed_columns
        }
        yield RawRow(path, row, values, f"{rel}#{row}")


# -- images --------------------------------------------------------------------


def open_image(path: str):
    """A loaded Pillow image.

    Raises:
      InputError: a file that Pillow cannot read.
    """
    from PIL import Image

    try:
        with open_file(path, "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data))
        img.load()
        return img
    except Exception as e:
        raise InputError(
            f"cannot be read as an image ({e})",
            file=path,
            expected="an image file that Pillow can read",
        ) from e


def _read_image(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = relative(path, plan.root)
    with open_image(path) as img:
        height, width, channels = plan.image_shape
        if img.size != (width, height):
            first, w0, h0 = plan.first_image
            raise InputError(
                f"image is {img.size[0]}x{img.size[1]} pixels (width x height) "
                f"but {first} is {w0}x{h0}",
                file=path,
                expected="all images of the same size (resize them first)",
            )
        pixels = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    image = pixels.reshape(height, width, channels).astype(np.float32) / 255.0
    label = rel.split("/")[0]
    yield RawRow(path, None, {spec.IMAGE_FEATURE_KEY: image, LABEL_KEY: label}, rel)


# -- scikit-learn data sets -------------------------------------------------------


@functools.lru_cache(maxsize=4)
def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(data [N, D] float64, target [N] int, target names, sanitised feature names)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = tuple(sanitize_key(n) for n in bunch.feature_names)
    return bunch.data, bunch.target, tuple(str(t) for t in bunch.target_names), names


def _read_sklearn(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    name = shard.path[len(spec.SKLEARN_PREFIX) :]
    data, target, target_names, feature_names = load_sklearn(name)
    index = {n: j for j, n in enumerate(feature_names)}
    cols = [(c, index[c]) for c in plan.feature_columns]
    stop = data.shape[0] if shard.stop is None else shard.stop
    for i in range(shard.start, stop):
        values = {c: float(data[i, j]) for c, j in cols}
        values[LABEL_KEY] = target_names[int(target[i])]
        yield RawRow(shard.path, i + 1, values, f"{name}#{i + 1}")
