"""Clients' examples packed for vectorised local training: one padded block per client.

Plain NumPy, no TFX. Each distinct `client_id` is one user; `pack_clients` groups the examples
by client and pads every client to a common length with a mask, so a round's clients can be
`vmap`-ed (`rounds.round_delta_sum`).

A round read from a client store arrives as its examples concatenated in slot order with
per-client sizes (`x [n, D]`, `y [n]`, `sizes [K]`). `bucket_clients` groups such a round's
slots by padded length (`bucket_length`: a power of two number of batches), and `pack_bucket`
pads one group, so that clients of very different sizes do not all pay for the largest one
(`rounds.packed_round_delta_sum`) while the set of array shapes, hence of XLA compilations,
stays small.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import check_int
from frontier.components.common.errors import InputError

__all__ = ["Bucket", "ClientData", "bucket_clients", "bucket_length", "pack_bucket", "pack_clients"]


class ClientData(NamedTuple):
    """All clients' examples, padded to a common length P (a multiple of the batch size).

    Attributes:
      x: float32 [C, P, D] inputs (zeros in padding).
      y: int32 [C, P] labels (0 in padding).
      mask: float32 [C, P], 1 for a real example, 0 for padding.
      sizes: int64 [C] examples per client.
      ids: [C] the `client_id` of each client index (sorted unique ids).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    sizes: np.ndarray
    ids: np.ndarray


def pack_clients(
    x: np.ndarray, y: np.ndarray, client_ids: np.ndarray, batch_size: int
) -> ClientData:
    """Groups examples by client and pads every client to the same length.

    Client index c is the c-th smallest distinct id; examples keep their input order within a
    client. P is the largest client's size rounded up to a multiple of `batch_size`.
    Memory: ``C * P * D`` floats, so very unequal client sizes waste space (see module doc).

    Args:
      x: float [N, D] inputs.
      y: int [N] labels.
      client_ids: [N] any hashable-by-value ids (ints or strings).
      batch_size: local batch size B >= 1.

    Returns:
      `ClientData`.

    Raises:
      InputError: shapes or values are wrong (names `x`, `label` or `client_id`), or a
        label is negative.
    """
    # The grouping and its checks are the in-memory client source's; this pads every client.
    from frontier.components.dp_ftrl.client_store import InMemoryClientSource, pad_clients

    batch_size = check_int(batch_size, "local_batch_size", 1)
    source = InMemoryClientSource(x, y, client_ids)
    every = np.arange(source.num_clients, dtype=np.int64)
    batch = source.read(every)
    pad = int(math.ceil(source.max_client_size / batch_size) * batch_size)
    cx, cy, cm = pad_clients(batch, pad)
    return ClientData(cx, cy, cm, batch.sizes, source.client_ids(every))


class Bucket(NamedTuple):
    """The slots of a round that share one padded length.

    Attributes:
      pad: padded examples per client (a multiple of the batch size).
      slots: int64 [k] the round's slot indices in this bucket, ascending.
    """

    pad: int
    slots: np.ndarray


def _check_sizes(sizes: np.ndarray) -> np.ndarray:
    sizes = np.asarray(sizes)
    if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 0):
        raise InputError(
            f"client sizes have shape {sizes.shape} and dtype {sizes.dtype}",
            parameter="sizes",
            expected="non-negative integers of shape [K]",
        )
    return sizes.astype(np.int64)


def bucket_length(sizes: np.ndarray, batch_size: int) -> np.ndarray:
    """Padded length of each client: ``batch_size * 2**ceil(log2(ceil(n / batch_size)))``.

    At most twice the client's own padded length, and ``log2(largest / batch_size) + 1``
    distinct values whatever the sizes (an empty client gets one batch).

    Args:
      sizes: int [K] examples per client.
      batch_size: local batch size B >= 1.

    Returns:
      int64 [K] padded lengths.
    """
    sizes = _check_sizes(sizes)
    batch_size = check_int(batch_size, "local_batch_size", 1)
    batches = np.maximum(-(-sizes // batch_size), 1)
    return batch_size * (1 << np.ceil(np.log2(batches)).astype(np.int64))


def bucket_clients(sizes: np.ndarray, batch_size: int, bucketed: bool = True) -> list[Bucket]:
    """Groups a round's slots by `bucket_length` (shortest first).

    Args:
      sizes: int [K] examples per client of the round.
      batch_size: local batch size B.
      bucketed: False puts every slot in one bucket padded to the longest length.

    Returns:
      `Bucket` list; every slot is in exactly one.
    """
    lengths = bucket_length(sizes, batch_size)
    if not bucketed:
        return [Bucket(int(lengths.max(initial=batch_size)), np.arange(lengths.size))]
    return [Bucket(int(p), np.flatnonzero(lengths == p)) for p in np.unique(lengths)]


def pack_bucket(
    x: np.ndarray, y: np.ndarray, sizes: np.ndarray, slots: np.ndarray, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pads the clients `slots` of a round given as concatenated examples.

    Args:
      x: float [n, D] the round's examples, client after client in slot order.
      y: int [n] labels.
      sizes: int [K] examples per slot (``sum(sizes) == n``).
      slots: int [k] which slots to pack.
      pad: padded length P (at least their largest size).

    Returns:
      (float32 [k, P, D] inputs, int32 [k, P] labels, float32 [k, P] mask), real examples
      first in their input order, zeros after.

    Raises:
      InputError: sizes do not add up to n, or a client is longer than `pad`.
    """
    x, y, sizes = np.asarray(x), np.asarray(y), _check_sizes(sizes)
    if x.ndim != 2 or y.shape != (x.shape[0],) or int(sizes.sum()) != x.shape[0]:
        raise InputError(
            f"x {x.shape}, y {y.shape}, sizes adding up to {int(sizes.sum())}",
            parameter="sizes",
            expected="x [n, D] and y [n] with n = sum(sizes)",
        )
    slots = np.asarray(slots, np.int64)
    got = sizes[slots]
    if got.size and int(got.max()) > pad:
        raise InputError(
            f"a client has {int(got.max())} examples",
            parameter="pad",
            expected=f">= {int(got.max())}",
        )
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[slots]
    rows = np.repeat(np.arange(slots.size), got)
    pos = np.arange(rows.size) - np.repeat(np.cumsum(got) - got, got)
    src = np.repeat(starts, got) + pos
    cx = np.zeros((slots.size, pad, x.shape[1]), np.float32)
    cy = np.zeros((slots.size, pad), np.int32)
    cm = np.zeros((slots.size, pad), np.float32)
    cx[rows, pos] = x[src]
    cy[rows, pos] = y[src]
    cm[rows, pos] = 1.0
    return cx, cy, cm
