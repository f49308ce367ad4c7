"""The DpFtrlTrainer: budget checked at construction, the executor run directly."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import TINY_FEDERATED, examples_artifact, federated_examples, run_executor

from frontier.components.common.errors import InputError


def _run(
    tmp_path,
    examples_uri: str,
    mechanism="dp_ftrl",
    baselines=("fedavg",),
    budget=0.0,
    config=TINY_FEDERATED,
):
    """The executor's outputs (key -> artifact) after a run on `examples_uri`."""
    from frontier.components.dp_ftrl import FederatedConfig, spec
    from frontier.components.dp_ftrl.executor import Executor

    params = {
        spec.MECHANISM_KEY: mechanism,
        spec.BASELINES_KEY: json.dumps(list(baselines)),
        spec.PRIVACY_BUDGET_KEY: budget,
        spec.FEATURE_SCALE_KEY: 16.0,
        **spec.config_to_properties(FederatedConfig(**config)),
    }
    examples = {spec.EXAMPLES_KEY: examples_artifact(examples_uri)}
    return run_executor(Executor, tmp_path / mechanism, examples, params)


def test_trains_exports_and_records_the_privacy_spent(tmp_path, digits_examples_uri):
    from frontier.components.dp_ftrl import spec, tree_account
    from frontier.components.trainer import predict_examples
    from frontier.schemas.artifacts import HTML_FILE_NAME, PRIVACY_LEDGER_FILE

    uri = federated_examples(tmp_path, digits_examples_uri)
    out = _run(tmp_path, uri, baselines=("fedavg", "dp_fedavg"))
    model, ledger_artifact = out[spec.MODEL_KEY], out[spec.PRIVACY_LEDGER_KEY]
    with open(os.path.join(ledger_artifact.uri, PRIVACY_LEDGER_FILE)) as f:
        ledger = json.load(f)
    want = tree_account(1.0, 6, 2, 2, 1e-5)
    assert ledger["mechanism"] == "dp_ftrl_tree_aggregation"
    assert ledger["rho"] == pytest.approx(want.rho) and ledger["epsilon"] == pytest.approx(
        want.epsilon
    )
    assert ledger["rounds_run"] == 6 and len(ledger["epsilon_per_round"]) == 6
    assert ledger["epsilon_per_round"][-1] == pytest.approx(want.epsilon)
    assert ledger["clients"] == 20
    for artifact in (model, ledger_artifact):
        assert artifact.get_float_custom_property(spec.EPSILON_PROPERTY) == pytest.approx(
            want.epsilon
        )
        assert artifact.get_string_custom_property(spec.MECHANISM_PROPERTY) == (
            "dp_ftrl_tree_aggregation"
        )
    # The Trainer's serving contract: the stock Evaluator and Pusher can take it.
    preds = predict_examples(model.uri, uri, "eval")
    assert preds["probabilities"].shape == (80, 10)
    acc = float(np.mean(preds["classes"] == preds["label"]))
    # Trained on x / 16, served on raw x: the same predictions as the simulation's.
    assert acc == pytest.approx(model.get_float_custom_property(spec.EVAL_ACCURACY_PROPERTY))
    assert model.has_custom_property("fedavg_eval_accuracy")
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, HTML_FILE_NAME)).read()
    for name in ("DP-FTRL", "DP-FedAvg", "FedAvg (non-private)", "data:image/png;base64"):
        assert name in page


def test_fedavg_records_no_epsilon(tmp_path, digits_examples_uri):
    from frontier.components.dp_ftrl import spec
    from frontier.schemas.artifacts import PRIVACY_LEDGER_FILE

    uri = federated_examples(tmp_path, digits_examples_uri)
    out = _run(tmp_path, uri, mechanism="fedavg", baselines=())
    ledger = json.load(open(os.path.join(out[spec.PRIVACY_LEDGER_KEY].uri, PRIVACY_LEDGER_FILE)))
    assert ledger["epsilon"] is None and ledger["mechanism"] == "fedavg_non_private"
    assert not out[spec.MODEL_KEY].has_custom_property(spec.EPSILON_PROPERTY)


