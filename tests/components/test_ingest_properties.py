"""Property tests of Ingest's readers (issue 19): whatever a file holds,
reading it ends in the examples the file holds or in an `InputError`.

Each format (CSV, NPZ, Parquet, TFRecord, image folders) has a Hypothesis
strategy that draws a `Case`: the files to write, the Ingest parameters, and
what reading them must give:
  * a list of `Row`s: the files are valid, and reading gives exactly these
    rows, in file order (features as float32, class ids);
  * `ERROR`: the files break a documented rule (a bad value, a ragged row, a
    missing column, a NUL character, a translucent image ...), and reading
    raises `InputError`;
  * `ANY`: bytes mangled at random (truncated, overwritten, flipped, noise):
    reading may give rows (then well-formed ones) or an `InputError`.
No case may end in another exception. A third of the cases are drawn clean
(valid values only: checked value for value), a third dirty (anything the
strategy knows) and a third mangled (clean, then one file's bytes damaged).

The reader-level tests run the plain functions (`plan_source`, then
`iter_rows`: no Beam). One test runs the executor on sources whose second
file is broken, so that the error comes from inside the Beam pipeline, and
checks that nothing is left in its output URIs.

Runs are bounded and reproducible: `derandomize=True` draws the same examples
on every run (in CI too), and `database=None` keeps no failing examples
between runs (Hypothesis still caches Unicode tables under `.hypothesis/`,
which git-ignores itself). Hypothesis runs a test's body many times per call,
so files go to a `tempfile.TemporaryDirectory` per example, not to pytest's
function-scoped `tmp_path`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import gzip
import io
import math
import os
import struct
import tempfile
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from frontier.components.common.errors import InputError
from frontier.components.ingest import IngestConfig, iter_rows, plan_source, spec

ERROR = "must raise InputError"
ANY = "rows or InputError"
DIRECTORY = None  # a `Case.files` value: make a directory at that path

_F32_MAX = float(np.finfo(np.float32).max)


def _settings(max_examples: int) -> settings:
    """Bounded, reproducible runs: the same examples each time, nothing saved."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclasses.dataclass(frozen=True)
class Row:
    """One example that reading must give.

    Attributes:
      features: float32, all features concatenated (in `plan.feature_keys` order).
      label: the class id.
      exact: False for an image in a lossy format (JPEG, GIF, WebP): only the
        size and the range [0, 1] are checked.
    """

    features: np.ndarray
    label: int
    exact: bool = True


@dataclasses.dataclass
class Case:
    """Files to write, the Ingest parameters, and what reading must give.

    Attributes:
      files: path relative to a fresh folder -> bytes (`DIRECTORY`: a folder).
      params: `IngestConfig.create` arguments; `source` is relative to the folder.
      expected: a list of `Row`s, `ERROR` or `ANY` (see the module docstring).
      why: what made the case `ERROR` or `ANY`, shown when a check fails.
    """

    files: dict[str, bytes | None] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    expected: list[Row] | str = dataclasses.field(default_factory=list)
    why: list[str] = dataclasses.field(default_factory=list)

    def refuse(self, why: str) -> None:
        """The files break a rule: reading must raise `InputError`."""
        self.why.append(why)
        if self.expected != ANY:
            self.expected = ERROR

    def unknown(self, why: str) -> None:
        """The bytes were mangled: rows or `InputError`."""
        self.why.append(why)
        self.expected = ANY

    def add(self, row: Row | None, why: str) -> None:
        """One more row that reading must give; None: a row that must be refused."""
        if row is None:
            self.refuse(why)
        elif isinstance(self.expected, list):
            self.expected.append(row)

    def finish(self) -> None:
        """A valid source with no rows is refused too."""
        if self.expected == []:
            self.refuse("no rows")


def write_files(root: str, files: dict[str, bytes | None]) -> None:
    for rel, data in files.items():
        path = os.path.join(root, rel)
        if data is DIRECTORY:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _kind(expected: list[Row] | str) -> str:
    return "rows" if isinstance(expected, list) else expected


def check_case(case: Case) -> None:
    """Reads the case's files with the plain functions and checks the property."""
    note(f"params={case.params} expected={_kind(case.expected)} why={case.why}")
    with tempfile.TemporaryDirectory() as root:
        write_files(root, case.files)
        params = {**case.params, "source": os.path.join(root, case.params["source"])}
        try:
            plan = plan_source(IngestConfig.create(**params))
            rows = list(iter_rows(plan))
        except InputError as e:
            note(f"InputError: {e}")
            event(f"expected {_kind(case.expected)}: InputError")
            assert not isinstance(case.expected, list), f"valid input refused: {e}"
            # Rule 5: the error says where (a file, row, column or parameter).
            assert e.file or e.column or e.parameter, str(e)
            return
    event(f"expected {_kind(case.expected)}: rows")
    assert case.expected != ERROR, f"bad input read as {len(rows)} rows: {rows[:3]}"
    check_well_formed(plan, rows)
    if isinstance(case.expected, list):
        check_rows(plan, rows, case.expected)


def check_well_formed(plan, rows: list[dict[str, Any]]) -> None:
    """Whatever was read is what examples must be: finite float32 features of
    the planned lengths, class ids in range, distinct non-empty ids."""
    for row in rows:
        for key, dim in zip(plan.feature_keys, plan.feature_dims, strict=True):
            x = row[key]
            assert x.dtype == np.float32 and x.shape == (dim,), (key, x)
            assert np.isfinite(x).all(), (key, x)
        assert 0 <= row["label"] < len(plan.class_names)
        assert isinstance(row["example_id"], str) and row["example_id"]
    ids = [r["example_id"] for r in rows]
    assert len(set(ids)) == len(ids)


