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

import codecs
import csv
import dataclasses
import decimal
import functools
import io
import logging
import re
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


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_LINE_END = re.compile(r"\r\n|\r|\n")
_CHUNK = 1 << 20


def text_codec(encoding: str) -> str:
    """The codec that reads text in `encoding`: `utf-8-sig` for UTF-8 (a
    byte-order mark is dropped), else `encoding` itself."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def text_lines(path: str, encoding: str = spec.DEFAULT_ENCODING) -> Iterator[str]:
    """The lines of a text file (local or URI), decoded from `encoding`, each
    with its line end (`\\n`, `\\r\\n` or `\\r`), read in 1 MiB chunks.

    Raises:
      InputError: a byte sequence that is not valid in `encoding` (naming the
        line, the byte offset in the file and the byte), UTF-16 text without
        a byte-order mark read as 'utf-16', or a NUL character (a binary or
        UTF-16 file read as 8-bit text).
    """
    codec = text_codec(encoding)
    decoder = codecs.getincrementaldecoder(codec)()
    line, offset, pending = 1, 0, ""
    with open_file(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            final = not chunk
            try:
                text = pending + decoder.decode(chunk, final=final)
            except UnicodeDecodeError as e:
                # e.object is `data` or its tail (after a byte-order mark).
                at = offset + len(chunk) - len(e.object) + e.start
                before = pending + e.object[: e.start].decode(codec, errors="replace")
                line += len(_LINE_END.findall(before))
                raise _decode_error(path, line, at, e, encoding) from None
            except UnicodeError as e:
                # Not a decode error at a byte: Python's UTF-16 decoder raises the
                # bare UnicodeError when the text has no byte-order mark to give
                # the byte order (its first bytes, so `line` is still 1).
                raise InputError(
                    f"cannot be decoded as {encoding} ({e})",
                    file=path,
                    row=line,
                    expected=f"text in the encoding {encoding!r}: for UTF-16 without a"
                    " byte-order mark set the Ingest parameter"
                    f" {spec.ENCODING_KEY!r} to 'utf-16-le' or 'utf-16-be'",
                ) from None
            offset += len(chunk)
            end = 0
            for m in _LINE.finditer(text):
                if m.end() == len(text) and text.endswith("\r") and not final:
                    break  # a \r\n may be split across chunks
                end = m.end()
                line = _check_nul(path, line, m.group())
                yield m.group()
            pending = text[end:]
            if final:
                if pending:
                    _check_nul(path, line, pending)
                    yield pending
                return


def _decode_error(
    path: str, line: int, at: int, e: UnicodeDecodeError, encoding: str
) -> InputError:
    bad = e.object[e.start : e.end]
    return InputError(
        f"bytes {bad.hex(' ')} at byte offset {at} of the file cannot be decoded as"
        f" {encoding} ({e.reason})",
        file=path,
        row=line,
        expected=f"text in the encoding {encoding!r}: set the Ingest parameter"
        f" {spec.ENCODING_KEY!r} to the file's encoding (e.g. 'latin-1', 'cp1252' or 'utf-16')",
    )


def _check_nul(path: str, line: int, text: str) -> int:
    """The next line's number; an InputError for a NUL character in `text`."""
    if "\x00" in text:
        raise InputError(
            f"NUL character at position {text.index(chr(0)) + 1} of the line (a binary"
            " file, or text in a 16-bit encoding such as UTF-16 read as 8-bit text)",
            file=path,
            row=line,
            expected="CSV text without NUL characters (for UTF-16 text set the Ingest"
            f" parameter {spec.ENCODING_KEY!r} to 'utf-16')",
        )
    return line + 1


