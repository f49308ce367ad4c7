"""Client sources (in memory, on-disk store, synthetic on the fly) and the schedule at scale."""

from __future__ import annotations

import json
import os
import pickle
import tracemalloc

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl.client_store import (
    INDEX_ARRAY,
    INDEX_DTYPE,
    INDEX_FILE,
    STORE_FORMAT,
    ClientSource,
    ClientStore,
    InMemoryClientSource,
    SyntheticClientSource,
    pad_clients,
    write_client_rows,
    write_client_store,
    write_client_store_from_examples,
)
from frontier.components.dp_ftrl.clients import pack_clients
from frontier.components.dp_ftrl.participation import (
    check_schedule,
    schedule_participation,
    short_rounds,
)


def population(n=300, d=6, num_ids=25, seed=0, kind="str"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, 5, n)
    raw = rng.integers(0, num_ids, n) * 7 - 50  # negative and positive ints
    ids = {"int": raw, "str": np.array([f"user-{i}" for i in raw])}[kind]
    return x, y, ids


def per_client(x, y, ids):
    """Obviously correct grouping: sorted distinct id -> (x rows, y rows) in input order."""
    return [(x[ids == u], y[ids == u]) for u in np.unique(ids)]


def split(batch):
    starts = np.cumsum(batch.sizes) - batch.sizes
    return [
        (batch.x[s : s + n], batch.y[s : s + n]) for s, n in zip(starts, batch.sizes, strict=True)
    ]


def assert_reads(source, requests, expected):
    for req in requests:
        got = split(source.read(req))
        assert len(got) == len(req)
        for c, (gx, gy) in zip(req, got, strict=True):
            if c < 0:
                assert gx.shape == (0, source.input_dim) and gy.size == 0
            else:
                np.testing.assert_array_equal(gx, expected[c][0])
                np.testing.assert_array_equal(gy, expected[c][1])
                assert gy.dtype == np.int32 and gx.dtype == np.float32


# --- in memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "str"])
def test_in_memory_source_groups_as_pack_clients(kind):
    x, y, ids = population(kind=kind)
    src = InMemoryClientSource(x, y, ids)
    packed = pack_clients(x, y, ids, batch_size=4)
    assert isinstance(src, ClientSource)
    assert src.num_clients == packed.sizes.size and src.input_dim == x.shape[1]
    assert src.max_client_size == packed.sizes.max() and src.num_classes == y.max() + 1
    everyone = np.arange(src.num_clients)
    np.testing.assert_array_equal(src.client_ids(everyone), packed.ids)
    batch = src.read(everyone)
    np.testing.assert_array_equal(batch.sizes, packed.sizes)
    px, py, mask = pad_clients(batch, packed.x.shape[1])
    np.testing.assert_array_equal(px, packed.x)
    np.testing.assert_array_equal(py, packed.y)
    np.testing.assert_array_equal(mask, packed.mask)
    rng = np.random.default_rng(1)
    requests = [rng.permutation(src.num_clients)[:7], np.array([3, -1, 0, -1]), np.array([])]
    assert_reads(src, [r.astype(np.int64) for r in requests], per_client(x, y, ids))
    # pack_clients now groups through the source: check it against the plain grouping too.
    for c, (cx, cy) in enumerate(per_client(x, y, ids)):
        n = len(cy)
        np.testing.assert_array_equal(packed.x[c, :n], cx)
        np.testing.assert_array_equal(packed.y[c, :n], cy)
        assert packed.mask[c, :n].all() and not packed.mask[c, n:].any()


@pytest.mark.parametrize(
    "clients", [np.array([0, 25]), np.array([-2]), np.array([[0]]), np.array([0.5])]
)
def test_sources_reject_bad_client_indices(clients):
    x, y, ids = population()
    with pytest.raises(InputError, match="clients"):
        InMemoryClientSource(x, y, ids).read(clients)


def test_in_memory_source_rejects_bad_arrays():
    x, y, ids = population()
    with pytest.raises(InputError, match="column 'x'"):
        InMemoryClientSource(np.where(x > 2, np.nan, x), y, ids)
    with pytest.raises(InputError, match="column 'label'"):
        InMemoryClientSource(x, y - 3, ids)
    with pytest.raises(InputError, match="column 'client_id'"):
        InMemoryClientSource(x, y, ids[:-1])


# --- the on-disk store ------------------------------------------------------------------------


