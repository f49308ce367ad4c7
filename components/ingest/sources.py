"""Reading sources: listing files, checking columns, and one reader per format.

`plan_source(config)` looks at the source once, before any example is
written: it lists the files, checks that every configured column exists in
every file (naming the closest existing column when one is misspelled),
reads the first row to learn the feature lengths, and fails on an empty
source. The result, a `SourcePlan`, is small and picklable: Beam workers get
it together with one `Shard` (a file, or a row range of a built-in data set)
and `read_shard` yields that shard's rows as `RawRow`s with their provenance
(file and 1-based row). Turning a raw row into typed values is
`convert.convert_row`'s job.

Row numbers (`RawRow.row`, and `row` in errors) are 1-based: for CSV the line
number in the file (the header is line 1, so the first data row is 2); for
Parquet, NPZ and TFRecord the record's position in its file; for a built-in
data set the position in the data set; images have none (the file names them).

Paths go through `tf.io.gfile` when they are URIs (`gs://...`), through the
local file system otherwise.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import glob as globlib
import io
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    ROLE_KEYS,
    WEAK_LABEL_KEY,
    DatasetInfo,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GLOB_CHARS = re.compile(r"[*?\[]")


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


@dataclasses.dataclass(frozen=True)
class SourcePlan:
    """Everything a worker needs to read and convert rows (picklable).

    Attributes:
      format: the resolved format (never `auto`).
      source: the configured source string.
      root: directory that default example ids are relative to.
      shards: the reading work, in a fixed order.
      feature_columns: source column names of the features.
      feature_keys: the feature keys written (sanitised column names).
      feature_dims: the length of each feature (1 for a scalar column).
      label_column, weak_label_column, client_id_column, example_id_column:
        source columns of the roles (None when absent).
      class_names: class id i is `class_names[i]`.
      image_shape: (H, W, C) of image data, else None.
      color_mode: `grayscale` or `rgb` (images only).
      first_image: (relative path, width, height) of the image that fixed the
        size, to name it when another image differs.
      num_files: how many files the source has (1 for a built-in data set).
    """

    format: str
    source: str
    root: str
    shards: tuple[Shard, ...]
    feature_columns: tuple[str, ...]
    feature_keys: tuple[str, ...]
    feature_dims: tuple[int, ...]
    label_column: str
    weak_label_column: str | None
    client_id_column: str | None
    example_id_column: str | None
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] | None = None
    color_mode: str = spec.GRAYSCALE
    first_image: tuple[str, int, int] | None = None
    num_files: int = 1

    @property
    def role_keys(self) -> tuple[str, ...]:
        present = {LABEL_KEY, EXAMPLE_ID_KEY}
        if self.weak_label_column:
            present.add(WEAK_LABEL_KEY)
        if self.client_id_column:
            present.add(CLIENT_ID_KEY)
        return tuple(k for k in ROLE_KEYS if k in present)

    @property
    def needed_columns(self) -> tuple[str, ...]:
        """Source columns that rows must carry (features, then roles)."""
        roles = (
            self.label_column,
            self.weak_label_column,
            self.client_id_column,
            self.example_id_column,
        )
        return self.feature_columns + tuple(c for c in roles if c)

    def describe(self) -> str:
        if self.format == spec.SKLEARN:
            return self.source
        files = f" ({self.num_files} files)" if self.num_files > 1 else ""
        return f"{self.format}: {self.source}{files}"

    def dataset_info(
        self,
        split_counts: Mapping[str, int] | None = None,
        class_counts: Mapping[str, Sequence[int]] | None = None,
    ) -> DatasetInfo:
        return DatasetInfo(
            feature_keys=self.feature_keys,
            feature_dims=self.feature_dims,
            class_names=self.class_names,
            image_shape=self.image_shape,
            role_keys=self.role_keys,
            split_counts=dict(split_counts or {}),
            class_counts={k: tuple(int(c) for c in v) for k, v in (class_counts or {}).items()},
            source=self.describe(),
        )


# -- file system ---------------------------------------------------------------


def _remote(path: str) -> bool:
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _exists(path: str) -> bool:
    return _gfile().exists(path) if _remote(path) else os.path.exists(path)


def _isdir(path: str) -> bool:
    return _gfile().isdir(path) if _remote(path) else os.path.isdir(path)


def _listdir(path: str) -> list[str]:
    names = _gfile().listdir(path) if _remote(path) else os.listdir(path)
    return sorted(n.rstrip("/") for n in names if not n.startswith("."))


def _glob(pattern: str) -> list[str]:
    found = _gfile().glob(pattern) if _remote(pattern) else globlib.glob(pattern)
    return sorted(p for p in found if not _isdir(p))


def _open(path: str, mode: str = "rb"):
    if _remote(path):
        return _gfile().GFile(path, mode)
    if "b" in mode:
        return open(path, mode)
    return open(path, mode, newline="", encoding="utf-8-sig")


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(path, root) if root else os.path.basename(path)
    return rel.replace(os.sep, "/")


# -- keys and column checks -----------------------------------------------------


def sanitize_key(name: str) -> str:
    """A feature key from a column name: runs of characters other than
    letters, digits and `_` become one `_`; a leading digit gets an `f_` prefix.

    >>> sanitize_key("sepal length (cm)")
    'sepal_length_cm'
    """
    key = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")
    if key and key[0].isdigit():
        key = "f_" + key
    return key


def _feature_keys(columns: Sequence[str]) -> tuple[str, ...]:
    keys: dict[str, str] = {}
    for col in columns:
        key = sanitize_key(col)
        if not key:
            raise InputError(
                "column name has no letter or digit",
                column=col,
                expected="a feature column whose name makes a valid feature key",
            )
        if key in ROLE_KEYS:
            raise InputError(
                f"feature column would become the reserved key {key!r}",
                column=col,
                expected=f"feature columns not named like a role key {list(ROLE_KEYS)}",
            )
        if key in keys:
            raise InputError(
                f"columns {keys[key]!r} and {col!r} both become the feature key {key!r}",
                column=col,
                expected="feature column names that differ in letters or digits",
            )
        keys[key] = col
    return tuple(keys)


def _param_of(config: spec.IngestConfig, column: str) -> str:
    for key, value in (
        (spec.LABEL_COLUMN_KEY, config.label_column),
        (spec.WEAK_LABEL_COLUMN_KEY, config.weak_label_column),
        (spec.CLIENT_ID_COLUMN_KEY, config.client_id_column),
        (spec.EXAMPLE_ID_COLUMN_KEY, config.example_id_column),
    ):
        if value == column:
            return key
    return spec.FEATURE_COLUMNS_KEY


def _short_list(names: Sequence[str], limit: int = 30) -> str:
    shown = [str(n) for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown}{more}"


def check_columns(
    file: str,
    available: Sequence[str],
    needed: Sequence[str],
    config: spec.IngestConfig,
    kind: str = "column",
) -> None:
    """Raises `InputError` for the first needed column missing from `available`,
    naming the parameter that asked for it, the closest existing name and the
    names that exist."""
    have = set(available)
    for col in needed:
        if col in have:
            continue
        close = difflib.get_close_matches(col, [str(a) for a in available], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"no such {kind} (named in {_param_of(config, col)}){hint}",
            file=file,
            column=col,
            expected=f"one of the {kind}s in the file: {_short_list(list(available))}",
        )


# -- listing -------------------------------------------------------------------


def _list_source(config: spec.IngestConfig) -> tuple[str, str, list[str]]:
    """Resolves the format and lists files: (format, root, files).

    For an image folder `files` are the class sub-folders.
    """
    source = config.source
    fmt = config.format_from_name()
    expected = "an existing file, directory, or a glob that matches files"
    if _GLOB_CHARS.search(source):
        files = _glob(source)
        if not files:
            raise InputError("no file matches this pattern", file=source, expected=expected)
        prefix = _GLOB_CHARS.split(source, maxsplit=1)[0]
        root = prefix if prefix.endswith(("/", os.sep)) else os.path.dirname(prefix)
    elif _isdir(source):
        root = source
        entries = _listdir(source)
        subdirs = [e for e in entries if _isdir(os.path.join(source, e))]
        # Marker files such as _SUCCESS are not data.
        files = [
            os.path.join(source, e) for e in entries if e not in subdirs and not e.startswith("_")
        ]
        if fmt == spec.AUTO:
            data_files = [f for f in files if spec.format_of_file_name(f)]
            if data_files or not subdirs:
                files = data_files
            else:
                fmt = spec.IMAGES
        if fmt == spec.IMAGES:
            if not subdirs:
                raise InputError(
                    "image folder has no sub-folders",
                    file=source,
                    expected="one sub-folder of images per class",
                )
            if config.format == spec.AUTO:
                dataclasses.replace(config, format=fmt).validate()
            return fmt, root, [os.path.join(source, d) for d in subdirs]
        if not files:
            raise InputError(
                "directory holds no data files"
                + (f" of format {fmt!r}" if fmt != spec.AUTO else ""),
                file=source,
                expected="at least one data file (csv, parquet, npz, tfrecord) or one sub-folder per class",
            )
    elif _exists(source):
        root = os.path.dirname(source)
        files = [source]
        if fmt == spec.IMAGES:
            raise InputError(
                "is a file", file=source, expected="a directory with one sub-folder per class"
            )
    else:
        raise InputError("no such file or directory", file=source, expected=expected)

    if fmt == spec.AUTO:
        found = {f: spec.format_of_file_name(f) for f in files}
        unknown = [f for f, k in found.items() if k is None]
        if unknown:
            raise InputError(
                "cannot tell the format from the file extension",
                file=unknown[0],
                column=spec.FORMAT_KEY,
                expected="a known extension (.csv, .parquet, .npz, .tfrecord[.gz]) or an explicit format",
            )
        kinds = sorted(set(found.values()))
        if len(kinds) > 1:
            raise InputError(
                f"files of several formats {kinds} in one source",
                file=source,
                column=spec.FORMAT_KEY,
                expected="one format per source (use a glob such as *.csv)",
            )
        fmt = kinds[0]
        # Checks that could not be made from the source string alone.
        dataclasses.replace(config, format=fmt).validate()
    return fmt, root, files


# -- planning ------------------------------------------------------------------


def plan_source(config: spec.IngestConfig) -> SourcePlan:
    """Looks at the source and returns what the readers need.

    Raises:
      InputError: a missing file or directory, a missing or misspelled column
        (in any file), a file with no header, a first row that does not parse,
        images that cannot be read, or a source with no rows.
    """
    config.validate()
    if config.sklearn_name is not None:
        return _plan_sklearn(config)
    fmt, root, files = _list_source(config)
    if fmt == spec.IMAGES:
        return _plan_images(config, root, files)
    if fmt == spec.NPZ:
        return _plan_npz(config, root, files)

    feature_columns = tuple(config.feature_columns or ())
    base = SourcePlan(
        format=fmt,
        source=config.source,
        root=root,
        shards=tuple(Shard(f) for f in files),
        feature_columns=feature_columns,
        feature_keys=_feature_keys(feature_columns),
        feature_dims=tuple(1 for _ in feature_columns),
        label_column=config.label_column,
        weak_label_column=config.weak_label_column,
        client_id_column=config.client_id_column,
        example_id_column=config.example_id_column,
        class_names=tuple(config.classes or ()),
        num_files=len(files),
    )
    needed = base.needed_columns
    for f in files:
        if fmt == spec.CSV:
            check_columns(f, _csv_header(f), needed, config)
        elif fmt == spec.PARQUET:
            check_columns(f, _parquet_columns(f), needed, config)
        elif fmt == spec.TFRECORD:
            first = next(_tfrecord_examples(f), None)
            if first is not None:
                check_columns(f, sorted(first[1].features.feature), needed, config, kind="feature")
    first_row = None
    for shard in base.shards:
        first_row = next(read_shard(base, shard), None)
        if first_row is not None:
            break
    if first_row is None:
        raise InputError(
            "the source has no rows", file=config.source, expected="at least one example"
        )
    dims = tuple(_value_size(first_row.values.get(c, MISSING)) for c in feature_columns)
    return dataclasses.replace(base, feature_dims=dims)


def _value_size(value: Any) -> int:
    if isinstance(value, (list, tuple, np.ndarray)):
        return max(int(np.size(value)), 1)
    return 1


def _plan_sklearn(config: spec.IngestConfig) -> SourcePlan:
    name = config.sklearn_name
    data, _, target_names, feature_names = _load_sklearn(name)
    keys = _feature_keys(feature_names)
    if config.feature_columns is None:
        feature_columns = keys
    else:
        check_columns(config.source, keys, config.feature_columns, config, kind="feature")
        feature_columns = tuple(config.feature_columns)
    if config.classes is not None and tuple(config.classes) != target_names:
        raise InputError(
            f"declared classes {list(config.classes)} differ from the data set's",
            file=config.source,
            column=spec.CLASSES_KEY,
            expected=f"classes=None or {list(target_names)}",
        )
    image_shape = (8, 8, 1) if name == "digits" and feature_columns == keys else None
    n = data.shape[0]
    step = 1024
    return SourcePlan(
        format=spec.SKLEARN,
        source=config.source,
        root="",
        shards=tuple(Shard(config.source, s, min(s + step, n)) for s in range(0, n, step)),
        feature_columns=feature_columns,
        feature_keys=feature_columns,
        feature_dims=tuple(1 for _ in feature_columns),
        label_column=LABEL_KEY,
        weak_label_column=None,
        client_id_column=None,
        example_id_column=None,
        class_names=target_names,
        image_shape=image_shape,
    )


def _plan_images(config: spec.IngestConfig, root: str, class_dirs: list[str]) -> SourcePlan:
    folders = [os.path.basename(d.rstrip("/")) for d in class_dirs]
    if config.classes is not None:
        if sorted(config.classes) != sorted(folders):
            raise InputError(
                f"declared classes {list(config.classes)} differ from the sub-folders {folders}",
                file=root,
                column=spec.CLASSES_KEY,
                expected="classes=None (the sorted sub-folder names) or exactly the sub-folder names",
            )
        class_names = tuple(config.classes)
    else:
        class_names = tuple(folders)
    files = []
    for d in class_dirs:
        files += [os.path.join(d, n) for n in _listdir(d) if n.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise InputError(
            "the image folder has no images",
            file=root,
            expected=f"image files ({', '.join(IMAGE_EXTENSIONS)}) in one sub-folder per class",
        )
    first = files[0]
    with _open_image(first) as img:
        width, height = img.size
    channels = 1 if config.color_mode == spec.GRAYSCALE else 3
    return SourcePlan(
        format=spec.IMAGES,
        source=config.source,
        root=root,
        shards=tuple(Shard(f) for f in files),
        feature_columns=(spec.IMAGE_FEATURE_KEY,),
        feature_keys=(spec.IMAGE_FEATURE_KEY,),
        feature_dims=(height * width * channels,),
        label_column=LABEL_KEY,
        weak_label_column=None,
        client_id_column=None,
        example_id_column=None,
        class_names=class_names,
        image_shape=(height, width, channels),
        color_mode=config.color_mode,
        first_image=(_relative(first, root), width, height),
        num_files=len(files),
    )


def _plan_npz(config: spec.IngestConfig, root: str, files: list[str]) -> SourcePlan:
    feature_columns = tuple(config.feature_columns or spec.NPZ_DEFAULT_FEATURE_ARRAYS)
    plan = SourcePlan(
        format=spec.NPZ,
        source=config.source,
        root=root,
        shards=tuple(Shard(f) for f in files),
        feature_columns=feature_columns,
        feature_keys=_feature_keys(feature_columns),
        feature_dims=tuple(1 for _ in feature_columns),
        label_column=config.label_column,
        weak_label_column=config.weak_label_column,
        client_id_column=config.client_id_column,
        example_id_column=config.example_id_column,
        class_names=tuple(config.classes or ()),
        num_files=len(files),
    )
    shapes: dict[str, tuple[int, ...]] = {}
    first_file: dict[str, str] = {}
    total = 0
    for f in files:
        arrays = _load_npz(f)
        check_columns(f, sorted(arrays), plan.needed_columns, config, kind="array")
        n = None
        for col in plan.needed_columns:
            arr = arrays[col]
            if arr.ndim == 0:
                raise InputError(
                    "array is a scalar", file=f, column=col, expected="an array of shape (N, ...)"
                )
            if n is None:
                n, n_col = arr.shape[0], col
            elif arr.shape[0] != n:
                raise InputError(
                    f"array has {arr.shape[0]} rows but {n_col!r} has {n}",
                    file=f,
                    column=col,
                    expected="the same number of rows (first axis) in every array",
                )
            if col in feature_columns:
                if col in shapes and shapes[col] != arr.shape[1:]:
                    raise InputError(
                        f"rows have shape {arr.shape[1:]} but {shapes[col]} in {first_file[col]}",
                        file=f,
                        column=col,
                        expected="the same row shape in every file",
                    )
                shapes.setdefault(col, arr.shape[1:])
                first_file.setdefault(col, f)
            elif arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 1):
                raise InputError(
                    f"role array has shape {arr.shape}",
                    file=f,
                    column=col,
                    expected="shape (N,) or (N, 1): one value per row",
                )
        total += n or 0
    if total == 0:
        raise InputError(
            "the source has no rows", file=config.source, expected="at least one example"
        )
    dims = tuple(int(np.prod(shapes[c], dtype=np.int64)) for c in feature_columns)
    image_shape = None
    if len(feature_columns) == 1:
        shape = shapes[feature_columns[0]]
        if len(shape) == 2:
            image_shape = (shape[0], shape[1], 1)
        elif len(shape) == 3:
            image_shape = tuple(shape)
    return dataclasses.replace(plan, feature_dims=dims, image_shape=image_shape)


# -- readers -------------------------------------------------------------------


def read_shard(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    """Yields the raw rows of one shard, in file order."""
    readers = {
        spec.CSV: _read_csv,
        spec.PARQUET: _read_parquet,
        spec.NPZ: _read_npz,
        spec.TFRECORD: _read_tfrecord,
        spec.IMAGES: _read_image,
        spec.SKLEARN: _read_sklearn,
    }
    return readers[plan.format](plan, shard)


def _csv_header(path: str) -> list[str]:
    with _open(path, "r") as f:
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


def _text(f):
    """Text lines from a local text file or a (binary-capable) GFile."""
    if isinstance(f, io.TextIOBase):
        return f
    return (line if isinstance(line, str) else line.decode("utf-8") for line in f)


def _read_csv(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = _relative(path, plan.root)
    with _open(path, "r") as f:
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


def _parquet_columns(path: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        with _open(path, "rb") as f:
            return list(pq.read_schema(f).names)
    except Exception as e:  # pyarrow raises its own types for corrupt files
        raise InputError(
            f"cannot be read as Parquet ({e})", file=path, expected="a Parquet file"
        ) from e


def _read_parquet(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    path = shard.path
    rel = _relative(path, plan.root)
    row = 0
    with _open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        cols = [c for c in plan.needed_columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=4096, columns=cols):
            for values in batch.to_pylist():
                row += 1
                yield RawRow(path, row, values, f"{rel}#{row}")


def _load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with _open(path, "rb") as f:
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except InputError:
        raise
    except Exception as e:
        raise InputError(
            f"cannot be read as NPZ ({e})",
            file=path,
            expected="a NumPy .npz archive of arrays (no pickled objects)",
        ) from e


def _read_npz(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = _relative(path, plan.root)
    arrays = _load_npz(path)
    cols = [c for c in plan.needed_columns if c in arrays]
    n = arrays[cols[0]].shape[0] if cols else 0
    for i in range(n):
        yield RawRow(path, i + 1, {c: arrays[c][i] for c in cols}, f"{rel}#{i + 1}")


def _tfrecord_examples(path: str) -> Iterator[tuple[int, Any]]:
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
    rel = _relative(path, plan.root)
    for row, example in _tfrecord_examples(path):
        feats = example.features.feature
        values = {
            c: _feature_values(feats[c]) if c in feats else MISSING for c in plan.needed_columns
        }
        yield RawRow(path, row, values, f"{rel}#{row}")


def _open_image(path: str):
    from PIL import Image

    try:
        with _open(path, "rb") as f:
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
    rel = _relative(path, plan.root)
    with _open_image(path) as img:
        height, width, channels = plan.image_shape
        if img.size != (width, height):
            first, w0, h0 = plan.first_image
            raise InputError(
                f"image is {img.size[0]}x{img.size[1]} pixels (width x height) but {first} is {w0}x{h0}",
                file=path,
                expected="all images of the same size (resize them first)",
            )
        pixels = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    image = pixels.reshape(height, width, channels).astype(np.float32) / 255.0
    label = rel.split("/")[0]
    yield RawRow(path, None, {spec.IMAGE_FEATURE_KEY: image, LABEL_KEY: label}, rel)


@functools.lru_cache(maxsize=4)
def _load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(data [N, D] float64, target [N] int, target names, sanitised feature names)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = tuple(sanitize_key(n) for n in bunch.feature_names)
    return bunch.data, bunch.target, tuple(str(t) for t in bunch.target_names), names


def _read_sklearn(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    name = shard.path[len(spec.SKLEARN_PREFIX) :]
    data, target, target_names, feature_names = _load_sklearn(name)
    index = {n: j for j, n in enumerate(feature_names)}
    cols = [(c, index[c]) for c in plan.feature_columns]
    stop = data.shape[0] if shard.stop is None else shard.stop
    for i in range(shard.start, stop):
        values = {c: float(data[i, j]) for c, j in cols}
        values[LABEL_KEY] = target_names[int(target[i])]
        yield RawRow(shard.path, i + 1, values, f"{name}#{i + 1}")
