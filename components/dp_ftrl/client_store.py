"""Client sources: where a round's clients' examples come from, at any population size.

Plain NumPy (and Beam for writing a store), no TFX. A federated round needs the examples of
its K clients only; a `ClientSource` gives them by client index, so that memory does not grow
with the population. Three sources share one interface:

* `InMemoryClientSource`: arrays (x, y, client_id) held in memory, grouped by client; client
  index c is the c-th smallest distinct id, exactly as `clients.pack_clients` numbers them.
* `ClientStore`: an on-disk store grouped by client (written by `write_client_store`, or at
  scale by the Beam function `write_client_rows`, e.g. from an `Examples` split with
  `write_client_store_from_examples`); a read touches only the requested clients' bytes.
* `SyntheticClientSource`: clients made on the fly from (seed, client index) by
  `population.synthetic_clients`; a population of 10,000,000 costs nothing until read.

**The store's format** (a folder)::

    shard-00000-of-00016.x.npy   float32 [n_s, D]: shard s's examples, client by client
    shard-00000-of-00016.y.npy   int32 [n_s]: their labels
    ...
    index.npy                    [C] records (shard int32, offset int64, count int64):
                                 client index c -> its rows offset .. offset + count - 1
                                 of shard `shard`; clients sorted by id
    ids.npy                      [C] the client ids (int64, or fixed-width bytes / str)
    index.json                   written last: format version, C, D, the number of
                                 examples and classes, and each shard's file names and rows

Why this format: fixed-width rows make a client one contiguous byte range that is found by
offset, with no parsing; `.npy` files are self-describing (dtype and shape in the header, so a
truncated or foreign file is caught before it is read) and memory-mappable, so a read copies
only the pages of its clients and the index is paged in as used, not loaded (a 10M-client
index is 200 MB on disk, a few pages in memory). The reader gives those pages back to the OS
after each read (``madvise(MADV_DONTNEED)``), so its resident memory stays at one round's
worth however many rounds have been read. Only NumPy is needed to read it (no TensorFlow in
the training loop). `index.json` is renamed into place after every other file is complete, so
a half-written store has no `index.json` and is refused. A store is read from a local (or
mounted) file system; the writers use Beam's `FileSystems`, so the Beam transform can also
write to a bucket (copy it to local disk to train from it).

Every source's `read(clients)` returns a `ClientBatch` (x float32 [n, D], y int32 [n], sizes
int64 [K]) in slot order; `pad_clients` lays it out as `[K, P, D]` blocks with a mask, as
`clients.ClientData` does for the whole population.
"""

from __future__ import annotations

import json
import mmap
import os
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import population

__all__ = [
    "INDEX_FILE",
    "ClientBatch",
    "ClientSource",
    "ClientStore",
    "InMemoryClientSource",
    "ScaledClientSource",
    "STORE_FORMAT",
    "SyntheticClientSource",
    "pad_clients",
    "write_client_rows",
    "write_client_store",
    "write_client_store_from_examples",
]

STORE_FORMAT = "frontier-client-store-v1"
INDEX_FILE = "index.json"  # written last: a store without it is incomplete
INDEX_ARRAY = "index.npy"
IDS_ARRAY = "ids.npy"
INDEX_DTYPE = np.dtype([("shard", "<i4"), ("offset", "<i8"), ("count", "<i8")])
DEFAULT_NUM_SHARDS = 16


class ClientBatch(NamedTuple):
    """The examples of K clients, concatenated in slot order.

    Attributes:
      x: float32 [n, D] inputs; slot i's examples are rows ``sum(sizes[:i]) ..`` on.
      y: int32 [n] labels.
      sizes: int64 [K] examples per slot (0 for an empty slot -1).
    """

    x: np.ndarray
    y: np.ndarray
    sizes: np.ndarray


@runtime_checkable
class ClientSource(Protocol):
    """Where a round's clients come from (see the module docstring).

    Attributes:
      num_clients: C; clients are indexed 0 .. C - 1.
      input_dim: D, the width of x.
      num_classes: 1 + the largest label any client may have.
      max_client_size: the largest number of examples of one client (pad to it so that
        every round has the same shape).
    """

    num_clients: int
    input_dim: int
    num_classes: int
    max_client_size: int

    def client_ids(self, clients: np.ndarray) -> np.ndarray:
        """[K] the ids of client indices `clients` (each in [0, C))."""
        ...

    def read(self, clients: np.ndarray) -> ClientBatch:
        """The examples of client indices `clients` (int [K], -1: an empty slot)."""
        ...


