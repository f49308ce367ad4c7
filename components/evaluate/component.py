"""`EvaluationReport`: the page that the stock Evaluator's notebook views would be."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.evaluate import spec
from frontier.components.evaluate.executor import Executor, check_parameters
from frontier.schemas.artifacts import HtmlReport


class EvaluationReport(base_component.BaseComponent):
    """Renders the stock Evaluator's results, and calibration, as one HTML page.

    Reads TFMA's per-slice metrics and threshold outcome from the Evaluator's
    `evaluation`, the blessing, and runs the candidate SavedModel on the eval
    split to add what TFMA 0.47 lacks: expected calibration error and a
    reliability diagram per slice, and a confusion matrix.

    Example:
      evaluator = make_evaluator(examples, trainer.outputs["model"], num_classes=10)
      report = EvaluationReport(
          examples=examples,
          model=trainer.outputs["model"],
          evaluation=evaluator.outputs["evaluation"],
          blessing=evaluator.outputs["blessing"],
      )
    """

    SPEC_CLASS = spec.EvaluationReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        evaluation: types.BaseChannel,
        blessing: types.BaseChannel | None = None,
        *,
        eval_split: str = spec.DEFAULT_EVAL_SPLIT,
        num_bins: int = spec.DEFAULT_NUM_BINS,
        batch_size: int = spec.DEFAULT_BATCH_SIZE,
    ) -> None:
        """Builds the component.

        Args:
          examples: the frontier `Examples` the Evaluator evaluated on.
          model: the candidate `Model` the Evaluator evaluated.
          evaluation: the Evaluator's `ModelEvaluation`.
          blessing: the Evaluator's `ModelBlessing` (optional).
          eval_split: the split to compute calibration on (the Evaluator's).
          num_bins: equal-width confidence bins for ECE and the reliability plot.
          batch_size: examples per call of the serving signature.

        Raises:
          InputError: for an invalid parameter.
        """
        check_parameters(eval_split, num_bins, batch_size)
        component_spec = spec.EvaluationReportSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.MODEL_KEY: model,
                spec.EVALUATION_KEY: evaluation,
                spec.BLESSING_KEY: blessing,
                spec.EVAL_SPLIT_KEY: eval_split,
                spec.NUM_BINS_KEY: num_bins,
                spec.BATCH_SIZE_KEY: batch_size,
                COMPONENT_VERSION_KEY: code_version(spec.COMPONENT_PACKAGE, *spec.DEPENDS_ON),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
