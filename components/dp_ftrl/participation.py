"""Who takes part when: client partitioning, the participation schedule, and its checker.

Plain NumPy functions, no TFX.

* `partition_clients` splits a data set without client ids into synthetic clients, IID or
  with Dirichlet(alpha) label skew (Hsu, Qi & Brown, "Measuring the Effects of Non-Identical
  Data Distribution for Federated Visual Classification", 2019).
* `schedule_participation` draws which clients take part in which round, under the
  constraints the DP-FTRL accountant (`frontier.components.dp_ftrl.accounting`) assumes: at
  most ``max_participations`` rounds per client, and two rounds ``x < y`` of one client always
  satisfy ``y - x >= min_separation`` (the production scheme: a device checks in at most once
  every 24 h). Rounds are numbered ``0 .. rounds - 1`` as in the accountant.
* `check_schedule` verifies a schedule against those constraints.

The schedule depends only on the number of clients and a seed, never on the clients' data, and
the privacy guarantee does not rely on its randomness (no amplification by sampling or
shuffling): the accountant takes the worst case over *every* schedule that satisfies the
constraints, so any schedule that passes `check_schedule` is covered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from frontier.components.common.checks import check_int, check_positive
from frontier.components.common.errors import InputError

__all__ = [
    "PARTITION_SCHEMES",
    "check_schedule",
    "partition_clients",
    "schedule_participation",
    "short_rounds",
]

PARTITION_SCHEMES = ("iid", "dirichlet")
_DIRICHLET_TRIES = 1000


def _seed_param(seed: Any) -> int:
    return check_int(seed, "seed", 0)


# --- partitioning ----------------------------------------------------------------------------


def partition_clients(
    labels: np.ndarray,
    num_clients: int,
    scheme: str = "iid",
    alpha: float = 0.5,
    seed: int = 0,
    *,
    min_examples: int = 1,
) -> np.ndarray:
    """Assigns each example to one of `num_clients` synthetic clients.

    * ``"iid"``: a seeded random permutation cut into `num_clients` parts whose sizes differ
      by at most one.
    * ``"dirichlet"``: label skew. For every class c, proportions ``p_c ~ Dirichlet(alpha *
      ones(num_clients))`` are drawn and the (shuffled) examples of class c are cut into
      consecutive runs of sizes ``~ p_c * count_c``. Small `alpha` (0.1) gives clients that
      see few classes; large `alpha` (100) approaches IID. Draws are repeated (up to 1000
      times, deterministically from `seed`) until every client has at least `min_examples`
      examples, as in the usual implementations.

    Args:
      labels: int [N] class ids (any integers; only equality matters).
      num_clients: number of clients K, 1 <= K <= N // min_examples.
      scheme: "iid" or "dirichlet".
      alpha: Dirichlet concentration, > 0 (ignored for "iid").
      seed: seed of every random choice.
      min_examples: least number of examples per client, >= 1.

    Returns:
      int64 [N]: the client index in ``[0, num_clients)`` of each example. Every client has
      at least `min_examples` examples.

    Raises:
      InputError: a parameter is out of range (the message names it), or no Dirichlet draw
        gave every client `min_examples` examples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise InputError(
            f"labels have shape {labels.shape}", column="labels", expected="shape [N], N >= 1"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"labels have dtype {labels.dtype}", column="labels", expected="integer class ids"
        )
    n = labels.size
    min_examples = check_int(min_examples, "min_examples", 1)
    num_clients = check_int(num_clients, "num_clients", 1)
    if num_clients * min_examples > n:
        raise InputError(
            f"num_clients is {num_clients} for {n} examples",
            parameter="num_clients",
            expected=f"at most {n // min_examples} clients ({min_examples} example(s) each)",
        )
    seed = _seed_param(seed)
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        perm = rng.permutation(n)
        out = np.empty(n, dtype=np.int64)
        for client, part in enumerate(np.array_split(perm, num_clients)):
            out[part] = client
        return out
    if scheme != "dirichlet":
        raise InputError(
            f"unknown scheme {scheme!r}",
            parameter="scheme",
            expected=" or ".join(PARTITION_SCHEMES),
        )
    check_positive(alpha, "alpha")
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    for _ in range(_DIRICHLET_TRIES):
        out = np.empty(n, dtype=np.int64)
        for idx in members:
            idx = rng.permutation(idx)
            p = rng.dirichlet(np.full(num_clients, float(alpha)))
            cuts = np.round(np.cumsum(p)[:-1] * idx.size).astype(np.int64)
            for client, part in enumerate(np.split(idx, cuts)):
                out[part] = client
        if np.bincount(out, minlength=num_clients).min() >= min_examples:
            return out
    raise InputError(
        f"no Dirichlet(alpha={alpha}) draw in {_DIRICHLET_TRIES} gave all {num_clients} clients "
        f"{min_examples} example(s)",
        parameter="alpha",
        expected="a larger alpha, fewer clients or a smaller min_examples",
    )


