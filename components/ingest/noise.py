"""Seeded synthetic label noise, for label-noise research (e.g. CIW training,
Kumar & Amid 2021): plain functions, no TFX, no Beam.

Two kinds (`spec.LABEL_NOISE_KINDS`, besides `none`), on C classes:
  * `symmetric`: a flipped label goes to one of the other C-1 classes,
    uniformly (never to its own class).
  * `asymmetric` (pair flip): a flipped label of class c goes to (c+1) mod C.

Each example is flipped independently with probability `rate` (Bernoulli
sampling, not an exact count): the realized flip fraction is binomial around
`rate` (standard deviation sqrt(rate (1-rate) / n) over n examples). Exact
counts would need a global ranking of all examples; Bernoulli draws keep
ingestion parallel and an example's noisy label independent of the other rows.

The draws come from SHA-256 of `"noise:<seed>:<example id>"`, like the split
assignment (`convert.split_fraction`, salt `split`): the top 53 bits of the
first 8 bytes, / 2**53, give the flip draw u in [0, 1) (flipped when
u < rate, so rate 1 flips every example), those of the next 8 bytes the
target draw v (symmetric: the offset 1 + floor(v (C-1)) added to c modulo C). So an
example's noisy label depends only on (seed, example id, its class): the same
seed gives the same labels whatever the row order, and raising the rate only
adds flips (an example flipped at rate r is flipped, to the same class, at
every rate above r).

The Ingest component applies this to the `train` split only; `eval` keeps
its clean labels (a curated test set is clean, so evaluation measures clean
accuracy), and every split carries the clean label as `true_label`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.ingest import spec


def noise_draws(example_id: str, seed: int) -> tuple[float, float]:
    """The two uniform numbers in [0, 1) behind an example's noise: (flip
    draw, target draw), from SHA-256 of `"noise:<seed>:<example id>"`."""
    digest = hashlib.sha256(f"noise:{int(seed)}:{example_id}".encode()).digest()
    # 53 bits: exactly representable, so a draw is never rounded up to 1.0.
    u = (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53
    v = (int.from_bytes(digest[8:16], "big") >> 11) / 2.0**53
    return u, v


def noisy_label(
    label: int, example_id: str, num_classes: int, kind: str, rate: float, seed: int
) -> int:
    """The (possibly flipped) label of one example; see the module docstring.

    Args:
      label: the clean class id, in [0, num_classes).
      example_id: the example's unique id (its draws depend on it).
      num_classes: C, at least 2 for a kind other than `none`.
      kind: `none`, `symmetric` or `asymmetric`.
      rate: flip probability in [0, 1].
      seed: noise seed.

    Raises:
      ValueError: an unknown kind, fewer than 2 classes, or a label out of range.
    """
    if kind == spec.NO_NOISE:
        return int(label)
    if kind not in spec.LABEL_NOISE_KINDS:
        raise ValueError(f"unknown label noise {kind!r}; expected one of {spec.LABEL_NOISE_KINDS}")
    if num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes, got {num_classes}")
    label = int(label)
    if not 0 <= label < num_classes:
        raise ValueError(f"label {label} is not a class id in [0, {num_classes})")
    u, v = noise_draws(example_id, seed)
    if u >= rate:
        return label
    if kind == spec.ASYMMETRIC:
        return (label + 1) % num_classes
    # Uniform over 1 .. C-1 (min: v (C-1) may round up to C-1 in floating point).
    offset = 1 + min(int(v * (num_classes - 1)), num_classes - 2)
    return (label + offset) % num_classes


def add_label_noise(
    labels: Sequence[int] | np.ndarray,
    example_ids: Iterable[str],
    num_classes: int,
    kind: str,
    rate: float,
    seed: int,
) -> np.ndarray:
    """`noisy_label` over arrays: int64 [N] noisy labels for clean `labels` [N]."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in example_ids]
    labels = np.asarray(labels, np.int64)
    if len(ids) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(ids)} example ids")
    return np.asarray(
        [
            noisy_label(int(c), eid, num_classes, kind, rate, seed)
            for c, eid in zip(labels, ids, strict=True)
        ],
        np.int64,
    )


@dataclasses.dataclass(frozen=True)
class LabelNoise:
    """Label-noise settings of an ingestion (picklable, for Beam workers).

    Attributes:
      kind: `symmetric` or `asymmetric` (no object is made for `none`).
      rate: flip probability in [0, 1].
      seed: noise seed.
    """

    kind: str
    rate: float
    seed: int

    def apply(self, label: int, example_id: str, num_classes: int) -> int:
        """`noisy_label` with these settings."""
        return noisy_label(label, example_id, num_classes, self.kind, self.rate, self.seed)

    def describe(self) -> str:
        """E.g. `symmetric label noise 0.4 (seed 0)`."""
        return f"{self.kind} label noise {self.rate:g} (seed {self.seed})"


def label_noise_of(config: spec.IngestConfig) -> LabelNoise | None:
    """The config's `LabelNoise`, or None when `label_noise` is `none`."""
    if not config.noisy:
        return None
    return LabelNoise(config.label_noise, float(config.noise_rate), int(config.noise_seed))


def check_noise_classes(noise: LabelNoise | None, class_names: Sequence[str], where: str) -> None:
    """Noise needs at least two classes to flip between.

    Raises:
      InputError: naming `label_noise` and the source (`where`).
    """
    if noise is not None and len(class_names) < 2:
        raise InputError(
            f"label noise {noise.kind!r} needs at least 2 classes, but the data has"
            f" {len(class_names)} ({list(class_names)})",
            file=where,
            parameter=spec.LABEL_NOISE_KEY,
            expected=f"label_noise {spec.NO_NOISE!r} for single-class data, or two or more classes",
        )


@dataclasses.dataclass(frozen=True)
class FlipSummary:
    """What label noise did to a split.

    Attributes:
      num_classes: C.
      matrix: int64 [C, C]; matrix[t, n] = examples of clean class t labelled n.
    """

    num_classes: int
    matrix: np.ndarray

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    @property
    def flipped(self) -> int:
        return self.total - int(np.trace(self.matrix))

    @property
    def flipped_fraction(self) -> float:
        """Share of examples whose label was changed (0 for an empty split)."""
        return self.flipped / self.total if self.total else 0.0

    def per_class(self) -> list[tuple[int, int, dict[int, int]]]:
        """Per clean class t: (examples, flipped, {noisy class: count} of the flipped)."""
        out = []
        for t in range(self.num_classes):
            row = self.matrix[t]
            to = {int(n): int(row[n]) for n in np.flatnonzero(row) if n != t}
            out.append((int(row.sum()), int(row.sum() - row[t]), to))
        return out


def flip_summary(pair_counts: Mapping[tuple[int, int], int], num_classes: int) -> FlipSummary:
    """A `FlipSummary` from counts of (clean label, noisy label) pairs."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    for (t, n), count in pair_counts.items():
        matrix[int(t), int(n)] += int(count)
    return FlipSummary(num_classes, matrix)


def flip_summary_of(
    true_labels: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, num_classes: int
) -> FlipSummary:
    """A `FlipSummary` from clean and noisy label arrays."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(true_labels, np.int64), np.asarray(labels, np.int64)), 1)
    return FlipSummary(num_classes, matrix)
