"""Executor of `DpFtrlTrainer`: check the budget and the model module, simulate, export
(jax2tf, checked against JAX), record the privacy spent."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.common import html, progress
from frontier.components.common.errors import InputError
from frontier.components.common.executor import (
    ComponentExecutor,
    Job,
    LabelledSplits,
    load_labelled_splits,
    publish_model,
    set_properties,
    source_of,
)
from frontier.components.common.scores import cross_entropy_and_accuracy
from frontier.components.dp_ftrl import spec
from frontier.components.dp_ftrl.client_store import INDEX_FILE, ClientStore, ScaledClientSource
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig
from frontier.components.dp_ftrl.export import jax_probabilities, save_model_artifact
from frontier.components.dp_ftrl.federated import (
    FederatedResult,
    run_account,
    train_federated,
    train_federated_source,
)
from frontier.components.dp_ftrl.model_module import JaxModel, load_model
from frontier.components.dp_ftrl.report import dp_ftrl_page
from frontier.schemas.artifacts import PRIVACY_LEDGER_FILE
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    DATASET_INFO_FILE,
    EVAL_SPLIT,
    LABEL_KEY,
    TRAIN_SPLIT,
    DatasetInfo,
)

OWNER = "DpFtrlTrainer"
PRIVACY_UNIT = "one user: every example of one client_id"


def planned_epsilon(config: FederatedConfig, mechanism: str) -> float | None:
    """Epsilon at `config.delta` of the whole run before it starts (None: not private).

    The run's own account (`federated.run_account`): BLT-DP-FTRL and DP-FedAvg are given
    the tree's rho (their noise is derived from it), so every private mechanism has the
    same epsilon.
    """
    privacy = run_account(config, mechanism)  # the account the run itself reports
    return None if privacy is None else privacy.epsilon


def check_parameters(
    mechanism: str,
    baselines: Sequence[str],
    privacy_budget: float,
    config: FederatedConfig,
    feature_scale: float = spec.DEFAULT_FEATURE_SCALE,
) -> None:
    """Raises `InputError` for a bad mechanism, baseline or budget, or a run over budget.

    The budget is checked against the accountant before any training: a
    configuration that would exceed it is refused with the epsilon it would reach.
    """
    if not isinstance(feature_scale, (int, float)) or not feature_scale > 0:
        raise InputError(
            f"feature_scale = {feature_scale!r}",
            parameter="feature_scale",
            expected="a positive constant (a public bound on the features, e.g. 16 for digits)",
        )
    for name, value in [("mechanism", mechanism), *(("baselines", b) for b in baselines)]:
        if value not in MECHANISMS:
            raise InputError(f"{name} {value!r}", parameter=name, expected=" or ".join(MECHANISMS))
    if not isinstance(privacy_budget, (int, float)) or privacy_budget < 0:
        raise InputError(
            f"privacy_budget = {privacy_budget!r}",
            parameter="privacy_budget",
            expected="an epsilon > 0, or 0 for no budget",
        )
    if privacy_budget == spec.NO_BUDGET:
        return
    epsilon = planned_epsilon(config, mechanism)
    if epsilon is None:
        raise InputError(
            f"mechanism {mechanism!r} with noise multiplier {config.noise_multiplier} is not "
            f"differentially private, but a privacy budget of epsilon {privacy_budget} is set",
            parameter="privacy_budget",
            expected="a private mechanism (dp_ftrl, blt_dp_ftrl, dp_fedavg) with noise, "
            "or no budget",
        )
    if epsilon > privacy_budget:
        raise InputError(
            f"this configuration would reach epsilon {epsilon:.3f} at delta {config.delta:g}, "
            f"over the privacy budget of {privacy_budget:g} (noise multiplier "
            f"{config.noise_multiplier}, {config.rounds} rounds, at most "
            f"{config.max_participations} participations, min separation "
            f"{config.min_separation})",
            parameter="privacy_budget",
            expected="more noise, fewer rounds or participations, or a larger budget "
            "(`frontier privacy --target-epsilon` calibrates the noise)",
        )


class Executor(ComponentExecutor):
    """Simulates user-level private federated training and exports the model.

    Inputs:
      examples: frontier `Examples` with a `client_id` column and a non-empty
        `train` split (each distinct client id is one user); an `eval` split,
        when present, is scored every `eval_every` rounds (its client ids are
        not used).
      client_store: optional `ClientStore` of the train split (`GroupClients`):
        the rounds read their clients from it and the train split of
        `examples` is not loaded (memory independent of the number of users);
        the train metrics are computed in one pass over it.

    Outputs:
      model: `Model` with the Trainer's serving contract (`dp_ftrl.export`:
        the module's `apply` converted by jax2tf, a softmax on its logits, the
        feature scale folded in, no input standardisation: statistics of the
        clients' data would not be covered by the guarantee), checked to agree
        with JAX on the eval split (the train split without one) before it is
        published. Custom properties `mechanism`, `rho`, `epsilon`,
        `delta`, `rounds_run`, `noise_multiplier`, `clients`; `train_accuracy`,
        `eval_accuracy`, `eval_loss` of the exported model (every frontier
        Model's; the eval ones with an eval split; the train split's accuracy
        is a simulation's statistic of the clients' data, not covered by the
        guarantee); `<baseline>_eval_accuracy` per baseline (its last
        evaluated round); with an eval split, `eval_examples` and, per
        baseline, `<baseline>_accuracy_difference_se` (the standard error of
        the exported run's eval accuracy minus the baseline's, paired on
        the same examples).
      privacy_ledger: `PrivacyLedger` (`privacy_ledger.json`; the privacy
        custom properties). Epsilon and rho are omitted for FedAvg.
      visualization: `HtmlReport`: the ledger, eval accuracy and epsilon over
        rounds for the run and each baseline, and a comparison table; and
        `history.json` (`{"mechanism": ..., "runs": {run: per-round records}}`).

    Parameters:
      mechanism: `dp_ftrl`, `blt_dp_ftrl`, `dp_fedavg` or `fedavg` (the run exported).
      baselines: JSON list of mechanisms trained as well, on the same data,
        schedule seed and rho, for the comparison page only.
      privacy_budget: epsilon at `delta` that the run may not exceed (0: none);
        checked before training starts.
      feature_scale: inputs are divided by this constant for training (a
        public bound such as 16 for digits pixels, not computed from the
        clients' data, so the guarantee holds); the exported model takes raw
        inputs (it divides them by the scale itself).
      module_file, module_path: the JAX model module (`model_module`: `init`
        and `apply`), else the built-in MLP with `hidden_units`; loaded and
        checked on a probe batch before any training.
      custom_config: the module's config, a JSON object (None: {}).
      the fields of `config.FederatedConfig` (nesterov as 0/1,
        restart_every 0 for none, hidden_units as a JSON list).
      component_version: code version (cache key only; not read).
    """

    SPEC_CLASS = spec.DpFtrlTrainerSpec

    def run(self, job: Job) -> None:
        p = job.params
        mechanism, budget = p[spec.MECHANISM_KEY], p[spec.PRIVACY_BUDGET_KEY]
        baselines = [b for b in json.loads(p[spec.BASELINES_KEY]) if b != mechanism]
        config = spec.config_from_properties(p)
        scale = p[spec.FEATURE_SCALE_KEY]
        check_parameters(mechanism, baselines, budget, config, scale)
        model = load_model(
            p.get(spec.MODULE_FILE_KEY),
            p.get(spec.MODULE_PATH_KEY),
            p.get(spec.CUSTOM_CONFIG_KEY),
            hidden_units=config.hidden_units,
        )
        store = _store(job.optional_input(spec.CLIENT_STORE_KEY))
        data = _load(job.input(spec.EXAMPLES_KEY), train=store is None)
        _check_store(store, data, job.optional_input(spec.CLIENT_STORE_KEY))
        # A bad module fails here, before any training or writing.
        model.check((data.info.input_dim,), data.info.num_classes)
        progress.detail("%s: model module %s, config %s", OWNER, model.name, dict(model.config))
        runs = {
            run: _simulate(data, config, run, scale, job.node, model, store)
            for run in [mechanism, *baselines]
        }
        result = runs[mechanism]
        ledger = _ledger(result, mechanism, budget)
        model_artifact = job.output(spec.MODEL_KEY)
        check_split, check_x = _check_inputs(data, store)
        publish_model(
            model_artifact,
            functools.partial(
                save_model_artifact,
                result.apply,
                result.params,
                data.info,
                check_x=check_x,
                name=model.name,
                check_split=check_split,
                **_serving(result, scale),
            ),
            _split_metrics(result, data, scale, store),
            {
                **_privacy_properties(ledger, result),
                **_baseline_properties(runs, baselines),
                **_paired_properties(runs, mechanism, baselines, data, scale),
            },
            OWNER,
        )
        ledger_artifact = job.output(spec.PRIVACY_LEDGER_KEY)
        _write_ledger(ledger_artifact.uri, ledger)
        set_properties(ledger_artifact, _privacy_properties(ledger, result))
        title = f"{OWNER}: {mechanism}"
        if ledger["epsilon"] is not None:
            title += f", epsilon {ledger['epsilon']:.2f}"
        document = dp_ftrl_page(
            ledger,
            {run: r.history for run, r in runs.items()},
            {run: _finals(r) for run, r in runs.items()},
            subtitle=source_of(data.info, data.uri),
        )
        visualization = job.output(spec.VISUALIZATION_KEY)
        html.write_report(visualization, title, document)
        _write_json(
            os.path.join(visualization.uri, spec.HISTORY_FILE),
            {"mechanism": mechanism, "runs": {run: r.history for run, r in runs.items()}},
        )


def _load(examples: Any, train: bool = True) -> LabelledSplits:
    """The splits (`train=False`: only eval, the train split being read from a client
    store); the examples must say which user each example belongs to."""
    info = DatasetInfo.read(examples.uri)
    if not info.has(CLIENT_ID_KEY):
        raise InputError(
            "the examples have no 'client_id' column",
            file=os.path.join(examples.uri, DATASET_INFO_FILE),
            column=CLIENT_ID_KEY,
            expected="examples with a client_id per user (Ingest's client_id_column, "
            "or its client_partition for data without one)",
        )
    return load_labelled_splits(examples, LABEL_KEY, OWNER, train=train)


def _store(artifact: Any | None) -> ClientStore | None:
    """The `ClientStore` artifact opened (None: none given)."""
    return None if artifact is None else ClientStore(artifact.uri)


def _check_store(store: ClientStore | None, data: LabelledSplits, artifact: Any) -> None:
    """A store must hold the examples' features and label space."""
    if store is None:
        return
    if store.input_dim != data.info.input_dim or store.num_classes > data.info.num_classes:
        raise InputError(
            f"the client store holds {store.input_dim} features and labels up to "
            f"{store.num_classes - 1}",
            file=os.path.join(artifact.uri, INDEX_FILE),
            parameter=spec.CLIENT_STORE_KEY,
            expected=f"{data.info.input_dim} features and labels below "
            f"{data.info.num_classes}, as the examples (GroupClients of the same examples)",
        )


def _check_inputs(data: LabelledSplits, store: ClientStore | None) -> tuple[str, np.ndarray]:
    """(split, raw inputs) the export is checked on: the eval split, else the train
    split (from the store: its first clients, up to `_STORE_CHECK_CLIENTS`)."""
    if data.eval is not None:
        return EVAL_SPLIT, data.xy(EVAL_SPLIT)[0]
    if store is None:
        return TRAIN_SPLIT, data.xy(TRAIN_SPLIT)[0]
    first = np.arange(min(store.num_clients, _STORE_CHECK_CLIENTS), dtype=np.int64)
    return TRAIN_SPLIT, store.read(first).x


_STORE_CHECK_CLIENTS = 256
_STORE_METRIC_CLIENTS = 10_000  # clients per read of the train metrics' pass over a store


def _simulate(
    data: LabelledSplits,
    config: FederatedConfig,
    run: str,
    scale: float,
    node: str = "",
    model: JaxModel | None = None,
    store: ClientStore | None = None,
) -> FederatedResult:
    """`train_federated` of one mechanism on the train split's clients, inputs divided by
    `scale`; the eval split scored along the way; rounds shown as progress under
    `node` (the pipeline node's id, default the component's name) and `run`; `model` the
    JAX model module (None: the built-in MLP of `config.hidden_units`); with `store`,
    `train_federated_source` reads the clients from it round by round."""
    name = f"{node or OWNER} {run}"
    progress.detail("%s: %d rounds of %d clients", name, config.rounds, config.clients_per_round)
    eval_data = None
    if data.eval is not None:
        eval_x, eval_y = data.xy(EVAL_SPLIT)
        eval_data = (eval_x / scale, eval_y)
    with progress.Progress(name, config.rounds, "round") as shown:
        rest = dict(
            on_round=_round_progress(shown, run, config.rounds),
            num_classes=data.info.num_classes,
            model=model,
        )
        if store is not None:
            source = ScaledClientSource(store, scale)
            return train_federated_source(source, config, run, eval_data, **rest)
        x, y = data.xy(TRAIN_SPLIT)
        ids = data.train[CLIENT_ID_KEY]
        return train_federated(x / scale, y, ids, config, run, eval_data, **rest)


def _serving(result: FederatedResult, scale: float) -> dict[str, Any]:
    """The keywords of `export.serving_probabilities` for a run trained on x / scale."""
    return {
        "feature_scale": scale,
        "input_mean": result.input_mean,
        "input_var": result.input_var,
    }


def _split_metrics(
    result: FederatedResult, data: LabelledSplits, scale: float, store: ClientStore | None = None
) -> dict[str, dict[str, Any]]:
    """Loss and accuracy per split of the exported model's probabilities on the raw inputs
    (computed by JAX, which the export is checked to agree with), as
    `executor.keras_split_metrics` gives them for a Keras model; the train split of a
    `store` in one pass over its clients, `_STORE_METRIC_CLIENTS` at a time."""
    serving = _serving(result, scale)
    metrics = {}
    for split in data.splits:
        x, y = data.xy(split)
        loss, accuracy = cross_entropy_and_accuracy(
            jax_probabilities(result.apply, result.params, x, **serving), y
        )
        metrics[split] = {"examples": len(y), "loss": loss, "accuracy": accuracy}
    if store is not None:
        examples, loss_sum, correct = 0, 0.0, 0.0
        for start in range(0, store.num_clients, _STORE_METRIC_CLIENTS):
            stop = min(start + _STORE_METRIC_CLIENTS, store.num_clients)
            batch = store.read(np.arange(start, stop, dtype=np.int64))
            if not batch.y.size:
                continue
            probabilities = jax_probabilities(result.apply, result.params, batch.x, **serving)
            loss, accuracy = cross_entropy_and_accuracy(probabilities, batch.y)
            examples += batch.y.size
            loss_sum += loss * batch.y.size
            correct += accuracy * batch.y.size
        metrics[TRAIN_SPLIT] = {
            "examples": examples,
            "loss": loss_sum / examples,
            "accuracy": correct / examples,
        }
    return {split: {**m, "labels": data.label_key} for split, m in metrics.items()}


def _privacy_properties(ledger: Mapping[str, Any], result: FederatedResult) -> dict[str, Any]:
    """The custom properties the Model and the PrivacyLedger share (no epsilon or rho
    for a mechanism that is not private)."""
    properties = {
        spec.MECHANISM_PROPERTY: ledger["mechanism"],
        spec.DELTA_PROPERTY: float(result.config.delta),
        spec.ROUNDS_RUN_PROPERTY: int(ledger["rounds_run"]),
        spec.NOISE_MULTIPLIER_PROPERTY: float(result.noise.noise_multiplier),
        spec.CLIENTS_PROPERTY: int(ledger["clients"]),
    }
    if ledger["epsilon"] is not None:
        properties[spec.EPSILON_PROPERTY] = float(ledger["epsilon"])
        properties[spec.RHO_PROPERTY] = float(ledger["rho"])
    return properties


def _baseline_properties(
    runs: Mapping[str, FederatedResult], baselines: Sequence[str]
) -> dict[str, float | None]:
    """`<baseline>_eval_accuracy` of each baseline (for `frontier run dp_ftrl`'s summary)."""
    return {
        f"{run}_{spec.EVAL_ACCURACY_PROPERTY}": _final(runs[run].history, "eval_accuracy")
        for run in baselines
    }


def _paired_properties(
    runs: Mapping[str, FederatedResult],
    mechanism: str,
    baselines: Sequence[str],
    data: LabelledSplits,
    scale: float,
) -> dict[str, float | int]:
    """`eval_examples` and, per baseline b, `<b>_accuracy_difference_se`: the standard
    error of the exported run's eval accuracy minus b's, paired on the same eval
    examples (so a summary can say whether the mechanisms differ beyond the noise
    of the eval set; the spread over seeds is the benchmark's). Empty without an
    eval split."""
    from frontier.components.evaluate import paired_difference

    if data.eval is None:
        return {}
    x, y = data.xy(EVAL_SPLIT)
    x = x / scale
    correct = runs[mechanism].correct(x, y)
    properties: dict[str, float | int] = {spec.EVAL_EXAMPLES_PROPERTY: int(len(y))}
    for run in baselines:
        _, se = paired_difference(correct, runs[run].correct(x, y))
        properties[f"{run}_{spec.DIFFERENCE_SE_SUFFIX}"] = se
    return properties


def _write_json(path: str, value: Any, indent: int | None = None) -> None:
    """`value` as JSON at `path`, its folder made first (gfile: the artifact may
    live on gs://)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=indent))


def _finals(result: FederatedResult) -> dict[str, float | None]:
    """A run's last eval accuracy, its epsilon and noise multiplier, for the page."""
    return {
        "eval_accuracy": _final(result.history, "eval_accuracy"),
        "epsilon": result.noise.epsilon,
        "noise_multiplier": result.noise.noise_multiplier,
    }


def _write_ledger(uri: str, ledger: Mapping[str, Any]) -> None:
    """`privacy_ledger.json` in the ledger artifact's folder."""
    _write_json(os.path.join(uri, PRIVACY_LEDGER_FILE), ledger, indent=2)


def _ledger(result: FederatedResult, mechanism: str, budget: float) -> dict[str, Any]:
    """The privacy ledger of a run: what was spent, by which mechanism, with what noise."""
    noise, c = result.noise, result.config
    return {
        "mechanism": spec.LEDGER_NAMES[mechanism],
        "privacy_unit": PRIVACY_UNIT,
        "rho": noise.rho,
        "epsilon": noise.epsilon,
        "delta": c.delta,
        "rounds_run": len(result.history),
        "clients": int(len(result.client_ids)),
        "privacy_budget": budget or None,
        "parameters": {
            "noise_multiplier": noise.noise_multiplier,
            "tree_noise_multiplier": noise.tree_noise_multiplier,
            "clip": c.clip,
            "rounds": c.rounds,
            "clients_per_round": c.clients_per_round,
            "max_participations": c.max_participations,
            "min_separation": c.min_separation,
            "restart_every": c.restart_every,
            "estimator": noise.estimator,
            # BLT-DP-FTRL's buffers: with the parameters above they fix its noise.
            **({"blt": noise.blt} if noise.blt is not None else {}),
        },
        "epsilon_per_round": [h["epsilon"] for h in result.history],
        "short_rounds": [int(r) for r in result.short_rounds],
    }


def _final(history: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [h[key] for h in history if h.get(key) is not None]
    return float(values[-1]) if values else None


def _round_progress(shown: progress.Progress, run: str, rounds: int):
    """`on_round` for `train_federated`: each round advances `shown`, with the
    eval accuracy and epsilon so far; every tenth is also a detail line."""
    every = max(1, rounds // 10)

    def on_round(record: dict[str, Any]) -> None:
        t = record["round"] + 1
        acc, eps = record.get("eval_accuracy"), record.get("epsilon")
        metrics = {k: float(v) for k, v in (("accuracy", acc), ("epsilon", eps)) if v is not None}
        shown.update(1, **metrics)
        if t % every == 0 or t == rounds:
            progress.detail(
                "%s: round %d/%d%s%s",
                shown.desc,
                t,
                rounds,
                "" if acc is None else f", eval accuracy {acc:.4f}",
                "" if eps is None else f", epsilon {eps:.3f}",
            )

    return on_round
