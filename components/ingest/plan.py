"""Planning: looking at a source once, before any example is written.

`plan_source(config)` lists the files (`files.list_source`), checks that
every configured column exists in every file (naming the closest existing
column when one is misspelled), learns the feature lengths (from the first
row; for NPZ from the `.npy` headers), and fails on an empty source. The
result, a `SourcePlan`, is small and picklable: Beam workers get it together
with one `Shard` and `readers.read_shard` yields that shard's rows.

With label noise on, planning also checks what noise needs: a label column in
every file (named as the reason when it is missing), no `true_label` column
already in the data (noise is added once, to clean labels), and two or more
classes.

With a client partition on, planning refuses data that already has a
`client_id` column (name it in `client_id_column` to use those clients).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.components.ingest.clients import ClientPartition, client_partition_of
from frontier.components.ingest.files import (
    IMAGE_EXTENSIONS,
    check_columns,
    feature_keys,
    list_source,
    listdir,
    relative,
)
from frontier.components.ingest.noise import LabelNoise, check_noise_classes, label_noise_of
from frontier.components.ingest.readers import (
    MISSING,
    Shard,
    csv_header,
    image_pixels,
    load_sklearn,
    npz_headers,
    parquet_columns,
    read_shard,
    tfrecord_examples,
)
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    MAX_UINT8,
    ROLE_KEYS,
    TRUE_LABEL_KEY,
    UINT8_ENCODING,
    VIDEO_ID_KEY,
    WEAK_LABEL_KEY,
    DatasetInfo,
)


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
      label_column: source column of the label.
      class_names: class id i is `class_names[i]`.
      weak_label_column, client_id_column, example_id_column,
        video_id_column: source columns of the optional roles (None when
        absent).
      split_column: source column of predefined splits (`train` / `eval` per
        row, `convert.row_split`), or None to split by a hash of the example
        id. Read, never written into the examples.
      image_shape: (H, W, C) of image data, else None.
      color_mode: `grayscale` or `rgb` (images only).
      first_image: (relative path, width, height) of the image that fixed the
        size, to name it when another image differs.
      num_files: how many files the source has (1 for a built-in data set).
      label_noise: the label noise added to the train split (`noise.LabelNoise`),
        or None; with it every split carries the clean label as `true_label`.
      client_partition: the synthetic clients (`clients.ClientPartition`), or
        None; with it every split carries a generated `client_id`.
      image_encoding, pixel_divisor: how the image is stored
        (`DatasetInfo.image_encoding`): the compact "uint8" layout for image
        folders (divisor 255: pixels are read as uint8 / 255) and for one
        NPZ uint8 image array (divisor 1); None (float32) for the rest,
        16-bit images included (k / 65535 is no uint8 / 255).
      image_full_scale: the full-scale pixel value of image folders (255 for
        8-bit images, 65535 for 16-bit ones): every image has the first's.
      encoding: the text encoding of CSV files.
    """

    format: str
    source: str
    root: str
    shards: tuple[Shard, ...]
    feature_columns: tuple[str, ...]
    feature_keys: tuple[str, ...]
    feature_dims: tuple[int, ...]
    label_column: str
    class_names: tuple[str, ...]
    weak_label_column: str | None = None
    client_id_column: str | None = None
    example_id_column: str | None = None
    split_column: str | None = None
    video_id_column: str | None = None
    image_shape: tuple[int, int, int] | None = None
    color_mode: str = spec.GRAYSCALE
    first_image: tuple[str, int, int] | None = None
    num_files: int = 1
    label_noise: LabelNoise | None = None
    client_partition: ClientPartition | None = None
    image_encoding: str | None = None
    pixel_divisor: int | None = None
    image_full_scale: int = MAX_UINT8
    encoding: str = spec.DEFAULT_ENCODING

    @property
    def role_keys(self) -> tuple[str, ...]:
        """The role keys written (always `label` and `example_id`; `true_label`
        with label noise; `client_id` from a column or a client partition)."""
        present = {LABEL_KEY, EXAMPLE_ID_KEY}
        if self.label_noise is not None:
            present.add(TRUE_LABEL_KEY)
        if self.weak_label_column:
            present.add(WEAK_LABEL_KEY)
        if self.client_id_column or self.client_partition is not None:
            present.add(CLIENT_ID_KEY)
        if self.video_id_column:
            present.add(VIDEO_ID_KEY)
        return tuple(k for k in ROLE_KEYS if k in present)

    @property
    def needed_columns(self) -> tuple[str, ...]:
        """Source columns that rows must carry (features, then roles, the
        split column last)."""
        roles = (
            self.label_column,
            self.weak_label_column,
            self.client_id_column,
            self.example_id_column,
            self.video_id_column,
            self.split_column,
        )
        return self.feature_columns + tuple(c for c in roles if c)

    def describe(self) -> str:
        """A one-line description of the source, e.g. `csv: data/ (3 files)`,
        with the label noise when there is some, e.g. `sklearn:digits,
        symmetric label noise 0.4 (seed 0)`, the client partition, e.g.
        `..., iid partition into 100 clients (seed 0)`, and predefined
        splits, e.g. `..., splits from column 'split'`."""
        if self.format == spec.SKLEARN:
            text = self.source
        else:
            files = f" ({self.num_files} files)" if self.num_files > 1 else ""
            text = f"{self.format}: {self.source}{files}"
        if self.label_noise is not None:
            text += f", {self.label_noise.describe()}"
        if self.client_partition is not None:
            text += f", {self.client_partition.describe()}"
        if self.split_column:
            text += f", splits from column {self.split_column!r}"
        return text

    def dataset_info(
        self,
        split_counts: Mapping[str, int] | None = None,
        class_counts: Mapping[str, Sequence[int]] | None = None,
    ) -> DatasetInfo:
        """The `DatasetInfo` of the planned source, with the given counts."""
        return DatasetInfo(
            feature_keys=self.feature_keys,
            feature_dims=self.feature_dims,
            class_names=self.class_names,
            image_shape=self.image_shape,
            role_keys=self.role_keys,
            split_counts=dict(split_counts or {}),
            class_counts={k: tuple(int(c) for c in v) for k, v in (class_counts or {}).items()},
            source=self.describe(),
            image_encoding=self.image_encoding,
            pixel_divisor=self.pixel_divisor,
        )


