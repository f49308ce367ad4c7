"""Seeded synthetic clients for data without client ids, for federated
simulation (DP-FTRL): plain functions, no TFX, no Beam.

Two schemes (`spec.CLIENT_PARTITIONS`, besides `none`), into K clients:
  * `iid`: every example goes to one of the K clients uniformly at random.
  * `dirichlet`: label skew (Hsu, Qi & Brown 2019). For every class c,
    client proportions ``p_c ~ Dirichlet(alpha * ones(K))`` are drawn, and
    an example of class c goes to client k with probability ``p_c[k]``.
    Small alpha (0.1) gives clients that see few classes; large alpha (100)
    approaches IID.

**Why not `frontier.components.dp_ftrl.partition_clients`.** That function
needs the whole label vector at once (it permutes the examples of each class
and cuts them into runs), so its assignment of one example depends on every
other row and on their order. Ingestion converts rows in parallel in Beam,
in no fixed order, and an example must keep its client when rows are added
elsewhere (as it keeps its split and its noisy label). So here an example's
client depends only on (partition_seed, its example id, its class):

  * the draw u in [0, 1): the top 53 bits of the first 8 bytes of SHA-256
    of `"client:<seed>:<example id>"`, / 2**53 (like the split and the
    label noise, with their own salts);
  * `iid`: client ``floor(u * K)``;
  * `dirichlet`: the proportions of class id c come from a NumPy generator
    seeded by SHA-256 of `"dirichlet:<seed>:<c>"` (so they depend on the
    seed and the class only, not on K of the other classes or the data),
    and the client is the k where u falls in the cumulative proportions
    ``[P_c[k-1], P_c[k])``.

The distribution is the same as `partition_clients`' (IID: uniform; Dirichlet:
the same ``p_c`` law, an example of class c in client k with probability
``p_c[k]``) but the assignment is not the same, and client sizes are
multinomial instead of exact: `iid` sizes differ by about ``sqrt(N / K)``
rather than by at most one, and, unlike `partition_clients` (which redraws
until every client has an example), a client may end up with no examples
(rare for `iid` with N >> K, common for `dirichlet` with a small alpha and
many clients). Empty clients are simply absent from the data; the Ingest
page and the `train_clients` artifact property say how many clients have
train examples. More clients than examples is refused (`check_num_clients`).

The partition uses the clean label (with label noise on, the class before
flipping) and covers every split: an example's client does not depend on its
split, so `train` holds about (1 - eval_fraction) of each client's examples
and `eval` the rest (held-out data of the same users; federated training
uses `train`).

Client ids are strings `client-00042`: the prefix `client-` and the index,
zero-padded to at least 5 digits (more for 100,000 clients or more), so that
sorting the ids sorts the clients by index.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec

CLIENT_ID_PREFIX = "client-"
_MIN_ID_DIGITS = 5


def partition_draw(example_id: str, seed: int) -> float:
    """The uniform number in [0, 1) behind an example's client: the top 53
    bits of the first 8 bytes of SHA-256 of `"client:<seed>:<example id>"`, / 2**53."""
    digest = hashlib.sha256(f"client:{int(seed)}:{example_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53


def class_proportions(num_clients: int, class_id: int, alpha: float, seed: int) -> np.ndarray:
    """float64 [K]: the Dirichlet(alpha * ones(K)) client proportions of one
    class, from a generator seeded by SHA-256 of `"dirichlet:<seed>:<class id>"`."""
    digest = hashlib.sha256(f"dirichlet:{int(seed)}:{int(class_id)}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
    p = rng.dirichlet(np.full(int(num_clients), float(alpha)))
    if not np.all(np.isfinite(p)) or p.sum() <= 0:  # not seen with NumPy >= 1.25
        raise ValueError(f"Dirichlet({alpha}) over {num_clients} clients gave {p[:5]}...")
    return p


@functools.lru_cache(maxsize=64)
def _cumulative(num_clients: int, num_classes: int, alpha: float, seed: int) -> np.ndarray:
    """float64 [C, K]: the cumulative client proportions of each class (last column 1)."""
    cum = np.cumsum(
        [class_proportions(num_clients, c, alpha, seed) for c in range(num_classes)], axis=1
    )
    cum[:, -1] = 1.0  # u < 1 always falls inside
    cum.setflags(write=False)
    return cum


def client_index(
    example_id: str,
    label: int,
    num_classes: int,
    scheme: str,
    num_clients: int,
    alpha: float,
    seed: int,
) -> int:
    """The client index in [0, num_clients) of one example (see the module docstring).

    Args:
      example_id: the example's unique id.
      label: its (clean) class id in [0, num_classes) (used by `dirichlet` only).
      num_classes: C.
      scheme: `iid` or `dirichlet`.
      num_clients: K >= 1.
      alpha: Dirichlet concentration > 0 (`dirichlet` only).
      seed: partition seed.

    Raises:
      ValueError: an unknown scheme, K < 1, or a label out of range.
    """
    if num_clients < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    u = partition_draw(example_id, seed)
    if scheme == spec.IID:
        return min(int(u * num_clients), num_clients - 1)
    if scheme != spec.DIRICHLET:
        raise ValueError(f"unknown client partition {scheme!r}; expected iid or dirichlet")
    label = int(label)
    if not 0 <= label < num_classes:
        raise ValueError(f"label {label} is not a class id in [0, {num_classes})")
    cum = _cumulative(int(num_clients), int(num_classes), float(alpha), int(seed))
    k = int(np.searchsorted(cum[label], u, side="right"))
    return min(k, num_clients - 1)


def client_name(index: int, num_clients: int) -> str:
    """The client id of a client index, e.g. `client-00042`."""
    width = max(_MIN_ID_DIGITS, len(str(max(int(num_clients) - 1, 0))))
    return f"{CLIENT_ID_PREFIX}{int(index):0{width}d}"


def hash_partition(
    labels: Sequence[int] | np.ndarray,
    example_ids: Iterable[str],
    num_clients: int,
    scheme: str = spec.IID,
    alpha: float = spec.DEFAULT_PARTITION_ALPHA,
    seed: int = spec.DEFAULT_PARTITION_SEED,
    num_classes: int | None = None,
) -> np.ndarray:
    """`client_index` over arrays: int64 [N] client indices (what Ingest writes).

    Args:
      labels: int [N] clean class ids.
      example_ids: N unique ids (str or bytes).
      num_clients: K >= 1.
      scheme: `iid` or `dirichlet`.
      alpha: Dirichlet concentration > 0.
      seed: partition seed.
      num_classes: C (default: max label + 1; only the class ids matter).

    Raises:
      InputError: a parameter out of range, naming it.
    """
    partition = ClientPartition.create(scheme, num_clients, alpha, seed)
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in example_ids]
    labels = np.asarray(labels, np.int64)
    if len(ids) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(ids)} example ids")
    c = int(labels.max()) + 1 if num_classes is None and labels.size else int(num_classes or 1)
    return np.asarray(
        [partition.client_of(int(y), eid, c) for y, eid in zip(labels, ids, strict=True)],
        np.int64,
    )


@dataclasses.dataclass(frozen=True)
class ClientPartition:
    """Client-partition settings of an ingestion (picklable, for Beam workers).

    Attributes:
      scheme: `iid` or `dirichlet` (no object is made for `none`).
      num_clients: K >= 1.
      alpha: Dirichlet concentration > 0 (recorded, unused, for `iid`).
      seed: partition seed.
    """

    scheme: str
    num_clients: int
    alpha: float
    seed: int

    @classmethod
    def create(cls, scheme: str, num_clients: int, alpha: float, seed: int) -> ClientPartition:
        """Checks the settings (InputErrors name the Ingest parameters)."""
        if scheme not in (spec.IID, spec.DIRICHLET):
            raise InputError(
                f"unknown client partition {scheme!r}",
                parameter=spec.CLIENT_PARTITION_KEY,
                expected=f"one of {[spec.IID, spec.DIRICHLET]}",
            )
        k = spec.check_num_clients_value(num_clients)
        if k < 1:
            raise InputError(
                f"num_clients is {k}", parameter=spec.NUM_CLIENTS_KEY, expected="an integer >= 1"
            )
        return cls(scheme, k, spec.check_alpha_value(alpha), spec.check_seed_value(seed))

    def client_of(self, label: int, example_id: str, num_classes: int) -> int:
        """`client_index` with these settings."""
        return client_index(
            example_id, label, num_classes, self.scheme, self.num_clients, self.alpha, self.seed
        )

    def client_name(self, index: int) -> str:
        """`client_name` with this K."""
        return client_name(index, self.num_clients)

    def describe(self) -> str:
        """E.g. `dirichlet(0.5) partition into 100 clients (seed 0)`."""
        kind = f"dirichlet({self.alpha:g})" if self.scheme == spec.DIRICHLET else "iid"
        return f"{kind} partition into {self.num_clients} clients (seed {self.seed})"


def client_partition_of(config: spec.IngestConfig) -> ClientPartition | None:
    """The config's `ClientPartition`, or None when `client_partition` is `none`."""
    if not config.partitioned:
        return None
    return ClientPartition(
        config.client_partition,
        int(config.num_clients),
        float(config.partition_alpha),
        int(config.partition_seed),
    )


