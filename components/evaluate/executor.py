"""Executor of `EvaluationReport`: TFMA results + calibration -> one HTML page."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from tfx.components.evaluator import constants as evaluator_constants

from frontier.components.common import html, progress
from frontier.components.common.checks import check_int, check_labels
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import split_uri
from frontier.components.common.executor import ComponentExecutor, Job, set_properties
from frontier.components.evaluate import spec
from frontier.components.evaluate.config import ACCURACY_NAME
from frontier.components.evaluate.metrics import (
    OVERALL,
    paired_difference,
    predictions,
    sliced_metrics,
    to_dict,
)
from frontier.components.evaluate.report import evaluation_page
from frontier.components.evaluate.tfma_results import TfmaResults, load_tfma_results
from frontier.components.trainer.export import PROBABILITIES, predict_examples
from frontier.schemas.dataset import CLIENT_ID_KEY, LABEL_KEY, DatasetInfo

# Custom properties that the stock Evaluator sets on its ModelBlessing.
_BLESSED = evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY
_BASELINE_MODEL = evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY


def check_parameters(eval_split: str, num_bins: int, batch_size: int) -> None:
    """Raises `InputError` naming the first invalid `EvaluationReport` parameter."""
    check_int(num_bins, spec.NUM_BINS_KEY, 1)
    check_int(batch_size, spec.BATCH_SIZE_KEY, 1)
    if not eval_split or not isinstance(eval_split, str):
        raise InputError(
            f"eval_split = {eval_split!r}", parameter=spec.EVAL_SPLIT_KEY, expected="a split name"
        )


def blessing_outcome(blessing, tfma: TfmaResults) -> bool | None:
    """True / False when the Evaluator validated the model, None when it had no thresholds.

    The stock Evaluator sets the `blessed` property (and writes its BLESSED /
    NOT_BLESSED file) exactly when it validated; without a blessing artifact,
    TFMA's own validation result decides.
    """
    if blessing is not None and blessing.has_custom_property(_BLESSED):
        return bool(blessing.get_int_custom_property(_BLESSED))
    return tfma.validation_ok


class Executor(ComponentExecutor):
    """Renders the evaluation of a candidate model as an HTML page.

    Inputs:
      examples: the frontier `Examples` that the stock Evaluator evaluated on
        (`dataset_info.json` gives class names and role keys).
      model: the candidate `Model` (SavedModel at `<uri>/Format-Serving` with
        the frontier serving signature).
      evaluation: the stock Evaluator's `ModelEvaluation` (TFMA output).
      blessing: optional, the stock Evaluator's `ModelBlessing`.

    Outputs:
      visualization: `HtmlReport`: `index.html` (verdict, failed thresholds,
        TFMA metrics per slice, accuracy / log-loss / ECE per slice,
        per-class recall, confusion matrix, reliability diagram) and
        `metrics.json` (the same numbers). Custom properties: `blessed` (int
        1 / 0, absent when no threshold was configured), `accuracy`, `ece`,
        `log_loss` (float, Overall slice), `examples` (int); with a baseline
        model (the blessing names one), `baseline_accuracy` (TFMA's) and,
        from both models scored here on the same examples,
        `accuracy_difference` (model minus baseline) and
        `accuracy_difference_se` (its paired standard error).

    Parameters:
      eval_split: split to run the model on (the Evaluator's, default `eval`);
        an empty split is an `InputError`.
      num_bins: equal-width confidence bins for ECE and the reliability plot.
      batch_size: examples per call of the serving signature.
      component_version: code hash, only for the cache key.
    """

    SPEC_CLASS = spec.EvaluationReportSpec

    def run(self, job: Job) -> None:
        p = job.params
        eval_split, num_bins = p[spec.EVAL_SPLIT_KEY], p[spec.NUM_BINS_KEY]
        check_parameters(eval_split, num_bins, p[spec.BATCH_SIZE_KEY])
        examples, model = job.input(spec.EXAMPLES_KEY), job.input(spec.MODEL_KEY)
        blessing = job.optional_input(spec.BLESSING_KEY)
        info = DatasetInfo.read(examples.uri)
        labels, probabilities, client_ids = _predict(
            model.uri, examples.uri, eval_split, p[spec.BATCH_SIZE_KEY], info
        )
        sliced = sliced_metrics(labels, probabilities, client_ids=client_ids, num_bins=num_bins)
        _log_overall(sliced[OVERALL])
        tfma = load_tfma_results(job.input(spec.EVALUATION_KEY).uri)
        blessed = blessing_outcome(blessing, tfma)
        baseline_uri = _baseline_uri(blessing)
        paired = None
        if baseline_uri is not None:
            paired = _paired_with_baseline(
                labels, probabilities, baseline_uri, examples.uri, eval_split, p, info
            )
        report = job.output(spec.VISUALIZATION_KEY)
        summary = {
            "blessed": blessed,
            "validation_ok": tfma.validation_ok,
            "failures": [f._asdict() for f in tfma.failures],
            "model": model.uri,
            "baseline_model": baseline_uri,
            "eval_split": eval_split,
            "num_bins": num_bins,
            "class_names": list(info.class_names),
            "slices": {name: to_dict(m) for name, m in sliced.items()},
            "tfma": tfma.metrics,
            "paired_with_baseline": paired,
        }
        _write_json(os.path.join(report.uri, spec.METRICS_FILE), summary)
        document = evaluation_page(
            sliced=sliced,
            tfma=tfma,
            blessed=blessed,
            class_names=info.class_names,
            model_uri=model.uri,
            baseline_uri=baseline_uri,
            eval_split=eval_split,
        )
        html.write_report(report, "Evaluation", document)
        set_properties(report, _report_properties(blessed, sliced[OVERALL], tfma, paired))


def _paired_with_baseline(
    labels: np.ndarray,
    probabilities: np.ndarray,
    baseline_uri: str,
    examples_uri: str,
    split: str,
    params: dict[str, Any],
    info: DatasetInfo,
) -> dict[str, float] | None:
    """The model's accuracy minus the baseline's on the same examples, and its
    standard error (`metrics.paired_difference`), so that a summary can say
    whether a difference is within the noise of this evaluation set. None
    when the baseline's examples do not line up with the model's (a
    different label order would make the pairing meaningless)."""
    base_labels, base_probabilities, _ = _predict(
        baseline_uri, examples_uri, split, params[spec.BATCH_SIZE_KEY], info
    )
    if not np.array_equal(base_labels, labels):
        progress.detail("EvaluationReport: baseline examples differ; no paired difference")
        return None
    difference, se = paired_difference(
        predictions(probabilities) == labels, predictions(base_probabilities) == labels
    )
    return {"accuracy_difference": difference, "accuracy_difference_se": se}


def _baseline_uri(blessing: Any | None) -> str | None:
    """The baseline model the stock Evaluator compared against, if it names one."""
    if blessing is not None and blessing.has_custom_property(_BASELINE_MODEL):
        return blessing.get_string_custom_property(_BASELINE_MODEL)
    return None


def _log_overall(overall: Any) -> None:
    # A detail line: the run's summary and page carry the accuracy.
    progress.detail(
        "EvaluationReport: accuracy %.4f, log-loss %.4f, ECE %.4f on %d examples",
        overall.accuracy,
        overall.log_loss,
        overall.ece,
        overall.examples,
    )


def _predict(
    model_uri: str, examples_uri: str, split: str, batch_size: int, info: DatasetInfo
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(labels int64 [N], probabilities float32 [N, C], client ids [N] or None) of the
    model's serving signature on one split, after checking they fit together."""
    progress.detail("EvaluationReport: running %s on split %r", model_uri, split)
    preds = predict_examples(model_uri, examples_uri, split, batch_size=batch_size)
    probabilities = preds[PROBABILITIES]
    if len(probabilities) == 0:
        raise InputError(
            f"the {split!r} split has no examples",
            file=split_uri(examples_uri, split),
            expected="at least one example to evaluate on",
        )
    if probabilities.shape[1] != info.num_classes:
        raise InputError(
            f"the model predicts {probabilities.shape[1]} classes but the examples declare "
            f"{info.num_classes}",
            file=model_uri,
            column=PROBABILITIES,
            expected=f"a model trained on these classes ({info.num_classes})",
        )
    labels = check_labels(
        preds[LABEL_KEY], info.num_classes, column=LABEL_KEY, file=split_uri(examples_uri, split)
    )
    return labels, probabilities, preds.get(CLIENT_ID_KEY)


def _write_json(path: str, value: Any) -> None:
    """`value` as indented JSON at `path` (on any file system TensorFlow reads)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)


def _report_properties(
    blessed: bool | None, overall: Any, tfma: TfmaResults, paired: dict[str, float] | None = None
) -> dict[str, Any]:
    """`blessed` (when validated), the Overall slice's accuracy, ECE, log-loss and
    example count, the baseline's accuracy when TFMA compared against one, and
    the paired difference with the baseline and its standard error."""
    baseline_accuracy = tfma.metrics.get(OVERALL, {}).get(f"{ACCURACY_NAME} (baseline)")
    return {
        spec.BLESSED_PROPERTY: None if blessed is None else int(blessed),
        spec.ACCURACY_PROPERTY: float(overall.accuracy),
        spec.ECE_PROPERTY: float(overall.ece),
        spec.LOG_LOSS_PROPERTY: float(overall.log_loss),
        spec.EXAMPLES_PROPERTY: int(overall.examples),
        spec.ACCURACY_DIFFERENCE_PROPERTY: None
        if paired is None
        else paired["accuracy_difference"],
        spec.ACCURACY_DIFFERENCE_SE_PROPERTY: (
            None if paired is None else paired["accuracy_difference_se"]
        ),
        spec.BASELINE_ACCURACY_PROPERTY: (
            None if baseline_accuracy is None else float(baseline_accuracy)
        ),
    }
