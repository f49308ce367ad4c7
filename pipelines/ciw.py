"""The CIW pipeline: train on noisy digit labels, with and without reweighting.

  Ingest(digits, 40% symmetric label noise on train) ─┬─ CiwTrainer(ce) ───────── Evaluator ─ EvaluationReport
                                                      ├─ CiwTrainer(ciw) ──────── Evaluator ─ EvaluationReport
                                                      └─ CiwTrainer(cicw_mixup) ─ Evaluator ─ EvaluationReport

Ingest flips the `train` labels only and keeps the clean label as
`true_label` in every split; the `eval` split stays clean, so the stock
Evaluator (on `true_label`) measures what label noise costs each method.
Each reweighting method is evaluated with the plain cross-entropy model
(`ce`) as the baseline: TFMA's metrics table holds both models and their
difference, and it blesses the reweighted model only when it is no worse
than `ce`. `ciw_comparison` is the branch on its own, for other pipelines.
"""

from __future__ import annotations

import dataclasses

from frontier.components.ciw.train import CE, CICW_MIXUP, CIW, CiwConfig
from frontier.pipelines import parameters
from frontier.pipelines.evaluation import evaluate_and_report
from frontier.pipelines.resources import GPU, Resources
from frontier.pipelines.results import Result, against_shared_baseline, summary_lines
from frontier.pipelines.runs import RunRecord

PIPELINE_NAME = "frontier-ciw"
INGEST_ID = "IngestNoisy"
TRAINER_PREFIX = "CiwTrainer_"
EVALUATOR_PREFIX = "CiwEvaluate_"
REPORT_PREFIX = "CiwReport_"
# Compiled pipelines' containers (`frontier compile`; see `resources.py`).
RESOURCES = {TRAINER_PREFIX: Resources(cpu=8, memory_gb=32, accelerator=GPU)}


@dataclasses.dataclass(frozen=True)
class CiwPipelineConfig:
    """What the CIW comparison runs; the defaults are what `frontier run ciw` uses.

    Attributes:
      source: the Ingest source.
      label_noise, noise_rate, noise_seed: Ingest's synthetic label noise on
        the train split.
      seed: the split's seed (Ingest) and every trainer's (`training.seed`
        is replaced by it).
      methods: the CiwTrainer methods to train, one node each.
      baseline_method: the method the others are compared against (must be
        in `methods`; it is evaluated without a baseline).
      training: the hyper-parameters shared by every trainer (`CiwConfig`;
        its `method` and `seed` are replaced per trainer).
      hidden_units: the network's hidden layer sizes.
      num_classes: classes of the source (for the Evaluator's per-class recall).
    """

    source: str = "sklearn:digits"
    label_noise: str = "symmetric"
    noise_rate: float = 0.4
    noise_seed: int = 0
    seed: int = 0
    methods: tuple[str, ...] = (CE, CIW, CICW_MIXUP)
    baseline_method: str = CE
    training: CiwConfig = CiwConfig()
    hidden_units: tuple[int, ...] = (128,)
    num_classes: int = 10

    def __post_init__(self) -> None:
        if self.baseline_method not in self.methods:
            raise ValueError(
                f"baseline_method {self.baseline_method!r} is not one of methods {self.methods}"
            )


def ciw_comparison(
    examples, config: CiwPipelineConfig = CiwPipelineConfig(), eval_label_key: str | None = None
) -> list:
    """One CiwTrainer, Evaluator and EvaluationReport per method on `examples`.

    Args:
      examples: channel of frontier `Examples` (the noisy train split is
        trained on its `label`).
      config: the methods and their hyper-parameters.
      eval_label_key: the column the Evaluator scores against; default
        `true_label` when `config.label_noise` is on, else `label`.

    Returns:
      The nodes, in order: trainers first, then evaluators and reports.
    """
    from frontier.components.ciw import CiwTrainer
    from frontier.schemas.dataset import LABEL_KEY, TRUE_LABEL_KEY

    if eval_label_key is None:
        eval_label_key = TRUE_LABEL_KEY if config.label_noise != "none" else LABEL_KEY
    trainers = {}
    for method in config.methods:
        hyper = dataclasses.replace(config.training, method=method, seed=config.seed)
        trainers[method] = CiwTrainer(
            examples=examples,
            **dataclasses.asdict(hyper),
            hidden_units=config.hidden_units,
        ).with_id(TRAINER_PREFIX + method)
    nodes: list = list(trainers.values())
    for method, trainer in trainers.items():
        is_baseline = method == config.baseline_method
        nodes += evaluate_and_report(
            examples,
            trainer.outputs["model"],
            (EVALUATOR_PREFIX + method, REPORT_PREFIX + method),
            baseline_model=None
            if is_baseline
            else trainers[config.baseline_method].outputs["model"],
            num_classes=config.num_classes,
            min_accuracy=None,
            max_accuracy_drop=None if is_baseline else 0.0,
            label_key=eval_label_key,
        )
    return nodes


