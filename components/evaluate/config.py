"""TFMA configuration for the stock TFX Evaluator, and a factory for it.

The stock Evaluator (TFMA 0.47) evaluates frontier's SavedModels through their
`serving_default` signature (serialized `tf.Example` in, `probabilities` out),
computes metrics per slice, checks thresholds and writes the `ModelBlessing`
that drives the stock Pusher. This module builds its `tfma.EvalConfig`:

  metrics (every slice):
    * `sparse_categorical_accuracy` (Keras SparseCategoricalAccuracy), with
      thresholds on the Overall slice only:
        - value: accuracy >= `min_accuracy`;
        - change: candidate - baseline >= -`max_accuracy_drop` (only when a
          baseline model is given; TFMA skips change thresholds on the first
          run, when there is no blessed baseline yet: "rubber stamping");
    * `sparse_categorical_crossentropy` (log-loss), `example_count`;
    * per-class top-1 recall, `recall[class k][top 1]`: `Recall` with
      `top_k=1` and `thresholds=[0.0]` in a spec binarized by class id.
      TFMA 0.47 combines `top_k` and the binarized class id into one sub key
      (`confusion_matrix_metrics._validate_and_update_sub_key`): every
      probability but the arg-max is set to -inf, then class k's column is
      taken, so with threshold 0 class k counts as predicted exactly when it
      is the arg-max (whose probability is >= 1/C > 0). That is the fraction
      of class k's examples predicted as k, the same number as
      `metrics.per_class_recall` and as the accuracy on the `label=k` slice.
      (Binarized `Recall` without `top_k` is one-vs-rest at p_k > 0.5, a
      different number.) The threshold must be explicit: with `top_k` TFMA
      defaults it to -inf, which it computes from a sparse histogram
      (`binary_confusion_matrices._histogram_to_binary_confusion_matrices`)
      that gets the counts wrong when all of class k's scores in a slice
      fall in one bucket: a class never predicted gets recall 1 instead of
      0, and one predicted for every example of the slice loses the
      examples of its lowest-score bucket. A threshold >= 0 takes TFMA's
      exact per-example path instead;
    * optionally `multi_class_confusion_matrix_plot` (a plot, in TFMA's
      plots file; off by default, as `EvaluationReport` draws the confusion
      matrix from the model's predictions).
  slices: Overall, per `label` (true class), per `client_id` when asked.

Example, with the latest blessed model as the baseline:

    from tfx import v1 as tfx
    from frontier.components.evaluate import baseline_resolver, make_evaluator

    baseline = baseline_resolver()   # tfx.dsl.Resolver(LatestBlessedModelStrategy)
    evaluator = make_evaluator(
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        num_classes=10,
        min_accuracy=0.9,
        max_accuracy_drop=0.01,
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"], ...)
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from frontier.components.common.checks import check_label_key
from frontier.components.common.errors import InputError
from frontier.schemas.dataset import CLIENT_ID_KEY, LABEL_KEY, DatasetInfo

ACCURACY = "SparseCategoricalAccuracy"  # TFMA metric names as written in results:
ACCURACY_NAME = "sparse_categorical_accuracy"
LOG_LOSS = "SparseCategoricalCrossentropy"
LOG_LOSS_NAME = "sparse_categorical_crossentropy"
RECALL = "Recall"
RECALL_NAME = "recall"
RECALL_TOP_K = 1  # arg-max recall, see the module docstring
RECALL_THRESHOLDS = (0.0,)  # explicit, not TFMA's -inf default for top_k: see the module docstring
EXAMPLE_COUNT = "ExampleCount"
CONFUSION_PLOT = "MultiClassConfusionMatrixPlot"

SIGNATURE_NAME = "serving_default"
PREDICTION_KEY = "probabilities"
DEFAULT_MIN_ACCURACY = 0.5
DEFAULT_MAX_ACCURACY_DROP = 0.01
BASELINE_RESOLVER_ID = "latest_blessed_model_resolver"


def recall_label(class_id: int) -> str:
    """The label of class `class_id`'s top-1 recall in `load_tfma_results` output."""
    return f"{RECALL_NAME}[class {class_id}][top {RECALL_TOP_K}]"


