"""Evaluation: metrics per slice, baseline comparison, blessing, and a report page.

The stock TFX Evaluator (configured by `eval_config` / `make_evaluator`)
computes TFMA metrics and the blessing; `EvaluationReport` turns its output
into an HTML page with what TFMA 0.47 lacks (ECE, reliability diagram).
The NumPy metrics (`accuracy`, `expected_calibration_error`, ...) import no
TFX; `eval_config`, `make_evaluator`, `baseline_resolver` and
`EvaluationReport` are imported lazily.
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.evaluate.metrics import (
    DEFAULT_NUM_BINS,
    ReliabilityBins,
    SliceMetrics,
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    log_loss,
    paired_difference,
    per_class_recall,
    reliability_bins,
    slice_metrics,
    sliced_metrics,
)

_LAZY = {
    "eval_config": "frontier.components.evaluate.config",
    "make_evaluator": "frontier.components.evaluate.config",
    "baseline_resolver": "frontier.components.evaluate.config",
    "EvaluationReport": "frontier.components.evaluate.component",
    "load_tfma_results": "frontier.components.evaluate.tfma_results",
}

__all__ = [
    "DEFAULT_NUM_BINS",
    "ReliabilityBins",
    "SliceMetrics",
    "accuracy",
    "confusion_matrix",
    "expected_calibration_error",
    "log_loss",
    "paired_difference",
    "per_class_recall",
    "reliability_bins",
    "slice_metrics",
    "sliced_metrics",
    *_LAZY,
]

__getattr__ = lazy_exports(__name__, _LAZY)