def write_with_beam(x, y, ids, path, num_shards):
    import apache_beam as beam

    rows = [(c, (i, x[i], int(y[i]))) for i, c in enumerate(ids.tolist())]
    with beam.Pipeline() as p:  # DirectRunner
        write_client_rows(p | beam.Create(rows[::-1]), path, num_shards)
    return ClientStore(path)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    x, y, ids = population(n=400, num_ids=40)
    path = str(tmp_path_factory.mktemp("store") / "clients")
    store = write_with_beam(x, y, ids, path, num_shards=3)
    return store, path, (x, y, ids)


def test_store_round_trips_through_beam(written):
    store, path, (x, y, ids) = written
    expected = per_client(x, y, ids)
    assert isinstance(store, ClientSource)
    assert store.num_clients == len(expected) == 40 and store.input_dim == x.shape[1]
    np.testing.assert_array_equal(store.client_ids(np.arange(40)), np.unique(ids))
    assert store.max_client_size == max(len(e[1]) for e in expected)
    assert store.num_examples == len(y) and store.num_classes == y.max() + 1
    rng = np.random.default_rng(2)
    requests = [rng.permutation(40)[:k] for k in (1, 9, 40)] + [np.array([5, -1, 5, 39])]
    assert_reads(store, requests, expected)
    reopened = ClientStore(path)  # a second reader of the same files
    assert_reads(reopened, requests[:1], expected)
    shards = {f for f in os.listdir(path) if f.startswith("shard-")}
    assert len(shards) == 6 and not any(f.endswith(".tmp") for f in os.listdir(path))


@pytest.mark.parametrize("kind", ["int", "str"])
def test_numpy_writer_reads_back_as_the_beam_one(tmp_path, kind):
    x, y, ids = population(n=200, num_ids=30, kind=kind)
    store = write_client_store(x, y, ids, str(tmp_path / "np"), num_shards=4)
    beam_store = write_with_beam(x, y, ids, str(tmp_path / "beam"), num_shards=2)
    everyone = np.arange(store.num_clients)
    np.testing.assert_array_equal(store.client_ids(everyone), beam_store.client_ids(everyone))
    for a, b in zip(store.read(everyone[::-1]), beam_store.read(everyone[::-1]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_reads(store, [everyone[::3]], per_client(x, y, ids))


def test_store_reads_only_the_requested_clients(written):
    store, _, (x, y, ids) = written
    store.bytes_read = 0
    batch = store.read(np.array([4, 17]))
    assert store.bytes_read == batch.sizes.sum() * (4 * x.shape[1] + 4)


def test_store_too_large_to_read_whole_reads_a_round(tmp_path):
    """A 4 GB store (sparse file: only the read clients' rows hold data) of 1M clients."""
    from frontier.components.dp_ftrl import client_store as cs

    clients, size, d = 1_000_000, 16, 64
    path = str(tmp_path)
    x_name, y_name = cs._shard_names(0, 1)
    xs = np.lib.format.open_memmap(
        os.path.join(path, x_name), "w+", np.dtype("<f4"), (clients * size, d)
    )
    ys = np.lib.format.open_memmap(
        os.path.join(path, y_name), "w+", np.dtype("<i4"), (clients * size,)
    )
    wanted = np.array([999_999, 3, 500_000])
    for c in wanted:
        xs[c * size : (c + 1) * size] = c
        ys[c * size : (c + 1) * size] = c % 7
    del xs, ys
    manifest = {
        "shard": 0,
        "x": x_name,
        "y": y_name,
        "rows": clients * size,
        "input_dim": d,
        "ids": np.arange(clients).tolist(),
        "counts": [size] * clients,
        "num_classes": 7,
    }
    cs._write_index(path, [manifest])
    tracemalloc.start()
    store = ClientStore(path)
    batch = store.read(wanted)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert os.path.getsize(os.path.join(path, x_name)) > 4e9
    assert peak < 20e6  # one round, not the store (4 GB) nor its index (20 MB) in memory
    np.testing.assert_array_equal(batch.x[:, 0], np.repeat(wanted, size).astype(np.float32))
    np.testing.assert_array_equal(batch.y, np.repeat(wanted % 7, size))


def test_store_from_examples_matches_the_loaded_split(tmp_path):
    from frontier.components.common.examples_io import load_split, write_split
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo(
        feature_keys=("pixels",),
        feature_dims=(4,),
        class_names=("a", "b", "c"),
        role_keys=("label", "client_id"),
    )
    rng = np.random.default_rng(3)
    n = 60
    arrays = {
        "x": rng.integers(0, 9, (n, 4)).astype(np.float32),
        "label": rng.integers(0, 3, n),
        "client_id": np.array([f"c{i}".encode() for i in rng.integers(0, 12, n)], dtype=object),
    }
    uri = str(tmp_path / "examples")
    write_split(uri, "train", arrays, info)
    info.write(uri)
    store = write_client_store_from_examples(uri, "train", str(tmp_path / "store"), num_shards=2)
    loaded = load_split(uri, "train")
    packed = pack_clients(loaded["x"], loaded["label"], loaded["client_id"], 1)
    np.testing.assert_array_equal(store.client_ids(np.arange(store.num_clients)), packed.ids)
    batch = store.read(np.arange(store.num_clients))
    np.testing.assert_array_equal(batch.sizes, packed.sizes)
    for c, (gx, gy) in enumerate(split(batch)):  # examples in any order within a client
        want = np.column_stack([packed.x[c, : packed.sizes[c]], packed.y[c, : packed.sizes[c]]])
        got = np.column_stack([gx, gy])
        np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])