# --- the schedule ----------------------------------------------------------------------------


def schedule_participation(
    num_clients: int,
    rounds: int,
    clients_per_round: int,
    max_participations: int,
    min_separation: int,
    seed: int = 0,
) -> np.ndarray:
    """Draws which clients take part in each round, never breaking the accountant's constraints.

    Round t (``0 <= t < rounds``) draws `clients_per_round` clients uniformly without
    replacement among the *eligible* ones: those with fewer than `max_participations` rounds
    so far and whose last round s (if any) satisfies ``t - s >= min_separation``. When fewer
    are eligible, the round takes all of them and the missing slots are -1; `short_rounds`
    reports such rounds. The draw depends only on the arguments, not on data.

    How: the eligible clients are kept in a pool (an array whose first n entries are the
    eligible clients, in no particular order). A round draws k positions of the pool (NumPy's
    `Generator.choice` without replacement: Floyd's algorithm, O(k), while the pool is large)
    and fills the holes with the pool's last entries; the clients of round ``t - min_separation``
    that may still take part go back to the pool at round t. So a round costs O(k) NumPy work
    and no per-client Python loop: 2000 rounds of 6500 clients over 1,000,000 clients take
    about a second. Memory: the pool and a participation count, O(num_clients), beside the
    O(rounds * k) result.

    Args:
      num_clients: number of clients C, >= 1 (clients are 0 .. C - 1).
      rounds: number of rounds R, >= 1.
      clients_per_round: K, >= 1.
      max_participations: most rounds one client takes part in, >= 1.
      min_separation: least difference y - x between two rounds x < y of one client, >= 1
        (1 only forbids a client twice in one round).
      seed: seed of the draw.

    Returns:
      int64 [R, K]: row t lists round t's clients in increasing order, then -1 padding.

    Raises:
      InputError: a parameter is out of range (the message names it).
    """
    num_clients = check_int(num_clients, "num_clients", 1)
    rounds = check_int(rounds, "rounds", 1)
    k = check_int(clients_per_round, "clients_per_round", 1)
    max_p = check_int(max_participations, "max_participations", 1)
    sep = check_int(min_separation, "min_separation", 1)
    rng = np.random.default_rng(_seed_param(seed))
    index_type = np.int32 if num_clients < 2**31 else np.int64
    pool = np.arange(num_clients, dtype=index_type)  # pool[:n]: the eligible clients
    n = num_clients
    count = np.zeros(num_clients, dtype=np.min_scalar_type(max_p))
    out = np.full((rounds, k), -1, dtype=np.int64)
    for t in range(rounds):
        if t >= sep:  # round t - sep's clients are eligible again unless they are spent
            back = out[t - sep]
            back = back[back >= 0]
            back = back[count[back] < max_p]
            pool[n : n + back.size] = back
            n += back.size
        if n > k:
            pos = rng.choice(n, size=k, replace=False, shuffle=False)
            chosen = pool[pos]
            # Fill the holes below n - k with the tail's entries that were not drawn.
            in_tail = np.zeros(k, dtype=bool)
            in_tail[pos[pos >= n - k] - (n - k)] = True
            pool[pos[pos < n - k]] = pool[n - k : n][~in_tail]
            n -= k
        else:
            chosen, n = pool[:n].copy(), 0
        chosen.sort()
        out[t, : chosen.size] = chosen
        count[chosen] += 1
    return out


def short_rounds(schedule: np.ndarray) -> np.ndarray:
    """Indices of the rounds with fewer than `clients_per_round` clients (some -1 slots)."""
    return np.flatnonzero((np.asarray(schedule) < 0).any(axis=1))