def check_num_clients(partition: ClientPartition | None, num_examples: int, where: str) -> None:
    """At most one client per example (checked once the rows are counted).

    Raises:
      InputError: naming `num_clients` and the source (`where`).
    """
    if partition is not None and partition.num_clients > num_examples:
        raise InputError(
            f"num_clients {partition.num_clients} is more than the {num_examples} examples of"
            " the source: some clients would have no data",
            file=where,
            parameter=spec.NUM_CLIENTS_KEY,
            expected=f"at most {num_examples} clients",
        )


# -- what a partition looks like ------------------------------------------------------


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of each row of a count matrix (0 for an empty row)."""
    counts = np.asarray(counts, np.float64)
    totals = counts.sum(axis=-1, keepdims=True)
    p = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=-1)


@dataclasses.dataclass(frozen=True)
class PartitionSummary:
    """Examples per client and class of each split.

    Attributes:
      num_clients: K.
      num_classes: C.
      counts: split -> int64 [K, C]: counts[k, c] = examples of client k and
        (clean) class c in that split.
    """

    num_clients: int
    num_classes: int
    counts: Mapping[str, np.ndarray]

    def matrix(self, split: str | None = None) -> np.ndarray:
        """int64 [K, C] of one split, or of all splits together (None)."""
        if split is not None:
            return self.counts.get(split, np.zeros((self.num_clients, self.num_classes), np.int64))
        total = np.zeros((self.num_clients, self.num_classes), np.int64)
        for m in self.counts.values():
            total += m
        return total

    def sizes(self, split: str | None = None) -> np.ndarray:
        """int64 [K]: examples of each client."""
        return self.matrix(split).sum(axis=1)

    def clients_with_examples(self, split: str | None = None) -> int:
        return int((self.sizes(split) > 0).sum())

    def size_stats(self, split: str | None = None) -> tuple[int, float, float, int]:
        """(min, median, mean, max) examples per client, over all K clients."""
        s = self.sizes(split)
        return int(s.min()), float(np.median(s)), float(s.mean()), int(s.max())

    def classes_per_client(self, split: str | None = None) -> float:
        """Mean number of classes a client with examples has."""
        m = self.matrix(split)
        present = m.sum(axis=1) > 0
        return float((m[present] > 0).sum(axis=1).mean()) if present.any() else 0.0

    def mean_client_entropy(self, split: str | None = None) -> float:
        """Mean label entropy (bits) of the clients with examples: lower than
        `global_entropy` under label skew."""
        m = self.matrix(split)
        present = m.sum(axis=1) > 0
        return float(_entropy_bits(m[present]).mean()) if present.any() else 0.0

    def global_entropy(self, split: str | None = None) -> float:
        """Label entropy (bits) of the whole split."""
        return float(_entropy_bits(self.matrix(split).sum(axis=0)))

    def mean_tv_distance(self, split: str | None = None) -> float:
        """Mean total-variation distance between a client's label distribution
        and the split's, over the clients with examples (0: no skew; 1: disjoint)."""
        m = self.matrix(split).astype(np.float64)
        sizes = m.sum(axis=1)
        present = sizes > 0
        if not present.any():
            return 0.0
        overall = m.sum(axis=0) / m.sum()
        p = m[present] / sizes[present, None]
        return float(0.5 * np.abs(p - overall).sum(axis=1).mean())