def eval_config(
    info: DatasetInfo | None = None,
    *,
    num_classes: int | None = None,
    min_accuracy: float | None = DEFAULT_MIN_ACCURACY,
    max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
    slice_by_label: bool = True,
    slice_by_client: bool | None = None,
    label_key: str = LABEL_KEY,
    confusion_matrix_plot: bool = False,
):
    """Builds the `tfma.EvalConfig` described in the module docstring.

    Args:
      info: the data's `DatasetInfo`; gives `num_classes` and whether the
        examples carry `client_id`. Optional when `num_classes` is given
        (e.g. when the pipeline is defined before ingestion has run).
      num_classes: C, for the per-class recall (overrides `info`).
      min_accuracy: lowest accepted overall accuracy in [0, 1]; None for no
        absolute threshold.
      max_accuracy_drop: largest accepted drop of overall accuracy below the
        baseline model's (>= 0); None for no comparison threshold.
      slice_by_label: add one slice per true class.
      slice_by_client: add one slice per `client_id`; default: when `info`
        says the examples have client ids.
      label_key: the label column (an int role key).
      confusion_matrix_plot: also compute TFMA's multi-class confusion matrix
        plot (nothing in frontier reads it; for TFMA's own viewers).

    Returns:
      A `tfma.EvalConfig`.

    Raises:
      InputError: for thresholds out of range, an unknown number of classes or
        a `label_key` that is not an int role key.
    """
    import tensorflow_model_analysis as tfma

    if num_classes is None:
        if info is None:
            raise InputError(
                "eval_config needs the number of classes",
                parameter="num_classes",
                expected="info or num_classes",
            )
        num_classes = info.num_classes
    if num_classes < 2:
        raise InputError(
            f"num_classes = {num_classes}", parameter="num_classes", expected="an integer >= 2"
        )
    if min_accuracy is not None and not 0.0 <= min_accuracy <= 1.0:
        raise InputError(
            f"min_accuracy = {min_accuracy}", parameter="min_accuracy", expected="a value in [0, 1]"
        )
    if max_accuracy_drop is not None and not 0.0 <= max_accuracy_drop <= 1.0:
        raise InputError(
            f"max_accuracy_drop = {max_accuracy_drop}",
            parameter="max_accuracy_drop",
            expected="a value in [0, 1]",
        )
    check_label_key(label_key)
    if slice_by_client is None:
        slice_by_client = bool(info is not None and info.has(CLIENT_ID_KEY))

    threshold = tfma.MetricThreshold()
    if min_accuracy is not None:
        threshold.value_threshold.lower_bound.value = float(min_accuracy)
    if max_accuracy_drop is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        threshold.change_threshold.absolute.value = -float(max_accuracy_drop)
    accuracy = tfma.MetricConfig(class_name=ACCURACY)
    if min_accuracy is not None or max_accuracy_drop is not None:
        # On the Overall slice only: a `threshold` field would apply to every slice.
        accuracy.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
        )

    metrics = [
        accuracy,
        tfma.MetricConfig(class_name=LOG_LOSS),
        tfma.MetricConfig(class_name=EXAMPLE_COUNT),
    ]
    if confusion_matrix_plot:
        metrics.append(tfma.MetricConfig(class_name=CONFUSION_PLOT))
    slicing = [tfma.SlicingSpec()]
    if slice_by_label:
        slicing.append(tfma.SlicingSpec(feature_keys=[label_key]))
    if slice_by_client:
        slicing.append(tfma.SlicingSpec(feature_keys=[CLIENT_ID_KEY]))
    recall_config = {"top_k": RECALL_TOP_K, "thresholds": list(RECALL_THRESHOLDS)}
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SIGNATURE_NAME, label_key=label_key, prediction_key=PREDICTION_KEY
            )
        ],
        metrics_specs=[
            tfma.MetricsSpec(metrics=metrics),
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name=RECALL, config=json.dumps(recall_config))],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
            ),
        ],
        slicing_specs=slicing,
    )


def make_evaluator(
    examples,
    model,
    baseline_model=None,
    *,
    info: DatasetInfo | None = None,
    num_classes: int | None = None,
    min_accuracy: float | None = DEFAULT_MIN_ACCURACY,
    max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
    slice_by_label: bool = True,
    slice_by_client: bool | None = None,
    label_key: str = LABEL_KEY,
    confusion_matrix_plot: bool = False,
    example_splits: Sequence[str] | None = None,
    config=None,
):
    """The stock `tfx.components.Evaluator` configured by `eval_config`.

    Args:
      examples: channel of frontier `Examples` (evaluated on `eval` by default).
      model: channel of the candidate `Model` (a frontier SavedModel).
      baseline_model: optional channel of the baseline `Model`, usually
        `baseline_resolver().outputs["model"]`; without one only the
        absolute threshold is checked.
      info, num_classes, min_accuracy, max_accuracy_drop, slice_by_label,
        slice_by_client, label_key, confusion_matrix_plot: see `eval_config`.
      example_splits: splits to evaluate on (default: `["eval"]`).
      config: a ready `tfma.EvalConfig`, used as is instead of building one
        (the `eval_config` arguments above are then not used).

    Returns:
      A `tfx.components.Evaluator` with outputs `evaluation` and `blessing`.
    """
    from tfx.components import Evaluator

    if config is None:
        config = eval_config(
            info,
            num_classes=num_classes,
            min_accuracy=min_accuracy,
            max_accuracy_drop=max_accuracy_drop,
            slice_by_label=slice_by_label,
            slice_by_client=slice_by_client,
            label_key=label_key,
            confusion_matrix_plot=confusion_matrix_plot,
        )
    return Evaluator(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        eval_config=config,
        example_splits=list(example_splits) if example_splits else None,
    )


def baseline_resolver(
    resolver_id: str = BASELINE_RESOLVER_ID,
    model_from: str | None = None,
    blessing_from: str | None = None,
):
    """A `tfx.dsl.Resolver` yielding the latest blessed `Model` (the baseline).

    Its `outputs["model"]` is empty on the first run, when nothing has been
    blessed yet; the Evaluator then checks only absolute thresholds.

    Args:
      resolver_id: the node's id.
      model_from: the id of the component whose `model` output is the
        baseline's line (e.g. "Trainer"); `blessing_from`: the Evaluator that
        blesses it. Without them, as in TFX's own examples, the baseline is
        the latest blessed `Model` of any component of the pipeline: in a
        pipeline with several trainers and evaluators (the demo's KIP and SPL
        branches) that is whichever was blessed last, not the same line's.
    """
    from tfx import types
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )
    from tfx.types import standard_artifacts

    return Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=types.Channel(
            type=standard_artifacts.Model,
            producer_component_id=model_from,
            output_key="model" if model_from else None,
        ),
        model_blessing=types.Channel(
            type=standard_artifacts.ModelBlessing,
            producer_component_id=blessing_from,
            output_key="blessing" if blessing_from else None,
        ),
    ).with_id(resolver_id)
