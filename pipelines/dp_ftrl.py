"""The DP-FTRL pipeline: federated digits, user-level DP, scored by the stock Evaluator.

  Ingest(digits, Dirichlet client partition) ─ DpFtrlTrainer(dp_ftrl; fedavg, dp_fedavg)
                                             ─ DpFtrlEvaluate(Evaluator) ─ DpFtrlReport

Ingest gives each digit a synthetic user (`client_partition="dirichlet"`:
label-skewed clients); DpFtrlTrainer simulates federated training with
DP-FTRL and, for its comparison page, FedAvg and DP-FedAvg at the same rho;
the exported DP-FTRL model is scored on the `eval` split. The privacy budget
is checked before training. Digits has too few users for a small epsilon:
the point here is the flow (`benchmarks/dp_ftrl.py` enlarges the population
to compare mechanisms at epsilon 2 to 8).
"""

from __future__ import annotations

import dataclasses

from frontier.components.dp_ftrl import FederatedConfig
from frontier.pipelines import parameters
from frontier.pipelines.evaluation import evaluate_and_report
from frontier.pipelines.resources import GPU, Resources
from frontier.pipelines.runs import RunRecord

PIPELINE_NAME = "frontier-dp-ftrl"
TRAINER_ID = "DpFtrlTrainer"
EVALUATOR_ID = "DpFtrlEvaluate"
REPORT_ID = "DpFtrlReport"
INGEST_ID = "IngestFederated"
# Compiled pipelines' containers (`frontier compile`; see `resources.py`): the
# vectorised client updates (JAX) on a GPU.
RESOURCES = {TRAINER_ID: Resources(cpu=8, memory_gb=32, accelerator=GPU)}


@dataclasses.dataclass(frozen=True)
class DpFtrlPipelineConfig:
    """What `frontier run dp_ftrl` runs.

    Attributes:
      source: the Ingest source.
      num_clients, partition_alpha: Ingest's Dirichlet client partition.
      seed: the split's, the partition's and the training's seed.
      training: the federated hyper-parameters (`FederatedConfig`; its seed is replaced).
      baselines: mechanisms trained alongside for the comparison page.
      privacy_budget: epsilon at `training.delta` the run may not exceed (None: none).
      feature_scale: public bound the inputs are divided by (16: digits pixels).
      num_classes: classes of the source (for the Evaluator).
    """

    source: str = "sklearn:digits"
    num_clients: int = 100
    partition_alpha: float = 0.5
    seed: int = 0
    training: FederatedConfig = FederatedConfig(
        rounds=60,
        clients_per_round=20,
        max_participations=12,
        min_separation=5,
        noise_multiplier=1.0,
        clip=1.0,
        client_lr=0.1,
        local_epochs=2,
        local_batch_size=8,
        hidden_units=(64,),
        delta=1e-5,
        eval_every=10,
    )
    baselines: tuple[str, ...] = ("fedavg", "dp_fedavg")
    privacy_budget: float | None = 150.0
    feature_scale: float = 16.0
    num_classes: int = 10


def federated_ingest(config: DpFtrlPipelineConfig = DpFtrlPipelineConfig()):
    """The Ingest node (id IngestFederated): the source with a Dirichlet client partition."""
    from frontier.components.ingest import Ingest

    return Ingest(
        client_partition="dirichlet",
        partition_seed=config.seed,
        **parameters.from_config(config, "source", "seed", "num_clients", "partition_alpha"),
    ).with_id(INGEST_ID)


def dp_ftrl_training(examples, config: DpFtrlPipelineConfig = DpFtrlPipelineConfig()) -> list:
    """DpFtrlTrainer, the stock Evaluator on its model, and an EvaluationReport."""
    from frontier.components.dp_ftrl import DpFtrlTrainer

    trainer = DpFtrlTrainer(
        examples=examples,
        baselines=config.baselines,
        privacy_budget=config.privacy_budget,
        feature_scale=config.feature_scale,
        config=dataclasses.replace(config.training, seed=config.seed),
    ).with_id(TRAINER_ID)
    return [
        trainer,
        *evaluate_and_report(
            examples,
            trainer.outputs["model"],
            (EVALUATOR_ID, REPORT_ID),
            num_classes=config.num_classes,
            min_accuracy=None,
        ),
    ]


def federated_branch(config: DpFtrlPipelineConfig = DpFtrlPipelineConfig()) -> list:
    """The federated Ingest (id IngestFederated, first), then `dp_ftrl_training` on it."""
    ingest = federated_ingest(config)
    return [ingest, *dp_ftrl_training(ingest.outputs["examples"], config)]


def create_pipeline(
    root: str, config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(), enable_cache: bool = True
):
    """The DP-FTRL pipeline on federated digits, laid out under `root` (`runner.make_pipeline`)."""
    from frontier.pipelines import runner

    return runner.make_pipeline(
        PIPELINE_NAME,
        federated_branch(config),
        root,
        enable_cache,
        (parameters.source(INGEST_ID), parameters.seed(config.seed), *budget_parameters(config)),
    )


def budget_parameters(
    config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(),
) -> tuple[parameters.RuntimeParam, ...]:
    """`privacy_budget` of the trainer (none without a budget), a runtime parameter."""
    if config.privacy_budget is None:
        return ()
    return (
        parameters.RuntimeParam(
            "privacy_budget",
            ("privacy_budget",),
            (TRAINER_ID,),
            f"largest epsilon at delta {config.training.delta:g} the run may spend;"
            " checked before training",
        ),
    )


def outcome(run: RunRecord) -> list[str]:
    """One line: the DP-FTRL model's eval accuracy (stock Evaluator), its epsilon,
    and the baselines' accuracies from the trainer's run."""
    trained = run.properties(TRAINER_ID, "mechanism", "eval_accuracy").get("")
    scored = run.properties(REPORT_ID, "accuracy").get("")
    if trained is None or scored is None:
        return []
    eps = trained.get("epsilon")
    privacy = f"epsilon {eps:.2f} at delta {trained['delta']:g}" if eps is not None else "no DP"
    others = ", ".join(
        f"{key[: -len('_eval_accuracy')]} {value:.4f}"
        for key, value in sorted(trained.items())
        if key.endswith("_eval_accuracy")
    )
    line = f"DP-FTRL: eval accuracy {scored['accuracy']:.4f} ({privacy})"
    return [line + (f"; baselines: {others}" if others else "")]
