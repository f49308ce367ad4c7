"""Sub-Pseudo Labels (SPL) and its baselines as plain functions on arrays.

Li, Zhang, Kumar, Guo, Lu, Sukthankar, Yang, "Learning from Weakly-Labeled
Web Videos via Exploring Sub-Concepts" (AAAI 2022). A pool of examples carries
weak labels `w` (the query that found each example's source); a teacher
trained on a small clean target set predicts `t` for each. The confusion
matrix `C[w, t]` over the pool defines the pre-training label space:

  weak       w                          (W classes)
  teacher    t                          (T classes)
  agreement  w, only where t == w        (W classes; other examples dropped)
  spl        one class per (w, t) cell with >= min_count examples, plus
             per w one "other" class                (at most W * W + W classes)
  spl_b      per w: agree (t == w) and disagree (t != w)   (at most 2W classes)

Pruning (`spl`, `spl_b`): a cell with fewer than `min_count` examples is
merged into its row's disagreement class, i.e. `(w, other)` for `spl` and
`(w, disagree)` for `spl_b`. We chose the row's disagreement class because a
rare (w, t) pair is mostly teacher error or an outlier of query w, and the
disagreement class is the one whose meaning ("found by w, not recognised as
w") still holds for it. An agreement cell (t == w) below `min_count` goes
there too, and so does a pair never seen in the train split, so every (w, t)
pair has a class (an eval example may show a pair that train did not): each
row keeps its disagreement class even when no train example falls in it.
Classes are numbered in row-major order of (w, t), each row's disagreement
class last, so the mapping depends on the counts only and is reproducible.
The baselines keep the W original classes and ids, so that their
`spl_label` is the weak label (or the teacher's class) itself; only
`agreement` drops examples.

Teacher and weak labels share one label space here (T == W), as in the paper:
the teacher is trained on the target classes that the queries name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import numpy as np

from frontier.components.common.errors import InputError

WEAK = "weak"
TEACHER = "teacher"
AGREEMENT = "agreement"
SPL = "spl"
SPL_B = "spl_b"
STRATEGIES = (WEAK, TEACHER, AGREEMENT, SPL, SPL_B)
DEFAULT_STRATEGY = SPL
DEFAULT_MIN_COUNT = 5

# SplClass.kind values.
KIND_WEAK = "weak"  # the weak label w (weak, agreement)
KIND_TEACHER = "teacher"  # the teacher's class t (teacher)
KIND_CELL = "cell"  # one (w, t) cell (spl)
KIND_AGREE = "agree"  # t == w (spl_b)
KIND_DISAGREE = "disagree"  # t != w, plus pruned cells (spl, spl_b)

DROPPED = -1  # lookup value of (w, t) pairs left out of pre-training (agreement)


@dataclasses.dataclass(frozen=True)
class SplClass:
    """One class of the pre-training label space.

    Attributes:
      id: the class id, in [0, num_classes).
      kind: one of the KIND_* constants.
      weak: the weak class w it belongs to (None for `teacher` classes).
      teacher: the teacher class t of a `cell` or `teacher` class, w for
        `agree`, None for `weak` and `disagree` classes.
      count: pool examples assigned to it.
      name: readable name built from the class names, e.g. `3|t=5`.
    """

    id: int
    kind: str
    weak: int | None
    teacher: int | None
    count: int
    name: str


@dataclasses.dataclass(frozen=True)
class SplLabelMap:
    """The pre-training label space and how pool examples map into it.

    Attributes:
      strategy: one of STRATEGIES.
      min_count: the pruning threshold used (0 for strategies without pruning).
      class_names: the shared weak / teacher class names, [W].
      confusion: int64 [W, T] pool counts of (weak label, teacher prediction).
      classes: the pre-training classes, by id.
      lookup: int64 [W, T]: the class id of each (w, t) pair, or DROPPED.
    """

    strategy: str
    min_count: int
    class_names: tuple[str, ...]
    confusion: np.ndarray
    classes: tuple[SplClass, ...]
    lookup: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def dropped(self) -> int:
        """Pool examples that the mapping leaves out of pre-training."""
        return int(self.confusion[self.lookup == DROPPED].sum())

    def assign(self, weak: np.ndarray, teacher: np.ndarray) -> np.ndarray:
        """Class ids int64 [N] of examples with weak labels and teacher predictions [N].

        Returns DROPPED for pairs that the strategy leaves out.
        """
        return self.lookup[np.asarray(weak, np.int64), np.asarray(teacher, np.int64)]

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "min_count": self.min_count,
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "classes": [dataclasses.asdict(c) for c in self.classes],
            "lookup": self.lookup.tolist(),
            "dropped": self.dropped,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SplLabelMap:
        d = json.loads(text)
        return cls(
            strategy=d["strategy"],
            min_count=int(d["min_count"]),
            class_names=tuple(d["class_names"]),
            confusion=np.asarray(d["confusion"], np.int64),
            classes=tuple(SplClass(**c) for c in d["classes"]),
            lookup=np.asarray(d["lookup"], np.int64),
        )


def check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise InputError(
            f"strategy {strategy!r}", parameter="strategy", expected=" or ".join(STRATEGIES)
        )


def check_min_count(min_count: int) -> None:
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise InputError(
            f"min_count = {min_count!r}", parameter="min_count", expected="an integer >= 1"
        )


def confusion_matrix(weak: np.ndarray, teacher: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts int64 [W, W] of (weak label, teacher prediction) pairs.

    Args:
      weak: int [N] weak labels in [0, num_classes).
      teacher: int [N] teacher predictions in [0, num_classes).
      num_classes: W, the size of the shared label space.

    Raises:
      InputError: for mismatched lengths or ids out of range.
    """
    weak = np.asarray(weak, np.int64)
    teacher = np.asarray(teacher, np.int64)
    if weak.shape != teacher.shape or weak.ndim != 1:
        raise InputError(
            f"{weak.shape} weak labels but {teacher.shape} teacher predictions",
            column="weak_label",
            expected="one weak label and one prediction per example, shape [N]",
        )
    for name, ids in (("weak_label", weak), ("teacher_label", teacher)):
        bad = np.flatnonzero((ids < 0) | (ids >= num_classes))
        if bad.size:
            raise InputError(
                f"class id {int(ids[bad[0]])} out of range",
                row=int(bad[0]) + 1,
                column=name,
                expected=f"an id in [0, {num_classes})",
            )
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (weak, teacher), 1)
    return counts