def test_a_run_over_budget_is_refused_before_training(tmp_path, digits_examples_uri):
    from tfx.types import channel, standard_artifacts

    from frontier.components.dp_ftrl import DpFtrlTrainer, tree_account

    epsilon = tree_account(1.0, 6, 2, 2, 1e-5).epsilon
    examples = channel.Channel(type=standard_artifacts.Examples)
    with pytest.raises(InputError, match=f"would reach epsilon {epsilon:.3f}.*budget of 1"):
        DpFtrlTrainer(examples=examples, privacy_budget=1.0, **TINY_FEDERATED)
    DpFtrlTrainer(examples=examples, privacy_budget=epsilon + 0.01, **TINY_FEDERATED)  # fits
    with pytest.raises(InputError, match="not differentially private"):
        DpFtrlTrainer(examples=examples, mechanism="fedavg", privacy_budget=5.0, **TINY_FEDERATED)
    with pytest.raises(InputError, match="mechanism 'sgd'"):
        DpFtrlTrainer(examples=examples, mechanism="sgd", **TINY_FEDERATED)
    with pytest.raises(InputError, match="feature_scale = 0"):
        DpFtrlTrainer(examples=examples, feature_scale=0, **TINY_FEDERATED)
    with pytest.raises(InputError, match="parameter 'rounds'"):
        DpFtrlTrainer(examples=examples, **{**TINY_FEDERATED, "rounds": 0})
    # 6 rounds at least 2 apart hold at most 3 participations of a client.
    with pytest.raises(InputError, match="parameter 'max_participations'.*at most 3"):
        DpFtrlTrainer(examples=examples, **{**TINY_FEDERATED, "max_participations": 4})
    # The executor checks again, before it reads any data.
    with pytest.raises(InputError, match="would reach epsilon"):
        _run(tmp_path, str(tmp_path / "never_read"), budget=1.0)
    # Nothing written: no model, ledger or page (the output directories, which TFX's
    # launcher creates, stay empty).
    assert not [f for _, _, files in os.walk(tmp_path / "dp_ftrl") for f in files]


def test_rejects_examples_without_client_ids(tmp_path, digits_examples_uri):
    with pytest.raises(InputError, match="column 'client_id'"):
        _run(tmp_path, digits_examples_uri)


# 6 rounds at least 3 apart hold at most 2 participations of a client (rounds 0 and 3).
BINDING = {**TINY_FEDERATED, "max_participations": 2, "min_separation": 3}


@pytest.mark.parametrize(
    "mechanism, command",
    [("dp_ftrl", "tree"), ("blt_dp_ftrl", "blt"), ("dp_fedavg", "gaussian")],
)
def test_ledger_page_trainer_and_frontier_privacy_agree_when_the_separation_binds(
    tmp_path, digits_examples_uri, mechanism, command
):
    """One accounting path: the same rho and epsilon from the plain function's result, the
    executor's ledger and page, and `frontier privacy` given the run's noise multiplier; and
    one more participation than the separation allows is refused by all of them."""
    from frontier.components.dp_ftrl import (
        DpFtrlTrainer,
        FederatedConfig,
        max_possible_participations,
        spec,
        train_federated,
    )
    from frontier.pipelines.cli import privacy_account
    from frontier.schemas.artifacts import HTML_FILE_NAME, PRIVACY_LEDGER_FILE

    assert max_possible_participations(6, 3) == 2
    impossible = {**BINDING, "max_participations": 3}
    for refused in (
        lambda: FederatedConfig(**impossible),
        lambda: DpFtrlTrainer(examples=examples_artifact(digits_examples_uri), **impossible),
        lambda: privacy_account(command, 6, 3, 1e-5, noise_multiplier=1.0, min_separation=3),
    ):
        with pytest.raises(InputError, match=r"parameter 'max_participations'.*at most 2"):
            refused()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 4)).astype(np.float32), rng.integers(0, 3, size=120)
    noise = train_federated(x, y, np.arange(120) % 20, FederatedConfig(**BINDING), mechanism).noise
    out = _run(
        tmp_path, federated_examples(tmp_path, digits_examples_uri), mechanism, (), 0.0, BINDING
    )
    with open(os.path.join(out[spec.PRIVACY_LEDGER_KEY].uri, PRIVACY_LEDGER_FILE)) as f:
        ledger = json.load(f)
    assert (ledger["rho"], ledger["epsilon"]) == (noise.rho, noise.epsilon)
    assert ledger["epsilon_per_round"][-1] == noise.epsilon
    assert ledger["parameters"]["noise_multiplier"] == noise.noise_multiplier
    assert ledger["mechanism"] == spec.LEDGER_NAMES[mechanism]
    # BLT's buffers are in the ledger: with the parameters they fix its noise.
    assert ledger["parameters"].get("blt") == noise.blt
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, HTML_FILE_NAME)).read()
    assert f"{noise.epsilon:.3f}" in page and f"{noise.rho:.4f}" in page
    cli = privacy_account(
        command, 6, 2, 1e-5, noise_multiplier=noise.noise_multiplier, min_separation=3
    )
    # DP-FedAvg's noise is derived from DP-FTRL's rho; the Gaussian formula gives it back up
    # to rounding.
    assert cli["rho"] == pytest.approx(noise.rho, rel=1e-12)
    assert cli["epsilon"] == pytest.approx(noise.epsilon, rel=1e-12)
    if command == "gaussian":
        assert cli["sensitivity_squared"] == 2