def _csv_rows(path: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of each CSV record, the header first; a record that spans
    lines (a quoted line break) is numbered by its last line.

    Raises:
      InputError: text not in `encoding`, a NUL character, or malformed CSV
        (a quote not closed by the end of the file, text after a closing
        quote, a field over the csv module's size limit).
    """
    reader = csv.reader(text_lines(path, encoding), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            what, line = str(e), reader.line_num
            if "unexpected end of data" in what:
                what = f"a quoted field opened on line {start} is not closed by the end of the file"
                line = start
            raise InputError(
                f"malformed CSV: {what}",
                file=path,
                row=line,
                expected='CSV records with quotes in pairs ("a ""quoted"" field") and a'
                " delimiter after each closing quote",
            ) from None
        yield reader.line_num, fields
        start = reader.line_num + 1


def csv_header(path: str, encoding: str = spec.DEFAULT_ENCODING) -> list[str]:
    """The column names of a CSV file.

    Raises:
      InputError: an empty file, a header naming a column twice, or a first
        line that cannot be read (see `_csv_rows`).
    """
    _, header = next(_csv_rows(path, encoding), (1, None))
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
    rows = _csv_rows(path, plan.encoding)
    _, header = next(rows, (1, None))
    if not header:
        return
    index = {name: i for i, name in enumerate(header)}
    cols = [(c, index[c]) for c in plan.needed_columns if c in index]
    for line, fields in rows:
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
    """The rows of a Parquet file, read row group by row group in batches.

    Raises:
      InputError: a file whose footer reads but whose data does not (a
        corrupt or cut page), naming the row group and its rows.
    """
    import pyarrow.parquet as pq

    path = shard.path
    rel = relative(path, plan.root)
    row = 0
    with open_file(path, "rb") as f:
        # The footer was read when planning; the pages are read only here, and
        # pyarrow reports a bad one as OSError or ArrowInvalid (bad UTF-8 in a
        # string page as UnicodeDecodeError from to_pylist). Reading one row
        # group at a time lets the error say which rows it is in.
        try:
            pf = pq.ParquetFile(f)
            cols = [c for c in plan.needed_columns if c in pf.schema_arrow.names]
            groups = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
        except Exception as e:
            raise InputError(
                f"cannot be read as Parquet ({_one_line(e)})", file=path, expected="a Parquet file"
            ) from e
        lossy: set[str] = set()
        for g, size in enumerate(groups):
            first = row + 1
            batches = pf.iter_batches(batch_size=4096, columns=cols, row_groups=[g])
            while True:
                try:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    values = _decimals_as_floats(batch, path, row, lossy).to_pylist()
                except Exception as e:
                    raise InputError(
                        f"row group {g + 1} of {len(groups)} (rows {first} to"
                        f" {first + size - 1}) cannot be read: its data is corrupt or cut"
                        f" short ({type(e).__name__}: {_one_line(e)})",
                        file=path,
                        expected="a Parquet file whose pages are intact (write it again)",
                    ) from e
                for v in values:
                    row += 1
                    yield RawRow(path, row, v, f"{rel}#{row}")


def _one_line(e: Exception) -> str:
    """An exception's message on one line (pyarrow's span several)."""
    return " ".join(str(e).split())


def _decimals_as_floats(batch, path: str, row: int, lossy: set[str]):
    """`batch` with its decimal columns cast to float64, logging (once per
    column of a file, named in `lossy`) a column whose values float64 does not
    hold exactly at the column's scale.

    Args:
      batch: a `pyarrow.RecordBatch`; row: rows of the file before it.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not any(pa.types.is_decimal(field.type) for field in batch.schema):
        return batch
    columns = batch.columns
    for i, field in enumerate(batch.schema):
        if not pa.types.is_decimal(field.type):
            continue
        floats = pc.cast(columns[i], pa.float64())
        if field.name not in lossy:
            at = _first_inexact(columns[i].to_pylist(), floats.to_pylist(), field.type.scale)
            if at is not None:
                lossy.add(field.name)
                logging.warning(
                    "Ingest: file %s, column %r: %s values are read as float64, which"
                    " does not hold them all exactly (first at row %d); features are"
                    " stored as float32 in any case",
                    path,
                    field.name,
                    field.type,
                    row + at + 1,
                )
        columns[i] = floats
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _first_inexact(decimals: list, floats: list, scale: int) -> int | None:
    """Index of the first decimal that its float, rounded to `scale` places, is not."""
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        quantum = decimal.Decimal(1).scaleb(-scale)
        for i, (d, f) in enumerate(zip(decimals, floats, strict=True)):
            if d is not None and decimal.Decimal(f).quantize(quantum) != d:
                return i
    return None


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


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_IMAGE_EXPECTED = "an image file that Pillow can read"
_OPAQUE_EXPECTED = (
    "opaque images: the colour under a transparent pixel is undefined, so flatten"
    " them onto a background first (e.g. Pillow's Image.alpha_composite) or save"
    " them without alpha"
)


def open_image(path: str):
    """A loaded Pillow image.

    Raises:
      InputError: a file that Pillow cannot read.
    """
    return _pillow_image(path, _read_bytes(path))


def _read_bytes(path: str) -> bytes:
    try:
        with open_file(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"cannot be read ({e})", file=path, expected=_IMAGE_EXPECTED) from e


def _pillow_image(path: str, data: bytes):
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img
    except Exception as e:
        raise InputError(
            f"cannot be read as an image ({e})", file=path, expected=_IMAGE_EXPECTED
        ) from e


def _png_bit_depth(data: bytes) -> int | None:
    """The bit depth of a PNG's IHDR chunk, or None for another format."""
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    return None


def _decode_png16(path: str, data: bytes) -> np.ndarray:
    """A 16-bit PNG as uint16 [H, W, C] (C 1 to 4), through TensorFlow: Pillow
    reads 16-bit colour PNGs as 8 bits per channel."""
    import tensorflow as tf

    try:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    except tf.errors.OpError as e:
        raise InputError(
            f"cannot be read as a 16-bit PNG ({e.message})", file=path, expected=_IMAGE_EXPECTED
        ) from e


def _drop_opaque_alpha(path: str, pixels: np.ndarray, full: int, mode: str) -> np.ndarray:
    """`pixels` [H, W, C] without its alpha channel (the last, when C is 2 or
    4), which must be fully opaque.

    Raises:
      InputError: a pixel that is not fully opaque.
    """
    if pixels.shape[-1] not in (2, 4):
        return pixels
    alpha = pixels[..., -1]
    clear = int(np.count_nonzero(alpha != full))
    if clear:
        raise InputError(
            f"image has an alpha channel (mode {mode}) and {clear} of {alpha.size} pixels"
            " are not fully opaque",
            file=path,
            expected=_OPAQUE_EXPECTED,
        )
    return pixels[..., :-1]


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """uint16 [H, W, 1 or 3] as [H, W, channels]: grey repeated into RGB, or
    RGB to grey by ITU-R 601-2 luma (Pillow's `convert("L")`), rounded."""
    if pixels.shape[-1] == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=-1)
    luma = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.rint(luma)[..., None].astype(pixels.dtype)


