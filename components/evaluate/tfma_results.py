"""Reading the stock Evaluator's output (TFMA metrics and validation) into plain dicts."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from frontier.components.evaluate.metrics import OVERALL


class ThresholdFailure(NamedTuple):
    """One threshold that did not hold.

    Attributes:
      slice: slice name (`Overall`, `label=3`, ...).
      metric: metric label (see `metric_label`).
      threshold: the threshold, as text.
      value: the metric's value (None if it was missing).
      message: TFMA's message, if any.
    """

    slice: str
    metric: str
    threshold: str
    value: float | None
    message: str


class TfmaResults(NamedTuple):
    """What `EvaluationReport` shows from TFMA.

    Attributes:
      metrics: slice name -> metric label -> value (scalar metrics only).
      validation_ok: TFMA's verdict; None when no threshold was checked.
      failures: thresholds that failed.
    """

    metrics: dict[str, dict[str, float]]
    validation_ok: bool | None
    failures: list[ThresholdFailure]


def slice_name(slice_key) -> str:
    """`Overall`, or `col=value[&col2=value2]` for a TFMA `SliceKey` proto."""
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        if kind == "bytes_value":
            value: Any = key.bytes_value.decode("utf-8", "replace")
        elif kind == "int64_value":
            value = key.int64_value
        elif kind == "float_value":
            value = key.float_value
        else:
            value = "?"
        parts.append(f"{key.column}={value}")
    return "&".join(parts) or OVERALL


def metric_label(metric_key) -> str:
    """A readable label for a TFMA `MetricKey` proto.

    `name`, then `[class k]` for a binarized sub key, `[top k]` / `[k=k]`,
    then ` (baseline)` for the baseline model or ` (diff)` for
    candidate - baseline.
    """
    label = metric_key.name
    if metric_key.HasField("sub_key"):
        sub = metric_key.sub_key
        if sub.HasField("class_id"):
            label += f"[class {sub.class_id.value}]"
        if sub.HasField("top_k"):
            label += f"[top {sub.top_k.value}]"
        if sub.HasField("k"):
            label += f"[k={sub.k.value}]"
    if metric_key.is_diff:
        label += " (diff)"
    elif metric_key.model_name == "baseline":
        label += " (baseline)"
    return label


def _value(metric_value) -> float | None:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return float(metric_value.double_value.value)
    if kind == "bounded_value":
        return float(metric_value.bounded_value.value.value)
    return None


def _threshold_text(threshold) -> str:
    parts = []
    if threshold.HasField("value_threshold"):
        v = threshold.value_threshold
        if v.HasField("lower_bound"):
            parts.append(f">= {v.lower_bound.value:g}")
        if v.HasField("upper_bound"):
            parts.append(f"<= {v.upper_bound.value:g}")
    if threshold.HasField("change_threshold"):
        c = threshold.change_threshold
        direction = {1: "lower is better", 2: "higher is better"}.get(int(c.direction), "")
        if c.HasField("absolute"):
            parts.append(
                f"change vs baseline {'>=' if int(c.direction) == 2 else '<='} {c.absolute.value:g}"
            )
        if c.HasField("relative"):
            parts.append(
                f"relative change {'>=' if int(c.direction) == 2 else '<='} {c.relative.value:g}"
            )
        if direction:
            parts.append(f"({direction})")
    return " ".join(parts) or str(threshold).replace("\n", " ")


def load_tfma_results(evaluation_uri: str) -> TfmaResults:
    """Loads the metrics and the validation result of a `ModelEvaluation` artifact."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    metrics: dict[str, dict[str, float]] = {}
    for record in tfma.load_metrics(evaluation_uri):
        if record.HasField("cross_slice_key"):
            continue
        name = slice_name(record.slice_key)
        row = metrics.setdefault(name, {})
        for kv in record.metric_keys_and_values:
            value = _value(kv.value)
            if value is not None:
                row[metric_label(kv.key)] = value
    if not tf.io.gfile.glob(os.path.join(evaluation_uri, "validations*")):
        return TfmaResults(metrics, None, [])
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        name = slice_name(per_slice.slice_key) if per_slice.HasField("slice_key") else "cross slice"
        for failure in per_slice.failures:
            failures.append(
                ThresholdFailure(
                    slice=name,
                    metric=metric_label(failure.metric_key),
                    threshold=_threshold_text(failure.metric_threshold),
                    value=_value(failure.metric_value)
                    if failure.HasField("metric_value")
                    else None,
                    message=failure.message.strip(),
                )
            )
    checked = bool(result.validation_details.slicing_details) or bool(failures)
    # No threshold checked: the Evaluator had none configured, nothing was validated.
    return TfmaResults(metrics, bool(result.validation_ok) if checked else None, failures)
