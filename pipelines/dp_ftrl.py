"""The DP-FTRL pipeline: user-level DP on a population large enough for it.

  IngestFederated(population.npz: synthetic clients in train, real held-out digits in eval)
    ─ DpFtrlTrainer(dp_ftrl; fedavg, dp_fedavg at the same rho)
    ─ DpFtrlEvaluate(Evaluator) ─ DpFtrlReport

User-level DP needs many users: cut into ~100 clients, digits' 1,797 images
give an epsilon in the hundreds, where no private mechanism is limited by its
noise and comparing them says nothing. So, by default, `write_population`
enlarges digits into `SyntheticPopulation.num_clients` synthetic clients
(`dp_ftrl.population.synthetic_population`: label skew, shifts, pixel noise
of real images) and keeps `test_size` real digits, never augmented, as the
`eval` split (Ingest's `split_column`). The noise multiplier is calibrated
to `target_epsilon` (8, at delta 1e-5) for the run's rounds, participations
and separation, and the privacy budget is checked before training. The
trainer trains FedAvg (no privacy) and DP-FedAvg (fresh Gaussian noise, no
amplification, the same rho) alongside, on the same schedule seed, for the
comparison; `benchmarks/dp_ftrl.py` does the same over seeds and epsilons.

With `population=None` the branch is the older flow: Ingest gives each of
digits' images a synthetic user (`client_partition="dirichlet"`) and the
exported model is scored on held-out examples of the same users.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from frontier.components.dp_ftrl import FederatedConfig
from frontier.pipelines import parameters
from frontier.pipelines.evaluation import evaluate_and_report
from frontier.pipelines.resources import GPU, Resources
from frontier.pipelines.results import Bar, Paired, Result, Series, binomial_se, summary_lines
from frontier.pipelines.runs import RunRecord

PIPELINE_NAME = "frontier-dp-ftrl"
GROUP_ID = "GroupClients"
TRAINER_ID = "DpFtrlTrainer"
EVALUATOR_ID = "DpFtrlEvaluate"
REPORT_ID = "DpFtrlReport"
INGEST_ID = "IngestFederated"
# Compiled pipelines' containers (`frontier compile`; see `resources.py`): the
# vectorised client updates (JAX) on a GPU.
RESOURCES = {TRAINER_ID: Resources(cpu=8, memory_gb=32, accelerator=GPU)}


@dataclasses.dataclass(frozen=True)
class SyntheticPopulation:
    """The population `write_population` makes from scikit-learn digits.

    Attributes:
      num_clients, examples_per_client: synthetic clients of equal size.
      test_size: real digits held out (never augmented), the `eval` split.
      alpha, shift, pixel_noise: `synthetic_population`'s label skew and augmentation.
      seed: seed of the held-out draw and of the population.
    """

    num_clients: int = 10_000
    examples_per_client: int = 20
    test_size: int = 400
    alpha: float = 0.5
    shift: int = 1
    pixel_noise: float = 1.0
    seed: int = 1


@dataclasses.dataclass(frozen=True)
class DpFtrlPipelineConfig:
    """What `frontier run dp_ftrl` runs.

    Attributes:
      population: the synthetic population written as the source (see the
        module docstring); None: `source` with a Dirichlet client partition.
      source, num_clients, partition_alpha: without a population, Ingest's
        source and its client partition.
      seed: the split's, the partition's and the training's seed.
      training: the federated hyper-parameters (`FederatedConfig`; its seed
        is replaced, and its noise multiplier when `target_epsilon` is set).
      target_epsilon: epsilon at `training.delta` that the noise multiplier
        is calibrated to (`calibrate_noise_multiplier`); None keeps
        `training.noise_multiplier`.
      baselines: mechanisms trained alongside for the comparison.
      privacy_budget: epsilon at `training.delta` the run may not exceed (None: none).
      feature_scale: public bound the inputs are divided by (16: digits pixels).
      num_classes: classes of the source (for the Evaluator).
      group_clients: group the train split by user first (`GroupClients`, a
        Beam step) and train from that store, so the trainer's memory does
        not grow with the number of users; False loads the split (faster for
        populations that fit in memory, such as the demo's).
    """

    population: SyntheticPopulation | None = SyntheticPopulation()
    source: str = "sklearn:digits"
    num_clients: int = 100
    partition_alpha: float = 0.5
    seed: int = 0
    # The benchmark's setting at epsilon 8: 500 rounds of 100 of the 10,000
    # clients, each at most 5 times, 100 rounds apart; server step size 0.3,
    # the one the benchmark's tuning picks at epsilon 8 for DP-FTRL and for
    # DP-FedAvg alike (at 2 and 4 it picks different ones, and the trainer
    # trains its baselines with the run's).
    training: FederatedConfig = FederatedConfig(
        rounds=500,
        clients_per_round=100,
        max_participations=5,
        min_separation=100,
        clip=0.5,
        client_lr=0.5,
        local_epochs=2,
        local_batch_size=10,
        server_lr=0.3,
        momentum=0.9,
        hidden_units=(64,),
        delta=1e-5,
        eval_every=50,
    )
    target_epsilon: float | None = 8.0
    baselines: tuple[str, ...] = ("fedavg", "dp_fedavg")
    privacy_budget: float | None = 10.0
    feature_scale: float = 16.0
    num_classes: int = 10
    group_clients: bool = False

    def federated_config(self) -> FederatedConfig:
        """`training` with the run's seed and, with a `target_epsilon`, the
        noise multiplier calibrated to it."""
        config = dataclasses.replace(self.training, seed=self.seed)
        if self.target_epsilon is None:
            return config
        from frontier.components.dp_ftrl import calibrate_noise_multiplier

        noise = calibrate_noise_multiplier(
            self.target_epsilon,
            config.delta,
            config.rounds,
            config.max_participations,
            config.min_separation,
            restart_every=config.restart_every,
        )
        return dataclasses.replace(config, noise_multiplier=noise)


POPULATION_FILE = "population.npz"
HELD_OUT_CLIENT = "held-out"  # the client id of the real eval digits: no user's data
DIGITS = [str(i) for i in range(10)]


def write_population(data_dir: str, population: SyntheticPopulation = SyntheticPopulation()) -> str:
    """Writes `population.npz` (deterministic in `population.seed`) and returns its path.

    Arrays: `pixels` float32 [N, 64] (0..16), `label` int64 [N], `client_id`
    and `split` strings [N]: the synthetic clients' examples (`client-00042`,
    `train`), then the held-out real digits (`held-out`, `eval`). Beside it,
    `population.npz.json` records the settings it was made with: a file made
    with the same settings is kept, not written again (tens of MB, rebuilt on
    every `frontier run` and `frontier report` otherwise).
    """
    import json

    from sklearn.datasets import load_digits

    from frontier.components.dp_ftrl.population import synthetic_population

    path = os.path.join(data_dir, POPULATION_FILE)
    settings = json.dumps(dataclasses.asdict(population), sort_keys=True)
    made_with = path + ".json"
    if os.path.exists(path) and os.path.exists(made_with):
        with open(made_with) as f:
            if f.read() == settings:
                return path

    digits = load_digits()
    images = digits.images.astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(population.seed).permutation(len(labels))
    test, base = order[: population.test_size], order[population.test_size :]
    x, y, clients = synthetic_population(
        images[base],
        labels[base],
        population.num_clients,
        population.examples_per_client,
        num_classes=10,
        pixel_max=16.0,
        alpha=population.alpha,
        shift=population.shift,
        pixel_noise=population.pixel_noise,
        seed=population.seed,
    )
    width = max(5, len(str(population.num_clients - 1)))
    client_ids = np.char.add("client-", np.char.zfill(clients.astype(str), width))
    n_test = len(test)
    os.makedirs(data_dir, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(
        tmp,
        pixels=np.concatenate([x.reshape(len(y), -1), images[test].reshape(n_test, -1)]),
        label=np.concatenate([y, labels[test]]),
        client_id=np.concatenate([client_ids, np.full(n_test, HELD_OUT_CLIENT)]),
        split=np.concatenate([np.full(len(y), "train"), np.full(n_test, "eval")]),
    )
    os.replace(tmp, path)  # a killed write leaves no half-written source behind
    with open(made_with + ".tmp", "w") as f:
        f.write(settings)
    os.replace(made_with + ".tmp", made_with)  # last: only a whole NPZ is ever kept
    return path


def federated_ingest(config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(), root: str = ""):
    """The Ingest node (id IngestFederated): the population of `write_population`
    under `root` (written there when `root` is local), or, without a population,
    the source with a Dirichlet client partition."""
    from frontier.components.ingest import Ingest

    if config.population is None:
        return Ingest(
            client_partition="dirichlet",
            partition_seed=config.seed,
            **parameters.from_config(config, "source", "seed", "num_clients", "partition_alpha"),
        ).with_id(INGEST_ID)
    return Ingest(
        source=population_source(root, config.population),
        feature_columns=["pixels"],
        classes=DIGITS,
        client_id_column="client_id",
        split_column="split",
        seed=config.seed,
    ).with_id(INGEST_ID)


def population_source(root: str, population: SyntheticPopulation = SyntheticPopulation()) -> str:
    """`<root>/data/dp_ftrl/population.npz`, written first when `root` is local; a
    remote root (compiling for Vertex AI / Kubeflow) only names it: upload it
    there, or set the `population_source` parameter."""
    from frontier.pipelines import runner

    data_dir = runner.data_dir(root, "dp_ftrl")
    if runner.is_remote(root):
        return f"{data_dir}/{POPULATION_FILE}"
    return write_population(data_dir, population)


def dp_ftrl_training(examples, config: DpFtrlPipelineConfig = DpFtrlPipelineConfig()) -> list:
    """DpFtrlTrainer (after GroupClients with `config.group_clients`), the stock
    Evaluator on its model, and an EvaluationReport."""
    from frontier.components.dp_ftrl import DpFtrlTrainer
    from frontier.components.group_clients import GroupClients

    grouped = [GroupClients(examples=examples).with_id(GROUP_ID)] if config.group_clients else []
    trainer = DpFtrlTrainer(
        examples=examples,
        client_store=grouped[0].outputs["client_store"] if grouped else None,
        baselines=config.baselines,
        privacy_budget=config.privacy_budget,
        feature_scale=config.feature_scale,
        config=config.federated_config(),
    ).with_id(TRAINER_ID)
    return [
        *grouped,
        trainer,
        *evaluate_and_report(
            examples,
            trainer.outputs["model"],
            (EVALUATOR_ID, REPORT_ID),
            num_classes=config.num_classes,
            min_accuracy=None,
        ),
    ]


def federated_branch(config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(), root: str = "") -> list:
    """The federated Ingest (id IngestFederated, first), then `dp_ftrl_training` on it."""
    ingest = federated_ingest(config, root)
    return [ingest, *dp_ftrl_training(ingest.outputs["examples"], config)]


def create_pipeline(
    root: str, config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(), enable_cache: bool = True
):
    """The DP-FTRL pipeline on federated digits, laid out under `root` (`runner.make_pipeline`)."""
    from frontier.pipelines import runner

    return runner.make_pipeline(
        PIPELINE_NAME,
        federated_branch(config, root),
        root,
        enable_cache,
        (
            *(source_parameters(config) or (parameters.source(INGEST_ID),)),
            parameters.seed(config.seed),
            *budget_parameters(config),
        ),
    )


def source_parameters(
    config: DpFtrlPipelineConfig = DpFtrlPipelineConfig(),
) -> tuple[parameters.RuntimeParam, ...]:
    """The federated Ingest's source, a runtime parameter: `population_source` (an
    NPZ like `write_population`'s) with a population; else none here (the demo's
    `source` covers that Ingest)."""
    if config.population is None:
        return ()
    return (
        parameters.RuntimeParam(
            "population_source",
            ("source",),
            (INGEST_ID,),
            "NPZ of the federated population: pixels, label, client_id, split (train/eval)",
        ),
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


def details(run: RunRecord) -> list[str]:
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


_NAMES = {
    "dp_ftrl": "DP-FTRL",
    "blt_dp_ftrl": "BLT-DP-FTRL",
    "dp_fedavg": "DP-FedAvg",
    "fedavg": "FedAvg (no privacy)",
}
# The Model's `mechanism` property is the privacy ledger's name of the mechanism.
_LEDGER_NAMES = {
    "dp_ftrl_tree_aggregation": "dp_ftrl",
    "dp_ftrl_blt": "blt_dp_ftrl",
    "dp_fedavg_gaussian": "dp_fedavg",
    "fedavg_non_private": "fedavg",
}
_PRIVATE = ("dp_ftrl", "blt_dp_ftrl", "dp_fedavg")


def _history(run: RunRecord) -> dict | None:
    """The trainer's `history.json` (every mechanism's per-round records), if on disk."""
    import json

    from frontier.components.dp_ftrl.spec import HISTORY_FILE

    for node in run.nodes:
        if node.node_id != TRAINER_ID:
            continue
        for a in node.outputs:
            path = os.path.join(a.uri, HISTORY_FILE)
            if a.key == "visualization" and os.path.exists(path):
                with open(path) as f:
                    return json.load(f)
    return None


def _series(history: dict | None, key: str) -> tuple[Series, ...]:
    """Per mechanism, `key` over the rounds where it was recorded (round numbers from 1)."""
    if not history:
        return ()
    lines = []
    for run, records in history["runs"].items():
        points = [(r["round"] + 1, r[key]) for r in records if r.get(key) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            lines.append(Series(_NAMES.get(run, run), xs, ys, baseline=run != history["mechanism"]))
    return tuple(lines)


def results(run: RunRecord) -> list[Result]:
    """Two results: the exported mechanism's eval accuracy against its baselines
    at the same privacy (bars, and accuracy over rounds), and the epsilon each
    private mechanism has spent after each round."""
    trained = run.properties(TRAINER_ID, "mechanism", "eval_accuracy").get("")
    if trained is None:
        return []
    mechanism = _LEDGER_NAMES.get(trained["mechanism"], trained["mechanism"])
    n = trained.get("eval_examples")
    name = _NAMES.get(mechanism, mechanism)
    value = trained["eval_accuracy"]
    bars = [Bar(name, value, binomial_se(value, n) if n else None)]
    pairs = []
    for b in _NAMES:
        other = trained.get(f"{b}_eval_accuracy")
        if b == mechanism or not isinstance(other, float):
            continue
        bars.append(Bar(_NAMES[b], other, binomial_se(other, n) if n else None, baseline=True))
        se = trained.get(f"{b}_accuracy_difference_se")
        pairs.append(
            Paired(name, value, _NAMES[b], other, se if isinstance(se, float) else None, n)
        )
    eps = trained.get("epsilon")
    privacy = f"epsilon {eps:.2f} (delta {trained['delta']:g})" if eps is not None else "no privacy"
    users = trained.get("clients")
    population = f" of {users:,} users" if isinstance(users, int) else ""
    private = [p for p in pairs if p.baseline_name in {_NAMES[m] for m in _PRIVATE}]
    sentence = f"User-level DP at {privacy}{population}: "
    if private:
        sentence += private[0].words() + " at the same rho"
    else:
        sentence += f"{name} {value:.3f}, with no private baseline trained to compare"
    public = [p for p in pairs if p.baseline_name == _NAMES["fedavg"]]
    if public:
        sentence += f"; without privacy, FedAvg reaches {public[0].baseline:.3f}"
    history = _history(run)
    headline = f"{name} {value:.2f}" + "".join(
        f" vs {p.baseline_name} {p.baseline:.2f}" for p in private
    )
    headline += f" at {privacy}"
    results = [
        Result(
            "DP-FTRL",
            f"{name} vs its baselines at {privacy}",
            sentence + ".",
            headline,
            bars=tuple(bars),
            series=_series(history, "eval_accuracy"),
            x_label="round",
        )
    ]
    spent = _series(history, "epsilon")
    if spent:
        results.append(
            Result(
                "DP-FTRL",
                "Privacy spent over rounds",
                f"Epsilon (delta {trained['delta']:g}) after each round, from the zCDP"
                f" account of each private mechanism; the run ends at {privacy}.",
                f"epsilon {eps:.2f}" if eps is not None else "no privacy",
                metric="epsilon",
                series=spent,
                x_label="round",
            )
        )
    return results


def outcome(run: RunRecord) -> list[str]:
    """Lines for the terminal: the figures of each comparison (`details`), then
    what the comparison shows (`results`)."""
    return details(run) + summary_lines(results(run))
