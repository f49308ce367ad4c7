"""File-system helpers of ingestion: paths, listing a source, keys and column checks.

Paths go through `tf.io.gfile` when they are URIs (`gs://...`), through the
local file system otherwise (TensorFlow is imported only for URIs).

`list_source(config)` resolves the format and lists what is to be read:
  * a glob: every file it matches, read in the configured format (or, for
    `auto`, the one format their extensions name);
  * a directory: its non-hidden files whose names do not start with `_`
    (marker files such as `_SUCCESS`) and, of those, with `auto` the files
    with a known extension, with an explicit format only the files with that
    format's extensions (`spec.extensions_of`); a directory of sub-folders
    (and no data files) is an image folder;
  * a single file: that file, whatever its name when the format is explicit.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob as globlib
import os
import re
from collections.abc import Sequence

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec
from frontier.schemas.dataset import ROLE_KEYS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GLOB_CHARS = re.compile(r"[*?\[]")
_SOURCE_EXPECTED = "an existing file, directory, or a glob that matches files"


# -- paths ---------------------------------------------------------------------


def _remote(path: str) -> bool:
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    """Whether a local path or URI exists."""
    return _gfile().exists(path) if _remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    """Whether a local path or URI is a directory."""
    return _gfile().isdir(path) if _remote(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    """Sorted names in a directory, hidden ones (`.name`) left out."""
    names = _gfile().listdir(path) if _remote(path) else os.listdir(path)
    return sorted(n.rstrip("/") for n in names if not n.startswith("."))


def glob_files(pattern: str) -> list[str]:
    """Sorted files (not directories) matching a glob."""
    found = _gfile().glob(pattern) if _remote(pattern) else globlib.glob(pattern)
    return sorted(p for p in found if not isdir(p))


def open_file(path: str, mode: str = "rb"):
    """Opens a local file or URI; local text is read as UTF-8 (BOM dropped)."""
    if _remote(path):
        return _gfile().GFile(path, mode)
    if "b" in mode:
        return open(path, mode)
    return open(path, mode, newline="", encoding="utf-8-sig")


def relative(path: str, root: str) -> str:
    """`path` relative to `root` with `/` separators (the base name if no root)."""
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


def feature_keys(columns: Sequence[str]) -> tuple[str, ...]:
    """The feature keys of `columns` (sanitised names).

    Raises:
      InputError: a name with no letter or digit, one that becomes a role
        key, or two names that become the same key.
    """
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
        spec.claim_unique(
            keys,
            key,
            col,
            "columns {first!r} and {second!r} both become the feature key {name!r}",
            column=col,
            expected="feature column names that differ in letters or digits",
        )
    return tuple(keys)


def _param_of(config: spec.IngestConfig, column: str) -> str:
    for key, value in config.role_columns.items():
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
    """Checks that a file has every needed column.

    Raises:
      InputError: for the first needed column missing from `available`,
        naming the parameter that asked for it, the closest existing name and
        the names that exist.
    """
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


def list_source(config: spec.IngestConfig) -> tuple[str, str, list[str]]:
    """Resolves the format and lists the files to read (see the module docstring).

    Returns:
      (format, root, files): the format (never `auto`), the directory that
      default example ids are relative to, and the files in sorted order; for
      an image folder `files` are the class sub-folders.

    Raises:
      InputError: nothing at the source, no data files, an unknown extension
        or several formats with `auto`, or a configuration that does not fit
        the format found.
    """
    source = config.source
    fmt = config.format_from_name()
    if _GLOB_CHARS.search(source):
        root, files = _list_glob(source)
    elif isdir(source):
        return _list_directory(config, fmt)
    elif exists(source):
        root = os.path.dirname(source)
        files = [source]
        if fmt == spec.IMAGES:
            raise InputError(
                "is a file", file=source, expected="a directory with one sub-folder per class"
            )
    else:
        raise InputError("no such file or directory", file=source, expected=_SOURCE_EXPECTED)
    return _resolve_format(config, fmt, source, files), root, files


def _list_glob(pattern: str) -> tuple[str, list[str]]:
    """(root, files) of a glob source: the directory before its first glob
    character, and the files it matches.

    Raises:
      InputError: no file matches.
    """
    files = glob_files(pattern)
    if not files:
        raise InputError("no file matches this pattern", file=pattern, expected=_SOURCE_EXPECTED)
    prefix = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
    root = prefix if prefix.endswith(("/", os.sep)) else os.path.dirname(prefix)
    return root, files


def _list_directory(config: spec.IngestConfig, fmt: str) -> tuple[str, str, list[str]]:
    """`list_source` for a directory: its data files, or its class sub-folders.

    Raises:
      InputError: an image folder without sub-folders, or no data files (of
        the format, when explicit).
    """
    source = config.source
    entries = listdir(source)
    subdirs = [e for e in entries if isdir(os.path.join(source, e))]
    # Marker files such as _SUCCESS are not data.
    files = [os.path.join(source, e) for e in entries if e not in subdirs and not e.startswith("_")]
    if fmt == spec.AUTO:
        data_files = [f for f in files if spec.format_of_file_name(f)]
        if data_files and subdirs:
            _refuse_mixed_layout(source, data_files, subdirs)
        if data_files or not subdirs:
            files = data_files
        else:
            fmt = spec.IMAGES
    elif fmt != spec.IMAGES:
        # An explicit format reads only its own files (not a README beside them).
        files = [f for f in files if spec.format_of_file_name(f) == fmt]
    if fmt == spec.IMAGES:
        if not subdirs:
            raise InputError(
                f"image folder has no sub-folders (found {_found(files)})",
                file=source,
                expected=_IMAGE_LAYOUT,
            )
        if config.format == spec.AUTO:
            dataclasses.replace(config, format=fmt).validate()
        return fmt, source, [os.path.join(source, d) for d in subdirs]
    if not files:
        if fmt == spec.AUTO:
            images = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)]
            if images:
                raise InputError(
                    f"directory holds images but no class sub-folders (found {_found(images)})",
                    file=source,
                    expected=_IMAGE_LAYOUT,
                )
            raise InputError(
                "directory holds no data files",
                file=source,
                expected="at least one data file (csv, parquet, npz, tfrecord) "
                "or one sub-folder per class",
            )
        names = ", ".join(f"*{e}" for e in spec.extensions_of(fmt))
        raise InputError(
            f"directory holds no data files of format {fmt!r}",
            file=source,
            expected=f"files named {names} (or a glob such as "
            f"{os.path.join(source, '*')} to read files of any name)",
        )
    return _resolve_format(config, fmt, source, files), source, files


_IMAGE_LAYOUT = (
    "the image-folder layout: one sub-folder per class, named by the class, holding"
    f" that class's images ({', '.join(IMAGE_EXTENSIONS)}); files beside the"
    " sub-folders are not read"
)


def _found(names: Sequence[str], limit: int = 5) -> str:
    """`names` in words: "3 files: 'a.csv', 'b.csv', 'c.txt'" (the first `limit`)."""
    if not names:
        return "nothing"
    shown = ", ".join(repr(os.path.basename(n)) for n in names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return f"{len(names)} file{'s' if len(names) != 1 else ''}: {shown}{more}"


def _refuse_mixed_layout(source: str, data_files: list[str], subdirs: list[str]) -> None:
    """With `auto`, a directory that holds data files and sub-folders with
    images fits two layouts; sub-folders without images (logs, a cache) are
    not data, and the files are read.

    Raises:
      InputError: naming both layouts and what was found of each.
    """
    with_images = [
        d
        for d in subdirs
        if any(n.lower().endswith(IMAGE_EXTENSIONS) for n in listdir(os.path.join(source, d)))
    ]
    if not with_images:
        return
    raise InputError(
        f"directory holds both data files ({_found(data_files)}) and sub-folders of"
        f" images ({with_images[:5]}), so its layout is ambiguous",
        file=source,
        parameter=spec.FORMAT_KEY,
        expected="either a directory of data files (csv, parquet, npz, tfrecord) or "
        + _IMAGE_LAYOUT
        + ": set format='images' to read the sub-folders, or point the source at the"
        " data files (e.g. a glob such as dir/*.csv)",
    )


def _resolve_format(config: spec.IngestConfig, fmt: str, source: str, files: list[str]) -> str:
    """`fmt`, or with `auto` the one format the files' extensions name (the
    configuration then checked again with it).

    Raises:
      InputError: a file of unknown extension, files of several formats, or
        a configuration that does not fit the format found.
    """
    if fmt != spec.AUTO:
        return fmt
    found = {f: spec.format_of_file_name(f) for f in files}
    unknown = [f for f, k in found.items() if k is None]
    if unknown:
        raise InputError(
            "cannot tell the format from the file extension",
            file=unknown[0],
            parameter=spec.FORMAT_KEY,
            expected="a known extension (.csv, .parquet, .npz, .tfrecord[.gz]) "
            "or an explicit format",
        )
    kinds = sorted(set(found.values()))
    if len(kinds) > 1:
        raise InputError(
            f"files of several formats {kinds} in one source",
            file=source,
            parameter=spec.FORMAT_KEY,
            expected="one format per source (use a glob such as *.csv)",
        )
    # Checks that could not be made from the source string alone.
    dataclasses.replace(config, format=kinds[0]).validate()
    return kinds[0]
