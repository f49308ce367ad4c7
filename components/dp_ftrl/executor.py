"""Executor of `DpFtrlTrainer`: check the budget, simulate, export, record the privacy spent."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from frontier.components.common import html
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import load_train_and_eval
from frontier.components.dp_ftrl import spec
from frontier.components.dp_ftrl.accounting import tree_account
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig
from frontier.components.dp_ftrl.federated import FederatedResult, train_federated
from frontier.components.dp_ftrl.model import Params, to_keras_model
from frontier.components.dp_ftrl.report import dp_ftrl_page
from frontier.components.trainer.export import save_model_artifact
from frontier.schemas.artifacts import PRIVACY_LEDGER_FILE
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    DATASET_INFO_FILE,
    EVAL_SPLIT,
    TRAIN_SPLIT,
    DatasetInfo,
)

OWNER = "DpFtrlTrainer"
PRIVACY_UNIT = "one user: every example of one client_id"


def planned_epsilon(config: FederatedConfig, mechanism: str) -> float | None:
    """Epsilon at `config.delta` of the whole run before it starts (None: not private).

    DP-FedAvg is given the tree's rho (`federated` derives its per-round noise from it),
    so both private mechanisms have the same epsilon.
    """
    if mechanism == spec.FEDAVG or config.noise_multiplier == 0:
        return None
    return tree_account(
        config.noise_multiplier,
        config.rounds,
        config.max_participations,
        config.min_separation,
        config.delta,
        restart_every=config.restart_every,
    ).epsilon


def scaled_export(params: Params, feature_scale: float) -> Params:
    """Parameters trained on `x / feature_scale` as parameters of the same MLP on `x`:
    the first layer's kernel divided by the scale (so the model serves raw inputs)."""
    first = {**params[0], "kernel": np.asarray(params[0]["kernel"]) / feature_scale}
    return [first, *params[1:]]


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
            column="feature_scale",
            expected="a positive constant (a public bound on the features, e.g. 16 for digits)",
        )
    for name, value in [("mechanism", mechanism), *(("baselines", b) for b in baselines)]:
        if value not in MECHANISMS:
            raise InputError(f"{name} {value!r}", column=name, expected=" or ".join(MECHANISMS))
    if not isinstance(privacy_budget, (int, float)) or privacy_budget < 0:
        raise InputError(
            f"privacy_budget = {privacy_budget!r}",
            column="privacy_budget",
            expected="an epsilon > 0, or 0 for no budget",
        )
    if privacy_budget == spec.NO_BUDGET:
        return
    epsilon = planned_epsilon(config, mechanism)
    if epsilon is None:
        raise InputError(
            f"mechanism {mechanism!r} with noise multiplier {config.noise_multiplier} is not "
            f"differentially private, but a privacy budget of epsilon {privacy_budget} is set",
            column="privacy_budget",
            expected="a private mechanism (dp_ftrl, dp_fedavg) with noise, or no budget",
        )
    if epsilon > privacy_budget:
        raise InputError(
            f"this configuration would reach epsilon {epsilon:.3f} at delta {config.delta:g}, "
            f"over the privacy budget of {privacy_budget:g} (noise multiplier "
            f"{config.noise_multiplier}, {config.rounds} rounds, at most "
            f"{config.max_participations} participations, min separation "
            f"{config.min_separation})",
            column="privacy_budget",
            expected="more noise, fewer rounds or participations, or a larger budget "
            "(`frontier privacy --target-epsilon` calibrates the noise)",
        )