def build_label_map(
    confusion: np.ndarray,
    strategy: str = DEFAULT_STRATEGY,
    min_count: int = DEFAULT_MIN_COUNT,
    class_names: Sequence[str] | None = None,
) -> SplLabelMap:
    """The pre-training label space of `strategy` for a pool's confusion matrix.

    Args:
      confusion: int [W, W] counts of (weak label, teacher prediction).
      strategy: one of STRATEGIES (see the module docstring).
      min_count: `spl` / `spl_b` only: cells with fewer examples are merged
        into their row's disagreement class (>= 1; 1 keeps every non-empty cell).
      class_names: names of the W classes (default "0", "1", ...).

    Returns:
      The `SplLabelMap`; deterministic in its arguments.

    Raises:
      InputError: for an unknown strategy, min_count < 1, a non-square or
        negative matrix, an empty pool, or a label space with fewer than two
        classes left to pre-train on.
    """
    check_strategy(strategy)
    check_min_count(min_count)
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise InputError(
            f"confusion matrix of shape {confusion.shape}",
            expected="a square [W, W] matrix (teacher and weak labels share one label space)",
        )
    if np.any(confusion < 0):
        raise InputError("negative counts in the confusion matrix", expected="counts >= 0")
    confusion = confusion.astype(np.int64)
    w_classes = confusion.shape[0]
    if confusion.sum() == 0:
        raise InputError(
            "the weakly-labeled pool is empty", expected="at least one example in the train split"
        )
    names = tuple(class_names) if class_names is not None else tuple(map(str, range(w_classes)))
    if len(names) != w_classes:
        raise InputError(
            f"{len(names)} class names for a {w_classes}-class confusion matrix",
            parameter="class_names",
            expected=f"{w_classes} names",
        )

    lookup = np.full((w_classes, w_classes), DROPPED, np.int64)
    classes: list[SplClass] = []

    def add(kind: str, weak: int | None, teacher: int | None, cells: list[tuple[int, int]], name):
        count = int(sum(confusion[c] for c in cells))
        for cell in cells:
            lookup[cell] = len(classes)
        classes.append(SplClass(len(classes), kind, weak, teacher, count, name))

    if strategy == WEAK:
        for w in range(w_classes):
            add(KIND_WEAK, w, None, [(w, t) for t in range(w_classes)], names[w])
    elif strategy == TEACHER:
        for t in range(w_classes):
            add(KIND_TEACHER, None, t, [(w, t) for w in range(w_classes)], names[t])
    elif strategy == AGREEMENT:
        for w in range(w_classes):
            add(KIND_WEAK, w, None, [(w, w)], names[w])
    else:
        min_count = int(min_count)
        for w in range(w_classes):
            small = [(w, t) for t in range(w_classes) if confusion[w, t] < min_count]
            if strategy == SPL:
                for t in range(w_classes):
                    if confusion[w, t] >= min_count:
                        add(KIND_CELL, w, t, [(w, t)], f"{names[w]}|t={names[t]}")
                add(KIND_DISAGREE, w, None, small, f"{names[w]}|t=other")  # may be empty
            else:
                if confusion[w, w] >= min_count:
                    add(KIND_AGREE, w, w, [(w, w)], f"{names[w]}|agree")
                others = [(w, t) for t in range(w_classes) if t != w]
                rest = sorted(set(others) | set(small))
                add(KIND_DISAGREE, w, None, rest, f"{names[w]}|disagree")
    populated = sum(c.count > 0 for c in classes)
    if populated < 2:
        raise InputError(
            f"strategy {strategy!r} leaves {populated} class(es) with examples",
            parameter="strategy",
            expected="at least 2 pre-training classes (a larger pool, or a lower min_count)",
        )
    return SplLabelMap(
        strategy=strategy,
        min_count=int(min_count) if strategy in (SPL, SPL_B) else 0,
        class_names=names,
        confusion=confusion,
        classes=tuple(classes),
        lookup=lookup,
    )


def relabel(
    weak: np.ndarray,
    teacher: np.ndarray,
    strategy: str = DEFAULT_STRATEGY,
    min_count: int = DEFAULT_MIN_COUNT,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, SplLabelMap]:
    """Pre-training labels of a pool: confusion matrix, label map, assignment.

    Args:
      weak: int [N] weak labels.
      teacher: int [N] teacher predictions (same label space).
      strategy, min_count, class_names: see `build_label_map`.
      num_classes: W (default: len(class_names), else max id + 1).

    Returns:
      (labels int64 [N] with DROPPED for left-out examples, the label map).
    """
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        else:
            num_classes = int(max(np.max(weak, initial=-1), np.max(teacher, initial=-1))) + 1
    confusion = confusion_matrix(weak, teacher, num_classes)
    label_map = build_label_map(confusion, strategy, min_count, class_names)
    return label_map.assign(weak, teacher), label_map