def noisy_ingest(config: CiwPipelineConfig = CiwPipelineConfig()):
    """The Ingest node of `config`: its source with label noise on the train split."""
    from frontier.components.ingest import Ingest

    return Ingest(
        **parameters.from_config(
            config, "source", "seed", "label_noise", "noise_rate", "noise_seed"
        )
    ).with_id(INGEST_ID)


def noisy_branch(config: CiwPipelineConfig = CiwPipelineConfig()) -> list:
    """The noisy Ingest (id IngestNoisy, first), then `ciw_comparison` on its examples."""
    ingest = noisy_ingest(config)
    return [ingest, *ciw_comparison(ingest.outputs["examples"], config)]


def create_pipeline(
    root: str, config: CiwPipelineConfig = CiwPipelineConfig(), enable_cache: bool = True
):
    """The CIW pipeline on noisy scikit-learn digits, laid out under `root` (`runner.make_pipeline`)."""
    from frontier.pipelines import runner

    return runner.make_pipeline(
        PIPELINE_NAME,
        noisy_branch(config),
        root,
        enable_cache,
        (parameters.source(INGEST_ID), parameters.seed(config.seed), *noise_parameters()),
    )


def noise_parameters() -> tuple[parameters.RuntimeParam, ...]:
    """`noise_rate` and `noise_seed` of the noisy Ingest, runtime parameters of compiled runs."""
    return (
        parameters.RuntimeParam(
            "noise_rate",
            ("noise_rate",),
            (INGEST_ID,),
            "probability that a train label is flipped, in [0, 1]",
        ),
        parameters.RuntimeParam(
            "noise_seed", ("noise_seed",), (INGEST_ID,), "seed of the label flips"
        ),
    )


def details(run: RunRecord) -> list[str]:
    """One line per method: its clean held-out accuracy (from its EvaluationReport),
    the baseline's beside it, and the last epoch's mean weights of clean and
    flipped training labels (from its trainer's `Model`)."""
    weights = run.formatted(
        TRAINER_PREFIX,
        "; mean weight clean {mean_weight_clean:.3f}, flipped {mean_weight_flipped:.3f}",
    )
    return run.accuracy_lines(
        REPORT_PREFIX,
        "{name}: clean eval accuracy {accuracy:.4f}",
        " (baseline {baseline:.4f})",
        weights,
    )


_NAMES = {"ce": "CE", "ciw": "CIW", "cicw": "CICW", "cicw_mixup": "CICW-Mixup"}


def results(run: RunRecord) -> list[Result]:
    """One result: each reweighting method's clean eval accuracy against plain
    cross-entropy (the baseline every method's Evaluator compares with), all
    trained on the same noisy labels."""
    reports = run.properties(REPORT_PREFIX, "accuracy")
    pairs, bars = against_shared_baseline(reports, _NAMES, "CE")
    if not pairs:
        return []
    base = pairs[0]
    noise = run.properties(INGEST_ID, "noise_rate").get("")
    on = f" at {noise['noise_rate']:.0%} flipped training labels" if noise else ""
    sentence = (
        f"Trained on noisy labels{on} and scored on clean ones: "
        + "; ".join(p.words() for p in pairs)
        + "."
    )
    headline = ", ".join(f"{p.name} {p.value:.2f}" for p in pairs) + f" vs CE {base.baseline:.2f}"
    return [
        Result(
            "CIW",
            "Reweighting vs cross-entropy on noisy labels",
            sentence,
            headline,
            bars=bars,
        )
    ]


def outcome(run: RunRecord) -> list[str]:
    """Lines for the terminal: the figures of each comparison (`details`), then
    what the comparison shows (`results`)."""
    return details(run) + summary_lines(results(run))