def check_rows(plan, rows: list[dict[str, Any]], expected: list[Row]) -> None:
    """The rows read are the expected ones, in order, value for value."""
    assert len(rows) == len(expected), f"read {len(rows)} rows, the files hold {len(expected)}"
    for i, (row, want) in enumerate(zip(rows, expected, strict=True)):
        x = np.concatenate([row[k] for k in plan.feature_keys])
        assert row["label"] == want.label, (i, row["label"], want.label)
        if want.exact:
            np.testing.assert_array_equal(x, want.features, err_msg=f"row {i}")
        else:
            assert x.shape == want.features.shape, (i, x.shape, want.features.shape)
            assert ((x >= 0) & (x <= 1)).all(), (i, x)


# -- shared strategies -----------------------------------------------------------


def rarely(draw, clean: bool, n: int) -> bool:
    """True one time in `n` in a dirty case, never in a clean one."""
    return not clean and draw(st.integers(0, n - 1)) == 0


def number_of(text: str) -> np.float32 | None:
    """What a numeric text field must read as: a float32, or None where it
    must be refused (empty, not a number, not finite, overflowing float32)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return number_ok(value)


def number_ok(value: Any) -> np.float32 | None:
    """What a number (a Python or NumPy scalar) must read as, None if refused."""
    value = float(value)
    if not math.isfinite(value) or abs(value) > _F32_MAX:
        return None
    return np.float32(value)


# Text without NUL (csv.writer refuses to write it; NUL cases are made apart).
TEXT = st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=6)
BAD_NUMBERS = ["", "  ", "nan", "NaN", "inf", "-Infinity", "1e39", "-3.5e38", "abc", "1.2.3"]
BAD_NUMBERS += ["0x1A", "--1", "1e", "1,5", "½"]
CLASS_NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=4
).filter(lambda s: s == s.strip())


@st.composite
def number_texts(draw, clean: bool = False) -> str:
    """Numeric text fields: numbers in several notations, padded or not;
    unless clean, also known bad values and arbitrary text."""
    kind = draw(st.integers(0, 6 if clean else 9))
    if kind <= 4:
        x = draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
        form = draw(st.sampled_from(["{!r}", "{:.3g}", "{:e}", "{:.2f}"]))
        text = form.format(x)
    elif kind <= 6:
        text = str(draw(st.integers(-(10**20), 10**20)))
    elif kind == 7:
        text = draw(st.sampled_from(BAD_NUMBERS))
    else:
        text = draw(TEXT)
    pad = draw(st.sampled_from(["", " ", "\t", "  "]))
    return pad + text + pad[::-1]


def label_classes(draw) -> tuple[list[str], str]:
    """(class names, label kind): integer, float or text labels."""
    kind = draw(st.sampled_from(["int", "float", "str"]))
    if kind == "str":
        return draw(st.lists(CLASS_NAMES, min_size=1, max_size=3, unique=True)), kind
    return [str(i) for i in range(draw(st.integers(1, 3)))], kind


def draw_label(draw, classes: list[str], kind: str, clean: bool) -> tuple[Any, int | None]:
    """A label value of `kind` and the class id it must read as (None: refused).

    Numbers match classes by their decimal form (2.0 -> "2"); text matches as
    written, stripped of surrounding spaces."""
    if kind == "int":
        value = draw(st.integers(0, len(classes) - 1) if clean else st.integers(-1, len(classes)))
        name = str(value)
    elif kind == "float":
        values = [float(i) for i in range(len(classes))] + [-0.0]
        value = draw(st.sampled_from(values if clean else values + [0.5, math.nan, 9.0]))
        name = (
            None if math.isnan(value) else (str(int(value)) if value.is_integer() else repr(value))
        )
    else:
        value = draw(
            st.sampled_from(classes) if clean else st.one_of(st.sampled_from(classes), TEXT)
        )
        value = draw(st.sampled_from(["", " "])) + value + draw(st.sampled_from(["", " "]))
        name = value.strip()
    return value, classes.index(name) if name in classes else None


@st.composite
def mangled(draw, data: bytes, body: float = 1.0) -> bytes:
    """`data` truncated, overwritten, with a byte flipped, or replaced by noise;
    half the time at a place in its first `body` fraction (Parquet's data
    pages come before its footer, so most of a small file is footer)."""
    how = draw(st.sampled_from(["truncate", "overwrite", "flip", "noise"]))
    if how == "noise" or not data:
        return draw(st.binary(max_size=64))
    end = len(data) - 1
    at = draw(st.integers(0, int(end * body) if draw(st.booleans()) else end))
    if how == "truncate":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    junk = draw(st.binary(min_size=1, max_size=16))
    return data[:at] + junk + data[at + len(junk) :]


# A case is drawn clean (valid values only), dirty (anything the strategy
# knows), or mangled (clean, then one file's bytes damaged at random: damage
# to a file full of bad values would mostly go unseen behind the first one).
MOODS = st.sampled_from(["clean", "dirty", "mangled"])


def maybe_mangle(draw, case: Case, mood: str, body: float = 1.0) -> None:
    """In a mangled case, damages one of the case's files (then `ANY`)."""
    names = sorted(k for k, v in case.files.items() if v is not DIRECTORY)
    if names and mood == "mangled":
        name = draw(st.sampled_from(names))
        case.files[name] = draw(mangled(case.files[name], body))
        case.unknown(f"mangled {name}")


# -- CSV ---------------------------------------------------------------------------


@st.composite
def csv_record(draw, header: list[str], features: list[str], classes: list[str], clean: bool):
    """(fields, what they must read as): a `Row`, "blank" (a skipped line) or
    None (a record that must be refused)."""
    if draw(st.integers(0, 9)) == 0:
        return [], "blank"
    cells, label = {}, None
    for col in header:
        if col in features:
            cells[col] = draw(number_texts(clean))
        elif col == "label":
            cells[col], label = draw_label(draw, classes, "str", clean)
        else:
            cells[col] = draw(TEXT)
    fields = [cells[c] for c in header]
    if rarely(draw, clean, 6):
        fields = fields[: draw(st.integers(0, len(fields) - 1))]
    elif rarely(draw, clean, 6):
        fields = fields + draw(st.lists(TEXT, min_size=1, max_size=2))
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        return fields, "blank"
    values = [number_of(cells[c]) for c in features]
    if len(fields) != len(header) or label is None or any(v is None for v in values):
        return fields, None
    return fields, Row(np.array(values, np.float32), label)


