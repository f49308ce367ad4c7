"""The SPL pipeline: pre-train on a weakly-labeled pool, fine-tune on a small target set.

  IngestTarget(clean digits) ─ SplTeacher(Trainer) ────────────────────────┐ (the baseline: no pre-training)
  IngestPool(weak bags) ─┬─ SplLabeler_<s>(pool, teacher) ─ SplPretrain_<s>(Trainer on spl_label)
                         │      ─ SplStudent_<s>(Trainer on target, base_model=pretrain)
                         │      ─ SplEvaluate_<s>(Evaluator vs SplTeacher) ─ SplReport_<s>
                         └─ ... one branch per strategy s

The teacher is the baseline Trainer on the target set's `train` split; with
the same epochs as a student's fine-tuning, it is also the "no
pre-training" model, so each student is evaluated against it (the stock
Evaluator on the target set's `eval` split, which no model trains on).

Data: `write_sources` writes two NPZ files from scikit-learn digits: a clean
labelled set (about `target_train` examples land in `train`, the rest in
`eval`) and the pool, the remaining digits in bags whose weak label is the
bag's query class (`spl.bags.make_bags`). The pool's `label` is the true
digit, kept only for the report; SplLabeler reads `weak_label`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from frontier.components.spl.bags import DEFAULT_BAG_SIZE, DEFAULT_NUM_RELATED
from frontier.components.spl.labels import (  # noqa: F401 (SPL_B re-exported)
    AGREEMENT,
    DEFAULT_MIN_COUNT,
    SPL,
    SPL_B,
    WEAK,
)
from frontier.pipelines import parameters
from frontier.pipelines.evaluation import evaluate_and_report
from frontier.pipelines.resources import Resources
from frontier.pipelines.results import Result, against_shared_baseline, summary_lines, tally
from frontier.pipelines.runs import RunRecord

PIPELINE_NAME = "frontier-spl"
TEACHER_ID = "SplTeacher"
LABELER_PREFIX = "SplLabeler_"
PRETRAIN_PREFIX = "SplPretrain_"
STUDENT_PREFIX = "SplStudent_"
EVALUATOR_PREFIX = "SplEvaluate_"
REPORT_PREFIX = "SplReport_"
TARGET_ID = "IngestTarget"
POOL_ID = "IngestPool"
# Compiled pipelines' containers (`frontier compile`; see `resources.py`): the
# teacher's inference over the pool (Beam RunInference) and the trainers.
RESOURCES = {
    LABELER_PREFIX: Resources(cpu=8, memory_gb=32),
    "Spl": Resources(cpu=4, memory_gb=16),
}
TARGET_FILE = "target.npz"
POOL_FILE = "pool.npz"
DIGITS = [str(i) for i in range(10)]  # the NPZ labels 0-9, matched by name


@dataclasses.dataclass(frozen=True)
class SplPipelineConfig:
    """What the SPL comparison runs; the defaults are what `frontier run spl` uses.

    Attributes:
      target_size: clean labelled digits (target `train` plus `eval`).
      target_eval_fraction: the share of them in `eval` (held out for scoring).
      bag_noise: share of off-topic examples in each pool bag.
      num_related, bag_size: see `spl.bags.make_bags`.
      strategies: one SplLabeler / pre-train / fine-tune branch each.
      min_count: SplLabeler's pruning threshold.
      seed: data split, bags and every trainer's seed.
      hidden_units: the network of teacher, pre-training and student.
      epochs: the teacher's and each student's fine-tuning epochs (the same,
        so that the teacher is the no-pre-training baseline).
      pretrain_epochs: epochs of pre-training on the pool.
      batch_size, learning_rate: every Trainer's.
    """

    target_size: int = 500
    target_eval_fraction: float = 0.8
    bag_noise: float = 0.3
    num_related: int = DEFAULT_NUM_RELATED
    bag_size: int = DEFAULT_BAG_SIZE
    strategies: tuple[str, ...] = (WEAK, AGREEMENT, SPL)
    min_count: int = DEFAULT_MIN_COUNT
    seed: int = 0
    hidden_units: tuple[int, ...] = (256, 128)
    epochs: int = 60
    pretrain_epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3


def write_sources(data_dir: str, config: SplPipelineConfig = SplPipelineConfig()) -> dict:
    """Writes the target and pool NPZ sources (deterministic in `config.seed`).

    Returns:
      {"target": path, "pool": path}.
    """
    from sklearn.datasets import load_digits

    from frontier.components.spl.bags import make_bags

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    order = np.random.default_rng(config.seed).permutation(len(y))
    target, pool = order[: config.target_size], order[config.target_size :]
    bags = make_bags(
        y[pool], config.bag_noise, 10, config.num_related, config.bag_size, seed=config.seed
    )
    os.makedirs(data_dir, exist_ok=True)
    paths = {
        "target": os.path.join(data_dir, TARGET_FILE),
        "pool": os.path.join(data_dir, POOL_FILE),
    }
    np.savez(paths["target"], pixels=x[target], label=y[target])
    np.savez(paths["pool"], pixels=x[pool], label=y[pool], weak_label=bags.weak, bag=bags.bag)
    return paths


def spl_comparison(target, pool, config: SplPipelineConfig = SplPipelineConfig()) -> list:
    """The teacher, then per strategy SplLabeler, pre-training, fine-tuning and evaluation.

    Args:
      target: channel of the clean target `Examples` (`train` trains the
        teacher and the students; `eval` scores them).
      pool: channel of the weakly-labeled pool `Examples` (`weak_label`).
      config: the strategies and hyper-parameters.

    Returns:
      The nodes: teacher first, then each strategy's five nodes.
    """
    from frontier.components.spl import SplLabeler
    from frontier.components.trainer import Trainer

    train_args = parameters.from_config(
        config, "batch_size", "learning_rate", "hidden_units", "seed"
    )
    teacher = Trainer(examples=target, epochs=config.epochs, **train_args).with_id(TEACHER_ID)
    nodes: list = [teacher]
    for strategy in config.strategies:
        labeler = SplLabeler(
            examples=pool,
            teacher=teacher.outputs["model"],
            strategy=strategy,
            min_count=config.min_count,
        ).with_id(LABELER_PREFIX + strategy)
        pretrain = Trainer(
            examples=labeler.outputs["relabeled_examples"],
            label_key="spl_label",
            epochs=config.pretrain_epochs,
            **train_args,
        ).with_id(PRETRAIN_PREFIX + strategy)
        student = Trainer(
            examples=target,
            base_model=pretrain.outputs["model"],
            epochs=config.epochs,
            **train_args,
        ).with_id(STUDENT_PREFIX + strategy)
        nodes += [
            labeler,
            pretrain,
            student,
            *evaluate_and_report(
                target,
                student.outputs["model"],
                (EVALUATOR_PREFIX + strategy, REPORT_PREFIX + strategy),
                baseline_model=teacher.outputs["model"],
                num_classes=10,
                min_accuracy=None,
                max_accuracy_drop=0.0,
            ),
        ]
    return nodes


def ingest_sources(paths: dict, config: SplPipelineConfig = SplPipelineConfig()) -> tuple:
    """The two Ingest nodes (ids IngestTarget, IngestPool) of `write_sources`' files."""
    from frontier.components.ingest import Ingest

    target = Ingest(
        source=paths["target"],
        feature_columns=["pixels"],
        classes=DIGITS,
        eval_fraction=config.target_eval_fraction,
        seed=config.seed,
    ).with_id(TARGET_ID)
    pool = Ingest(
        source=paths["pool"],
        feature_columns=["pixels"],
        classes=DIGITS,
        weak_label_column="weak_label",
        seed=config.seed,
    ).with_id(POOL_ID)
    return target, pool


