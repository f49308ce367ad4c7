"""The CIW pipeline: noisy Ingest, CiwTrainer per method, the stock Evaluator on clean labels."""

from __future__ import annotations

import re

import pytest

from frontier.components.ciw import CiwConfig
from frontier.pipelines import ciw, runner

TINY = ciw.CiwPipelineConfig(
    methods=("ce", "ciw"),
    training=CiwConfig(epochs=3, lam=1.0, burn_in=20, anneal_steps=0, schedule="constant"),
    hidden_units=(32,),
)


def test_ciw_pipeline_evaluates_each_method_on_clean_labels(tmp_path):
    root = str(tmp_path)
    run, report, _ = runner.run_and_report(ciw.create_pipeline(root, TINY), root)
    states = {n.node_id: n.state for n in run.components}
    assert states == {
        node: "COMPLETE"
        for node in (
            "IngestNoisy", "CiwTrainer_ce", "CiwTrainer_ciw", "CiwEvaluate_ce", "CiwEvaluate_ciw",
            "CiwReport_ce", "CiwReport_ciw",
        )
    }  # fmt: skip
    *lines, meaning = ciw.outcome(run)
    assert len(lines) == 2, lines
    assert meaning.startswith("CIW: Trained on noisy labels at 40% flipped training labels")
    pattern = r"(ce|ciw): clean eval accuracy (\d\.\d+)( \(baseline (\d\.\d+)\))?; mean weight clean (\d\.\d+), flipped (\d\.\d+)"
    found = {}
    for line in lines:
        m = re.fullmatch(pattern, line)
        assert m, line
        found[m[1]] = m
    assert found["ce"][3] is None and found["ciw"][3] is not None
    # The baseline of ciw's comparison is the ce model.
    assert float(found["ciw"][4]) == pytest.approx(float(found["ce"][2]), abs=1e-4)
    # ce does not reweight; ciw gives the flipped labels less weight than the clean ones.
    assert float(found["ce"][5]) == float(found["ce"][6]) == 1.0
    assert float(found["ciw"][5]) > float(found["ciw"][6])
    page = open(report).read()
    assert "CiwReport_ciw" in page
    # The run's DAG: every component a box with its state in words, the
    # trainers' boxes linking to their pages, edges labelled with artifact types.
    assert page.count('<g class="node COMPLETE">') == len(states)
    assert page.count("executed \u00b7") == len(states) and "<svg" in page
    assert re.search(
        r'<a href="[^"]*CiwTrainer_ce/visualization/\d+/index.html"><g class="node', page
    )
    assert "IngestNoisy \u2192 CiwTrainer_ce: Examples" in page