_CSV_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


@st.composite
def csv_cases(draw) -> Case:
    mood = draw(MOODS)
    clean = mood != "dirty"
    classes = draw(st.lists(CLASS_NAMES, min_size=1, max_size=3, unique=True))
    features = ["a", "b", "c"][: draw(st.integers(1, 3))]
    header = draw(st.permutations(features + ["label"] + (["note"] if draw(st.booleans()) else [])))
    records = draw(
        st.lists(csv_record(header, features, classes, clean), min_size=int(clean), max_size=8)
    )
    case = Case()
    for _, row in records:
        if row != "blank":
            case.add(row, "a bad record")
    case.finish()
    written = list(header)
    if rarely(draw, clean, 12):
        written.remove(draw(st.sampled_from(features + ["label"])))
        case.refuse("a needed column missing from the header")
    elif rarely(draw, clean, 12):
        written[-1] = written[0]
        case.refuse("a column named twice")
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    fields = written + [f for fs, _ in records for f in fs]
    # csv.writer quotes a field holding a line end only if the end is in its
    # lineterminator: quote every field then, or the record would be split.
    newline_inside = any("\r" in f or "\n" in f for f in fields)
    quoting = csv.QUOTE_ALL if newline_inside else draw(st.sampled_from([0, csv.QUOTE_ALL]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=end, quoting=quoting)
    writer.writerow(written)
    writer.writerows(fs for fs, _ in records)
    text = buf.getvalue()
    if rarely(draw, clean, 10):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "\x00" + text[at:]
        case.refuse("a NUL character")
    encoding = draw(st.sampled_from(_CSV_ENCODINGS))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        encoding, data = "utf-8", text.encode("utf-8")
    declared = "utf-8" if encoding == "utf-8-sig" else encoding
    if rarely(draw, clean, 12):
        data = b""
        case.refuse("an empty file")
    elif rarely(draw, clean, 8):
        other = draw(st.sampled_from([e for e in _CSV_ENCODINGS + ["utf-16-le"] if e != encoding]))
        try:
            data = text.encode(other)
            case.unknown(f"written in {other}, read as {declared}")
        except UnicodeEncodeError:
            pass
    case.files = {"t.csv": data}
    case.params = dict(source="t.csv", feature_columns=features, classes=classes, encoding=declared)
    maybe_mangle(draw, case, mood)
    return case


@_settings(300)
@given(csv_cases())
def test_csv_reads_what_the_file_holds_or_raises_input_error(case):
    check_case(case)


# -- NPZ ---------------------------------------------------------------------------

_NUMERIC = ["float64", "float32", "float16", "int8", "int32", "int64", "uint8", "uint64", "bool"]
_INNER_SHAPES = [(), (1,), (3,), (2, 2), (2, 3, 1)]


def _npz_value(x: Any, kind: str) -> np.ndarray | None:
    """What one row of a feature array must read as (float32 [size]), None if refused."""
    if kind == "str":
        values = [number_of(str(t)) for t in np.ravel(x)]
    elif kind == "bytes":
        values = [_tf_number(bytes(t)) for t in np.ravel(x)]
    elif kind in ("complex", "datetime"):
        return None
    else:
        values = [number_ok(v) for v in np.ravel(np.asarray(x, np.float64))]
    return None if any(v is None for v in values) else np.array(values, np.float32)


@st.composite
def npz_feature_array(draw, n: int, inner: tuple[int, ...], clean: bool):
    """(array [n, *inner], kind): numeric, numeric text (str or bytes), or
    (dirty) objects, complex numbers, dates."""
    odd = ["object", "complex", "datetime"]
    text = ["str", "bytes"]
    kind = draw(st.sampled_from(_NUMERIC + text if clean else _NUMERIC * 3 + text + odd))
    shape = (n, *inner)
    if kind in text:
        size = int(np.prod(shape))
        texts = draw(st.lists(number_texts(clean), min_size=size, max_size=size))
        if kind == "bytes":  # UTF-8 text, or (dirty) any bytes but NUL, which .npy drops
            items = [t.encode() for t in texts]
            if not clean:
                items += draw(st.lists(st.binary(max_size=3).map(lambda b: b.replace(b"\0", b"x"))))
            items = draw(st.permutations(items))[:size]
            return np.array(items + [b""], dtype=bytes)[:size].reshape(shape), kind
        return np.array(texts + [""], dtype=str)[:size].reshape(shape), kind
    if kind == "object":
        return np.full(shape, 1.5, dtype=object), kind
    if kind == "complex":
        return draw(hnp.arrays(np.complex128, shape)), kind
    if kind == "datetime":
        return np.full(shape, np.datetime64("2020-01-02"), "M8[D]"), kind
    dtype = np.dtype(kind)
    if clean and dtype.kind == "f":
        bound = min(float(np.finfo(dtype).max), _F32_MAX)
        elements = st.floats(-bound, bound, width=8 * dtype.itemsize)
        return draw(hnp.arrays(dtype, shape, elements=elements)), kind
    return draw(hnp.arrays(dtype, shape)), kind


@st.composite
def npz_cases(draw) -> Case:
    mood = draw(MOODS)
    clean = mood != "dirty"
    classes, label_kind = label_classes(draw)
    inner = draw(st.sampled_from(_INNER_SHAPES))
    case = Case()
    for f in range(draw(st.integers(1, 2))):
        n = draw(st.integers(0, 4))
        shape = draw(st.sampled_from(_INNER_SHAPES)) if rarely(draw, clean, 8) else inner
        if shape != inner:
            case.refuse("row shapes differ between files")
        x, kind = draw(npz_feature_array(n, shape, clean))
        if kind == "object":
            case.refuse("an array of Python objects")
        labels = [draw_label(draw, classes, label_kind, clean) for _ in range(n)]
        dtype = {"int": np.int64, "float": np.float64, "str": str}[label_kind]
        y = np.array([v for v, _ in labels] or [], dtype=dtype).reshape(n)
        if draw(st.booleans()):
            y = y.reshape(n, 1)  # (N, 1) is one label per row too
        if rarely(draw, clean, 12):
            y = np.concatenate([y, y[:1] if n else np.zeros((1, *y.shape[1:]), y.dtype)])
            case.refuse("label and feature arrays differ in length")
        elif rarely(draw, clean, 12):
            y = np.stack([y.reshape(n), y.reshape(n)], axis=1)
            case.refuse("a label array of shape (N, 2)")
        arrays = {"x": x, "y": y}
        if draw(st.integers(0, 9)) == 0:
            arrays["meta"] = np.full(n, None, dtype=object)  # not needed: never loaded
        if rarely(draw, clean, 20):
            del arrays[draw(st.sampled_from(["x", "y"]))]
            case.refuse("a needed array missing")
        for i in range(n):
            value, label = _npz_value(x[i], kind), labels[i][1]
            case.add(None if label is None or value is None else Row(value, label), "bad row")
        buf = io.BytesIO()
        (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
        case.files[f"d/p{f}.npz"] = buf.getvalue()
    case.finish()
    case.params = dict(source="d", label_column="y", classes=classes)
    maybe_mangle(draw, case, mood)
    return case


@_settings(250)
@given(npz_cases())
def test_npz_reads_what_the_file_holds_or_raises_input_error(case):
    check_case(case)


# -- Parquet -----------------------------------------------------------------------

_PARQUET_KINDS = ["float64", "float32", "int64", "uint64", "int8", "bool", "string"]
_PARQUET_KINDS += ["large_string", "dict", "decimal", "list", "fixed_list"]
# Kinds that are never numbers (only in dirty cases): every value is refused.
_PARQUET_REFUSED = ["timestamp", "date", "null", "struct"]


@st.composite
def parquet_values(draw, kind: str, n: int, clean: bool, length: int) -> list:
    """n Python values of a column of `kind`; lists have `length` items
    unless dirty; dirty columns may hold nulls, NaN and infinities."""
    wild = not clean  # NaN and infinities allowed
    if kind in ("float64", "list", "fixed_list"):
        value = st.floats(-_F32_MAX, _F32_MAX) if clean else st.floats()
    elif kind == "float32":
        value = st.floats(width=32, allow_nan=wild, allow_infinity=wild)
    elif kind == "int64":
        value = st.integers(-(2**63), 2**63 - 1)
    elif kind == "uint64":
        value = st.integers(0, 2**64 - 1)
    elif kind == "int8":
        value = st.integers(-128, 127)
    elif kind == "bool":
        value = st.booleans()
    elif kind in ("string", "large_string", "dict"):
        value = number_texts(clean)
    elif kind == "decimal":
        value = st.decimals(-(10**7), 10**7, places=2, allow_nan=False, allow_infinity=False)
    elif kind == "timestamp":
        value = st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2100, 1, 1))
    elif kind == "date":
        value = st.dates()
    elif kind == "struct":
        value = st.fixed_dictionaries({"v": st.floats(-1, 1)})
    else:  # null: a column of nulls only
        value = st.none()
    if kind == "list":
        item = value if clean else st.one_of(value, st.none())
        sizes = st.just(length) if clean else st.sampled_from([length] * 4 + [0, length + 1])
        value = sizes.flatmap(lambda k: st.lists(item, min_size=k, max_size=k))
    elif kind == "fixed_list":
        item = value if clean else st.one_of(value, st.none())
        value = st.lists(item, min_size=length, max_size=length)
    if not clean and kind != "fixed_list":  # pyarrow 10 writes no null fixed-size list
        value = st.one_of(value, st.none())
    return draw(st.lists(value, min_size=n, max_size=n))


