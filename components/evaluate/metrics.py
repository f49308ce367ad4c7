"""Classification metrics per slice as plain NumPy functions (no TFX, no TF).

What TFMA 0.47 cannot compute for a multi-class model in a pipeline: expected
calibration error and reliability-diagram bins; the rest (accuracy, per-class
recall, log-loss, confusion matrix) is here too so that one pass over the
model's predictions fills the `EvaluationReport` page consistently.

Conventions, for N examples and C classes:
  * `labels`: int [N] class ids in [0, C).
  * `probabilities`: float [N, C], one row per example (the model's softmax).
  * The predicted class is the arg-max (ties -> lowest id, like `tf.argmax`);
    the confidence is the top-1 probability.
  * Slices are named `Overall`, `label=<id>` (the examples of one true class)
    and `client_id=<id>` (one client's examples), as `EvaluationReport` shows
    TFMA's slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

DEFAULT_NUM_BINS = 15
LOG_LOSS_EPSILON = 1e-7  # Keras' clip, so that log-loss matches TFMA's cross-entropy
OVERALL = "Overall"


class ReliabilityBins(NamedTuple):
    """Equal-width confidence bins of a reliability diagram.

    Attributes:
      edges: float [B + 1], 0 = edges[0] < ... < edges[B] = 1. Bin b holds
        confidences in (edges[b], edges[b+1]]; bin 0 also holds exactly 0.
      counts: int [B] examples per bin.
      confidence: float [B] mean top-1 confidence per bin (NaN when empty).
      accuracy: float [B] fraction correct per bin (NaN when empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


class SliceMetrics(NamedTuple):
    """All metrics of one slice.

    Attributes:
      examples: N, the slice's size.
      accuracy: fraction of arg-max predictions equal to the label.
      log_loss: mean cross-entropy -log p[label] (see `log_loss`).
      ece: expected calibration error (see `expected_calibration_error`).
      recall: float [C] per-class recall (NaN for a class with no examples).
      confusion: int [C, C] counts, rows = true class, columns = predicted.
      reliability: the `ReliabilityBins` behind `ece`.
    """

    examples: int
    accuracy: float
    log_loss: float
    ece: float
    recall: np.ndarray
    confusion: np.ndarray
    reliability: ReliabilityBins


def _check(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected [N={labels.shape[0]}, C]"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= probabilities.shape[1]):
        raise ValueError(f"labels must be in [0, {probabilities.shape[1]})")
    return labels, probabilities


def predictions(probabilities: np.ndarray) -> np.ndarray:
    """Arg-max class ids, int64 [N]."""
    return np.argmax(np.asarray(probabilities), axis=1).astype(np.int64)


# The private helpers below take arrays already checked by `_check` (and the
# arg-max predictions), so that `slice_metrics` checks and arg-maxes a slice once.


def _accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(predicted == labels)) if labels.size else float("nan")


def _confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    flat = labels * num_classes + predicted
    counts = np.bincount(flat, minlength=num_classes**2).astype(np.int64)
    return counts.reshape(num_classes, num_classes)


def _recall(confusion: np.ndarray) -> np.ndarray:
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)


def _log_loss(labels: np.ndarray, probabilities: np.ndarray, epsilon: float) -> float:
    if labels.size == 0:
        return float("nan")
    p = probabilities / np.sum(probabilities, axis=1, keepdims=True)
    p = np.clip(p, epsilon, 1.0 - epsilon)
    return float(-np.mean(np.log(p[np.arange(labels.size), labels])))


def _bins(
    labels: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray, num_bins: int
) -> ReliabilityBins:
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    confidence = probabilities.max(axis=1) if labels.size else np.zeros(0)
    correct = (predicted == labels).astype(np.float64)
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    counts = np.bincount(index, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=num_bins) / counts
        mean_acc = np.bincount(index, weights=correct, minlength=num_bins) / counts
    empty = counts == 0
    mean_conf[empty] = np.nan
    mean_acc[empty] = np.nan
    return ReliabilityBins(edges, counts.astype(np.int64), mean_conf, mean_acc)