def check_clients(clients: Any, num_clients: int) -> np.ndarray:
    """int64 [K] client indices in [0, num_clients) or -1, or an `InputError` naming `clients`."""
    c = np.asarray(clients)
    if c.ndim != 1 or not (np.issubdtype(c.dtype, np.integer) or c.size == 0):
        raise InputError(
            f"clients have shape {c.shape} and dtype {c.dtype}",
            parameter="clients",
            expected="an integer array [K] of client indices",
        )
    c = c.astype(np.int64)
    bad = np.flatnonzero((c < -1) | (c >= num_clients))
    if bad.size:
        raise InputError(
            f"slot {int(bad[0])} asks for client {int(c[bad[0]])}",
            parameter="clients",
            expected=f"client indices in [0, {num_clients}) or -1 for an empty slot",
        )
    return c


def _runs(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """int64 [sum(sizes)]: start_i, start_i + 1, .., start_i + size_i - 1 for every i."""
    n = int(sizes.sum())
    firsts = np.cumsum(sizes) - sizes
    return np.arange(n, dtype=np.int64) + np.repeat(starts - firsts, sizes)


def pad_clients(batch: ClientBatch, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lays a read out as padded blocks, as `clients.ClientData` holds the whole population.

    Args:
      batch: a `ClientSource.read` result for K slots.
      pad: P >= max(batch.sizes), e.g. the source's `max_client_size` rounded up to a
        multiple of the local batch size.

    Returns:
      (x float32 [K, P, D] zeros in padding, y int32 [K, P] 0 in padding, mask float32
      [K, P] 1 for a real example).

    Raises:
      InputError: a client has more than `pad` examples.
    """
    sizes = np.asarray(batch.sizes, np.int64)
    if sizes.size and sizes.max() > pad:
        raise InputError(
            f"a client has {int(sizes.max())} examples", parameter="pad", expected=">= that"
        )
    k, d = sizes.size, batch.x.shape[1]
    slot = np.repeat(np.arange(k), sizes)
    pos = np.arange(slot.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    x = np.zeros((k, pad, d), np.float32)
    y = np.zeros((k, pad), np.int32)
    mask = np.zeros((k, pad), np.float32)
    x[slot, pos] = batch.x
    y[slot, pos] = batch.y
    mask[slot, pos] = 1.0
    return x, y, mask


# --- in memory -------------------------------------------------------------------------------


class InMemoryClientSource:
    """Examples held in memory, grouped by client (memory: the data once more).

    Client index c is the c-th smallest distinct id (`np.unique` order); a client's examples
    keep their input order, as in `clients.pack_clients`.

    Args:
      x: float [N, D] inputs (finite).
      y: int [N] labels (>= 0).
      client_ids: [N] ids (ints, strings or bytes).

    Raises:
      InputError: shapes or values are wrong (names `x`, `label` or `client_id`).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, client_ids: np.ndarray) -> None:
        x, y, ids = _check_arrays(x, y, client_ids)
        uniq, index = np.unique(ids, return_inverse=True)
        index = index.reshape(-1)
        order = np.argsort(index, kind="stable")
        self._x, self._y = x[order], y[order].astype(np.int32)
        self._sizes = np.bincount(index, minlength=uniq.size).astype(np.int64)
        self._starts = np.cumsum(self._sizes) - self._sizes
        self._ids = uniq
        self.num_clients = int(uniq.size)
        self.input_dim = int(x.shape[1])
        self.num_classes = int(y.max()) + 1
        self.max_client_size = int(self._sizes.max())

    def client_ids(self, clients: np.ndarray) -> np.ndarray:
        return self._ids[check_clients(clients, self.num_clients)]

    def read(self, clients: np.ndarray) -> ClientBatch:
        c = check_clients(clients, self.num_clients)
        live = c >= 0
        sizes = np.where(live, self._sizes[np.maximum(c, 0)], 0)
        rows = _runs(self._starts[np.maximum(c, 0)], sizes)
        return ClientBatch(self._x[rows], self._y[rows], sizes)


def _check_arrays(x: Any, y: Any, client_ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x float32 [N, D], y int64 [N], ids [N]) checked as `pack_clients` checks them."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    ids = np.asarray(client_ids)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(
            f"inputs have shape {x.shape}", column="x", expected="shape [N, D], N >= 1"
        )
    if not np.all(np.isfinite(x)):
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise InputError("non-finite input", column="x", row=row + 1, expected="finite numbers")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(
            f"labels have shape {y.shape} and dtype {y.dtype}",
            column="label",
            expected=f"class ids >= 0 of shape [{x.shape[0]}]",
        )
    if ids.shape != (x.shape[0],):
        raise InputError(
            f"client ids have shape {ids.shape}",
            column="client_id",
            expected=f"one id per example, shape [{x.shape[0]}]",
        )
    return x, y.astype(np.int64), ids


