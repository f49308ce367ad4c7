"""A weakly-labeled pool of "untrimmed bags" built from a labelled data set.

The SPL setting (web videos found by a search query) on data that ships
offline: each bag stands for one untrimmed video found by a query class `q`;
every example in it gets the weak label `q`, but a share `noise` of them
show something else. As in web video, where a query's off-topic clips are
related scenes (a "playing guitar" video also shows tuning or applause),
the off-topic examples of query `q` come from `num_related` classes tied to
`q` (fixed per seed); `num_related = C - 1` gives uniform noise instead.
Used by `benchmarks/spl.py` and `frontier run spl`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from frontier.components.common.errors import InputError

DEFAULT_BAG_SIZE = 20
DEFAULT_NUM_RELATED = 2


class BagPool(NamedTuple):
    """Weak labels for a pool, with the bag structure.

    Attributes:
      weak: int64 [N] weak label (the bag's query class) of each pool example.
      bag: int64 [N] bag id of each example (bags of one query are contiguous ids).
      related: int64 [C, num_related] the classes each query's off-topic examples come from.
    """

    weak: np.ndarray
    bag: np.ndarray
    related: np.ndarray


def make_bags(
    labels: np.ndarray,
    noise: float,
    num_classes: int | None = None,
    num_related: int = DEFAULT_NUM_RELATED,
    bag_size: int = DEFAULT_BAG_SIZE,
    seed: int = 0,
) -> BagPool:
    """Weak labels for a pool whose true labels are `labels`.

    Each class's examples are shuffled; a share `1 - noise` of them (rounded)
    stay on topic (weak label = their class), the rest are spread evenly over
    the queries that have their class among their related classes. With
    balanced classes every query then ends up with about the same size and a
    share `noise` of off-topic examples. Each query's examples are shuffled
    and cut into bags of `bag_size`.

    Args:
      labels: int [N] true classes of the pool examples.
      noise: share of off-topic examples per bag, in [0, 1).
      num_classes: C (default max label + 1).
      num_related: classes a query's off-topic examples come from, in [1, C - 1].
      bag_size: examples per bag (the last bag of a query may be smaller).
      seed: seed of every random choice.

    Returns:
      The `BagPool` (weak labels, bag ids, related classes).

    Raises:
      InputError: for a parameter out of range.
    """
    labels = np.asarray(labels, np.int64)
    c = int(num_classes if num_classes is not None else labels.max() + 1)
    if not 0.0 <= noise < 1.0:
        raise InputError(f"noise = {noise!r}", parameter="noise", expected="a share in [0, 1)")
    if not 1 <= num_related <= c - 1:
        raise InputError(
            f"num_related = {num_related!r}", parameter="num_related", expected=f"in [1, {c - 1}]"
        )
    if bag_size < 1:
        raise InputError(
            f"bag_size = {bag_size!r}", parameter="bag_size", expected="an integer >= 1"
        )
    rng = np.random.default_rng(seed)
    # Query q's related classes are q + s (mod C) for a fixed set of shifts s,
    # so every class is related to exactly num_related queries: q = c - s.
    shifts = rng.choice(np.arange(1, c), size=num_related, replace=False)
    related = (np.arange(c)[:, None] + shifts[None, :]) % c
    weak = np.empty_like(labels)
    for cls in range(c):
        members = rng.permutation(np.flatnonzero(labels == cls))
        off = int(round(noise * len(members)))
        weak[members[off:]] = cls
        # Round-robin over the queries that take this class as off-topic.
        weak[members[:off]] = ((cls - shifts) % c)[np.arange(off) % num_related]
    bag = np.empty_like(labels)
    next_bag = 0
    for q in range(c):
        members = rng.permutation(np.flatnonzero(weak == q))
        bag[members] = next_bag + np.arange(len(members)) // bag_size
        next_bag += -(-len(members) // bag_size)
    return BagPool(weak, bag, related)