def spl_branch(root: str, config: SplPipelineConfig = SplPipelineConfig()) -> list:
    """The two Ingests of `sources(root, config)`, then `spl_comparison` on their examples."""
    target, pool = ingest_sources(sources(root, config), config)
    return [
        target,
        pool,
        *spl_comparison(target.outputs["examples"], pool.outputs["examples"], config),
    ]


def create_pipeline(
    root: str, config: SplPipelineConfig = SplPipelineConfig(), enable_cache: bool = True
):
    """The SPL pipeline on digits, laid out under `root` (`runner.make_pipeline`).

    Under a local root the two sources are written first (`write_sources`);
    under a remote one (compiling for Vertex AI / Kubeflow) nothing is
    written: the Ingest nodes read `<root>/data/spl/{target,pool}.npz`, or
    whatever the `target_source` / `pool_source` parameters say at run time.
    """
    from frontier.pipelines import runner

    return runner.make_pipeline(
        PIPELINE_NAME,
        spl_branch(root, config),
        root,
        enable_cache,
        (*source_parameters(), parameters.seed(config.seed)),
    )


def sources(root: str, config: SplPipelineConfig = SplPipelineConfig()) -> dict:
    """The two sources under `root`: written there when `root` is local (see `create_pipeline`)."""
    from frontier.pipelines import runner

    data_dir = runner.data_dir(root, "spl")
    if runner.is_remote(root):
        return {"target": f"{data_dir}/{TARGET_FILE}", "pool": f"{data_dir}/{POOL_FILE}"}
    return write_sources(data_dir, config)


