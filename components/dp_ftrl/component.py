"""The `DpFtrlTrainer` TFX component: a thin wrapper around `federated.train_federated`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.dp_ftrl import spec
from frontier.components.dp_ftrl.config import FederatedConfig
from frontier.components.dp_ftrl.executor import Executor, check_parameters
from frontier.components.dp_ftrl.model_module import check_module_file
from frontier.components.trainer.modules import (
    module_parameters,
    package_module_file,
    with_module_version,
)
from frontier.schemas.artifacts import HtmlReport, PrivacyLedger


class DpFtrlTrainer(base_component.BaseComponent):
    """Trains a JAX model by simulated federated learning with user-level DP.

    DP-FTRL (Kairouz et al., ICML 2021): each round, `clients_per_round`
    clients run local SGD from the global model; their model deltas are
    clipped and summed, the sums are aggregated in a binary tree with
    Gaussian noise per node, and the server takes FTRL steps with momentum
    on the noisy prefix sums. No sampling or shuffling is assumed: the
    guarantee (rho-zCDP, and epsilon at delta) comes from the participation
    limits (`max_participations`, `min_separation`) alone. `mechanism` may
    instead be `blt_dp_ftrl` (BLT matrix-factorization noise, same rho), `dp_fedavg`
    (fresh noise each round, same rho) or `fedavg`
    (not private); `baselines` are trained alongside for the comparison page.

    A `privacy_budget` (epsilon at `delta`) is checked when the component is
    built and again before training: a configuration that would exceed it is
    refused with the epsilon it would reach.

    The model is a JAX model module (`module_file` / `module_path` with
    `init(rng, input_shape, num_classes, config)` and `apply(params, x)`, see
    `dp_ftrl.model_module`), by default the built-in MLP with `hidden_units`.

    Outputs: `model` (the Trainer's SavedModel layout and serving contract,
    exported with jax2tf and checked against JAX, so the stock Evaluator and
    Pusher take it), `privacy_ledger` (`PrivacyLedger` JSON; epsilon, rho
    and delta also as MLMD properties of both artifacts) and `visualization`.

    Each round is sharded over the local JAX devices of the executor's
    process. On a host without an accelerator, give that process one
    single-threaded device per core (`dp_ftrl.use_cpu_cores()` before its
    first JAX computation, or `dp_ftrl.cpu_device_environment()`'s variables
    in its container's environment; see `dp_ftrl.host_devices`): JAX's
    default is one CPU device.

    Example:
      ingest = Ingest(source="sklearn:digits", client_partition="dirichlet", num_clients=100)
      trainer = DpFtrlTrainer(examples=ingest.outputs["examples"], rounds=200,
                              clients_per_round=20, max_participations=40, min_separation=5,
                              noise_multiplier=1.0, privacy_budget=10.0)
      user = DpFtrlTrainer(examples=ingest.outputs["examples"], module_file="my_model.py",
                           custom_config={"hidden": 64}, rounds=200, ...)
    """

    SPEC_CLASS = spec.DpFtrlTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        *,
        client_store: types.BaseChannel | None = None,
        mechanism: str = spec.DEFAULT_MECHANISM,
        baselines: Sequence[str] = spec.DEFAULT_BASELINES,
        privacy_budget: float | None = None,
        feature_scale: float = spec.DEFAULT_FEATURE_SCALE,
        module_file: str | None = None,
        module_path: str | None = None,
        custom_config: dict | str | None = None,
        config: FederatedConfig | None = None,
        **config_fields,
    ) -> None:
        """Builds the component; invalid parameters and budgets fail here.

        Args:
          examples: channel of frontier `Examples` with `client_id`.
          client_store: optional channel of the `ClientStore` of the examples'
            train split (`GroupClients`): each round then reads only its
            clients from it, so memory does not grow with the number of
            users; only the eval split of `examples` is loaded.
          mechanism: `dp_ftrl`, `blt_dp_ftrl`, `dp_fedavg` or `fedavg`: the run exported.
          baselines: mechanisms also trained for the comparison page (the
            exported one is skipped if listed).
          privacy_budget: epsilon at `delta` not to exceed (None: no budget).
          feature_scale: a public constant the inputs are divided by for
            training, e.g. 16 for digits pixels (not a statistic of the
            clients' data, which the guarantee would not cover); the
            exported model takes raw inputs.
          module_file: a Python file with the JAX model module's `init` and
            `apply` (`dp_ftrl.model_module`); the TFX runner packages it with
            the pipeline, as the stock Trainer's. Replaces the built-in MLP
            (and `hidden_units`). Its source is part of the cache key: editing
            it re-runs the step.
          module_path: an importable `package.module` with them instead (one
            of the two).
          custom_config: the module's config, a dict or JSON object.
          config: a `config.FederatedConfig`; default its defaults.
          **config_fields: fields of `FederatedConfig` to override, e.g.
            `rounds=200, noise_multiplier=1.2`.

        Raises:
          InputError: for an invalid parameter, or a run over budget.
        """
        config = dataclasses.replace(config or FederatedConfig(), **config_fields)
        budget = spec.NO_BUDGET if privacy_budget is None else float(privacy_budget)
        baselines = list(baselines)
        check_parameters(mechanism, baselines, budget, config, feature_scale)
        check_module_file(module_file, module_path)
        module = module_parameters(module_file, module_path, custom_config)
        component_spec = spec.DpFtrlTrainerSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.CLIENT_STORE_KEY: client_store,
                spec.MECHANISM_KEY: mechanism,
                spec.BASELINES_KEY: json.dumps(baselines),
                spec.PRIVACY_BUDGET_KEY: budget,
                spec.FEATURE_SCALE_KEY: float(feature_scale),
                **spec.config_to_properties(config),
                **module,
                COMPONENT_VERSION_KEY: with_module_version(
                    code_version(spec.COMPONENT_PACKAGE, *spec.DEPENDS_ON), module
                ),
                spec.MODEL_KEY: types.Channel(type=standard_artifacts.Model),
                spec.PRIVACY_LEDGER_KEY: types.Channel(type=PrivacyLedger),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
        package_module_file(self)