def test_store_refuses_missing_or_corrupt_files(written, tmp_path):
    store, path, (x, y, ids) = written
    with pytest.raises(InputError, match=INDEX_FILE) as err:
        ClientStore(str(tmp_path / "nothing"))
    assert err.value.file.endswith(INDEX_FILE)
    with pytest.raises(InputError, match="clients"):
        store.read(np.array([store.num_clients]))

    def copy(name):
        dst = tmp_path / name
        dst.mkdir()
        for f in os.listdir(path):
            (dst / f).write_bytes(open(os.path.join(path, f), "rb").read())
        return dst

    broken = copy("truncated")
    shard = sorted(f for f in os.listdir(broken) if f.endswith(".x.npy"))[0]
    data = (broken / shard).read_bytes()
    (broken / shard).write_bytes(data[:-8])
    with pytest.raises(InputError, match="truncated or corrupt") as err:
        ClientStore(str(broken))
    assert err.value.file.endswith(shard)

    garbage = copy("garbage")
    (garbage / INDEX_ARRAY).write_bytes(b"not numpy at all")
    with pytest.raises(InputError, match="npy") as err:
        ClientStore(str(garbage))
    assert err.value.file.endswith(INDEX_ARRAY)

    wrong = copy("wrong")
    meta = json.loads((wrong / INDEX_FILE).read_text())
    meta["input_dim"] += 1
    (wrong / INDEX_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="x.npy"):
        ClientStore(str(wrong))
    (wrong / INDEX_FILE).write_text("{not json")
    with pytest.raises(InputError, match=STORE_FORMAT):
        ClientStore(str(wrong))
    assert INDEX_DTYPE.names == ("shard", "offset", "count")


def test_a_store_half_rewritten_is_refused(tmp_path, monkeypatch):
    from frontier.components.dp_ftrl import client_store as cs

    x, y, ids = population(n=50, num_ids=5)
    path = str(tmp_path / "s")
    write_client_store(x, y, ids, path, num_shards=2)
    with pytest.raises(InputError, match="label"):
        write_client_store(x, y - 10, ids, path, num_shards=2)  # refused before any write
    ClientStore(path)  # the old store is untouched
    with pytest.raises(InputError, match="num_shards"):
        write_client_store(x, y, ids, path, num_shards=0)

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(cs, "_write_index", crash)  # shards rewritten, then a crash
    with pytest.raises(Exception, match="disk full"):
        write_client_store(x, y, ids, path, num_shards=2)
    with pytest.raises(InputError, match="incomplete"):
        ClientStore(path)


# --- synthetic, on the fly --------------------------------------------------------------------


def synthetic(num_clients, seed=0, **kwargs):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 16, (30, 4, 5)).astype(np.float32)
    labels = np.arange(30) % 3
    settings = {"num_classes": 3, "pixel_max": 16.0, "seed": seed}
    return SyntheticClientSource(images, labels, num_clients, 6, **settings, **kwargs)


def test_synthetic_source_is_deterministic_per_client():
    src = synthetic(10_000_000)
    assert isinstance(src, ClientSource) and src.input_dim == 20 and src.max_client_size == 6
    together = split(src.read(np.array([9_999_999, 0, -1, 123_456, 7])))
    alone = [split(src.read(np.array([c])))[0] for c in (9_999_999, 0)]
    np.testing.assert_array_equal(together[0][0], alone[0][0])
    np.testing.assert_array_equal(together[1][1], alone[1][1])
    assert together[2][0].shape == (0, 20)
    empty = src.read(np.array([-1, -1]))
    assert empty.x.shape == (0, 20) and empty.y.shape == (0,) and list(empty.sizes) == [0, 0]
    again = split(synthetic(10_000_000).read(np.array([123_456])))[0]
    np.testing.assert_array_equal(again[0], together[3][0])
    other_seed = split(synthetic(10_000_000, seed=1).read(np.array([123_456])))[0]
    assert not np.array_equal(other_seed[0], together[3][0])
    x = np.concatenate([t[0] for t in together])
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 16
    assert not np.array_equal(together[1][0], together[4][0])  # clients differ


