"""Run records and the report for a failed run; the CLI's clear error."""

from __future__ import annotations

import os

import pytest
from tfx import v1 as tfx

from frontier.components.common.errors import InputError
from frontier.components.ingest import Ingest
from frontier.pipelines import cli, demo, runner, runs


def _bad_csv_pipeline(root: str, csv_path: str):
    return tfx.dsl.Pipeline(
        pipeline_name="bad-input",
        pipeline_root=runner.pipeline_root(root, "bad-input"),
        components=[Ingest(source=csv_path, feature_columns=["a"], classes=["x", "y"])],
        metadata_connection_config=runner.metadata_config(root),
    )


def test_failed_run_still_gets_a_report(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a,label\n1,x\n2,z\n")
    root = str(tmp_path / "root")
    with pytest.raises(InputError, match=r"data\.csv, row 3, column 'label'"):
        runner.run_and_report(_bad_csv_pipeline(root, str(csv)), root)
    run = runs.latest_run(root)
    assert run.failed == ["Ingest"] and run.executed == []
    html = open(os.path.join(root, "report.html")).read()
    assert "FAILED" in html and "bad-input" in html
    # The run as a whole failed; `frontier runs` names the component without --artifacts.
    assert run.state == "FAILED" and "<th>failed</th><td>Ingest</td>" in html
    assert runs.format_runs([run]).splitlines()[1:] == ["    failed: Ingest"]
    # What Ingest ran with is on the page although it failed.
    assert "<code>feature_columns</code> = [&quot;a&quot;]" in html


def test_cli_prints_a_clear_error_for_a_failed_run(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "data.csv"
    csv.write_text("a,label\nnot-a-number,x\n")
    monkeypatch.setattr(demo, "create_pipeline", lambda root: _bad_csv_pipeline(root, str(csv)))
    assert cli.main(["run", "demo", "--root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    assert "frontier: error:" in err and "row 2, column 'a'" in err


def test_runs_on_an_empty_root_says_nothing_ran(tmp_path, capsys):
    assert cli.main(["runs", "--root", str(tmp_path)]) == 2
    assert "nothing has run under" in capsys.readouterr().err
