"""Turning raw rows into typed, validated examples, and assigning splits.

Conversion rules (every violation is an `InputError` naming file, row and
column):
  * a feature value is a number, or a string that parses as one (surrounding
    spaces allowed), or a list / array of those; its length must equal the
    feature's length (1 for a scalar column, as learned from the first row);
    empty, None, non-numeric, NaN and +-inf values are rejected, and so are
    values that overflow float32.
  * a label (and weak label) is matched against the declared class names by
    its string form only. Numeric values (Parquet / NPZ numbers, TFRecord
    int64 and float lists, sklearn targets) are written in decimal, an
    integral value without a fraction (3 and 3.0 both match class "3").
    Text (every CSV field, Parquet strings, TFRecord bytes decoded as UTF-8)
    is matched as written, stripped of surrounding spaces: CSV `3.0` matches
    class "3.0", not "3". Integer labels therefore need classes declared as
    strings "0", "1", ...; there is no second rule that reads integers as
    class ids.
  * `client_id` and `example_id` are non-empty strings (numbers in decimal).
  * example ids are unique (`check_unique_ids`); generated ids are unique by
    construction, so only an `example_id_column` needs checking.

Split assignment (`assign_split`) is a hash of (seed, example id), so it does
not depend on the order in which workers see the rows, and an example keeps
its split when other rows are added or removed. With a split column the
rows name their split instead (`to_split`: `train` or `eval`, matched by
string form like a label; `row_split` picks the rule). Neither split may be
empty (`check_split_counts`).

Label noise (`add_noise`, when the plan has some) comes after the split: a
`train` example's label may be flipped (`noise.noisy_label`, a hash of
(noise seed, example id)), an `eval` example's never; both keep the clean
label as `true_label`.

A client partition (`add_client`, when the plan has one) gives every example,
in every split, a generated `client_id` from a hash of (partition seed,
example id) and its clean class (`clients.client_index`): order-independent
too. It comes before label noise, so a Dirichlet label skew follows the clean
classes.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.components.ingest.clients import check_num_clients
from frontier.components.ingest.plan import SourcePlan, plan_source
from frontier.components.ingest.readers import MISSING, RawRow, read_shard
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    INT_ROLE_KEYS,
    LABEL_KEY,
    TRUE_LABEL_KEY,
    VIDEO_ID_KEY,
    WEAK_LABEL_KEY,
    DatasetInfo,
)

_F32_MAX = float(np.finfo(np.float32).max)
_MAX_DUPLICATES_SHOWN = 3


def _where(raw: RawRow, column: str) -> dict[str, Any]:
    return {"file": raw.file, "row": raw.row, "column": column}


def _parse_number(value: Any, raw: RawRow, column: str) -> float:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(
                f"value {value[:40]!r} is not a number", expected="a number", **_where(raw, column)
            ) from e
    if value is None or value is MISSING:
        raise InputError("missing value", expected="a number", **_where(raw, column))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError("missing value (empty)", expected="a number", **_where(raw, column))
        try:
            return float(text)
        except ValueError:
            raise InputError(
                f"value {text[:40]!r} is not a number", expected="a number", **_where(raw, column)
            ) from None
    if isinstance(value, (numbers.Real, np.number, np.bool_)):
        return float(value)
    raise InputError(
        f"value {str(value)[:40]!r} of type {type(value).__name__} is not a number",
        expected="a number",
        **_where(raw, column),
    )


def to_feature_vector(value: Any, dim: int, raw: RawRow, column: str) -> np.ndarray:
    """One feature of one row as float32 [dim].

    Raises:
      InputError: missing column or value, non-numeric or non-finite value,
        wrong number of values.
    """
    if value is MISSING:
        raise InputError(
            "this record has no such column",
            expected="every configured column in every record",
            **_where(raw, column),
        )
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        arr = value.astype(np.float64).ravel()
    elif isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(
            [_parse_number(v, raw, column) for v in np.asarray(value, dtype=object).ravel()],
            np.float64,
        )
    else:
        arr = np.asarray([_parse_number(value, raw, column)], np.float64)
    if arr.size != dim:
        raise InputError(
            f"{arr.size} values",
            expected=f"{dim} values, as in the first row",
            **_where(raw, column),
        )
    bad = ~np.isfinite(arr) | (np.abs(arr) > _F32_MAX)
    if bad.any():
        v = arr[bad][0]
        what = f"value {v} is not finite" if not np.isfinite(v) else f"value {v} overflows float32"
        raise InputError(what, expected="a finite number", **_where(raw, column))
    return arr.astype(np.float32)


def _single(value: Any, raw: RawRow, column: str, expected: str) -> Any:
    if value is MISSING:
        raise InputError("this record has no such column", expected=expected, **_where(raw, column))
    if isinstance(value, (list, tuple, np.ndarray)):
        flat = list(np.asarray(value, dtype=object).ravel())
        if len(flat) != 1:
            raise InputError(
                f"{len(flat)} values", expected=f"one value: {expected}", **_where(raw, column)
            )
        value = flat[0]
    if isinstance(value, np.generic):
        value = value.item()
    return value


def value_name(value: Any) -> str | None:
    """The string form that labels are matched by (None for a missing value)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if f != f:  # NaN: a missing label in pandas-made files
            return None
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def to_class_id(value: Any, class_index: Mapping[str, int], raw: RawRow, column: str) -> int:
    """The class id of a label value (matched by string form, see module docstring)."""
    classes = list(class_index)
    expected = f"one of the declared classes {classes[:30]}{' ...' if len(classes) > 30 else ''}"
    single = _single(value, raw, column, expected)
    name = value_name(single)
    if not name:
        raise InputError("missing label", expected=expected, **_where(raw, column))
    cid = class_index.get(name)
    if cid is None:
        hint = ""
        if name.lstrip("-").isdigit() and not any(c.lstrip("-").isdigit() for c in classes):
            hint = "; labels are matched by name, so integer labels need classes declared as '0', '1', ..."
        elif isinstance(single, (str, bytes)) and _number_name(name) in class_index:
            number = _number_name(name)
            hint = (
                f"; text labels (such as CSV fields) are matched as written, so {name!r}"
                f" does not match class {number!r} (write {number} or declare {name!r})"
            )
        raise InputError(
            f"label {name!r} is not a declared class{hint}",
            expected=expected,
            **_where(raw, column),
        )
    return cid