def _parquet_value(value: Any, kind: str, dim: int) -> np.ndarray | None:
    """What one Parquet cell must read as (float32 [dim]), None if refused."""
    if value is None or kind in _PARQUET_REFUSED:
        return None
    if kind in ("list", "fixed_list"):
        if len(value) != dim or any(v is None for v in value):
            return None
        values = [number_ok(v) for v in value]
    elif kind in ("string", "large_string", "dict"):
        values = [number_of(value)]
    else:
        values = [number_ok(value)]
    return None if any(v is None for v in values) else np.array(values, np.float32)


def _arrow_array(kind: str, values: list):
    import pyarrow as pa

    types = {
        "float64": pa.float64(),
        "float32": pa.float32(),
        "int64": pa.int64(),
        "uint64": pa.uint64(),
        "int8": pa.int8(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "large_string": pa.large_string(),
        "dict": pa.string(),
        "decimal": pa.decimal128(12, 2),
        "list": pa.list_(pa.float64()),
        "timestamp": pa.timestamp("us"),
        "date": pa.date32(),
        "struct": pa.struct([("v", pa.float64())]),
        "null": pa.null(),
    }
    if kind == "fixed_list":
        length = len(next((v for v in values if v is not None), [None]))
        return pa.array(values, pa.list_(pa.float64(), length))
    array = pa.array(values, types[kind])
    return array.dictionary_encode() if kind == "dict" else array


@st.composite
def parquet_cases(draw) -> Case:
    import pyarrow as pa
    import pyarrow.parquet as pq

    mood = draw(MOODS)
    clean = mood != "dirty"
    classes, label_kind = label_classes(draw)
    features = ["a", "b"][: draw(st.integers(1, 2))]
    kinds = {
        c: draw(st.sampled_from(_PARQUET_KINDS + ([] if clean else _PARQUET_REFUSED)))
        for c in features
    }
    length = draw(st.integers(1, 3))
    case, files, first = Case(), [], None
    for f in range(draw(st.integers(1, 2))):
        n = draw(st.integers(0, 5))
        columns = {c: draw(parquet_values(kinds[c], n, clean, length)) for c in features}
        labels = [draw_label(draw, classes, label_kind, clean) for _ in range(n)]
        if n and first is None:
            first = {c: v[0] for c, v in columns.items()}
        arrays = {c: _arrow_array(kinds[c], v) for c, v in columns.items()}
        if rarely(draw, clean, 10) and n:
            labels[draw(st.integers(0, n - 1))] = (None, None)
        files.append((columns, labels))
        label_values = [v for v, _ in labels]
        label_type = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}[label_kind]
        arrays["label"] = pa.array(label_values, label_type)
        if draw(st.booleans()):
            arrays["note"] = pa.array(["unread"] * n)
        if rarely(draw, clean, 15):
            del arrays[draw(st.sampled_from(features + ["label"]))]
            case.refuse("a needed column missing")
        order = draw(st.permutations(sorted(arrays)))
        buf = io.BytesIO()
        pq.write_table(
            pa.table({c: arrays[c] for c in order}),
            buf,
            row_group_size=draw(st.sampled_from([1, 2, 64])),
            compression=draw(st.sampled_from(["none", "snappy", "gzip", "zstd"])),
        )
        case.files[f"d/p{f}.parquet"] = buf.getvalue()
    # Feature lengths come from the source's first row: a list's length (at least 1).
    dims = dict.fromkeys(features, 1)
    if first is not None:
        dims.update({c: max(len(v), 1) for c, v in first.items() if isinstance(v, list)})
    for columns, labels in files:
        for i, (_, label) in enumerate(labels):
            values = [_parquet_value(columns[c][i], kinds[c], dims[c]) for c in features]
            ok = label is not None and all(v is not None for v in values)
            case.add(Row(np.concatenate(values), label) if ok else None, "a bad row")
    case.finish()
    case.params = dict(source="d", feature_columns=features, classes=classes)
    maybe_mangle(draw, case, mood, body=0.3)
    return case


