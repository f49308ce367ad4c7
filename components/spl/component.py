"""The `SplLabeler` TFX component: a thin wrapper around `labels` and `inference`."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.spl import spec
from frontier.components.spl.executor import Executor, check_parameters
from frontier.schemas.artifacts import HtmlReport, SplLabelMap


class SplLabeler(base_beam_component.BaseBeamComponent):
    """Relabels a weakly-labeled pool for pre-training: SPL and its baselines.

    Sub-Pseudo Labels (Li et al., AAAI 2022): a teacher trained on the clean
    target set predicts a class for every pool example (Beam RunInference);
    the (weak label, teacher class) confusion matrix defines the pre-training
    label space (`strategy`: `spl`, `spl_b`, or the baselines `weak`,
    `teacher`, `agreement`). A Trainer then pre-trains on `spl_label` and a
    second Trainer fine-tunes that model on the target set with a new head.

    Outputs: `relabeled_examples` (the pool with `teacher_label` and
    `spl_label` columns), `label_map` (`SplLabelMap`, JSON) and
    `visualization` (confusion heat map, class sizes, mapping).

    Example:
      teacher = Trainer(examples=target.outputs["examples"]).with_id("Teacher")
      spl = SplLabeler(examples=pool.outputs["examples"], teacher=teacher.outputs["model"])
      pretrain = Trainer(examples=spl.outputs["relabeled_examples"], label_key="spl_label")
      student = Trainer(examples=target.outputs["examples"],
                        base_model=pretrain.outputs["model"]).with_id("Student")
    """

    SPEC_CLASS = spec.SplLabelerSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        teacher: types.BaseChannel,
        *,
        strategy: str = spec.DEFAULT_STRATEGY,
        min_count: int = spec.DEFAULT_MIN_COUNT,
        batch_size: int = spec.DEFAULT_BATCH_SIZE,
    ) -> None:
        """Builds the component; invalid parameters fail here, not at run time.

        Args:
          examples: channel of frontier `Examples` with a `weak_label` column.
          teacher: channel of a frontier `Model` predicting the weak label
            space from the pool's features.
          strategy: `spl` (one class per (weak, teacher) cell), `spl_b`
            (agree / disagree per weak class), `weak`, `teacher` or
            `agreement` (keep only examples where they agree).
          min_count: `spl` / `spl_b`: cells with fewer pool examples merge
            into their row's disagreement class (>= 1).
          batch_size: examples per batch (>= 1): read, scored by the teacher
            (one call) and relabelled together.

        Raises:
          InputError: for an invalid parameter.
        """
        check_parameters(strategy, min_count, batch_size)
        component_spec = spec.SplLabelerSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.TEACHER_KEY: teacher,
                spec.STRATEGY_KEY: strategy,
                spec.MIN_COUNT_KEY: int(min_count),
                spec.BATCH_SIZE_KEY: int(batch_size),
                # The relabelling reads the teacher through the trainer's export contract.
                COMPONENT_VERSION_KEY: code_version(spec.COMPONENT_PACKAGE, "trainer"),
                spec.RELABELED_EXAMPLES_KEY: types.Channel(type=standard_artifacts.Examples),
                spec.LABEL_MAP_KEY: types.Channel(type=SplLabelMap),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
