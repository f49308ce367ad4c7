"""The DP-FTRL pipeline: partitioned Ingest, DpFtrlTrainer, the stock Evaluator."""

from __future__ import annotations

import dataclasses
import re

import pytest
from conftest import TINY_FEDERATED

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import FederatedConfig
from frontier.pipelines import dp_ftrl, runner

TINY = dp_ftrl.DpFtrlPipelineConfig(
    num_clients=30,
    training=FederatedConfig(**TINY_FEDERATED),
    baselines=("dp_fedavg",),
    privacy_budget=None,
)


def test_dp_ftrl_pipeline_trains_scores_and_reports_epsilon(tmp_path):
    from frontier.components.dp_ftrl import tree_account

    root = str(tmp_path)
    run, report, _ = runner.run_and_report(dp_ftrl.create_pipeline(root, TINY), root)
    states = {n.node_id: n.state for n in run.components}
    assert states == dict.fromkeys(
        ["IngestFederated", "DpFtrlTrainer", "DpFtrlEvaluate", "DpFtrlReport"], "COMPLETE"
    )
    (line,) = dp_ftrl.outcome(run)
    m = re.fullmatch(
        r"DP-FTRL: eval accuracy (\d\.\d+) \(epsilon (\d+\.\d+) at delta 1e-05\); "
        r"baselines: dp_fedavg (\d\.\d+)",
        line,
    )
    assert m, line
    t = TINY.training
    want = tree_account(t.noise_multiplier, t.rounds, t.max_participations, t.min_separation, 1e-5)
    assert float(m[2]) == pytest.approx(want.epsilon, abs=0.01)
    assert "DpFtrlTrainer" in open(report).read()


def test_a_budget_too_small_fails_when_the_pipeline_is_built(tmp_path):
    with pytest.raises(InputError, match="would reach epsilon"):
        dp_ftrl.create_pipeline(str(tmp_path), dataclasses.replace(TINY, privacy_budget=1.0))