@_settings(200)
@given(parquet_cases())
def test_parquet_reads_what_the_file_holds_or_raises_input_error(case):
    check_case(case)


# -- TFRecord ----------------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data`."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_file(records: list[bytes]) -> bytes:
    """The TFRecord framing of `records`: length, its CRC, data, its CRC (written
    here, not by TensorFlow, so that a bad CRC can be made on purpose)."""
    out = []
    for data in records:
        length = struct.pack("<Q", len(data))
        out += [length, struct.pack("<I", _masked_crc(length))]
        out += [data, struct.pack("<I", _masked_crc(data))]
    return b"".join(out)


_TF_KINDS = ("float", "int", "bytes")


@st.composite
def tf_values(draw, kind: str, size: int, clean: bool) -> list:
    if kind == "float":
        value = st.floats(width=32, allow_nan=not clean, allow_infinity=not clean)
    elif kind == "int":
        value = st.integers(-(2**63), 2**63 - 1)
    else:
        value = number_texts(clean).map(str.encode)
        if not clean:
            value = st.one_of(value, st.binary(max_size=4))
    return draw(st.lists(value, min_size=size, max_size=size))


def _tf_feature(kind: str | None, values: list):
    import tensorflow as tf

    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Feature()  # no kind set: no values


def _tf_number(value: Any) -> np.float32 | None:
    if isinstance(value, bytes):
        try:
            return number_of(value.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return number_ok(value)


@st.composite
def tfrecord_cases(draw) -> Case:
    import tensorflow as tf

    mood = draw(MOODS)
    clean = mood != "dirty"
    classes, label_kind = label_classes(draw)
    features = draw(st.lists(st.sampled_from(["f", "g", "s"]), min_size=1, max_size=3, unique=True))
    kinds = {c: _TF_KINDS[["f", "g", "s"].index(c)] for c in features}
    sizes = {c: draw(st.integers(1, 3)) for c in features}
    case, records, dims = Case(), [], None
    for f in range(draw(st.integers(1, 2))):
        payloads = []
        for _ in range(draw(st.integers(0 if not clean or f else 1, 4))):
            values: dict[str, list | None] = {}
            feats = {}
            for c in features:
                kind = draw(st.sampled_from(_TF_KINDS)) if rarely(draw, clean, 8) else kinds[c]
                size = draw(st.integers(0, 3)) if rarely(draw, clean, 8) else sizes[c]
                if rarely(draw, clean, 10):
                    kind, size = None, 0  # a feature with no kind set
                if rarely(draw, clean, 12):
                    values[c] = None  # absent from this record
                    continue
                values[c] = draw(tf_values(kind or "float", size, clean))
                feats[c] = _tf_feature(kind, values[c])
            label, cid = draw_label(draw, classes, label_kind, clean)
            kind = {"int": "int", "float": "float", "str": "bytes"}[label_kind]
            label_values = [label.encode() if kind == "bytes" else label]
            if rarely(draw, clean, 12):
                label_values, cid = label_values * draw(st.sampled_from([0, 2])), None
            if rarely(draw, clean, 15):
                cid = None  # no label feature
            else:
                feats["label"] = _tf_feature(kind, label_values)
            if not payloads:  # a file's first record names its features
                for c in features + ["label"]:
                    if c not in feats:
                        case.refuse(f"first record of file {f} lacks {c}")
            if dims is None:  # the source's first record fixes the lengths
                dims = {c: max(len(v or []), 1) for c, v in values.items()}
            for c in features:
                v = values.get(c)
                if v is None or len(v) != dims.get(c, 1):
                    cid = None
            numbers = [_tf_number(x) for c in features for x in values.get(c) or []]
            ok = cid is not None and all(x is not None for x in numbers)
            case.add(Row(np.array(numbers, np.float32), cid) if ok else None, "a bad record")
            example = tf.train.Example(features=tf.train.Features(feature=feats))
            payloads.append(example.SerializeToString())
        records.append(payloads)
    case.finish()
    for f, payloads in enumerate(records):
        data = tfrecord_file(payloads)
        name = f"d/p{f}.tfrecord" + (".gz" if draw(st.booleans()) else "")
        if payloads and rarely(draw, clean, 12):
            # A flipped bit in the last record's data CRC.
            data = data[:-1] + bytes([data[-1] ^ 1])
            case.refuse("a bad CRC")
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        if data and rarely(draw, clean, 12):
            name = name[:-3] if name.endswith(".gz") else name + ".gz"
            case.refuse("compressed or not, against its name")
        case.files[name] = data
    case.params = dict(source="d", feature_columns=features, classes=classes)
    maybe_mangle(draw, case, mood)
    return case


@_settings(80)
@given(tfrecord_cases())
def test_tfrecord_reads_what_the_file_holds_or_raises_input_error(case):
    check_case(case)


# -- image folders -----------------------------------------------------------------

# The kinds of image drawn and the formats each is saved in: (lossless formats,
# lossy formats). A kind in _REFUSED must be refused. `-clear`: a translucent
# pixel; `;16`: 16 bits per channel (colour ones written by hand: Pillow
# writes no 16-bit colour PNG).
_IMAGE_FORMATS = {
    "L": (["png", "bmp", "tif"], ["jpg", "gif", "webp"]),
    "RGB": (["png", "bmp", "tif"], ["jpg", "gif", "webp"]),
    "RGBA": (["png", "tif", "bmp"], ["webp"]),  # fully opaque
    "LA": (["png", "tif"], []),  # fully opaque
    "P": (["png", "bmp", "tif", "gif"], []),
    "1": (["png", "bmp", "tif"], []),
    "LAB": (["tif"], []),
    "I;16": (["png", "tif"], []),
    "RGB;16": (["png"], []),
    "RGBA;16": (["png"], []),  # fully opaque
    "RGBA-clear": (["png", "tif"], []),
    "LA-clear": (["png"], []),
    "P-clear": (["png", "gif"], []),
    "RGBA;16-clear": (["png"], []),
    "I": (["tif"], []),
    "F": (["tif"], []),
}
_REFUSED = {
    "RGBA-clear": "a translucent pixel",
    "LA-clear": "a translucent pixel",
    "P-clear": "a transparent palette colour in use",
    "RGBA;16-clear": "a translucent pixel",
    "I": "32-bit integer pixels",
    "F": "floating-point pixels",
}
_PIL_FORMATS = {"png": "PNG", "bmp": "BMP", "tif": "TIFF", "jpg": "JPEG", "gif": "GIF"}
_PIL_FORMATS["webp"] = "WEBP"


def _luma16(rgb: np.ndarray) -> np.ndarray:
    """16-bit RGB [H, W, 3] as grey [H, W, 1]: ITU-R 601-2 luma, rounded."""
    return np.rint(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[..., None]


@st.composite
def image_file(draw, kind: str, fmt: str, width: int, height: int, grey: bool):
    """(the bytes of an image of `kind` in format `fmt`, the pixels it must read
    as: float32 [H * W * C] in [0, 1], for a lossless format and a kind not
    refused)."""
    from PIL import Image

    mode, clear = kind.split("-")[0], kind.endswith("-clear")
    size, buf = (height, width), io.BytesIO()
    if mode in ("RGB;16", "RGBA;16"):
        from ingest_helpers import write_png

        channels = 3 if mode == "RGB;16" else 4
        pixels = draw(hnp.arrays(np.uint16, (*size, channels)))
        if channels == 4:
            pixels[..., 3] = 65535
            if clear:
                pixels[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1)), 3] = 0
        with tempfile.TemporaryDirectory() as tmp:
            with open(
                write_png(os.path.join(tmp, "i.png"), pixels, 2 + 4 * (channels == 4)), "rb"
            ) as f:
                data = f.read()
        rgb = pixels[..., :3].astype(np.float64)
        grey_or_rgb = _luma16(pixels[..., :3]) if grey else rgb
        return data, (grey_or_rgb / 65535).astype(np.float32).ravel()
    if mode == "I;16":
        image = Image.fromarray(draw(hnp.arrays(np.uint16, size)))
    elif mode in ("I", "F"):
        image = Image.fromarray(np.zeros(size, np.int32 if mode == "I" else np.float32), mode)
    else:
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 3, "1": 1, "LAB": 3}[mode]
        pixels = draw(hnp.arrays(np.uint8, (*size, channels)))
        if mode in ("LA", "RGBA"):
            pixels[..., -1] = 255
            if clear:
                pixels[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1)), -1] = 0
        if mode in ("L", "1"):
            image = Image.fromarray(pixels[..., 0], "L").convert(mode)
        elif mode == "P":
            image = Image.fromarray(pixels, "RGB").convert("P")
        else:
            image = Image.fromarray(pixels, mode)
    options = {"transparency": int(np.asarray(image)[0, 0])} if kind == "P-clear" else {}
    image.save(buf, _PIL_FORMATS[fmt], **options)
    if fmt not in _IMAGE_FORMATS[kind][0] or kind in _REFUSED:
        return buf.getvalue(), None
    if mode == "I;16":
        pixels = np.asarray(image).astype(np.float32)[..., None] / np.float32(65535)
        return buf.getvalue(), (pixels if grey else np.repeat(pixels, 3, axis=-1)).ravel()
    if mode == "LAB" and grey:  # Pillow converts LAB to RGB only
        image = image.convert("RGB")
    pixels = np.asarray(image.convert("L" if grey else "RGB"), np.float32) / np.float32(255)
    return buf.getvalue(), pixels.ravel()