def _no_rows(config: spec.IngestConfig) -> InputError:
    return InputError("the source has no rows", file=config.source, expected="at least one example")


def plan_source(config: spec.IngestConfig) -> SourcePlan:
    """Looks at the source and returns what the readers need.

    Raises:
      InputError: a missing file or directory, a missing or misspelled column
        (in any file), a file with no header, a first row that does not parse,
        images that cannot be read, or a source with no rows; with label
        noise, also a source without labels, one that already has a
        `true_label` column, or a single class; with a client partition, a
        source that already has a `client_id` column.
    """
    config.validate()
    if config.sklearn_name is not None:
        plan = _plan_sklearn(config)
    else:
        fmt, root, files = list_source(config)
        if fmt == spec.IMAGES:
            plan = _plan_images(config, root, files)
        elif fmt == spec.NPZ:
            plan = _plan_npz(config, root, files)
        else:
            plan = _plan_table(config, fmt, root, files)
    noise = label_noise_of(config)
    check_noise_classes(noise, plan.class_names, config.source)
    return dataclasses.replace(
        plan, label_noise=noise, client_partition=client_partition_of(config)
    )


def check_partition_columns(
    config: spec.IngestConfig, file: str, available: Sequence[str], kind: str = "column"
) -> None:
    """With a client partition on: the file has no `client_id` column already.

    Raises:
      InputError: naming the file and the `client_id` column.
    """
    if not config.partitioned or CLIENT_ID_KEY not in set(available):
        return
    raise InputError(
        f"the data already has a {CLIENT_ID_KEY!r} {kind}, and client_partition"
        f" {config.client_partition!r} would write a second one",
        file=file,
        column=CLIENT_ID_KEY,
        expected=f"client_id_column={CLIENT_ID_KEY!r} (and client_partition"
        f" {spec.NO_PARTITION!r}) to use those clients, or data without client ids",
    )


