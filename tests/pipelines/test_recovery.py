"""A local run killed outright (SIGKILL) mid-component: the next run closes what it left open."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import sys
    from frontier.components import Ingest, Trainer
    from frontier.pipelines import runner

    root = sys.argv[1]
    ingest = Ingest(source="sklearn:digits")
    # Far more epochs than the test waits for: the run is killed inside the Trainer.
    trainer = Trainer(examples=ingest.outputs["examples"], epochs=100_000, hidden_units=[8])
    pipeline = runner.make_pipeline("killed", [ingest, trainer], root, enable_cache=True)
    runner.run_pipeline(pipeline)
    """
)


def _wait_for(pattern: str, seconds: float, child: subprocess.Popen) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = glob.glob(pattern)
        if found:
            return found
        if child.poll() is not None:
            raise AssertionError(f"the run ended (status {child.returncode}) before {pattern}")
        time.sleep(0.5)
    raise AssertionError(f"nothing matched {pattern} within {seconds} s")


def test_a_killed_run_is_marked_interrupted_and_its_folders_removed(tmp_path):
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.pipelines import cli, recovery, runner, runs

    root = str(tmp_path / "root")
    child = subprocess.Popen([sys.executable, "-c", CHILD, root])
    try:
        pipeline_root = runner.pipeline_root(root, "killed")
        # The launcher makes the Trainer's output folders before its executor runs.
        pattern = os.path.join(pipeline_root, "Trainer", "model", "*")
        (model_dir,) = _wait_for(pattern, 240, child)
        time.sleep(3)  # inside the executor now
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = runs.open_store(root)
    running = [
        e for e in store.get_executions() if e.last_known_state == mlmd_pb2.Execution.RUNNING
    ]
    assert len(running) == 1 and os.path.isdir(model_dir)  # what a kill leaves today

    (closed,) = recovery.recover_interrupted(runner.metadata_path(root), "killed", pipeline_root)
    assert closed.node_id == "Trainer" and closed.execution_id == running[0].id
    assert model_dir in closed.removed and not os.path.exists(model_dir)
    (execution,) = store.get_executions_by_id([closed.execution_id])
    assert execution.last_known_state == mlmd_pb2.Execution.FAILED
    assert "left open by a run that ended" in (
        execution.custom_properties[recovery.INTERRUPTED_PROPERTY].string_value
    )
    (run,) = runs.list_runs(root)
    states = {n.node_id: n.state for n in run.components}
    assert states == {"Ingest": "COMPLETE", "Trainer": recovery.INTERRUPTED}
    assert run.interrupted == ["Trainer"] and "interrupted 1" in runs.format_runs([run])
    # Nothing left to close on the next run.
    assert recovery.recover_interrupted(runner.metadata_path(root), "killed", pipeline_root) == []

    # An artifact folder no live artifact names (as runs before recovery left them):
    # `frontier runs --gc` lists it, and removes it only with --yes; Ingest's live
    # outputs are never listed.
    orphan = os.path.join(pipeline_root, "Trainer", "model", "999999")
    os.makedirs(orphan)
    open(os.path.join(orphan, "saved_model.pb"), "wb").close()
    assert recovery.orphan_folders(root) == [orphan]
    assert cli.main(["runs", "--root", root, "--gc"]) == 0
    assert os.path.isdir(orphan)
    assert cli.main(["runs", "--root", root, "--gc", "--yes"]) == 0
    assert not os.path.exists(orphan) and recovery.orphan_folders(root) == []
    assert glob.glob(os.path.join(pipeline_root, "Ingest", "examples", "*", "Split-train"))
