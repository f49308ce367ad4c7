"""The KIP pipeline: distil digits with KIP and compare with random subsets.

For each support size (images per class, default 1 and 10):

  KipDistill(kip) ──────┬─ Evaluator: KRR on KIP vs KRR on random ─ EvaluationReport
  KipDistill(random) ───┘
  KipDistill(kip).distilled ── Trainer ─┬─ Evaluator: MLP on KIP vs MLP on random ─ EvaluationReport
  KipDistill(random).distilled ─ Trainer ┘

Both comparisons run the stock Evaluator with the random-subset model as the
baseline, on the held-out `eval` split of the full data: its metrics table
holds both models and their difference, and it blesses the KIP model only
when it is no worse than the random subset of the same size. The same
branch joins the demo pipeline (`kip_comparison`).
"""

from __future__ import annotations

import dataclasses

from frontier.pipelines import parameters
from frontier.pipelines.evaluation import evaluate_and_report
from frontier.pipelines.resources import GPU, Resources
from frontier.pipelines.results import Paired, Result, paired_from_report, summary_lines, tally
from frontier.pipelines.runs import RunRecord

PIPELINE_NAME = "frontier-kip"
INGEST_ID = "Ingest"
# Compiled pipelines' containers (`frontier compile`; see `resources.py`): KIP's
# JAX kernel steps on a GPU, the rest on CPU machines.
RESOURCES = {
    "KipSubset_": Resources(cpu=8, memory_gb=32, accelerator=GPU),
    "RandomSubset_": Resources(cpu=4, memory_gb=16),
    "TrainOn": Resources(cpu=4, memory_gb=16),
}


@dataclasses.dataclass(frozen=True)
class KipConfig:
    """What the KIP comparison runs; the defaults are what `make demo` uses."""

    images_per_class: tuple[int, ...] = (1, 10)
    kernel: str = "fc"
    steps: int = 300
    learning_rate: float = 0.04
    target_batch_size: int = 1000
    seed: int = 0
    trainer_epochs: int = 200
    trainer_hidden_units: tuple[int, ...] = (128,)
    num_classes: int = 10


def kip_comparison(examples, config: KipConfig = KipConfig()) -> list:
    """The KIP-versus-random branch on `examples` (a channel of frontier Examples)."""
    from frontier.components.kip import KipDistill
    from frontier.components.trainer import Trainer

    nodes: list = []
    for n in config.images_per_class:
        distilled = {}
        for method in ("kip", "random"):
            distilled[method] = KipDistill(
                examples=examples,
                images_per_class=n,
                method=method,
                **parameters.from_config(
                    config, "kernel", "steps", "learning_rate", "target_batch_size", "seed"
                ),
            ).with_id(f"{'Kip' if method == 'kip' else 'Random'}Subset_{n}pc")
        trained = {
            method: Trainer(
                examples=d.outputs["distilled"],
                epochs=config.trainer_epochs,
                batch_size=32,
                hidden_units=config.trainer_hidden_units,
                seed=config.seed,
            ).with_id(f"TrainOn{'Kip' if method == 'kip' else 'Random'}_{n}pc")
            for method, d in distilled.items()
        }
        nodes += [*distilled.values(), *trained.values()]
        for what, candidate, baseline in (
            ("Krr", distilled["kip"], distilled["random"]),
            ("Mlp", trained["kip"], trained["random"]),
        ):
            nodes += evaluate_and_report(
                examples,
                candidate.outputs["model"],
                (f"Evaluate{what}_{n}pc", f"Report{what}_{n}pc"),
                baseline_model=baseline.outputs["model"],
                num_classes=config.num_classes,
                min_accuracy=None,
                max_accuracy_drop=0.0,
            )
    return nodes


def create_pipeline(root: str, config: KipConfig = KipConfig(), enable_cache: bool = True):
    """The KIP pipeline on scikit-learn digits, laid out under `root` (`runner.make_pipeline`)."""
    from frontier.components.ingest import Ingest
    from frontier.pipelines import runner

    ingest = Ingest(source="sklearn:digits", seed=config.seed).with_id(INGEST_ID)
    return runner.make_pipeline(
        PIPELINE_NAME,
        [ingest, *kip_comparison(ingest.outputs["examples"], config)],
        root,
        enable_cache,
        runtime_parameters(config),
    )


def runtime_parameters(config: KipConfig = KipConfig()) -> tuple[parameters.RuntimeParam, ...]:
    """What a compiled KIP pipeline lets each run change: the data and the seed."""
    return (parameters.source(INGEST_ID), parameters.seed(config.seed))


def details(run: RunRecord) -> list[str]:
    """One line per comparison: held-out accuracy of KIP and of the random subset."""
    lines = []
    for name, props in run.properties("Report", "accuracy").items():
        what, n = name.split("_")
        base = props.get("baseline_accuracy")
        vs = f" vs random subset {base:.4f}" if isinstance(base, float) else ""
        lines.append(
            f"{'KRR' if what == 'Krr' else 'MLP'} on {n[:-2]}/class: KIP {props['accuracy']:.4f}{vs}"
        )
    return lines


def _pairs(run: RunRecord) -> list[tuple[str, Paired]]:
    """(group, KIP against the random subset) per comparison, in node order; the group
    names the model and the support size, e.g. "KRR 1/class"."""
    pairs = []
    for name, props in run.properties("Report", "accuracy").items():
        what, n = name.split("_")
        paired = paired_from_report(props, "KIP", "random")
        if paired is not None:
            pairs.append((f"{'KRR' if what == 'Krr' else 'MLP'} {n[:-2]}/class", paired))
    return pairs


def results(run: RunRecord) -> list[Result]:
    """One result: KIP's distilled images against random subsets of the same size,
    per model (kernel ridge regression on the support set, the MLP trained on it)
    and support size."""
    pairs = _pairs(run)
    if not pairs:
        return []
    group, best = max(pairs, key=lambda gp: gp[1].difference)
    sentence = (
        f"KIP's distilled images against random real images of the same number: KIP is"
        f" {tally([p for _, p in pairs])} comparisons; the largest gain is {group}:"
        f" {best.words()}."
    )
    headline = "KIP vs random: " + ", ".join(
        f"{g} {p.value:.2f} vs {p.baseline:.2f}" for g, p in pairs
    )
    return [
        Result(
            "KIP",
            "KIP distilled set vs random subset, per model and images per class",
            sentence,
            headline,
            bars=tuple(bar for g, p in pairs for bar in p.bars(g)),
        )
    ]


def outcome(run: RunRecord) -> list[str]:
    """Lines for the terminal: the figures of each comparison (`details`), then
    what the comparison shows (`results`)."""
    return details(run) + summary_lines(results(run))