def partition_summary(
    triple_counts: Mapping[tuple[str, int, int], int], num_clients: int, num_classes: int
) -> PartitionSummary:
    """A `PartitionSummary` from counts of (split, client index, clean class) triples."""
    counts: dict[str, np.ndarray] = {
        s: np.zeros((num_clients, num_classes), np.int64) for s in spec.SPLIT_NAMES
    }
    for (split, client, label), n in triple_counts.items():
        counts.setdefault(split, np.zeros((num_clients, num_classes), np.int64))
        counts[split][int(client), int(label)] += int(n)
    return PartitionSummary(int(num_clients), int(num_classes), counts)


def partition_summary_of(
    splits: Mapping[str, tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray]],
    num_clients: int,
    num_classes: int,
) -> PartitionSummary:
    """A `PartitionSummary` from, per split, (client indices [N], clean labels [N])."""
    counts = {}
    for split, (clients, labels) in splits.items():
        m = np.zeros((num_clients, num_classes), np.int64)
        np.add.at(m, (np.asarray(clients, np.int64), np.asarray(labels, np.int64)), 1)
        counts[split] = m
    return PartitionSummary(int(num_clients), int(num_classes), counts)


def client_index_of_name(name: str | bytes) -> int:
    """Inverse of `client_name`: `client-00042` -> 42."""
    text = name.decode() if isinstance(name, bytes) else str(name)
    if not text.startswith(CLIENT_ID_PREFIX):
        raise ValueError(f"{text!r} is not a generated client id ({CLIENT_ID_PREFIX}<index>)")
    return int(text[len(CLIENT_ID_PREFIX) :])


__all__ = [
    "CLIENT_ID_PREFIX",
    "ClientPartition",
    "PartitionSummary",
    "check_num_clients",
    "class_proportions",
    "client_index",
    "client_index_of_name",
    "client_name",
    "client_partition_of",
    "hash_partition",
    "partition_draw",
    "partition_summary",
    "partition_summary_of",
]