def check_noise_columns(
    config: spec.IngestConfig, file: str, available: Sequence[str], kind: str = "column"
) -> None:
    """With label noise on: the file has labels, and no `true_label` yet.

    Raises:
      InputError: a file without the label column (noise needs labels to
        flip), or one that already has a `true_label` column other than the
        label column (its labels may be noisy already).
    """
    if not config.noisy:
        return
    have = set(available)
    if config.label_column not in have:
        raise InputError(
            f"label_noise {config.label_noise!r} needs labels, but there is no label {kind}"
            f" {config.label_column!r} (named in {spec.LABEL_COLUMN_KEY})",
            file=file,
            parameter=spec.LABEL_NOISE_KEY,
            expected=f"labelled data (a {kind} named by label_column), or label_noise"
            f" {spec.NO_NOISE!r}",
        )
    if TRUE_LABEL_KEY in have and config.label_column != TRUE_LABEL_KEY:
        raise InputError(
            f"the data already has a {TRUE_LABEL_KEY!r} {kind}: its labels may be noisy"
            " already, and label noise would write a second one",
            file=file,
            column=TRUE_LABEL_KEY,
            expected=f"clean data without a {TRUE_LABEL_KEY!r} {kind} (noise is added once),"
            f" label_column={TRUE_LABEL_KEY!r} to add noise to those labels, or label_noise"
            f" {spec.NO_NOISE!r}",
        )


def _file_plan(
    config: spec.IngestConfig,
    fmt: str,
    root: str,
    files: list[str],
    feature_columns: tuple[str, ...],
) -> SourcePlan:
    """The plan of a file-based tabular source (csv, parquet, tfrecord, npz)
    with feature lengths still to be learned (all 1)."""
    return SourcePlan(
        format=fmt,
        source=config.source,
        root=root,
        shards=tuple(Shard(f) for f in files),
        feature_columns=feature_columns,
        feature_keys=feature_keys(feature_columns),
        feature_dims=tuple(1 for _ in feature_columns),
        label_column=config.label_column,
        class_names=tuple(config.classes or ()),
        weak_label_column=config.weak_label_column,
        client_id_column=config.client_id_column,
        example_id_column=config.example_id_column,
        video_id_column=config.video_id_column,
        split_column=config.split_column,
        num_files=len(files),
        encoding=config.encoding,
    )


def _plan_table(config: spec.IngestConfig, fmt: str, root: str, files: list[str]) -> SourcePlan:
    """CSV, Parquet, TFRecord: columns from each file's header (TFRecord: its
    first record), feature lengths from the first row of the source."""
    base = _file_plan(config, fmt, root, files, tuple(config.feature_columns or ()))
    needed = base.needed_columns
    for f in files:
        if fmt == spec.CSV:
            columns, kind = csv_header(f, config.encoding), "column"
        elif fmt == spec.PARQUET:
            columns, kind = parquet_columns(f), "column"
        else:  # TFRecord: the features of the first record
            first = next(tfrecord_examples(f), None)
            if first is None:
                continue
            columns, kind = sorted(first[1].features.feature), "feature"
        check_noise_columns(config, f, columns, kind)
        check_partition_columns(config, f, columns, kind)
        check_columns(f, columns, needed, config, kind=kind)
    first_row = None
    for shard in base.shards:
        first_row = next(read_shard(base, shard), None)
        if first_row is not None:
            break
    if first_row is None:
        raise _no_rows(config)
    dims = tuple(_value_size(first_row.values.get(c, MISSING)) for c in base.feature_columns)
    return dataclasses.replace(base, feature_dims=dims)


def _value_size(value: Any) -> int:
    if isinstance(value, (list, tuple, np.ndarray)):
        return max(int(np.size(value)), 1)
    return 1