@st.composite
def image_cases(draw) -> Case:
    mood = draw(MOODS)
    clean = mood != "dirty"
    grey = draw(st.booleans())
    width, height = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # A clean case keeps to one bit depth: every image has the first one's.
    sixteen = draw(st.integers(0, 3)) == 0
    ok_kinds = [k for k in _IMAGE_FORMATS if k not in _REFUSED and (";16" in k) == sixteen]
    classes = sorted(
        draw(st.lists(st.sampled_from(["cat", "dog", "owl"]), min_size=1, unique=True))
    )
    case, first = Case(), None
    for label, name in enumerate(classes):
        case.files[f"imgs/{name}"] = DIRECTORY
        for k in range(draw(st.integers(1 if clean and label == 0 else 0, 3))):
            kind = draw(st.sampled_from(ok_kinds if clean else list(_IMAGE_FORMATS) + ["text"]))
            if kind == "text":
                ext = draw(st.sampled_from([".png", ".JPG", ".tiff"]))
                case.files[f"imgs/{name}/{k}{ext}"] = draw(st.sampled_from([b"", b"not an image"]))
                case.refuse("not an image")
                continue
            lossless, lossy = _IMAGE_FORMATS[kind]
            fmt = draw(st.sampled_from(lossless + lossy))
            size = (width, height)
            if rarely(draw, clean, 8):
                size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
            data, pixels = draw(image_file(kind, fmt, *size, grey))
            ext = "." + fmt
            case.files[f"imgs/{name}/{k}{ext.upper() if draw(st.booleans()) else ext}"] = data
            if kind in _REFUSED:
                case.refuse(_REFUSED[kind])
                continue
            depth = 16 if ";16" in kind else 8
            if first is None:  # the first image read fixes the size and the bit depth
                first = (size, depth)
            elif (size, depth) != first:
                case.refuse("an image of another size or bit depth")
                continue
            if pixels is None:  # a lossy format: only the size and range are checked
                case.add(
                    Row(np.zeros(width * height * (1 if grey else 3), np.float32), label, False), ""
                )
            else:
                case.add(Row(pixels, label), "")
        if rarely(draw, clean, 6):
            case.files[f"imgs/{name}/notes.txt"] = b"not an image: not read"
            case.files[f"imgs/{name}/.hidden.png"] = b"hidden: not read"
    if rarely(draw, clean, 10):
        case.files[f"imgs/{classes[0]}/sub.png"] = DIRECTORY  # a folder named like an image
        case.refuse("a folder named like an image")
    fmt = draw(st.sampled_from([spec.IMAGES, spec.AUTO]))
    if rarely(draw, clean, 8):
        case.files["imgs/labels.csv"] = b"file,label\ncat/0.png,cat\n"
        if fmt == spec.AUTO:
            case.refuse("data files beside the class folders")
    case.finish()
    case.params = dict(source="imgs", format=fmt, color_mode=spec.GRAYSCALE if grey else spec.RGB)
    maybe_mangle(draw, case, mood)
    return case


