"""Names shared by the DpFtrlTrainer component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.dp_ftrl import accounting
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig  # noqa: F401
from frontier.components.trainer import spec as trainer_spec
from frontier.schemas.artifacts import ClientStore, HtmlReport, PrivacyLedger

COMPONENT_PACKAGE = "dp_ftrl"
# The model modules' loading and the serving contract are the Trainer's; the paired
# difference is evaluate's.
DEPENDS_ON = (trainer_spec.COMPONENT_PACKAGE, "evaluate")

# Inputs / outputs.
EXAMPLES_KEY = "examples"
CLIENT_STORE_KEY = "client_store"  # optional: the train split grouped by user (GroupClients)
MODEL_KEY = "model"
PRIVACY_LEDGER_KEY = "privacy_ledger"
VISUALIZATION_KEY = "visualization"

# Execution parameters: the mechanism, what to compare it with, the budget ...
MECHANISM_KEY = "mechanism"
BASELINES_KEY = "baselines"  # JSON list of mechanisms trained only for the comparison page
PRIVACY_BUDGET_KEY = "privacy_budget"  # epsilon at `delta`; 0 = no budget
FEATURE_SCALE_KEY = "feature_scale"  # a public constant the inputs are divided by
# The JAX model module (`model_module`: init and apply), as the Trainer takes its modules:
# a file or an importable module (neither: the built-in MLP), and its config.
MODULE_FILE_KEY = trainer_spec.MODULE_FILE_KEY
MODULE_PATH_KEY = trainer_spec.MODULE_PATH_KEY
CUSTOM_CONFIG_KEY = trainer_spec.CUSTOM_CONFIG_KEY  # JSON object
# ... and the fields of `FederatedConfig`, by name (the executor rebuilds the config).
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(FederatedConfig))

DP_FTRL, BLT_DP_FTRL, DP_FEDAVG, FEDAVG = "dp_ftrl", "blt_dp_ftrl", "dp_fedavg", "fedavg"
DEFAULT_MECHANISM = DP_FTRL
DEFAULT_BASELINES = (FEDAVG, DP_FEDAVG)
# The privacy ledger's (and the Model's `mechanism` property's) name of each mechanism.
LEDGER_NAMES = {
    DP_FTRL: accounting.MECHANISM_TREE,
    BLT_DP_FTRL: accounting.MECHANISM_BLT,
    DP_FEDAVG: accounting.MECHANISM_GAUSSIAN,
    FEDAVG: "fedavg_non_private",
}
NO_BUDGET = 0.0
DEFAULT_FEATURE_SCALE = 1.0

# Custom properties of the Model and the PrivacyLedger.
MECHANISM_PROPERTY = "mechanism"
RHO_PROPERTY = "rho"
EPSILON_PROPERTY = "epsilon"
DELTA_PROPERTY = "delta"
ROUNDS_RUN_PROPERTY = "rounds_run"
NOISE_MULTIPLIER_PROPERTY = "noise_multiplier"
EVAL_ACCURACY_PROPERTY = trainer_spec.EVAL_ACCURACY_PROPERTY
# Per baseline b, with an eval split: the exported run's eval accuracy minus b's
# on the same examples, and its paired standard error (`evaluate.paired_difference`).
DIFFERENCE_SE_SUFFIX = "accuracy_difference_se"
CLIENTS_PROPERTY = "clients"  # int, users (client ids) of the train split
EVAL_EXAMPLES_PROPERTY = "eval_examples"  # int, examples of the eval split
HISTORY_FILE = "history.json"  # in the visualization: every run's per-round history


def _parameter_type(field: dataclasses.Field) -> type:
    if field.name in ("hidden_units", "estimator"):
        return str
    if field.name == "restart_every":
        return int  # 0 = no restart
    return {"bool": int, "int": int, "float": float}[str(field.type)]


# How config fields travel as execution properties (TFX has int, float and str only):
# nesterov as 0/1, restart_every as 0 for "no restart", hidden_units as a JSON list.
CONFIG_TYPES = {f.name: _parameter_type(f) for f in dataclasses.fields(FederatedConfig)}


def config_to_properties(config: FederatedConfig) -> dict[str, Any]:
    """The execution properties of a `FederatedConfig` (inverse of `config_from_properties`)."""
    props = {}
    for key, kind in CONFIG_TYPES.items():
        value = getattr(config, key)
        if key == "hidden_units":
            value = json.dumps(list(value))
        elif key == "restart_every" and value is None:
            value = 0
        props[key] = kind(value)
    return props


def config_from_properties(props: dict[str, Any]) -> FederatedConfig:
    """The `FederatedConfig` that `config_to_properties` wrote (checked on construction)."""
    values = {key: props[key] for key in CONFIG_KEYS}
    values["nesterov"] = bool(values["nesterov"])
    values["restart_every"] = int(values["restart_every"]) or None
    return FederatedConfig(**values)


class DpFtrlTrainerSpec(ComponentSpec):
    """ComponentSpec of `DpFtrlTrainer` (see executor.Executor for meanings)."""

    PARAMETERS = {
        MECHANISM_KEY: ExecutionParameter(type=str),
        BASELINES_KEY: ExecutionParameter(type=str),
        PRIVACY_BUDGET_KEY: ExecutionParameter(type=float),
        FEATURE_SCALE_KEY: ExecutionParameter(type=float),
        **{key: ExecutionParameter(type=kind) for key, kind in CONFIG_TYPES.items()},
        MODULE_FILE_KEY: ExecutionParameter(type=str, optional=True),
        MODULE_PATH_KEY: ExecutionParameter(type=str, optional=True),
        CUSTOM_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    DEFAULTS = {FEATURE_SCALE_KEY: DEFAULT_FEATURE_SCALE}
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        CLIENT_STORE_KEY: ChannelParameter(type=ClientStore, optional=True),
    }
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        PRIVACY_LEDGER_KEY: ChannelParameter(type=PrivacyLedger),
        VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