def _plan_sklearn(config: spec.IngestConfig) -> SourcePlan:
    name = config.sklearn_name
    data, _, target_names, feature_names = load_sklearn(name)
    keys = feature_keys(feature_names)
    if config.feature_columns is None:
        feature_columns = keys
    else:
        check_columns(config.source, keys, config.feature_columns, config, kind="feature")
        feature_columns = tuple(config.feature_columns)
    if config.classes is not None and tuple(config.classes) != target_names:
        raise InputError(
            f"declared classes {list(config.classes)} differ from the data set's",
            file=config.source,
            parameter=spec.CLASSES_KEY,
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
                parameter=spec.CLASSES_KEY,
                expected="classes=None (the sorted sub-folder names) or exactly the sub-folder names",
            )
        class_names = tuple(config.classes)
    else:
        class_names = tuple(folders)
    files = []
    for d in class_dirs:
        files += [os.path.join(d, n) for n in listdir(d) if n.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        found = {os.path.basename(d.rstrip("/")): len(listdir(d)) for d in class_dirs}
        raise InputError(
            "the image folder has no images: its sub-folders hold no files with an image"
            f" extension (entries per sub-folder: {found})",
            file=root,
            expected=f"image files ({', '.join(IMAGE_EXTENSIONS)}) in one sub-folder per class",
        )
    first = files[0]
    channels = 1 if config.color_mode == spec.GRAYSCALE else 3
    pixels, full_scale = image_pixels(first, channels)
    height, width = pixels.shape[:2]
    compact = full_scale == MAX_UINT8  # k / 65535 is no uint8 / 255: 16-bit stays float32
    return SourcePlan(
        format=spec.IMAGES,
        source=config.source,
        root=root,
        shards=tuple(Shard(f) for f in files),
        feature_columns=(spec.IMAGE_FEATURE_KEY,),
        feature_keys=(spec.IMAGE_FEATURE_KEY,),
        feature_dims=(height * width * channels,),
        label_column=LABEL_KEY,
        class_names=class_names,
        image_shape=(height, width, channels),
        color_mode=config.color_mode,
        first_image=(relative(first, root), width, height),
        num_files=len(files),
        image_encoding=UINT8_ENCODING if compact else None,  # `readers._read_image`: k / 255
        pixel_divisor=MAX_UINT8 if compact else None,
        image_full_scale=full_scale,
    )


def _plan_npz(config: spec.IngestConfig, root: str, files: list[str]) -> SourcePlan:
    """NPZ: array names, row counts and row shapes from the `.npy` headers of
    the needed arrays only (nothing is decompressed here)."""
    feature_columns = tuple(config.feature_columns or spec.NPZ_DEFAULT_FEATURE_ARRAYS)
    plan = _file_plan(config, spec.NPZ, root, files, feature_columns)
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: set[np.dtype] = set()
    first_file: dict[str, str] = {}
    total = 0
    for f in files:
        names, headers = npz_headers(f, plan.needed_columns)
        check_noise_columns(config, f, names, kind="array")
        check_partition_columns(config, f, names, kind="array")
        check_columns(f, names, plan.needed_columns, config, kind="array")
        n = None
        for col in plan.needed_columns:
            shape, dtype = headers[col]
            if not shape:
                raise InputError(
                    "array is a scalar", file=f, column=col, expected="an array of shape (N, ...)"
                )
            if n is None:
                n, n_col = shape[0], col
            elif shape[0] != n:
                raise InputError(
                    f"array has {shape[0]} rows but {n_col!r} has {n}",
                    file=f,
                    column=col,
                    expected="the same number of rows (first axis) in every array",
                )
            if col in feature_columns:
                if col in shapes and shapes[col] != shape[1:]:
                    raise InputError(
                        f"rows have shape {shape[1:]} but {shapes[col]} in {first_file[col]}",
                        file=f,
                        column=col,
                        expected="the same row shape in every file",
                    )
                shapes.setdefault(col, shape[1:])
                first_file.setdefault(col, f)
                dtypes.add(np.dtype(dtype))
            elif len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise InputError(
                    f"role array has shape {shape}",
                    file=f,
                    column=col,
                    expected="shape (N,) or (N, 1): one value per row",
                )
        total += n or 0
    if total == 0:
        raise _no_rows(config)
    dims = tuple(int(np.prod(shapes[c], dtype=np.int64)) for c in feature_columns)
    image_shape = None
    if len(feature_columns) == 1:
        shape = shapes[feature_columns[0]]
        if len(shape) == 2:
            image_shape = (shape[0], shape[1], 1)
        elif len(shape) == 3:
            image_shape = tuple(shape)
    # One uint8 image array in every file: its integers k are stored as they are
    # (the float32 layout would hold float32(k); decoded k / 1 is the same value).
    compact = image_shape is not None and dtypes == {np.dtype(np.uint8)}
    return dataclasses.replace(
        plan,
        feature_dims=dims,
        image_shape=image_shape,
        image_encoding=UINT8_ENCODING if compact else None,
        pixel_divisor=1 if compact else None,
    )