def source_parameters() -> tuple[parameters.RuntimeParam, ...]:
    """`target_source` and `pool_source`: the two Ingests' data, runtime parameters."""
    return (
        parameters.RuntimeParam(
            "target_source", ("source",), (TARGET_ID,), "NPZ of the clean labelled target set"
        ),
        parameters.RuntimeParam(
            "pool_source", ("source",), (POOL_ID,), "NPZ of the weakly-labeled pool"
        ),
    )


def details(run: RunRecord) -> list[str]:
    """One line per strategy: its student's held-out accuracy against the
    teacher's (no pre-training), and its SPL label space's size."""
    classes = run.formatted(
        LABELER_PREFIX,
        "; {num_classes} pre-training classes, teacher agrees {teacher_agreement:.3f}",
    )
    return run.accuracy_lines(
        REPORT_PREFIX,
        "SPL {name}: student eval accuracy {accuracy:.4f}",
        " (no pre-training {baseline:.4f})",
        classes,
    )


_LABELS = {
    WEAK: "weak labels",
    "teacher": "teacher labels",
    AGREEMENT: "agreement",
    SPL: "SPL",
    SPL_B: "SPL-B",
}


def results(run: RunRecord) -> list[Result]:
    """One result: the student pre-trained on each strategy's labels, then
    fine-tuned on the target set, against the same network trained on the
    target set alone (the teacher: no pre-training), as `benchmarks/spl.py`
    compares them."""
    reports = run.properties(REPORT_PREFIX, "accuracy")
    pairs, bars = against_shared_baseline(reports, _LABELS, "no pre-training")
    if not pairs:
        return []
    base = pairs[0]
    spl = next((p for p in pairs if p.name == "SPL"), pairs[-1])
    others = [p for p in pairs if p is not spl]
    sentence = f"Pre-training on a weakly-labeled pool, then fine-tuning: {spl.words()}"
    if others:
        sentence += "; the other strategies are " + tally(others) + " against no pre-training ("
        sentence += ", ".join(f"{p.name} {p.value:.3f}" for p in others) + ")"
    headline = ", ".join(f"{p.name} {p.value:.2f}" for p in pairs)
    headline += f" vs no pre-training {base.baseline:.2f}"
    return [
        Result(
            "SPL",
            "Student pre-trained on each label space vs no pre-training",
            sentence + ".",
            headline,
            bars=bars,
        )
    ]


def outcome(run: RunRecord) -> list[str]:
    """Lines for the terminal: the figures of each comparison (`details`), then
    what the comparison shows (`results`)."""
    return details(run) + summary_lines(results(run))
