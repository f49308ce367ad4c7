"""How the shipped pipelines score a model: the stock Evaluator and its page.

Every branch (demo, KIP, CIW, SPL, DP-FTRL) ends the same way: the stock TFX
Evaluator (`frontier.components.evaluate.make_evaluator`) on a trainer's
model, often against a baseline model, then an `EvaluationReport` that turns
the evaluation and the blessing into the page a run links to.
"""

from __future__ import annotations


def evaluate_and_report(examples, model, ids: tuple[str, str], **evaluator_args) -> list:
    """The Evaluator on `model` and the EvaluationReport of what it found.

    Args:
      examples: channel of frontier `Examples` (scored on `eval`, as `make_evaluator`).
      model: channel of the candidate `Model`.
      ids: the node ids of the evaluator and of the report.
      **evaluator_args: `make_evaluator`'s further arguments (baseline_model,
        num_classes, min_accuracy, max_accuracy_drop, label_key, ...).

    Returns:
      [evaluator, report].
    """
    from frontier.components.evaluate import EvaluationReport, make_evaluator

    evaluator_id, report_id = ids
    evaluator = make_evaluator(examples=examples, model=model, **evaluator_args).with_id(
        evaluator_id
    )
    report = EvaluationReport(
        examples=examples,
        model=model,
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
    ).with_id(report_id)
    return [evaluator, report]