@_settings(150)
@given(image_cases())
def test_image_folder_reads_what_the_files_hold_or_raises_input_error(case):
    check_case(case)


# -- the executor: nothing published on a failure inside Beam ----------------------


def _csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode()


def _table(draw, n: int) -> tuple[list[list[float]], list[str]]:
    """n rows of two finite float32 features, and their labels (cat or dog)."""
    x = draw(hnp.arrays(np.float32, (n, 2), elements=st.floats(-1e3, 1e3, width=32)))
    return x.tolist(), [draw(st.sampled_from(["cat", "dog"])) for _ in range(n)]


# (format, how the second file is broken): the breakages `late_failures` makes.
LATE_FAILURES = [
    ("csv", "bad number"),
    ("csv", "unknown class"),
    ("csv", "too few fields"),
    ("parquet", "null"),
    ("parquet", "NaN"),
    ("parquet", "unknown class"),
    ("parquet", "corrupt page"),
    ("npz", "NaN or infinity"),
    ("npz", "unknown class"),
    ("tfrecord", "NaN"),
    ("tfrecord", "cut short"),
    ("tfrecord", "bad CRC"),
    ("images", "translucent"),
    ("images", "16-bit among 8-bit"),
    ("images", "another size"),
]


@st.composite
def late_failures(draw, fmt: str, how: str) -> tuple[dict[str, bytes | None], dict[str, Any], str]:
    """(files, Ingest parameters, the file at fault): a source of two files, the
    first valid and the second broken (`how`) in a way that planning does not
    see (planning reads every file's columns but only the source's first row,
    first record or first image), so that the error is raised inside Beam."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import tensorflow as tf

    n = 12
    at = draw(st.integers(0, n - 1))  # the bad row of the second file
    params: dict[str, Any] = dict(source="d", classes=["cat", "dog"])
    files: dict[str, bytes | None] = {}
    if fmt == "csv":
        for f in range(2):
            x, y = _table(draw, n)
            rows = [[a, b, label] for (a, b), label in zip(x, y, strict=True)]
            if f == 1:
                rows[at] = {
                    "bad number": [draw(st.sampled_from(BAD_NUMBERS)), 1, "cat"],
                    "unknown class": [1, 2, "cow"],
                    "too few fields": [1, 2],
                }[how]
            files[f"d/p{f}.csv"] = _csv_bytes(["a", "b", "label"], rows)
        params["feature_columns"] = ["a", "b"]
    elif fmt == "parquet":
        for f in range(2):
            x, y = _table(draw, n)
            a = [row[0] for row in x]
            if f == 1 and how in ("null", "NaN"):
                a[at] = None if how == "null" else math.nan
            elif f == 1 and how == "unknown class":
                y[at] = "cow"
            buf = io.BytesIO()
            pq.write_table(pa.table({"a": pa.array(a, pa.float64()), "label": y}), buf)
            data = buf.getvalue()
            if f == 1 and how == "corrupt page":  # the footer reads, the first page not
                page = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
                at = page.data_page_offset
                data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
            files[f"d/p{f}.parquet"] = data
        params["feature_columns"] = ["a"]
    elif fmt == "npz":
        for f in range(2):
            x, y = _table(draw, n)
            x, labels = np.array(x), np.array([["cat", "dog"].index(v) for v in y])
            if f == 1 and how == "NaN or infinity":
                x[at, draw(st.integers(0, 1))] = draw(st.sampled_from([np.nan, np.inf]))
            elif f == 1 and how == "unknown class":
                labels[at] = 7
            buf = io.BytesIO()
            np.savez(buf, x=x, y=labels)
            files[f"d/p{f}.npz"] = buf.getvalue()
        params.update(label_column="y", classes=["0", "1"])
    elif fmt == "tfrecord":
        for f in range(2):
            x, y = _table(draw, n)
            if f == 1 and how == "NaN":
                x[at][0] = math.nan
            payloads = [
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "f": _tf_feature("float", row),
                            "label": _tf_feature("bytes", [label.encode()]),
                        }
                    )
                ).SerializeToString()
                for row, label in zip(x, y, strict=True)
            ]
            data = tfrecord_file(payloads)
            if f == 1 and how == "cut short":  # inside the last record
                data = data[: -draw(st.integers(1, len(tfrecord_file(payloads[-1:])) - 1))]
            elif f == 1 and how == "bad CRC":  # a flipped bit in the last record's data CRC
                data = data[:-1] + bytes([data[-1] ^ 1])
            files[f"d/p{f}.tfrecord"] = data
        params["feature_columns"] = ["f"]
    else:
        params = dict(source="d", format=spec.IMAGES)
        names = sorted(f"{c}/{k}.png" for c in ("cat", "dog") for k in range(3))
        bad = draw(st.sampled_from(names[1:]))  # not the first: planning reads that one
        for name in names:
            kind, size = "RGB", (3, 2)
            if name == bad:
                kind, size = {
                    "translucent": ("RGBA-clear", size),
                    "16-bit among 8-bit": ("I;16", size),
                    "another size": ("RGB", (2, 3)),
                }[how]
            files[f"d/{name}"] = draw(image_file(kind, "png", *size, grey=False))[0]
        return files, params, bad
    return files, params, sorted(files)[1][len("d/") :]


@pytest.mark.parametrize("fmt, how", LATE_FAILURES)
@_settings(1)
@given(data=st.data())
def test_executor_failing_inside_beam_leaves_nothing_in_its_outputs(fmt, how, data):
    import pathlib

    from ingest_helpers import all_files, hidden_entries, run_executor

    files, params, bad = data.draw(late_failures(fmt, how))
    note(f"{fmt}: {bad} is broken ({how})")
    with tempfile.TemporaryDirectory() as root:
        write_files(root, files)
        params = {**params, "source": os.path.join(root, "d")}
        plan_source(IngestConfig.create(**params))  # planning does not see the fault
        with pytest.raises(InputError) as e:
            run_executor(pathlib.Path(root), **params)
        # The error is the reader's own (unwrapped from Beam's), naming the file.
        assert e.value.file == os.path.join(root, "d", bad), str(e.value)
        out = os.path.join(root, "out")
        assert sorted(os.listdir(out)) == [spec.EXAMPLES_KEY, spec.VISUALIZATION_KEY]
        assert all_files(out) == {}, "files left in the output URIs"
        assert hidden_entries(out) == [], "temporary folders left in the output URIs"


# -- regressions: the smallest failures the properties found -------------------------


def test_utf16_without_byte_order_mark_is_an_input_error_naming_the_byte_order(tmp_path):
    path = tmp_path / "le.csv"
    path.write_bytes("a,label\n1,x\n".encode("utf-16-le"))
    config = dict(source=str(path), feature_columns=["a"], classes=["x"])
    with pytest.raises(
        InputError, match=r"le\.csv, row 1: cannot be decoded as utf-16 .*'utf-16-le'"
    ):
        plan_source(IngestConfig.create(**config, encoding="utf-16"))
    plan = plan_source(IngestConfig.create(**config, encoding="utf-16-le"))
    assert [r["a"].tolist() for r in iter_rows(plan)] == [[1.0]]


@pytest.mark.parametrize("compression", ["none", "snappy"])
def test_parquet_corrupt_page_is_an_input_error_naming_its_row_group(tmp_path, compression):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "t.parquet")
    table = pa.table({"a": [1.5, 2.5, 3.0], "label": ["x", "y", "x"]})
    pq.write_table(table, path, compression=compression, row_group_size=2)
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    # The footer still reads (planning passes); the second group's page header does not.
    data[pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)
    plan = plan_source(IngestConfig.create(path, feature_columns=["a"], classes=["x", "y"]))
    rows = iter_rows(plan)
    assert [next(rows)["a"].tolist() for _ in range(2)] == [[1.5], [2.5]]
    with pytest.raises(InputError, match=r"t\.parquet: row group 2 of 2 \(rows 3 to 3\) cannot be"):
        next(rows)


def test_lab_image_is_read_as_grey_through_rgb(tmp_path):
    from PIL import Image

    os.makedirs(tmp_path / "imgs" / "a")
    # Pillow's LAB bytes: L 0 to 255, a and b signed (0 is neutral).
    lab = np.array([[[255, 0, 0], [0, 0, 0], [128, 60, 200]]], np.uint8)
    Image.fromarray(lab, "LAB").save(tmp_path / "imgs" / "a" / "0.tif")
    plan = plan_source(IngestConfig.create(str(tmp_path / "imgs"), color_mode=spec.GRAYSCALE))
    (row,) = iter_rows(plan)
    grey = Image.fromarray(lab, "LAB").convert("RGB").convert("L")
    np.testing.assert_array_equal(row["image"], np.asarray(grey, np.float32).ravel() / 255)
    assert row["image"][0] > 0.99 and row["image"][1] < 0.01  # L 255 is white, L 0 black
