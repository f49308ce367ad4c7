"""A few of benchmarks/faults.py's kill points, run in `make test`: the pipeline
killed with SIGKILL, re-run, and checked (the benchmark runs all 22)."""

from __future__ import annotations

import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
COUNTS = (
    "lost_or_corrupt_artifacts",
    "stale_running_executions",
    "orphan_folders",
    "serve_mlmd_disagreements",
    "finished_components_recomputed",
)


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import faults
    finally:
        sys.path.remove(str(BENCHMARKS))
    workdir = str(tmp_path_factory.mktemp("faults"))
    return faults, workdir, faults.reference_run(workdir)


def test_a_killed_push_and_a_killed_rollback_recover(faults):
    """Killed between the rename and the MLMD record, then killed again while
    the next run rolls that push back: the third run ends with the serving
    directory and MLMD in agreement and nothing stale or orphaned."""
    module, workdir, reference = faults
    (point,) = [p for p in module.kill_points() if p.name == "recovery:rollback"]
    result = module.run_point(point, reference, workdir)
    assert result["killed_by_signal"] == 2 and result["final_status"] == 0, result
    assert {k: result[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0), result
    assert result["final_states"]["Trainer"] == "CACHED"
    assert result["final_states"]["Pusher"] == "COMPLETE"
    assert result["recovered"]


def test_the_checks_count_what_recovery_repairs(faults):
    """The same checks, on a Trainer killed mid-write with frontier's recovery
    pass switched off, find the execution left RUNNING (the benchmark shows
    the same point recovered with the pass on)."""
    module, workdir, reference = faults
    point = module.KillPoint("Trainer:mid", ("Trainer:mid",))
    without = module.run_point(point, reference, f"{workdir}/without", recover=False)
    assert without["killed_by_signal"] == 1 and without["final_status"] == 0, without
    assert without["stale_running_executions"] >= 1 and not without["recovered"], without
