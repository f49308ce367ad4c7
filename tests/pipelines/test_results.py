"""Headline results: the spread of one run, the sentences, and each pipeline's results."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from frontier.components.evaluate import paired_difference
from frontier.pipelines import ciw, demo, dp_ftrl, kip, results, spl
from frontier.pipelines.runs import ArtifactRecord, NodeRecord, RunRecord


def _node(node_id: str, props: dict, key: str = "visualization", uri: str = "/x") -> NodeRecord:
    artifact = ArtifactRecord(1, "frontier.HtmlReport", key, uri, props)
    return NodeRecord(node_id, "frontier.Executor", 1, "COMPLETE", 1.0, (artifact,))


def _run(pipeline: str, *nodes: NodeRecord) -> RunRecord:
    return RunRecord(pipeline, "run-1", 1, datetime.datetime(2026, 12, 7), nodes)


def _report(accuracy: float, baseline: float | None, se: float | None = 0.01) -> dict:
    props = {"accuracy": accuracy, "examples": 400}
    if baseline is not None:
        props |= {"baseline_accuracy": baseline, "accuracy_difference_se": se}
    return props


def test_paired_difference_is_the_mean_and_standard_error_of_the_per_example_differences():
    a = np.array([1, 1, 0, 1, 0, 1, 1, 1], bool)
    b = np.array([1, 0, 0, 1, 1, 0, 1, 1], bool)
    diff, se = paired_difference(a, b)
    d = a.astype(float) - b.astype(float)
    assert diff == pytest.approx(0.125)
    assert se == pytest.approx(d.std(ddof=1) / np.sqrt(8))
    # Identical models: no difference and no spread, however noisy each one is.
    assert paired_difference(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="shapes"):
        paired_difference(a, b[:3])


def test_the_sentence_says_within_noise_only_inside_two_standard_errors():
    close = results.compare_words("SPL", 0.890, "none", 0.896, 0.012, 400)
    assert "within noise" in close and "-0.006 +- 0.012" in close
    far = results.compare_words("CIW", 0.93, "CE", 0.81, 0.02, 360)
    assert far.startswith("CIW 0.930 beats CE 0.810 by 0.120") and "within" not in far
    behind = results.compare_words("A", 0.70, "B", 0.80, None)
    assert behind == "A 0.700 trails B 0.800 by 0.100"


def test_kip_results_pair_each_comparison_with_its_random_subset():
    run = _run(
        kip.PIPELINE_NAME,
        _node("ReportKrr_1pc", _report(0.80, 0.45)),
        _node("ReportMlp_1pc", _report(0.50, 0.49, se=0.02)),
    )
    (result,) = results.results_of(run)
    assert result.technique == "KIP"
    assert [(b.group, b.label, b.baseline) for b in result.bars] == [
        ("KRR 1/class", "KIP", False),
        ("KRR 1/class", "random", True),
        ("MLP 1/class", "KIP", False),
        ("MLP 1/class", "random", True),
    ]
    assert "ahead in 1, behind in 0, within noise in 1 of 2" in result.sentence
    assert "KRR 1/class: KIP 0.800 beats random 0.450" in result.sentence
    # Error bars: the binomial standard error on the 400 eval examples.
    assert result.bars[0].spread == pytest.approx(np.sqrt(0.8 * 0.2 / 400))


def test_ciw_and_spl_results_compare_every_method_with_the_shared_baseline():
    run = _run(
        ciw.PIPELINE_NAME,
        _node("CiwReport_ce", _report(0.81, None)),
        _node("CiwReport_ciw", _report(0.93, 0.81)),
    )
    (result,) = ciw.results(run)
    assert [b.label for b in result.bars] == ["CE", "CIW"]
    assert result.bars[0].baseline and "CIW 0.930 beats CE 0.810" in result.sentence
    run = _run(
        spl.PIPELINE_NAME,
        _node("SplReport_weak", _report(0.88, 0.90)),
        _node("SplReport_spl", _report(0.895, 0.90)),
    )
    (result,) = spl.results(run)
    assert [b.label for b in result.bars] == ["no pre-training", "weak labels", "SPL"]
    assert "SPL 0.895 vs no pre-training 0.900: the difference" in result.sentence
    assert "within noise" in result.sentence


def test_dp_ftrl_results_name_the_privacy_the_users_and_the_paired_spread(tmp_path):
    history = {
        "mechanism": "dp_ftrl",
        "runs": {
            "dp_ftrl": [
                {"round": 0, "eval_accuracy": None, "epsilon": 1.0},
                {"round": 1, "eval_accuracy": 0.9, "epsilon": 2.0},
            ],
            "dp_fedavg": [
                {"round": 0, "eval_accuracy": None, "epsilon": 1.5},
                {"round": 1, "eval_accuracy": 0.8, "epsilon": 2.0},
            ],
        },
    }
    (tmp_path / "history.json").write_text(json.dumps(history))
    model = {
        "mechanism": "dp_ftrl_tree_aggregation",  # the ledger's name, as the trainer records it
        "eval_accuracy": 0.9,
        "epsilon": 2.0,
        "delta": 1e-5,
        "clients": 10000,
        "eval_examples": 400,
        "dp_fedavg_eval_accuracy": 0.8,
        "dp_fedavg_accuracy_difference_se": 0.015,
        "fedavg_eval_accuracy": 0.95,
        "fedavg_accuracy_difference_se": 0.01,
    }
    run = _run(
        dp_ftrl.PIPELINE_NAME,
        _node(dp_ftrl.TRAINER_ID, model, key="model"),
        _node(dp_ftrl.TRAINER_ID, {}, uri=str(tmp_path)),
    )
    accuracy, spent = results.results_of(run)
    assert "epsilon 2.00 (delta 1e-05) of 10,000 users" in accuracy.sentence
    assert "DP-FTRL 0.900 beats DP-FedAvg 0.800 by 0.100 (+- 0.015" in accuracy.sentence
    assert "FedAvg reaches 0.950" in accuracy.sentence
    assert [s.label for s in accuracy.series] == ["DP-FTRL", "DP-FedAvg"]
    assert accuracy.series[0].x == (2,) and accuracy.series[1].baseline
    assert spent.metric == "epsilon" and spent.series[0].y == (1.0, 2.0) and not spent.bars
    # The terminal gets the comparison, not the curve.
    assert results.summary_lines([accuracy, spent]) == [f"DP-FTRL: {accuracy.sentence}"]


def test_demo_results_put_the_main_model_first_and_skip_what_did_not_run():
    run = _run(
        demo.PIPELINE_NAME,
        _node("EvaluationReport", {**_report(0.97, None), "blessed": 1}),
        _node("CiwReport_ciw", _report(0.93, 0.81)),
    )
    main, ciw_result = results.results_of(run)
    assert (
        main.technique == "Model" and "scores 0.970" in main.sentence and "blessed" in main.sentence
    )
    assert ciw_result.technique == "CIW"
    assert results.results_of(_run("someone-elses-pipeline")) == []