def _ece(bins: ReliabilityBins) -> float:
    n = int(bins.counts.sum())
    if n == 0:
        return float("nan")
    full = bins.counts > 0
    gaps = np.abs(bins.accuracy[full] - bins.confidence[full])
    return float(np.sum(bins.counts[full] / n * gaps))


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Fraction of examples whose arg-max prediction is the label (NaN if N=0)."""
    labels, probabilities = _check(labels, probabilities)
    return _accuracy(labels, predictions(probabilities))


def confusion_matrix(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """int64 [C, C]: entry (i, j) counts examples of class i predicted as j."""
    labels, probabilities = _check(labels, probabilities)
    return _confusion(labels, predictions(probabilities), probabilities.shape[1])


def per_class_recall(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """float [C]: for each class, the fraction of its examples predicted as it
    (top-1 recall; NaN for a class with no examples)."""
    return _recall(confusion_matrix(labels, probabilities))


def log_loss(
    labels: np.ndarray, probabilities: np.ndarray, epsilon: float = LOG_LOSS_EPSILON
) -> float:
    """Mean cross-entropy -log p[label] over examples (NaN if N=0).

    Rows are renormalised to sum to 1 and clipped to [epsilon, 1 - epsilon],
    as Keras' `SparseCategoricalCrossentropy` does, so a confidently wrong
    prediction costs at most -log(epsilon) ~= 16.1.
    """
    labels, probabilities = _check(labels, probabilities)
    return _log_loss(labels, probabilities, epsilon)


def reliability_bins(
    labels: np.ndarray, probabilities: np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> ReliabilityBins:
    """Bins examples by top-1 confidence into `num_bins` equal-width bins on [0, 1].

    Bins are right-closed, (b/B, (b+1)/B], as in Guo et al. (2017), "On
    Calibration of Modern Neural Networks"; a confidence of exactly 0 goes
    to bin 0.
    """
    labels, probabilities = _check(labels, probabilities)
    return _bins(labels, probabilities, predictions(probabilities), num_bins)


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> float:
    """Expected calibration error of the top-1 prediction.

    ECE = sum over bins b of (n_b / N) * |accuracy_b - confidence_b|, with the
    equal-width bins of `reliability_bins` (default 15, Guo et al. 2017).
    0 for a perfectly calibrated model; NaN for an empty slice.
    """
    return _ece(reliability_bins(labels, probabilities, num_bins))


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, float]:
    """(accuracy of a minus accuracy of b, its standard error) on the same examples.

    Two models scored on one evaluation set are paired: their per-example
    correctness differences d_i in {-1, 0, 1} carry the comparison's whole
    sampling spread, which is far smaller than two independent binomial
    errors when the models mostly agree.

    Args:
      correct_a, correct_b: bool or 0/1 [N], the same N examples in the same order.

    Returns:
      (mean of d, the sample std (ddof 1) of d / sqrt(N); 0 when N < 2).
    """
    a = np.asarray(correct_a, np.float64)
    b = np.asarray(correct_b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_difference: shapes {a.shape} and {b.shape} must be one [N]")
    d = a - b
    if d.size < 2:
        return (float(d.mean()) if d.size else 0.0), 0.0
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def _slice_metrics(labels: np.ndarray, probabilities: np.ndarray, num_bins: int) -> SliceMetrics:
    predicted = predictions(probabilities)
    bins = _bins(labels, probabilities, predicted, num_bins)
    confusion = _confusion(labels, predicted, probabilities.shape[1])
    return SliceMetrics(
        examples=int(labels.size),
        accuracy=_accuracy(labels, predicted),
        log_loss=_log_loss(labels, probabilities, LOG_LOSS_EPSILON),
        ece=_ece(bins),
        recall=_recall(confusion),
        confusion=confusion,
        reliability=bins,
    )


def slice_metrics(
    labels: np.ndarray, probabilities: np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> SliceMetrics:
    """Every metric of this module on one slice.

    One pass: the inputs are checked and arg-maxed once, the reliability bins
    and the confusion matrix are computed once, ECE comes from the bins and
    per-class recall from the confusion matrix.
    """
    labels, probabilities = _check(labels, probabilities)
    return _slice_metrics(labels, probabilities, num_bins)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def sliced_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    *,
    client_ids: Sequence[Any] | np.ndarray | None = None,
    by_label: bool = True,
    num_bins: int = DEFAULT_NUM_BINS,
) -> dict[str, SliceMetrics]:
    """Metrics overall, per true class and per client.

    Args:
      labels: int [N] class ids.
      probabilities: float [N, C].
      client_ids: optional [N] client ids (bytes or str): adds one
        `client_id=<id>` slice per distinct id, in sorted order.
      by_label: add one `label=<id>` slice per class that has examples.
      num_bins: reliability bins (see `reliability_bins`).

    Returns:
      An ordered dict slice name -> `SliceMetrics`, `Overall` first.
    """
    labels, probabilities = _check(labels, probabilities)
    out = {OVERALL: _slice_metrics(labels, probabilities, num_bins)}
    if by_label:
        for k in np.unique(labels):
            mask = labels == k
            out[f"label={int(k)}"] = _slice_metrics(labels[mask], probabilities[mask], num_bins)
    if client_ids is not None:
        ids = np.asarray([_text(c) for c in client_ids], dtype=object)
        if ids.shape[0] != labels.shape[0]:
            raise ValueError(f"{ids.shape[0]} client ids for {labels.shape[0]} examples")
        for cid in sorted(set(ids.tolist())):
            mask = ids == cid
            out[f"client_id={cid}"] = _slice_metrics(labels[mask], probabilities[mask], num_bins)
    return out


def _jsonable(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def to_dict(metrics: SliceMetrics) -> dict[str, Any]:
    """A JSON-ready dict of one slice's metrics (NaN -> None)."""
    bins = metrics.reliability
    return {
        "examples": metrics.examples,
        "accuracy": _jsonable(metrics.accuracy),
        "log_loss": _jsonable(metrics.log_loss),
        "ece": _jsonable(metrics.ece),
        "recall": [_jsonable(v) for v in metrics.recall],
        "confusion_matrix": metrics.confusion.tolist(),
        "reliability": {
            "edges": [float(e) for e in bins.edges],
            "counts": bins.counts.tolist(),
            "confidence": [_jsonable(v) for v in bins.confidence],
            "accuracy": [_jsonable(v) for v in bins.accuracy],
        },
    }
