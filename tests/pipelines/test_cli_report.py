"""`frontier report` and `frontier runs` on a real root: a one-component pipeline
(Ingest of a small CSV) run twice, the second run reusing the first from the cache."""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET

import pytest
from tfx import v1 as tfx

from frontier.components.common.versioning import code_version
from frontier.components.ingest import Ingest
from frontier.pipelines import cli, report, results, runner, runs
from frontier.pipelines.results import Bar, Result

NAME = "tiny-report"
HEADLINE = "tiny: 0.900 vs baseline 0.800"
RESULT = Result(
    "Model",
    "tiny vs baseline",
    "Tiny beats the baseline.",
    HEADLINE,
    bars=(Bar("tiny", 0.9, 0.01), Bar("baseline", 0.8, 0.01, baseline=True)),
)


def _pipeline(root: str, csv: str):
    return tfx.dsl.Pipeline(
        pipeline_name=NAME,
        pipeline_root=runner.pipeline_root(root, NAME),
        components=[
            Ingest(source=csv, feature_columns=["a"], classes=["x", "y"], eval_fraction=0.25)
        ],
        enable_cache=True,
        metadata_connection_config=runner.metadata_config(root),
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    """A root with two runs; the second run's page written with a results panel."""
    tmp = tmp_path_factory.mktemp("report")
    csv = tmp / "data.csv"
    csv.write_text("a,label\n" + "".join(f"{i},{'xy'[i % 2]}\n" for i in range(40)))
    root = str(tmp / "root")
    first, _, _ = runner.run_and_report(_pipeline(root, str(csv)), root)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(results, "results_of", lambda run: [RESULT])
        second, page, _ = runner.run_and_report(_pipeline(root, str(csv)), root)
    assert first.executed == ["Ingest"] and second.cached == ["Ingest"]
    assert page == os.path.join(root, report.REPORT_FILE)
    return root


@pytest.fixture(autouse=True)
def _restore_absl_logger():
    # cli.main configures absl's logger for the terminal; other tests expect it as it was.
    logger = logging.getLogger("absl")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    logger.handlers[:], logger.propagate = handlers, propagate


def test_run_and_report_writes_the_results_panel(root):
    page = open(os.path.join(root, report.REPORT_FILE)).read()
    panel = page[page.index("<h2>Results</h2>") : page.index("<h2>Graph</h2>")]
    [svg] = re.findall(r"<svg.*?</svg>", panel, re.S)
    ET.fromstring(svg)
    assert "Tiny beats the baseline." in panel


def test_parameters_table_shows_what_mlmd_recorded(root):
    page = open(os.path.join(root, report.REPORT_FILE)).read()
    table = page[page.index("<h2>Parameters and code versions</h2>") :]
    row = re.search(r"<tr><td>Ingest</td>.*?</tr>", table, re.S)[0]
    assert "<code>eval_fraction</code> = 0.25" in row and "CACHED" in row
    assert f"<code>{code_version('ingest')}</code>" in row


def test_report_rebuilds_an_older_run(root, capsys, monkeypatch):
    monkeypatch.setattr(results, "results_of", lambda run: [RESULT])
    first, second = runs.list_runs(root)
    assert cli.main(["report", first.run_id, "--root", root]) == 0
    path = capsys.readouterr().out.strip()
    assert path == os.path.join(root, report.page_name(first.run_id))
    page = open(path).read()
    assert f"<h1>{NAME}: run {first.run_id}</h1>" in page and second.run_id not in page
    assert "Tiny beats the baseline." in page and "rebuilt by `frontier report`" in page
    # Its links work from where it was written (beside report.html).
    pages = re.findall(r'href="([^"]+/index\.html)"', page)
    assert pages and all(os.path.exists(os.path.join(root, p)) for p in pages)
    # report.html stays the latest run's page.
    assert second.run_id in open(os.path.join(root, report.REPORT_FILE)).read()


def test_report_defaults_to_the_latest_run_and_takes_an_output(root, capsys, tmp_path):
    latest = runs.list_runs(root)[-1]
    out = tmp_path / "pages" / "latest.html"
    assert cli.main(["report", "--root", root, "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    assert f"run {latest.run_id}</h1>" in page
    pages = re.findall(r'href="([^"]+/index\.html)"', page)
    assert pages and all(os.path.exists(os.path.join(out.parent, p)) for p in pages)


def test_report_of_an_unknown_run_names_the_known_ones(root, capsys):
    assert cli.main(["report", "no-such-run", "--root", root]) == 2
    err = capsys.readouterr().err
    assert "frontier: error: no run 'no-such-run'" in err
    for run in runs.list_runs(root):
        assert run.run_id in err


def test_runs_prints_headlines_and_artifacts_only_when_asked(root, capsys, monkeypatch):
    monkeypatch.setattr(results, "results_of", lambda run: [RESULT])
    assert cli.main(["runs", "--root", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith(NAME)] == [lines[0], lines[2]]
    assert lines[1] == lines[3] == f"    {HEADLINE}"
    assert cli.main(["runs", "--root", root, "--artifacts"]) == 0
    listing = capsys.readouterr().out
    assert f"    {HEADLINE}" in listing and "Examples" in listing and "Ingest" in listing


def test_runs_without_results_lists_the_runs(root, capsys, monkeypatch):
    def fail(run):
        raise AttributeError("no results")

    monkeypatch.setattr(results, "results_of", fail)
    assert cli.main(["runs", "--root", root]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith(NAME) for line in lines)
    assert f"no headline figures for 2 run(s) of {NAME}" in err  # once, not once a run


def test_shipped_upstream_settles_a_shipped_pipelines_edges(root):
    from frontier.pipelines import ciw

    run = runs.list_runs(root)[-1]
    assert runner.shipped_upstream(run) is None  # not a shipped pipeline
    nodes = tuple(
        runs.NodeRecord(node_id, "t", i, "COMPLETE", 1.0, ())
        for i, node_id in enumerate(("IngestNoisy", "CiwTrainer_ce", "CiwEvaluate_ce"))
    )
    shipped = runs.RunRecord(ciw.PIPELINE_NAME, "r", 1, run.started, nodes)
    upstream = runner.shipped_upstream(shipped)
    assert upstream["CiwEvaluate_ce"] == {"IngestNoisy", "CiwTrainer_ce"}
    # A run with a node today's pipeline lacks is drawn from ML Metadata alone.
    other = runs.NodeRecord("OldNode", "t", 9, "COMPLETE", 1.0, ())
    older = runs.RunRecord(ciw.PIPELINE_NAME, "r", 1, run.started, (*nodes, other))
    assert runner.shipped_upstream(older) is None