# --- synthetic, on the fly -------------------------------------------------------------------


class SyntheticClientSource:
    """A synthetic population made on the fly (`population.synthetic_clients`).

    Memory is the base images and the seed's tables (`population.synthetic_tables`), the
    same for 10 or 10,000,000 clients; client c's examples depend only on (seed, c). Client
    ids are the indices themselves (int64).

    Args:
      images: float [N, H, W] base images in [0, pixel_max].
      labels: int [N] their classes in [0, num_classes); every class needs an image.
      num_clients: C >= 1.
      examples_per_client: E >= 1 (the largest client size).
      num_classes, pixel_max, alpha, shift, pixel_noise, seed, min_examples: as
        `population.synthetic_tables`'s.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        num_clients: int,
        examples_per_client: int,
        *,
        num_classes: int,
        pixel_max: float,
        alpha: float = population.DEFAULT_ALPHA,
        shift: int = population.DEFAULT_SHIFT,
        pixel_noise: float = population.DEFAULT_PIXEL_NOISE,
        seed: int = 0,
        min_examples: int | None = None,
    ) -> None:
        if not isinstance(num_clients, (int, np.integer)) or num_clients < 1:
            raise InputError(
                f"num_clients = {num_clients!r}", parameter="num_clients", expected="an int >= 1"
            )
        try:
            self.tables = population.synthetic_tables(
                images,
                labels,
                int(examples_per_client),
                num_classes=int(num_classes),
                pixel_max=float(pixel_max),
                alpha=float(alpha),
                shift=int(shift),
                pixel_noise=float(pixel_noise),
                seed=int(seed),
                min_examples=min_examples,
            )
        except ValueError as e:
            raise InputError(
                str(e), parameter="images, labels or the population's settings"
            ) from None
        self.num_clients = int(num_clients)
        self.input_dim = self.tables.height * self.tables.width
        self.num_classes = int(num_classes)
        self.max_client_size = int(examples_per_client)

    def client_ids(self, clients: np.ndarray) -> np.ndarray:
        return check_clients(clients, self.num_clients)

    def read(self, clients: np.ndarray) -> ClientBatch:
        c = check_clients(clients, self.num_clients)
        return ClientBatch(*population.synthetic_clients(self.tables, c))


# --- the on-disk store: reading --------------------------------------------------------------


def _npy_header(path: str, mm: mmap.mmap) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, data offset) of a mapped `.npy` file, or an `InputError` naming it."""
    import io

    try:
        f = io.BytesIO(mm[: min(len(mm), 4096)])
        version = np.lib.format.read_magic(f)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(f)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file
        raise InputError(f"not a readable .npy file ({e})", file=path) from None
    if fortran:
        raise InputError("a Fortran-ordered array", file=path, expected="C order")
    return dtype, shape, f.tell()


