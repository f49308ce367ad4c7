"""Shared helpers of the Ingest tests (`test_ingest_*.py`): small tables as
CSV files, image folders, running the executor directly, and reading its
output back."""

from __future__ import annotations

import csv
import os

import numpy as np

from frontier.components.ingest import (
    IngestConfig,
    spec,
)
from frontier.schemas.artifacts import HTML_FILE_NAME
from frontier.schemas.dataset import DatasetInfo


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def table_rows(n=30):
    """Rows of a small table: a, b floats; label cat/dog; weak label; client; id."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        a, b = rng.normal(size=2).round(3)
        label = "cat" if i % 3 else "dog"
        weak = "dog" if i % 5 == 0 else label
        rows.append([a, b, label, weak, f"user{i % 4}", f"ex{i:03d}"])
    return rows


TABLE_HEADER = ["a", "b", "label", "noisy", "user", "id"]


def run_executor(tmp_path, name="out", **kwargs):
    """Runs the executor directly (no pipeline) on `IngestConfig.create(**kwargs)`,
    writing under `tmp_path / name`; returns (the Examples artifact, its
    DatasetInfo, the report's HTML)."""
    import conftest

    from frontier.components.ingest.executor import Executor

    props = IngestConfig.create(**kwargs).to_exec_properties()
    out = conftest.run_executor(Executor, tmp_path / name, {}, props)
    examples = out[spec.EXAMPLES_KEY]
    with open(os.path.join(out[spec.VISUALIZATION_KEY].uri, HTML_FILE_NAME)) as f:
        page = f.read()
    return examples, DatasetInfo.read(examples.uri), page


def load_all(uri):
    """Both splits loaded, as {split: arrays}."""
    from frontier.components.common.examples_io import load_split

    return {s: load_split(uri, s) for s in spec.SPLIT_NAMES}


def by_id(splits):
    """example id -> (split, index) over all splits."""
    out = {}
    for s, arrays in splits.items():
        for i, eid in enumerate(arrays["example_id"]):
            out[eid.decode() if isinstance(eid, bytes) else eid] = (s, i)
    return out


def hidden_entries(root):
    """Hidden files or folders (`.ingest-tmp-*`, Beam's temp folders) anywhere under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.startswith(".") or name.startswith("beam-temp"):
                found.append(os.path.join(dirpath, name))
    return found


def all_files(root):
    """Relative path -> bytes of every file under root."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def check_consistent(info, splits):
    """Counts in the DatasetInfo match the data."""
    for s, arrays in splits.items():
        assert info.split_counts[s] == len(arrays["label"])
        counts = np.bincount(arrays["label"], minlength=info.num_classes)
        assert tuple(counts) == info.class_counts[s]
        assert arrays["x"].shape == (len(arrays["label"]), info.input_dim)


def make_images(root, sizes=None, mode="RGB", per_class=6):
    from PIL import Image

    rng = np.random.default_rng(2)
    pixels = {}
    for c in ("cat", "dog"):
        os.makedirs(root / c, exist_ok=True)
        for k in range(per_class):
            w, h = (sizes or {}).get((c, k), (3, 2))
            arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(arr, "RGB").convert(mode).save(root / c / f"{k}.png")
            pixels[f"{c}/{k}.png"] = arr
    (root / "cat" / "notes.txt").write_text("not an image; ignored")
    return pixels


def csv_config(path, **kw):
    base = dict(source=str(path), feature_columns=["a", "b"], classes=["cat", "dog"])
    base.update(kw)
    return IngestConfig.create(**base)


def whole_and_subset(tmp_path, rows, header, seed, size, values_of):
    """`values_of` on a whole table and on a shuffled part of it, checked to agree.

    Writes `rows` to `full.csv` and `size` of them, drawn and ordered by
    `seed`, to `part.csv`; `values_of(path)` maps example id -> a value (its
    split, label, client ...). Asserts that every example of the part gets
    the value it has in the whole: the value depends on the example alone,
    not on the other rows, their order or the file.

    Returns:
      (whole, subset): `values_of` of the two files.
    """
    full = write_csv(tmp_path / "full.csv", header, rows)
    order = np.random.default_rng(seed).permutation(len(rows))[:size]
    part = write_csv(tmp_path / "part.csv", header, [rows[i] for i in order])
    whole, subset = values_of(full), values_of(part)
    assert subset == {eid: whole[eid] for eid in subset}
    return whole, subset


def ids_of(arrays):
    """The example ids of a split's arrays, as str."""
    return [e.decode() if isinstance(e, bytes) else e for e in arrays["example_id"]]


def write_png(path, pixels, color_type, bit_depth=16):
    """Writes `pixels` (uint [H, W, C] integers) as a PNG of the given colour
    type (0 grey, 2 RGB, 4 grey + alpha, 6 RGBA) and bit depth, by hand (no
    encoder needed: Pillow writes no 16-bit colour PNG)."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    h, w = pixels.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    rows = b"".join(b"\x00" + np.asarray(r, dtype).tobytes() for r in pixels)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
    with open(path, "wb") as f:
        f.write(png + chunk(b"IEND", b""))
    return str(path)