class Executor(base_executor.BaseExecutor):
    """Simulates user-level private federated training and exports the model.

    Inputs:
      examples: frontier `Examples` with a `client_id` column and a non-empty
        `train` split (each distinct client id is one user); an `eval` split,
        when present, is scored every `eval_every` rounds (its client ids are
        not used).

    Outputs:
      model: `Model` with the Trainer's layout and serving contract (the MLP
        of `trainer.model.build_model`, weights from the simulation, no input
        standardisation: statistics of the clients' data would not be covered
        by the guarantee). Custom properties `mechanism`, `rho`, `epsilon`,
        `delta`, `rounds_run`, `noise_multiplier`, `eval_accuracy`, and
        `<baseline>_eval_accuracy` per baseline.
      privacy_ledger: `PrivacyLedger` (`privacy_ledger.json`; the same
        custom properties). Epsilon and rho are omitted for FedAvg.
      visualization: `HtmlReport`: the ledger, eval accuracy and epsilon over
        rounds for the run and each baseline, and a comparison table.

    Parameters:
      mechanism: `dp_ftrl`, `dp_fedavg` or `fedavg` (the run exported).
      baselines: JSON list of mechanisms trained as well, on the same data,
        schedule seed and rho, for the comparison page only.
      privacy_budget: epsilon at `delta` that the run may not exceed (0: none);
        checked before training starts.
      feature_scale: inputs are divided by this constant for training (a
        public bound such as 16 for digits pixels, not computed from the
        clients' data, so the guarantee holds); the exported model takes raw
        inputs (the scale is folded into its first layer).
      the fields of `federated.FederatedConfig` (nesterov as 0/1,
        restart_every 0 for none, hidden_units as a JSON list).
      component_version: code version (cache key only; not read).
    """

    def Do(  # noqa: N802 - TFX's name
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model_artifact = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        ledger_artifact = artifact_utils.get_single_instance(output_dict[spec.PRIVACY_LEDGER_KEY])
        report = artifact_utils.get_single_instance(output_dict[spec.VISUALIZATION_KEY])
        mechanism = str(exec_properties[spec.MECHANISM_KEY])
        baselines = [b for b in json.loads(exec_properties[spec.BASELINES_KEY]) if b != mechanism]
        budget = float(exec_properties[spec.PRIVACY_BUDGET_KEY])
        config = spec.config_from_properties(exec_properties)
        scale = float(exec_properties.get(spec.FEATURE_SCALE_KEY) or spec.DEFAULT_FEATURE_SCALE)
        check_parameters(mechanism, baselines, budget, config, scale)

        info = DatasetInfo.read(examples.uri)
        if not info.has(CLIENT_ID_KEY):
            raise InputError(
                "the examples have no 'client_id' column",
                file=os.path.join(examples.uri, DATASET_INFO_FILE),
                column=CLIENT_ID_KEY,
                expected="examples with a client_id per user (Ingest's client_id_column, "
                "or its client_partition for data without one)",
            )
        data = load_train_and_eval(examples, info, OWNER)
        train = data[TRAIN_SPLIT]
        eval_data = None
        if EVAL_SPLIT in data:
            eval_data = (data[EVAL_SPLIT]["x"] / scale, data[EVAL_SPLIT]["label"])

        runs: dict[str, FederatedResult] = {}
        for run in [mechanism, *baselines]:
            logging.info("%s: %s, %d rounds of %d clients", OWNER, run, config.rounds,
                         config.clients_per_round)  # fmt: skip
            runs[run] = train_federated(
                train["x"] / scale,
                train["label"],
                train[CLIENT_ID_KEY],
                config,
                run,
                eval_data,
                on_round=_progress(run, config.rounds),
                num_classes=info.num_classes,
            )
        result = runs[mechanism]

        keras_model = to_keras_model(scaled_export(result.params, scale))
        save_model_artifact(keras_model, info, model_artifact.uri)
        ledger = self._ledger(result, mechanism, budget, info)
        import tensorflow as tf  # gfile: the artifact may live on gs://

        tf.io.gfile.makedirs(ledger_artifact.uri)
        with tf.io.gfile.GFile(os.path.join(ledger_artifact.uri, PRIVACY_LEDGER_FILE), "w") as f:
            f.write(json.dumps(ledger, indent=2))
        for artifact in (model_artifact, ledger_artifact):
            artifact.set_string_custom_property(spec.MECHANISM_PROPERTY, ledger["mechanism"])
            artifact.set_float_custom_property(spec.DELTA_PROPERTY, config.delta)
            artifact.set_int_custom_property(spec.ROUNDS_RUN_PROPERTY, ledger["rounds_run"])
            artifact.set_float_custom_property(
                spec.NOISE_MULTIPLIER_PROPERTY, result.noise.noise_multiplier
            )
            if ledger["epsilon"] is not None:
                artifact.set_float_custom_property(spec.EPSILON_PROPERTY, ledger["epsilon"])
                artifact.set_float_custom_property(spec.RHO_PROPERTY, ledger["rho"])
        final_accuracy = _final(result.history, "eval_accuracy")
        if final_accuracy is not None:
            model_artifact.set_float_custom_property(spec.EVAL_ACCURACY_PROPERTY, final_accuracy)
        for run in baselines:  # for `frontier run dp_ftrl`'s summary line
            accuracy = _final(runs[run].history, "eval_accuracy")
            if accuracy is not None:
                model_artifact.set_float_custom_property(
                    f"{run}_{spec.EVAL_ACCURACY_PROPERTY}", accuracy
                )

        finals = {
            run: {
                "eval_accuracy": _final(r.history, "eval_accuracy"),
                "epsilon": r.noise.epsilon,
                "noise_multiplier": r.noise.noise_multiplier,
            }
            for run, r in runs.items()
        }
        title = f"{OWNER}: {mechanism}"
        if ledger["epsilon"] is not None:
            title += f", epsilon {ledger['epsilon']:.2f}"
        html.write_report(
            report,
            title,
            dp_ftrl_page(
                ledger,
                {run: r.history for run, r in runs.items()},
                finals,
                subtitle=f"data: {info.source or examples.uri}",
            ),
        )

    @staticmethod
    def _ledger(
        result: FederatedResult, mechanism: str, budget: float, info: DatasetInfo
    ) -> dict[str, Any]:
        noise, c = result.noise, result.config
        return {
            "mechanism": {
                spec.DP_FTRL: "dp_ftrl_tree_aggregation",
                spec.DP_FEDAVG: "dp_fedavg_gaussian",
                spec.FEDAVG: "fedavg_non_private",
            }[mechanism],
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
            },
            "epsilon_per_round": [h["epsilon"] for h in result.history],
            "short_rounds": [int(r) for r in result.short_rounds],
        }


def _final(history: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [h[key] for h in history if h.get(key) is not None]
    return float(values[-1]) if values else None


def _progress(run: str, rounds: int):
    step = max(1, rounds // 10)

    def on_round(record: dict[str, Any]) -> None:
        t = record["round"] + 1
        if t % step == 0 or t == rounds:
            acc = record.get("eval_accuracy")
            eps = record.get("epsilon")
            logging.info(
                "%s %s: round %d/%d%s%s",
                OWNER,
                run,
                t,
                rounds,
                "" if acc is None else f", eval accuracy {acc:.4f}",
                "" if eps is None else f", epsilon {eps:.3f}",
            )

    return on_round