class _Mapped:
    """A read-only memory map of one `.npy` file, checked against what the index says."""

    def __init__(self, path: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        try:
            with open(path, "rb") as f:
                self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot be opened ({e})", file=path) from None
        got_dtype, got_shape, offset = _npy_header(path, self.mm)
        if got_dtype != dtype or tuple(got_shape) != tuple(shape):
            raise InputError(
                f"holds {got_dtype} {tuple(got_shape)}",
                file=path,
                expected=f"{dtype} {tuple(shape)} as {INDEX_FILE} says",
            )
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(self.mm) != offset + size:
            raise InputError(
                f"has {len(self.mm)} bytes",
                file=path,
                expected=f"{offset + size} bytes (header and data): truncated or corrupt",
            )
        self.array = np.frombuffer(self.mm, dtype=dtype, count=int(np.prod(shape)), offset=offset)
        self.array = self.array.reshape(shape)

    def release(self) -> None:
        """Gives the mapped pages back (they stay in the page cache, not in this process)."""
        if hasattr(self.mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self.mm.madvise(mmap.MADV_DONTNEED)


class ClientStore:
    """Reads a client-grouped store (format in the module docstring); a `ClientSource`.

    Opening reads `index.json` and checks every file's header and size; the index and the
    shards are memory-mapped, so a read costs its clients' bytes and memory does not grow
    with the population. `bytes_read` counts the example bytes copied by `read`.

    Args:
      path: the store's folder (local or mounted).

    Raises:
      InputError: no `index.json` (missing or incompletely written store), an index or
        shard that is corrupt or disagrees with `index.json`; each names the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        meta_path = os.path.join(path, INDEX_FILE)
        if not os.path.exists(meta_path):
            raise InputError(
                "no client store index",
                file=meta_path,
                expected="a store written by write_client_store / write_client_rows (the "
                "index is written last: without it the store is incomplete)",
            )
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            if meta.get("format") != STORE_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            self.num_clients = int(meta["num_clients"])
            self.input_dim = int(meta["input_dim"])
            self.num_examples = int(meta["num_examples"])
            self.num_classes = int(meta["num_classes"])
            self.max_client_size = int(meta["max_client_size"])
            shards = [(str(s["x"]), str(s["y"]), int(s["rows"])) for s in meta["shards"]]
            ids_dtype = np.dtype(meta["ids_dtype"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(
                f"unreadable client store index ({e})",
                file=meta_path,
                expected=f"a {STORE_FORMAT} index",
            ) from None
        self._index = _Mapped(os.path.join(path, INDEX_ARRAY), INDEX_DTYPE, (self.num_clients,))
        self._ids = _Mapped(os.path.join(path, IDS_ARRAY), ids_dtype, (self.num_clients,))
        self._x = [
            _Mapped(os.path.join(path, x), np.dtype("<f4"), (rows, self.input_dim))
            for x, _, rows in shards
        ]
        self._y = [
            _Mapped(os.path.join(path, y), np.dtype("<i4"), (rows,)) for _, y, rows in shards
        ]
        self.bytes_read = 0

    def client_ids(self, clients: np.ndarray) -> np.ndarray:
        return np.array(self._ids.array[check_clients(clients, self.num_clients)])

    def read(self, clients: np.ndarray) -> ClientBatch:
        c = check_clients(clients, self.num_clients)
        live = np.flatnonzero(c >= 0)
        records = self._index.array[c[live]]
        sizes = np.zeros(c.size, np.int64)
        sizes[live] = records["count"]
        n = int(sizes.sum())
        x = np.empty((n, self.input_dim), np.float32)
        y = np.empty(n, np.int32)
        out_start = (np.cumsum(sizes) - sizes)[live]
        for shard in np.unique(records["shard"]):  # a loop over shards, not clients
            sel = records["shard"] == shard
            counts = records["count"][sel]
            rows = _runs(records["offset"][sel], counts)
            where = _runs(out_start[sel], counts)
            x[where] = self._x[shard].array[rows]
            y[where] = self._y[shard].array[rows]
            self._x[shard].release()
            self._y[shard].release()
        self._index.release()
        self.bytes_read += n * (4 * self.input_dim + 4)
        return ClientBatch(x, y, sizes)


class ScaledClientSource:
    """Another source's clients with their inputs divided by a public constant (e.g. 16 for
    digits pixels, as `DpFtrlTrainer`'s `feature_scale`); a `ClientSource`.

    Args:
      source: the `ClientSource` to read.
      scale: the divisor, > 0.
    """

    def __init__(self, source: ClientSource, scale: float) -> None:
        if not scale > 0:
            raise InputError(f"scale = {scale!r}", parameter="scale", expected="> 0")
        self.source, self.scale = source, np.float32(scale)
        self.num_clients, self.input_dim = source.num_clients, source.input_dim
        self.num_classes, self.max_client_size = source.num_classes, source.max_client_size

    def client_ids(self, clients: np.ndarray) -> np.ndarray:
        return self.source.client_ids(clients)

    def read(self, clients: np.ndarray) -> ClientBatch:
        batch = self.source.read(clients)
        return batch._replace(x=batch.x / self.scale)


# --- the on-disk store: writing --------------------------------------------------------------


def _id_bytes(client_id: Any) -> bytes:
    """A stable byte form of an id (for sharding; Python's `hash` is salted per process)."""
    if isinstance(client_id, bytes):
        return client_id
    if isinstance(client_id, np.bytes_):
        return bytes(client_id)
    return str(client_id).encode("utf-8")


def shard_of(client_id: Any, num_shards: int) -> int:
    """The shard that holds a client: CRC-32 of its id modulo `num_shards`."""
    return zlib.crc32(_id_bytes(client_id)) % num_shards


def _shard_names(shard: int, num_shards: int) -> tuple[str, str]:
    stem = f"shard-{shard:05d}-of-{num_shards:05d}"
    return f"{stem}.x.npy", f"{stem}.y.npy"


def _write_npy(path: str, array: np.ndarray) -> None:
    """Writes `array` to `path` through Beam's `FileSystems` (local or a bucket), via a
    temporary name renamed into place."""
    from apache_beam.io.filesystems import FileSystems

    tmp = path + ".tmp"
    with FileSystems.create(tmp) as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def _write_shard(
    path: str, shard: int, num_shards: int, clients: Iterable[tuple[Any, np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """Writes one shard (its clients sorted by id); returns its manifest."""
    clients = sorted(clients, key=lambda item: item[0])
    xs = [x for _, x, _ in clients]
    x = np.concatenate(xs).astype("<f4") if xs else np.zeros((0, 0), "<f4")
    y = np.concatenate([y for _, _, y in clients]).astype("<i4")
    x_name, y_name = _shard_names(shard, num_shards)
    _write_npy(os.path.join(path, x_name), x)
    _write_npy(os.path.join(path, y_name), y)
    counts = [int(len(cy)) for _, _, cy in clients]
    return {
        "shard": shard,
        "x": x_name,
        "y": y_name,
        "rows": int(y.size),
        "input_dim": int(x.shape[1]),
        "ids": [cid for cid, _, _ in clients],
        "counts": counts,
        "num_classes": int(y.max()) + 1 if y.size else 0,
    }


def _write_index(path: str, manifests: Sequence[dict[str, Any]]) -> None:
    """Writes `index.npy` and `ids.npy`, then `index.json` last (the store is complete)."""
    from apache_beam.io.filesystems import FileSystems

    manifests = sorted(manifests, key=lambda m: m["shard"])
    if not manifests:
        raise InputError("no examples to write", parameter="examples", expected="at least one")
    dims = {m["input_dim"] for m in manifests}
    if len(dims) != 1:
        raise InputError(f"inputs of widths {sorted(dims)}", column="x", expected="one width D")
    ids = np.concatenate([np.asarray(m["ids"]) for m in manifests])
    shard = np.concatenate([np.full(len(m["ids"]), i, np.int32) for i, m in enumerate(manifests)])
    count = np.concatenate([np.asarray(m["counts"], np.int64) for m in manifests])
    offset = np.concatenate(
        [np.cumsum(np.asarray(m["counts"], np.int64)) - m["counts"] for m in manifests]
    )
    order = np.argsort(ids, kind="stable")
    if ids.size > 1 and np.any(ids[order][1:] == ids[order][:-1]):
        raise InputError("a client id occurs in two shards", column="client_id")
    index = np.zeros(ids.size, INDEX_DTYPE)
    index["shard"], index["offset"], index["count"] = shard[order], offset[order], count[order]
    ids = ids[order]
    if ids.dtype.kind in "iu":
        ids = ids.astype("<i8")
    elif ids.dtype.kind not in "SU":
        raise InputError(
            f"client ids of dtype {ids.dtype}", column="client_id", expected="ints, str or bytes"
        )
    _write_npy(os.path.join(path, INDEX_ARRAY), index)
    _write_npy(os.path.join(path, IDS_ARRAY), ids)
    meta = {
        "format": STORE_FORMAT,
        "num_clients": int(ids.size),
        "input_dim": int(dims.pop()),
        "num_examples": int(count.sum()),
        "num_classes": max(m["num_classes"] for m in manifests),
        "max_client_size": int(count.max()),
        "ids_dtype": ids.dtype.str,
        "shards": [{"x": m["x"], "y": m["y"], "rows": m["rows"]} for m in manifests],
    }
    tmp = os.path.join(path, INDEX_FILE + ".tmp")
    with FileSystems.create(tmp) as f:
        f.write(json.dumps(meta, indent=1).encode("utf-8"))
    FileSystems.rename([tmp], [os.path.join(path, INDEX_FILE)])


def _start_store(path: str) -> None:
    """Makes the folder and removes an old `index.json` first, so that a store half
    overwritten is never taken as complete."""
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        FileSystems.mkdirs(path)
    old = os.path.join(path, INDEX_FILE)
    if FileSystems.exists(old):
        FileSystems.delete([old])


def _client_arrays(item: tuple[Any, Iterable[tuple[Any, np.ndarray, int]]]):
    """(id, rows) -> (id, x [m, D] float32, y [m] int32), rows in their sort-key order."""
    client_id, rows = item
    rows = sorted(rows, key=lambda r: r[0])
    x = np.stack([np.asarray(r[1], np.float32) for r in rows])
    y = np.asarray([r[2] for r in rows], np.int32)
    return client_id, x, y


def _beam():
    import apache_beam as beam

    return beam


def write_client_rows(rows: Any, path: str, num_shards: int = DEFAULT_NUM_SHARDS) -> Any:
    """Beam: writes a client-grouped store from a PCollection of (client_id, (sort_key, x, y)).

    GroupByKey on client_id gathers each client; clients are assigned to `num_shards`
    shards by a hash of their id (`shard_of`); a GroupByKey on the shard gathers each
    shard's clients, which one worker sorts by id and writes (memory: one shard, about
    N / num_shards examples); the shards' manifests are combined into one list and the
    index is written last (memory: O(C) ids on that worker). Within a client, examples are
    ordered by their sort key (a row number, or the serialized example: deterministic
    whatever order Beam delivers them in). An old `index.json` at `path` is removed when
    the pipeline is built, so a store that is half overwritten is never taken as complete.

    Args:
      rows: PCollection of ``(client_id, (sort_key, x float [D], y int))``; ids are ints,
        str or bytes (one kind).
      path: the store's folder (local or a bucket, through Beam's `FileSystems`).
      num_shards: number of shards, >= 1 (pick N / num_shards examples to fit a worker).

    Returns:
      A PCollection of one element, `path`, once the store is complete.
    """
    beam = _beam()
    _check_shards(num_shards)
    _start_store(path)

    def write_shard(item):
        return _write_shard(path, item[0], num_shards, item[1])

    def write_index(manifests):
        _write_index(path, manifests)
        return path

    return (
        rows
        | "GroupByClient" >> beam.GroupByKey()
        | "ClientArrays" >> beam.Map(_client_arrays)
        | "KeyByShard" >> beam.Map(lambda c: (shard_of(c[0], num_shards), c))
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShard" >> beam.Map(write_shard)
        | "AllManifests" >> beam.combiners.ToList()
        | "WriteIndex" >> beam.Map(write_index)
    )


def _check_shards(num_shards: Any) -> None:
    if not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
        raise InputError(
            f"num_shards = {num_shards!r}", parameter="num_shards", expected="an int >= 1"
        )


def _run(build, pipeline_options: Any = None) -> None:
    """Runs a pipeline built by `build(pipeline)`; an `InputError` inside comes out as itself."""
    from frontier.components.common.errors import raise_unwrapped

    beam = _beam()
    try:
        with beam.Pipeline(options=pipeline_options) as p:
            build(p)
    except Exception as e:  # noqa: BLE001 - Beam re-wraps a DoFn's exception
        raise_unwrapped(e)


def write_client_store(
    x: np.ndarray,
    y: np.ndarray,
    client_ids: np.ndarray,
    path: str,
    num_shards: int = DEFAULT_NUM_SHARDS,
) -> ClientStore:
    """Writes arrays already in memory as a client-grouped store, and opens it.

    The NumPy path for data that fit in memory (no Beam: grouping is one stable sort);
    shard s holds a contiguous range of client indices. For data that do not fit, use the
    Beam function `write_client_rows` (or `write_client_store_from_examples`): the stores
    are read alike. Client index c is the c-th smallest distinct id and a client's examples
    keep their input order, as in `clients.pack_clients` and `InMemoryClientSource`.

    Args:
      x: float [N, D] inputs; y: int [N] labels >= 0; client_ids: [N] ids (ints, str, bytes).
      path: the store's folder (made if missing; an old store there is replaced, its
        `index.json` removed first).
      num_shards: number of shard files, >= 1 (at most one per client).

    Returns:
      The written store, opened.

    Raises:
      InputError: bad arrays (names the column) or `num_shards`.
    """
    x, y, ids = _check_arrays(x, y, client_ids)
    _check_shards(num_shards)
    uniq, index = np.unique(ids, return_inverse=True)
    index = index.reshape(-1)
    order = np.argsort(index, kind="stable")
    sizes = np.bincount(index, minlength=uniq.size).astype(np.int64)
    num_shards = min(int(num_shards), uniq.size)
    _start_store(path)
    bounds = np.linspace(0, uniq.size, num_shards + 1).astype(np.int64)
    row_bounds = np.concatenate([[0], np.cumsum(sizes)])[bounds]
    manifests = []
    for s in range(num_shards):  # a loop over shards
        rows = order[row_bounds[s] : row_bounds[s + 1]]
        x_name, y_name = _shard_names(s, num_shards)
        _write_npy(os.path.join(path, x_name), x[rows])
        _write_npy(os.path.join(path, y_name), y[rows].astype("<i4"))
        manifests.append(
            {
                "shard": s,
                "x": x_name,
                "y": y_name,
                "rows": int(rows.size),
                "input_dim": int(x.shape[1]),
                "ids": uniq[bounds[s] : bounds[s + 1]],
                "counts": sizes[bounds[s] : bounds[s + 1]],
                "num_classes": int(y.max()) + 1,
            }
        )
    _write_index(path, manifests)
    return ClientStore(path)


def write_client_store_from_examples(
    examples_uri: str,
    split: str,
    path: str,
    num_shards: int = DEFAULT_NUM_SHARDS,
    pipeline_options: Any = None,
    label_key: str = "label",
) -> ClientStore:
    """Writes one split of a frontier `Examples` artifact as a client-grouped store.

    Reads the split's GZIP TFRecords with Beam, parses them in batches with
    `examples_io.parse_examples` (every feature layout frontier writes), keys each example
    by its `client_id` (UTF-8 text ids are kept as bytes, sorted as `np.unique` sorts the
    bytes `load_split` gives `pack_clients`) and writes with `write_client_rows`; within a
    client, examples are ordered by their serialized bytes (deterministic).

    Args:
      examples_uri: the `Examples` artifact's URI (with `dataset_info.json`).
      split: the split, e.g. "train".
      path: the store's folder.
      num_shards: number of shard files, >= 1.
      pipeline_options: Beam `PipelineOptions` (default: DirectRunner).
      label_key: the int role column to store as y.

    Returns:
      The written store, opened.

    Raises:
      InputError: the examples have no `client_id` or no `label_key` column (names
        `dataset_info.json`), or `num_shards` is bad.
    """
    from frontier.components.common import examples_io
    from frontier.schemas.dataset import CLIENT_ID_KEY, DATASET_INFO_FILE, DatasetInfo

    beam = _beam()
    _check_shards(num_shards)
    info = DatasetInfo.read(examples_uri)
    for key in (CLIENT_ID_KEY, label_key):
        if not info.has(key):
            raise InputError(
                f"the examples have no {key!r} column",
                file=os.path.join(examples_uri, DATASET_INFO_FILE),
                column=key,
            )
    examples_io.split_files(examples_uri, split)  # a clear error if there are none
    pattern = os.path.join(examples_io.split_uri(examples_uri, split), "*")

    def parse(batch: list[bytes]):
        parsed = examples_io.parse_examples(np.asarray(batch, dtype=object), info)
        x = np.asarray(parsed[examples_io.FEATURES], np.float32)
        y = np.asarray(parsed[label_key]).astype(np.int64)
        ids = np.asarray(parsed[CLIENT_ID_KEY])
        for i, serialized in enumerate(batch):
            yield bytes(ids[i]), (serialized, x[i], int(y[i]))

    def build(p):
        rows = (
            p
            | "Read" >> beam.io.ReadFromTFRecord(pattern, compression_type="gzip")
            | "Batch" >> beam.BatchElements(min_batch_size=256, max_batch_size=4096)
            | "Parse" >> beam.FlatMap(parse)
        )
        write_client_rows(rows, path, num_shards)

    _run(build, pipeline_options)
    return ClientStore(path)
