"""The demo pipeline end to end: blessing, pushing, report, caching, both runners, CLI.

One run root is shared by the tests of this module, in order: each run is
asserted on by the test that makes it (a module of small real runs is far
cheaper than independent runs, each of which re-trains and re-evaluates).
The first run is conftest's `tiny_demo`, which the browser test of the run
page also opens.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import pytest
from conftest import tiny_demo_config

from frontier.pipelines import ciw, cli, demo, dp_ftrl, kip, runner, runs, spl

TINY = tiny_demo_config()
UPSTREAM = ["Ingest", "StatisticsGen", "SchemaGen", "ExampleValidator", "Trainer"]


@pytest.fixture(scope="module")
def root(tiny_demo) -> str:
    return tiny_demo[0]


def _run(root: str, config: demo.DemoConfig = TINY, runner_name: str = "local"):
    return runner.run_and_report(demo.create_pipeline(root, config), root, runner_name)


def _states(run: runs.RunRecord) -> dict[str, str]:
    return {n.node_id: n.state for n in run.nodes}


def _versions(root: str) -> list[str]:
    return sorted(v for v in os.listdir(runner.serving_dir(root)) if v.isdigit())


def test_first_run_blesses_pushes_and_reports(tiny_demo):
    root, run, report = tiny_demo
    states = _states(run)
    assert all(
        states[n] == "COMPLETE" for n in [*UPSTREAM, "Evaluator", "EvaluationReport", "Pusher"]
    )
    outcome = demo.outcome(run)
    marker = outcome.index("what the comparisons show:")
    assert "blessed:    yes" in outcome[:marker]
    meanings = outcome[marker + 1 :]
    lines = [line for b in (kip, ciw, spl, dp_ftrl) for line in b.details(run)]
    # Each branch reports its own nodes only (KIP's and CIW's node ids must not collide).
    assert [line.split(":")[0] for line in lines if "clean eval accuracy" in line] == ["ce", "ciw"]
    assert all(re.match(r"(KRR|MLP) on \d+/class", line) for line in lines if " on " in line), lines
    assert [line.split(":")[0] for line in lines if "student eval accuracy" in line] == ["SPL spl"]
    assert [line.split(":")[0] for line in lines if "epsilon" in line] == ["DP-FTRL"]
    # Then one sentence per comparison (this DP-FTRL trains no baseline and says so).
    assert [m.split(":")[0] for m in meanings] == ["Model", "KIP", "CIW", "SPL", "DP-FTRL"]
    assert meanings[-1].endswith("with no private baseline trained to compare."), meanings
    assert len(_versions(root)) == 1
    html = open(report).read()
    for node in run.nodes:
        for a in node.outputs:
            assert f"<td>{a.id}</td>" in html  # every artifact listed with its MLMD id
            if a.type_name == "frontier.HtmlReport":
                link = os.path.relpath(os.path.join(a.uri, "index.html"), root)
                assert f'href="{link}"' in html and os.path.exists(os.path.join(root, link))


def test_second_run_reuses_the_cache_up_to_the_trainer(root):
    run, _, _ = _run(root)
    states = _states(run)
    assert all(states[n] == "CACHED" for n in UPSTREAM), states
    # A blessed baseline exists now, so the Evaluator's inputs changed and it re-ran;
    # the model is unchanged, so the Pusher did not publish it a second time.
    assert states["Evaluator"] == "COMPLETE"
    assert len(_versions(root)) == 1


def test_third_run_reuses_every_component_and_the_cli_says_so(root, monkeypatch, capsys):
    monkeypatch.setattr(
        demo, "create_pipeline", functools.partial(demo.create_pipeline, config=TINY)
    )
    assert cli.main(["run", "demo", "--root", root]) == 0
    out = capsys.readouterr().out
    run = runs.latest_run(root)
    component_states = {n.node_id: n.state for n in run.components}
    assert set(component_states.values()) == {"CACHED"}, component_states
    assert re.search(r"0 of \d+ components executed", out)
    assert "reused from cache: Ingest" in out
    assert "report:" in out and "metadata:" in out


def test_changed_parameter_reruns_from_that_component_on_with_the_beam_runner(root):
    run, _, _ = _run(root, dataclasses.replace(TINY, epochs=4), "beam")
    states = _states(run)
    assert [states[n] for n in UPSTREAM] == ["CACHED"] * 4 + ["COMPLETE"]
    assert states["Evaluator"] == "COMPLETE"


def test_changed_component_code_invalidates_its_cache(root, monkeypatch):
    import frontier.components.trainer.component as trainer_component

    real = trainer_component.code_version
    monkeypatch.setattr(trainer_component, "code_version", lambda pkg: real(pkg) + "-edited")
    run, _, _ = _run(root, dataclasses.replace(TINY, epochs=4))
    states = _states(run)
    assert [states[n] for n in UPSTREAM] == ["CACHED"] * 4 + ["COMPLETE"]


def test_runs_lists_every_run_with_its_artifacts(root, capsys):
    assert cli.main(["runs", "--root", root, "--artifacts"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"{demo.PIPELINE_NAME}  run ") == 5
    trainer_models = [r for r in runs.list_runs(root)[0].nodes if r.node_id == "Trainer"][0].outputs
    assert any(f"#{a.id}" in out and a.uri in out for a in trainer_models)


def test_the_main_evaluators_baseline_is_the_main_lines_own(tmp_path):
    """The demo's KIP and SPL branches bless models too: the main Evaluator's
    baseline resolver asks only for the Trainer's models blessed by the
    Evaluator (before, it took whichever model of the pipeline was blessed
    last, e.g. a KIP branch's MLP)."""
    from tfx.dsl.compiler import compiler

    from frontier.components.evaluate.config import BASELINE_RESOLVER_ID
    from frontier.pipelines import demo

    ir = compiler.Compiler().compile(demo.create_pipeline(str(tmp_path)))
    (node,) = [
        n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == BASELINE_RESOLVER_ID
    ]
    # Each of the resolver's channels asks for one node's output (a "node"
    # context query), not for every artifact of its type in the pipeline.
    queries = set()
    for spec in node.inputs.inputs.values():
        for channel in spec.channels:
            nodes = [q.name.field_value.string_value for q in channel.context_queries]
            kind = channel.artifact_query.type.name
            queries.add((kind, tuple(n for n in nodes if "." in n), channel.output_key))
    assert queries == {
        ("Model", ("frontier-demo.Trainer",), "model"),
        ("ModelBlessing", ("frontier-demo.Evaluator",), "blessing"),
    }
