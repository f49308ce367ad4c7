"""Clients' examples packed for vectorised local training: one padded block per client.

Plain NumPy, no TFX. Each distinct `client_id` is one user; `pack_clients` groups the examples
by client and pads every client to a common length with a mask, so a round's clients can be
`vmap`-ed (`rounds.round_delta_sum`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import check_int
from frontier.components.common.errors import InputError

__all__ = ["ClientData", "pack_clients"]


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
      InputError: shapes or values are wrong (names `x`, `label` or `client_id`).
    """
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
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"labels have shape {y.shape} and dtype {y.dtype}",
            column="label",
            expected=f"integer class ids of shape [{x.shape[0]}]",
        )
    if ids.shape != (x.shape[0],):
        raise InputError(
            f"client ids have shape {ids.shape}",
            column="client_id",
            expected=f"one id per example, shape [{x.shape[0]}]",
        )
    batch_size = check_int(batch_size, "local_batch_size", 1)
    uniq, index = np.unique(ids, return_inverse=True)
    index = index.reshape(-1)
    sizes = np.bincount(index, minlength=uniq.size).astype(np.int64)
    pad = int(math.ceil(sizes.max() / batch_size) * batch_size)
    order = np.argsort(index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.arange(x.shape[0]) - np.repeat(starts, sizes)  # position within its client
    cx = np.zeros((uniq.size, pad, x.shape[1]), dtype=np.float32)
    cy = np.zeros((uniq.size, pad), dtype=np.int32)
    cm = np.zeros((uniq.size, pad), dtype=np.float32)
    rows = index[order]
    cx[rows, pos] = x[order]
    cy[rows, pos] = y[order]
    cm[rows, pos] = 1.0
    return ClientData(cx, cy, cm, sizes, uniq)