def _number_name(text: str) -> str | None:
    """The name a number written as `text` would have as a numeric value
    (`"3.0"` -> `"3"`), or None when `text` is no number."""
    try:
        return value_name(float(text))
    except ValueError:
        return None


def to_id(value: Any, raw: RawRow, column: str) -> str:
    """A non-empty id string (client or example id)."""
    name = value_name(_single(value, raw, column, "a non-empty id"))
    if not name:
        raise InputError("missing id", expected="a non-empty id", **_where(raw, column))
    return name


def convert_row(
    plan: SourcePlan, raw: RawRow, class_index: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Typed values of one row, keyed by feature and role keys.

    Returns:
      feature key -> float32 [dim]; `label` (and `weak_label`) -> int class
      id; `client_id` (when configured) and `example_id` -> str.

    Raises:
      InputError: naming the file, row and column of a bad value.
    """
    index = class_index or {n: i for i, n in enumerate(plan.class_names)}
    values = raw.values
    out: dict[str, Any] = {}
    for col, key, dim in zip(
        plan.feature_columns, plan.feature_keys, plan.feature_dims, strict=True
    ):
        out[key] = to_feature_vector(values.get(col, MISSING), dim, raw, col)
    out[LABEL_KEY] = to_class_id(
        values.get(plan.label_column, MISSING), index, raw, plan.label_column
    )
    if plan.weak_label_column:
        col = plan.weak_label_column
        out[WEAK_LABEL_KEY] = to_class_id(values.get(col, MISSING), index, raw, col)
    if plan.client_id_column:
        out[CLIENT_ID_KEY] = to_id(
            values.get(plan.client_id_column, MISSING), raw, plan.client_id_column
        )
    if plan.video_id_column:
        out[VIDEO_ID_KEY] = to_id(
            values.get(plan.video_id_column, MISSING), raw, plan.video_id_column
        )
    if plan.example_id_column:
        out[EXAMPLE_ID_KEY] = to_id(
            values.get(plan.example_id_column, MISSING), raw, plan.example_id_column
        )
    else:
        out[EXAMPLE_ID_KEY] = raw.default_id
    return out


def to_split(value: Any, raw: RawRow, column: str) -> str:
    """The split a row names in its split column: its value's string form
    (`value_name`: text stripped of spaces, a number by its integral form, as
    labels are matched), which must be one of `spec.SPLIT_NAMES` as written.

    Raises:
      InputError: a missing value or another name, naming file, row and column.
    """
    expected = f"one of the split names {list(spec.SPLIT_NAMES)}"
    name = value_name(_single(value, raw, column, expected))
    if not name:
        raise InputError("missing split", expected=expected, **_where(raw, column))
    if name not in spec.SPLIT_NAMES:
        hint = ""
        if name.lower() in spec.SPLIT_NAMES:
            hint = "; split names are matched as written, in lower case"
        elif name.lower() in ("test", "validation", "valid", "val", "dev"):
            # Stock ExampleGen's default output config has these two splits
            # only, so a held-out test set goes to `eval`.
            hint = f"; Ingest writes {spec.TRAIN_SPLIT!r} and {spec.EVAL_SPLIT!r} only: write"
            hint += f" {spec.EVAL_SPLIT!r} for held-out rows"
        raise InputError(
            f"split {name[:40]!r} is not a split name{hint}",
            expected=expected,
            **_where(raw, column),
        )
    return name


def row_split(
    plan: SourcePlan, raw: RawRow, example_id: str, seed: int, eval_fraction: float
) -> str:
    """The split of one row: the one its split column names (`to_split`) when
    the plan has a split column, else `assign_split(example_id, seed,
    eval_fraction)`; the caller passes the row's `video_id` as `example_id`
    when it has one, so a video's examples share a split.

    Raises:
      InputError: a bad value in the split column (see `to_split`).
    """
    if plan.split_column:
        return to_split(raw.values.get(plan.split_column, MISSING), raw, plan.split_column)
    return assign_split(example_id, seed, eval_fraction)


def split_fraction(example_id: str, seed: int, salt: str = "split") -> float:
    """A uniform number in [0, 1) fixed by (seed, salt, example id): the first
    8 bytes of SHA-256 of `"<salt>:<seed>:<id>"`, divided by 2**64."""
    digest = hashlib.sha256(f"{salt}:{int(seed)}:{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(example_id: str, seed: int, eval_fraction: float) -> str:
    """`eval` when `split_fraction(example_id, seed) < eval_fraction`, else `train`.

    Deterministic and seeded, independent of row order and of the other rows;
    the eval share is `eval_fraction` in expectation (binomial spread).
    """
    return spec.EVAL_SPLIT if split_fraction(example_id, seed) < eval_fraction else spec.TRAIN_SPLIT


def add_noise(plan: SourcePlan, row: dict[str, Any], split: str) -> dict[str, Any]:
    """A converted row with the plan's label noise: unchanged without noise;
    else `true_label` = the clean label, and in the `train` split `label` =
    `noise.noisy_label(...)` (the `eval` split keeps the clean label)."""
    noise = plan.label_noise
    if noise is None:
        return row
    clean = row[LABEL_KEY]
    row = {**row, TRUE_LABEL_KEY: clean}
    if split == spec.TRAIN_SPLIT:
        row[LABEL_KEY] = noise.apply(clean, row[EXAMPLE_ID_KEY], len(plan.class_names))
    return row


def client_index_of(plan: SourcePlan, row: Mapping[str, Any]) -> int:
    """The client index of a converted row under the plan's client partition
    (from its example id and clean label), or -1 without a partition."""
    partition = plan.client_partition
    if partition is None:
        return -1
    return partition.client_of(row[LABEL_KEY], row[EXAMPLE_ID_KEY], len(plan.class_names))


def add_client(plan: SourcePlan, row: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """A converted row with the plan's synthetic client: unchanged without a
    partition; else `client_id` = `client-<index>` (`clients.client_name`), the
    index from `client_index_of` unless given. Call it before `add_noise`: the
    partition follows the clean label."""
    partition = plan.client_partition
    if partition is None:
        return row
    if index is None:
        index = client_index_of(plan, row)
    return {**row, CLIENT_ID_KEY: partition.client_name(index)}


def duplicate_id_error(example_id: str, wheres: Iterable[tuple[str, int]]) -> InputError:
    """The error for an example id that comes from several rows.

    Args:
      example_id: the repeated id.
      wheres: (file, row) of each occurrence, row 0 where there is none.
    """
    wheres = sorted(wheres)
    shown = "; ".join(
        f"file {f}" + (f" row {r}" if r else "") for f, r in wheres[:_MAX_DUPLICATES_SHOWN]
    )
    return InputError(
        f"example id {example_id!r} occurs {len(wheres)} times ({shown})",
        file=wheres[0][0],
        row=wheres[0][1] or None,
        expected="a unique example id per row",
    )


def check_unique_ids(ids: Iterable[tuple[str, str, int | None]]) -> None:
    """Checks that no example id comes from two rows.

    Args:
      ids: (example id, file, row) of each row; row None where there is none.

    Raises:
      InputError: for the first repeated id (in order of first occurrence),
        naming the files and rows it comes from.
    """
    seen: dict[str, list[tuple[str, int]]] = {}
    for example_id, file, row in ids:
        seen.setdefault(example_id, []).append((file, row or 0))
    for example_id, wheres in seen.items():
        if len(wheres) > 1:
            raise duplicate_id_error(example_id, wheres)


def check_split_counts(
    split_counts: Mapping[str, int], eval_fraction: float, split_column: str | None = None
) -> None:
    """Checks that neither split is empty (the trainer and the stock Evaluator
    need examples in both).

    Args:
      split_counts: split -> examples.
      eval_fraction: the fraction that assigned the splits (named in the error).
      split_column: the column that named the splits instead, if any.

    Raises:
      InputError: naming the counts and the `eval_fraction` parameter, or
        with a split column that column and the `split_column` parameter.
    """
    total = sum(split_counts.values())
    for split in spec.SPLIT_NAMES:
        if split_counts.get(split, 0) > 0:
            continue
        if split_column:
            raise InputError(
                f"the {split} split would be empty: 0 of {total} rows name {split!r} in the"
                f" split column {split_column!r}",
                column=split_column,
                parameter=spec.SPLIT_COLUMN_KEY,
                expected=f"examples in both train and eval: rows whose {split_column!r} is"
                f" {split!r}, or no split_column to split by eval_fraction",
            )
        change = "larger" if split == spec.EVAL_SPLIT else "smaller"
        raise InputError(
            f"the {split} split would be empty: 0 of {total} rows go to {split}"
            f" with eval_fraction {eval_fraction}",
            parameter=spec.EVAL_FRACTION_KEY,
            expected=f"examples in both train and eval: a {change} eval_fraction,"
            " another seed, or more rows",
        )


def _converted(plan: SourcePlan) -> Iterator[tuple[RawRow, dict[str, Any]]]:
    index = {n: i for i, n in enumerate(plan.class_names)}
    for shard in plan.shards:
        for raw in read_shard(plan, shard):
            yield raw, convert_row(plan, raw, index)


def iter_rows(plan: SourcePlan) -> Iterator[dict[str, Any]]:
    """All converted rows of a planned source, in shard order (no Beam, no
    uniqueness or split checks)."""
    for _, row in _converted(plan):
        yield row


def read_arrays(
    config: spec.IngestConfig,
) -> tuple[DatasetInfo, dict[str, dict[str, np.ndarray]]]:
    """Reads a whole source in memory, without Beam or TFX, split like the component.

    Returns:
      (info, splits): `splits[name]` is shaped like `load_split`'s result:
      `x` float32 [N, input_dim] and one [N] array per role key (int64 class
      ids, object arrays of str ids); with label noise, `label` of `train` is
      the noisy label and `true_label` the clean one; with a client partition,
      `client_id` holds the generated ids (`client-00042`).

    Splits are those of the split column when the config names one, else
    the seeded hash of `assign_split`.

    Raises:
      InputError: for any bad input, as the component would: a bad source or
        value (a split column's included), a repeated example id, an empty
        split, more clients than examples.
    """
    plan = plan_source(config)
    pairs = list(_converted(plan))
    if plan.example_id_column:  # generated ids are unique by construction
        check_unique_ids((row[EXAMPLE_ID_KEY], raw.file, raw.row) for raw, row in pairs)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in spec.SPLIT_NAMES}
    for raw, row in pairs:
        split = row_split(plan, raw, row[EXAMPLE_ID_KEY], config.seed, config.eval_fraction)
        rows[split].append(add_noise(plan, add_client(plan, row), split))
    check_split_counts(
        {s: len(v) for s, v in rows.items()}, config.eval_fraction, plan.split_column
    )
    check_num_clients(plan.client_partition, len(pairs), config.source)
    splits = {}
    for name, items in rows.items():
        x = (
            np.stack([np.concatenate([r[k] for k in plan.feature_keys]) for r in items]).astype(
                np.float32
            )
            if items
            else np.zeros((0, sum(plan.feature_dims)), np.float32)
        )
        arrays = {"x": x}
        for key in plan.role_keys:
            dtype = np.int64 if key in INT_ROLE_KEYS else object
            arrays[key] = np.asarray([r[key] for r in items], dtype=dtype)
        splits[name] = arrays
    info = plan.dataset_info(
        split_counts={s: len(v) for s, v in rows.items()},
        class_counts=count_classes(
            {s: [r[LABEL_KEY] for r in v] for s, v in rows.items()}, len(plan.class_names)
        ),
    )
    return info, splits


def count_classes(
    labels: Mapping[str, Sequence[int]], num_classes: int
) -> dict[str, tuple[int, ...]]:
    """Per split, the number of examples of each class id."""
    return {
        s: tuple(int(c) for c in np.bincount(np.asarray(v, np.int64), minlength=num_classes))
        for s, v in labels.items()
    }
