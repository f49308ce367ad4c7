"""The DP-FTRL pipeline: a synthetic population, DpFtrlTrainer, the stock Evaluator."""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from conftest import TINY_FEDERATED

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import FederatedConfig
from frontier.pipelines import dp_ftrl, runner

TINY_POPULATION = dp_ftrl.SyntheticPopulation(num_clients=40, examples_per_client=5, test_size=60)
TINY = dp_ftrl.DpFtrlPipelineConfig(
    population=TINY_POPULATION,
    training=FederatedConfig(**TINY_FEDERATED),
    target_epsilon=50.0,
    baselines=("dp_fedavg",),
    privacy_budget=60.0,
    group_clients=True,  # the trainer reads its users from GroupClients' store
)


def test_the_population_source_holds_synthetic_users_in_train_and_real_digits_in_eval(tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    path = dp_ftrl.write_population(str(tmp_path), TINY_POPULATION)
    data = dict(np.load(path))
    train = data["split"] == "train"
    assert train.sum() == 40 * 5 and (~train).sum() == 60
    assert len(set(data["client_id"][train])) == 40
    assert set(data["client_id"][~train]) == {dp_ftrl.HELD_OUT_CLIENT}
    # The eval digits are real, unaugmented images, each a different one.
    real = load_digits().data.astype(np.float32)
    rows = {r.tobytes(): i for i, r in enumerate(real)}
    held_out = [rows.get(r.tobytes()) for r in data["pixels"][~train]]
    assert None not in held_out and len(set(held_out)) == 60
    again = dict(np.load(dp_ftrl.write_population(str(tmp_path / "again"), TINY_POPULATION)))
    assert all(np.array_equal(data[k], again[k]) for k in data)  # seeded
    # The same settings keep the file; others write it anew.
    made = os.stat(path).st_mtime_ns
    assert dp_ftrl.write_population(str(tmp_path), TINY_POPULATION) == path
    assert os.stat(path).st_mtime_ns == made
    other = dataclasses.replace(TINY_POPULATION, test_size=50)
    dp_ftrl.write_population(str(tmp_path), other)
    assert (np.load(path)["split"] == "eval").sum() == 50


def test_the_noise_is_calibrated_to_the_target_epsilon():
    from frontier.components.dp_ftrl import tree_account

    t = TINY.federated_config()
    account = tree_account(
        t.noise_multiplier, t.rounds, t.max_participations, t.min_separation, t.delta
    )
    assert account.epsilon == pytest.approx(50.0, abs=0.01)
    assert t.seed == TINY.seed


def test_dp_ftrl_pipeline_trains_scores_and_reports_epsilon(tmp_path):
    root = str(tmp_path)
    run, report, _ = runner.run_and_report(dp_ftrl.create_pipeline(root, TINY), root)
    states = {n.node_id: n.state for n in run.components}
    assert states == dict.fromkeys(
        ["IngestFederated", "GroupClients", "DpFtrlTrainer", "DpFtrlEvaluate", "DpFtrlReport"],
        "COMPLETE",
    )
    store = run.properties(dp_ftrl.GROUP_ID, "clients")[""]
    assert store["clients"] == 40 and store["examples"] == 200
    line, meaning = dp_ftrl.outcome(run)
    m = re.fullmatch(
        r"DP-FTRL: eval accuracy (\d\.\d+) \(epsilon (\d+\.\d+) at delta 1e-05\); "
        r"baselines: dp_fedavg (\d\.\d+)",
        line,
    )
    assert m, line
    assert float(m[2]) == pytest.approx(50.0, abs=0.01)
    assert meaning.startswith("DP-FTRL: User-level DP at epsilon 50.00 (delta 1e-05) of 40 users")
    # The stock Evaluator scored the real held-out digits, as the trainer did.
    scored = run.properties(dp_ftrl.REPORT_ID, "accuracy")[""]
    trained = run.properties(dp_ftrl.TRAINER_ID, "mechanism", "eval_accuracy")[""]
    assert scored["examples"] == trained["eval_examples"] == 60
    assert scored["accuracy"] == pytest.approx(trained["eval_accuracy"], abs=1e-6)
    assert "DpFtrlTrainer" in open(report).read()


def test_a_budget_too_small_fails_when_the_pipeline_is_built(tmp_path):
    with pytest.raises(InputError, match="would reach epsilon"):
        dp_ftrl.create_pipeline(str(tmp_path), dataclasses.replace(TINY, privacy_budget=1.0))