def check_schedule(
    schedule: np.ndarray,
    num_clients: int,
    clients_per_round: int,
    max_participations: int,
    min_separation: int,
) -> None:
    """Verifies that a schedule satisfies the participation constraints of the accountant.

    Checks: shape ``[rounds, clients_per_round]`` of integers; entries are client indices in
    ``[0, num_clients)`` or -1 (an empty slot); no client more than `max_participations`
    times; two rounds ``x < y`` of one client have ``y - x >= min_separation`` (so, with
    ``min_separation >= 1``, no client twice in a round).

    Args:
      schedule: int [R, K] as returned by `schedule_participation`.
      num_clients: number of clients C.
      clients_per_round: K.
      max_participations: most rounds per client.
      min_separation: least difference between two rounds of one client.

    Raises:
      InputError: on the first violation, naming the round (``row``, 1-based round number),
        the client and the constraint; or a parameter out of range.
    """
    num_clients = check_int(num_clients, "num_clients", 1)
    k = check_int(clients_per_round, "clients_per_round", 1)
    max_p = check_int(max_participations, "max_participations", 1)
    sep = check_int(min_separation, "min_separation", 1)
    s = np.asarray(schedule)
    if s.ndim != 2 or s.shape[1] != k or not np.issubdtype(s.dtype, np.integer):
        raise InputError(
            f"schedule has shape {s.shape} and dtype {s.dtype}",
            parameter="schedule",
            expected=f"an integer array [rounds, {k}]",
        )
    bad = np.argwhere((s < -1) | (s >= num_clients))
    if bad.size:
        t, j = bad[0]
        raise InputError(
            f"slot {j} holds client {s[t, j]}",
            parameter="schedule",
            row=int(t) + 1,
            expected=f"a client index in [0, {num_clients}) or -1",
        )
    _check_rounds(s, num_clients, max_p, sep)


def _check_rounds(s: np.ndarray, num_clients: int, max_p: int, sep: int) -> None:
    """The participation and separation checks of `check_schedule`, block by block.

    Rounds are taken in blocks of at most `sep` rounds, where a valid schedule has each client
    at most once. In a block, sorting (client, round) finds the clients that occur twice; a
    participation count and the last round of every client seen so far (O(num_clients)
    memory) give the violations against earlier blocks. The first violation reported is the
    one in the earliest round. Cost: O(R * K * log(K)) NumPy work, about a second for 2000 rounds
    of 6500 clients.
    """
    rounds, k = s.shape
    count = np.zeros(num_clients, dtype=np.int64)
    last = np.full(num_clients, np.iinfo(np.int64).min // 2, dtype=np.int64)
    step = max(1, min(sep, (1 << 20) // max(k, 1)))
    for start in range(0, rounds, step):
        block = s[start : start + step]
        r, j = np.nonzero(block >= 0)
        c = block[r, j].astype(np.int64)
        if c.size == 0:
            continue
        r = r + start
        order = np.argsort(c * step + (r - start))  # by client, then round
        c, r = c[order], r[order]
        first = np.ones(c.size, dtype=bool)
        first[1:] = c[1:] != c[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(c.size), 0))
        rank = np.arange(c.size) - group_start  # earlier occurrences in this block
        prev = np.where(first, last[c], np.concatenate([[0], r[:-1]]))
        close = r - prev < sep
        over = count[c] + rank + 1 > max_p
        bad = close | over
        if bad.any():
            i = int(np.flatnonzero(bad)[np.argmin(r[bad])])
            client, t = int(c[i]), int(r[i])
            if close[i]:
                raise InputError(
                    f"client {client} takes part in rounds {int(prev[i])} and {t} (0-based)",
                    parameter="schedule",
                    row=t + 1,
                    expected=f"rounds at least min_separation = {sep} apart",
                )
            raise InputError(
                f"client {client} takes part {int(count[client] + rank[i] + 1)} times by "
                f"round {t} (0-based)",
                parameter="schedule",
                row=t + 1,
                expected=f"at most max_participations = {max_p} rounds per client",
            )
        last_of = np.flatnonzero(np.append(first[1:], True))  # each client's last occurrence
        count[c[last_of]] += rank[last_of] + 1
        last[c[last_of]] = r[last_of]