def test_synthetic_source_has_label_skew_and_variable_sizes():
    src = synthetic(1000, min_examples=2, alpha=0.1)
    batch = src.read(np.arange(1000))
    assert batch.sizes.min() == 2 and batch.sizes.max() == 6
    assert len(set(batch.sizes.tolist())) == 5
    per = split(batch)
    few_classes = np.mean([len(np.unique(y)) == 1 for _, y in per])
    assert few_classes > 0.5  # alpha 0.1: most clients see one class
    assert np.bincount(batch.y, minlength=3).min() > 0.2 * batch.y.size  # all classes used


def test_synthetic_source_memory_does_not_grow_with_clients():
    small, large = synthetic(10), synthetic(10_000_000)
    assert abs(len(pickle.dumps(small)) - len(pickle.dumps(large))) < 8  # the int's bytes
    tracemalloc.start()
    synthetic(10_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5e6


def test_synthetic_source_rejects_bad_settings():
    with pytest.raises(InputError, match="num_clients"):
        synthetic(0)
    with pytest.raises(InputError, match="min_examples"):
        synthetic(10, min_examples=7)
    with pytest.raises(InputError, match="clients"):
        synthetic(10).read(np.array([10]))


# --- the schedule at scale --------------------------------------------------------------------


def brute_force_ok(s, num_clients, k, max_p, sep):
    rounds_of = {}
    for t, row in enumerate(s):
        for c in row[row >= 0].tolist():
            rounds_of.setdefault(c, []).append(t)
    return all(
        len(rs) <= max_p and all(b - a >= sep for a, b in zip(rs, rs[1:], strict=False))
        for rs in rounds_of.values()
    )


def test_schedule_and_check_agree_with_brute_force_over_random_configs():
    rng = np.random.default_rng(5)
    short = 0
    for trial in range(80):
        num_clients = int(rng.integers(1, 60))
        k = int(rng.integers(1, 12))
        rounds = int(rng.integers(1, 50))
        max_p = int(rng.integers(1, 5))
        sep = int(rng.integers(1, 9))
        s = schedule_participation(num_clients, rounds, k, max_p, sep, seed=trial)
        check_schedule(s, num_clients, k, max_p, sep)
        assert brute_force_ok(s, num_clients, k, max_p, sep)
        short += len(short_rounds(s)) > 0
        # Break it at random: the checker agrees with brute force.
        bad = s.copy()
        t, j = rng.integers(0, rounds), rng.integers(0, k)
        bad[t, j] = rng.integers(0, num_clients)
        ok = (
            brute_force_ok(bad, num_clients, k, max_p, sep)
            and len(set(bad[t][bad[t] >= 0].tolist())) == (bad[t] >= 0).sum()
        )
        if ok:
            check_schedule(bad, num_clients, k, max_p, sep)
        else:
            with pytest.raises(InputError, match="schedule"):
                check_schedule(bad, num_clients, k, max_p, sep)
    assert short > 10


def test_check_schedule_reports_the_earliest_violation():
    s = np.array([[0, 1], [2, 3], [4, 1], [0, 5]])
    with pytest.raises(InputError, match="rounds 0 and 2") as err:
        check_schedule(s, 6, 2, 3, 3)  # client 1 at 0 and 2; client 0 at 0 and 3 is fine
    assert err.value.row == 3
    s = np.array([[0], [0], [0]])
    with pytest.raises(InputError, match="max_participations") as err:
        check_schedule(s, 1, 1, 1, 1)  # separation 1 allows rounds 0, 1; one participation not
    assert err.value.row == 2


def test_schedule_at_a_million_clients_is_valid():
    s = schedule_participation(1_000_000, 40, 6500, 2, 10, seed=1)
    check_schedule(s, 1_000_000, 6500, 2, 10)
    assert s.shape == (40, 6500) and not len(short_rounds(s))
    assert np.all(np.diff(s, axis=1) > 0)
    s = schedule_participation(20_000, 60, 6500, 2, 5, seed=1)  # clients run out
    check_schedule(s, 20_000, 6500, 2, 5)
    assert len(short_rounds(s)) and (s >= 0).sum() == 40_000