def image_pixels(path: str, channels: int) -> tuple[np.ndarray, int]:
    """The pixels of an image file as [H, W, channels] integers, and their full
    scale: uint8 and 255 for 8-bit images, uint16 and 65535 for 16-bit ones.

    Modes (Pillow's names): `L`, `RGB` as they are; `1` (black and white),
    `P` (palette), `CMYK`, `YCbCr`, `LAB`, `HSV` converted by Pillow (LAB to
    grey through RGB, which is the only conversion Pillow has for it); 16-bit
    grey (`I;16*`, e.g. TIFF) and every 16-bit PNG (grey or colour, through
    TensorFlow: Pillow reads 16-bit colour as 8 bits) kept at 16 bits. An
    alpha channel (`LA`, `RGBA`, `PA`, a palette with transparency) is dropped
    when every pixel is fully opaque; grey becomes RGB by repetition and RGB
    grey by ITU-R 601-2 luma.

    Raises:
      InputError: a file that cannot be read as an image, a pixel that is not
        fully opaque, or 32-bit integer (`I`) or floating-point (`F`) pixels,
        whose full scale is unknown.
    """
    data = _read_bytes(path)
    if _png_bit_depth(data) == 16:
        pixels = _decode_png16(path, data)
        mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[pixels.shape[-1]]
        pixels = _drop_opaque_alpha(path, pixels, 65535, mode)
        return _to_channels(pixels, channels), 65535
    with _pillow_image(path, data) as img:
        mode = img.mode
        if mode in _SIXTEEN_BIT_MODES:
            pixels = np.asarray(img).astype(np.uint16)[..., None]
            return _to_channels(pixels, channels), 65535
        if mode in ("I", "F"):
            kind = "32-bit integer" if mode == "I" else "floating-point"
            raise InputError(
                f"image has {kind} pixels (mode {mode}), whose full scale is unknown",
                file=path,
                expected="8-bit or 16-bit images (PNG, JPEG, TIFF ...): convert it to"
                " 16-bit (mode I;16) or 8-bit first",
            )
        if mode == "PA" or (mode == "P" and "transparency" in img.info):
            with img.convert("RGBA") as rgba:
                _drop_opaque_alpha(path, np.asarray(rgba), 255, mode)
        elif mode in ("LA", "RGBA", "La", "RGBa"):
            _drop_opaque_alpha(path, np.asarray(img), 255, mode)
        with _convert(path, img, "L" if channels == 1 else "RGB") as converted:
            pixels = np.asarray(converted, dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels), 255


def _convert(path: str, img, target: str):
    """`img` converted to mode `target` (`L` or `RGB`), through RGB where
    Pillow has no direct conversion (it converts LAB, e.g. a CIELAB TIFF, to
    RGB only).

    Raises:
      InputError: a mode that Pillow converts to neither.
    """
    try:
        return img.convert(target)
    except ValueError:
        pass
    try:
        with img.convert("RGB") as rgb:
            return rgb.convert(target)
    except ValueError as e:
        raise InputError(
            f"image mode {img.mode} cannot be converted to {target} ({e})",
            file=path,
            expected="an image in a mode Pillow converts to RGB (grey, RGB, palette,"
            " CMYK, YCbCr, LAB ...)",
        ) from e


def _read_image(plan: SourcePlan, shard: Shard) -> Iterator[RawRow]:
    path = shard.path
    rel = relative(path, plan.root)
    height, width, channels = plan.image_shape
    pixels, full = image_pixels(path, channels)
    first, w0, h0 = plan.first_image
    if pixels.shape[:2] != (height, width):
        raise InputError(
            f"image is {pixels.shape[1]}x{pixels.shape[0]} pixels (width x height) "
            f"but {first} is {w0}x{h0}",
            file=path,
            expected="all images of the same size (resize them first)",
        )
    if full != plan.image_full_scale:
        bits = {255: 8, 65535: 16}
        raise InputError(
            f"image has {bits[full]}-bit pixels but {first} has"
            f" {bits[plan.image_full_scale]}-bit ones",
            file=path,
            expected="all images of the same bit depth (convert them first)",
        )
    image = pixels.astype(np.float32) / np.float32(full)
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
