"""Fault injection: a small pipeline killed with SIGKILL at many points, then re-run.

The pipeline is Ingest (scikit-learn's digits), Trainer, the stock Evaluator
and the Pusher, run by `runner.run_pipeline` as `frontier run` does. For
each kill point, in a fresh run root: one run is killed at that point
(SIGKILL, sent by the process to itself from a hook this script installs;
frontier's code holds no fault hooks), the next run goes to the end (or is
itself killed at the point's second kill, for points inside the recovery
pass), and after the run that finishes the root is checked:

- every LIVE artifact is complete: its files are those of the same artifact
  in an uninterrupted reference run (same folders and kinds of file), its
  TFRecords read to the end, its SavedModels load (checked after each kill
  too, before any recovery);
- no execution is left NEW or RUNNING;
- no orphan folder (`recovery.orphan_folders`), no staging folder in the
  serving directory, and no push intent that ML Metadata does not commit;
- every component the killed run finished is CACHED in the re-run;
- the serving directory's versions are exactly those that LIVE, pushed
  `PushedModel` artifacts name, and each loads.

Kill points, per component (Ingest, Trainer, Evaluator, Pusher):
`start` (execution RUNNING in MLMD, output folders made, executor not
called), `mid` (inside the executor, as soon as a first file exists in one
of its outputs: a partly written artifact; not for the Pusher, see
`kill_points`), `returned` (the executor returned, nothing published),
`published` (recorded COMPLETE; the process dies before the next
component). Inside the push: `intent` (intent written, nothing staged),
`staging` (staging folder half-copied), `renamed` (version in place,
PushedModel not written nor recorded), `output` (the record's own copy
half-written). Twice: a Trainer killed mid-write, then the re-run killed
inside the Evaluator. Inside recovery: a run killed while closing a killed
Trainer, and one killed while rolling back a killed push.

Finished components must come back from the cache, so the code must not
change during a run of the benchmark (`component_version` is a hash of it):
the JSON says whether it did (`code_changed_during_run`).

Usage:
  python benchmarks/faults.py [--points NAME,NAME] [--list] [--no-recovery]

The last line printed is one JSON object: kill_points, runs_recovered,
lost_or_corrupt_artifacts, stale_running_executions, orphan_folders,
serve_mlmd_disagreements, finished_components_recomputed, mid_write_hits
(how many `mid` kills found a file being written), seconds, and per point
its kills and counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

PIPELINE = "faults"
COMPONENTS = ("Ingest", "Trainer", "Evaluator", "Pusher")
PHASES = ("start", "mid", "returned", "published")
PUSH_PHASES = ("intent", "staging", "renamed", "output")


@dataclasses.dataclass(frozen=True)
class KillPoint:
    """One scenario: the kills of successive runs, then a run to the end.

    Attributes:
      name: the point's name.
      kills: one kill per killed run, in order, e.g. `("Trainer:mid",)`.
    """

    name: str
    kills: tuple[str, ...]


def kill_points() -> list[KillPoint]:
    """Every scenario the benchmark runs (22)."""
    points = [
        KillPoint(f"{c}:{p}", (f"{c}:{p}",))
        for c in COMPONENTS
        for p in PHASES
        # The Pusher writes its own output in milliseconds at its end, so a
        # watcher seldom catches it mid-write: push:* kill it precisely instead.
        if (c, p) != ("Pusher", "mid")
    ]
    points += [KillPoint(f"push:{p}", (f"push:{p}",)) for p in PUSH_PHASES]
    points.append(KillPoint("twice", ("Trainer:mid", "Evaluator:mid")))
    points.append(KillPoint("recovery:closing", ("Trainer:mid", "recovery:closing")))
    points.append(KillPoint("recovery:rollback", ("push:renamed", "recovery:rollback")))
    return points


# ---------------------------------------------------------------- the child run


def build_pipeline(root: str):
    """The pipeline every run of the benchmark runs (identical, so the cache holds)."""
    from frontier.components import Ingest, Pusher, Trainer, make_evaluator
    from frontier.pipelines import runner

    ingest = Ingest(source="sklearn:digits")
    trainer = Trainer(examples=ingest.outputs["examples"], epochs=3, hidden_units=[32], seed=0)
    evaluator = make_evaluator(
        ingest.outputs["examples"], trainer.outputs["model"], num_classes=10, min_accuracy=0.5
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=runner.serving_dir(root),
    )
    components = [ingest, trainer, evaluator, pusher]
    return runner.make_pipeline(PIPELINE, components, root, enable_cache=True)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_when_written(uris: list[str], returned) -> None:
    """Kills this process once a file exists under one of `uris` (the executor is
    writing an output), unless the executor returned first (`returned` is set)."""
    import threading

    def watch():
        while not returned.is_set():
            for uri in uris:
                for _, _, files in os.walk(uri):
                    if files:
                        print("FAULTS mid-write hit", flush=True)
                        _die()
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()


def install_kill(kill: str) -> None:
    """Patches TFX's launcher, frontier's pusher or recovery to SIGKILL this
    process at `kill` ("<component>:<phase>", "push:<phase>" or
    "recovery:<phase>")."""
    import threading

    from tfx.orchestration.portable import launcher, outputs_utils

    where, phase = kill.split(":")
    if where in COMPONENTS:
        run_executor = launcher.Launcher._run_executor
        publish = launcher.Launcher._publish_successful_execution

        def patched_run(self, execution_info):
            if self._pipeline_node.node_info.id != where:
                return run_executor(self, execution_info)
            if phase == "start":
                outputs_utils.make_output_dirs(execution_info.output_dict)
                _die()
            returned = threading.Event()
            if phase == "mid":
                uris = [a.uri for arts in execution_info.output_dict.values() for a in arts]
                _kill_when_written(uris, returned)
            output = run_executor(self, execution_info)
            returned.set()
            if phase in ("mid", "returned"):
                _die()  # a `mid` kill whose executor wrote nothing until it returned
            return output

        def patched_publish(self, *args, **kwargs):
            publish(self, *args, **kwargs)
            if self._pipeline_node.node_info.id == where and phase == "published":
                _die()

        launcher.Launcher._run_executor = patched_run
        launcher.Launcher._publish_successful_execution = patched_publish
    elif where == "push":
        _install_push_kill(phase)
    elif where == "recovery":
        _install_recovery_kill(phase)
    else:
        raise ValueError(f"unknown kill point {kill!r}")


def _install_push_kill(phase: str) -> None:
    import shutil

    from tfx.dsl.io import fileio

    from frontier.components.pusher import executor, push

    if phase == "intent":
        write_intent = executor.write_intent

        def patched_intent(intent):
            write_intent(intent)
            _die()

        executor.write_intent = patched_intent
    elif phase in ("staging", "renamed"):

        class Dying:
            """`fileio` as the push sees it, dying at the phase."""

            copies = 0

            def __getattr__(self, name):
                return getattr(fileio, name)

            def copy(self, src, dst, overwrite=False):
                fileio.copy(src, dst, overwrite=overwrite)
                Dying.copies += 1
                if phase == "staging" and Dying.copies == 2:
                    _die()

            def rename(self, src, dst, overwrite=False):
                fileio.rename(src, dst, overwrite=overwrite)
                if phase == "renamed" and os.path.basename(src).startswith(push.STAGING_PREFIX):
                    _die()

        push._fs = lambda: Dying()
    elif phase == "output":

        def half_copy(src, dst):
            os.makedirs(dst, exist_ok=True)
            shutil.copy(os.path.join(src, push.SAVED_MODEL_FILE), dst)
            _die()

        executor.io_utils.copy_dir = half_copy
    else:
        raise ValueError(f"unknown push phase {phase!r}")


def _install_recovery_kill(phase: str) -> None:
    from frontier.pipelines import recovery

    if phase == "closing":
        remove = recovery._remove_folders

        def patched_remove(*args):
            remove(*args)
            _die()  # folders gone, the execution not yet marked failed

        recovery._remove_folders = patched_remove
    elif phase == "rollback":
        real_os_remove = os.remove

        class DyingOs:
            def __getattr__(self, name):
                return getattr(os, name)

            def remove(self, path):
                _die()  # version rolled back, intent not yet deleted
                real_os_remove(path)

        recovery.os = DyingOs()
    else:
        raise ValueError(f"unknown recovery phase {phase!r}")


def child_main(root: str, kill: str | None, recover: bool = True) -> None:
    """One run of the pipeline under `root`, killed at `kill` if given; with
    `recover` False, the run skips frontier's recovery pass (as before it
    existed), which shows what the checks count without it."""
    from frontier.pipelines import recovery, runner

    pipeline = build_pipeline(root)
    if kill:
        install_kill(kill)
    if not recover:
        recovery.recover_interrupted = lambda *args, **kwargs: []
        recovery.reconcile_pushes = lambda *args, **kwargs: []
    runner.run_pipeline(pipeline)


def run_child(root: str, kill: str | None, log, recover: bool = True) -> int:
    """Runs `child_main` in a fresh process; returns its exit status."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", root]
    if kill:
        cmd += ["--kill", kill]
    if not recover:
        cmd.append("--no-recovery")
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode


# ---------------------------------------------------------------- the checks


def _live_artifacts(store):
    """`(node/output key, artifact)` for every LIVE artifact, named by where TFX
    puts it: `<pipeline root>/<node>/<output key>/<execution id>`."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    for artifact in store.get_artifacts():
        if artifact.state == mlmd_pb2.Artifact.LIVE:
            node, key = artifact.uri.rstrip("/").split(os.sep)[-3:-1]
            yield f"{node}/{key}", artifact


def _files(uri: str) -> list[str]:
    if os.path.isfile(uri):
        return [""]
    return sorted(
        os.path.relpath(os.path.join(d, f), uri) for d, _, files in os.walk(uri) for f in files
    )


def _shape_of(uri: str) -> list[str]:
    """An artifact's file names with the parts that differ between runs (Beam's
    shard suffixes, TFMA's random names, version numbers) kept as they are only
    where stable: the set of directories and file extensions."""
    return sorted({os.path.join(os.path.dirname(f), os.path.splitext(f)[1]) for f in _files(uri)})


def _readable(uri: str) -> bool:
    """TFRecords read to the end and SavedModels load."""
    import tensorflow as tf

    try:
        for path in glob.glob(os.path.join(uri, "**", "*.gz"), recursive=True):
            for _ in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                pass
        for pb in glob.glob(os.path.join(uri, "**", "saved_model.pb"), recursive=True):
            tf.saved_model.load(os.path.dirname(pb))
    except Exception:  # noqa: BLE001 - any failure to read is a corrupt artifact
        return False
    return True


def artifact_shapes(root: str) -> dict[str, list[str]]:
    """`{node/output key: file shape}` of every LIVE artifact (the reference run's)."""
    from frontier.pipelines.runs import open_store

    return {name: _shape_of(a.uri) for name, a in _live_artifacts(open_store(root))}


def corrupt_artifacts(root: str, reference: dict[str, list[str]]) -> int:
    """How many LIVE artifacts under `root` miss files of the reference run's
    same artifact, or hold a TFRecord or SavedModel that does not read."""
    from frontier.pipelines import runs

    if not os.path.exists(os.path.join(root, runs.METADATA_FILE)):
        return 0
    bad = 0
    for name, artifact in _live_artifacts(runs.open_store(root)):
        if not os.path.exists(artifact.uri) or _shape_of(artifact.uri) != reference.get(name):
            bad += 1
        elif not _readable(artifact.uri):
            bad += 1
    return bad


def check_root(root: str, reference: dict[str, list[str]], finished: set[str]) -> dict:
    """Counts what is wrong under `root` after a run that finished.

    Args:
      root: the run root.
      reference: `artifact_shapes` of an uninterrupted run.
      finished: the components a killed run had finished (must be CACHED).
    """
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.components.pusher import push
    from frontier.pipelines import recovery, runner, runs

    store = runs.open_store(root)
    bad = corrupt_artifacts(root, reference)
    open_states = (mlmd_pb2.Execution.NEW, mlmd_pb2.Execution.RUNNING)
    stale = sum(e.last_known_state in open_states for e in store.get_executions())

    serving = runner.serving_dir(root)
    entries = os.listdir(serving) if os.path.isdir(serving) else []
    staging = [e for e in entries if e.startswith(push.STAGING_PREFIX)]
    pipeline_root = runner.pipeline_root(root, PIPELINE)
    uncommitted = 0
    for path in recovery.intent_files(pipeline_root):
        intent = push.read_intent(path)
        records = store.get_artifacts_by_uri(intent.pushed_model_uri)
        uncommitted += not any(a.state == mlmd_pb2.Artifact.LIVE for a in records)
    orphans = len(recovery.orphan_folders(root)) + len(staging) + uncommitted

    served = {os.path.join(serving, e) for e in entries if e.isdigit()}
    recorded = recovery.recorded_versions(store)
    disagreements = len(served ^ recorded)
    disagreements += sum(not _readable(v) for v in served & recorded)

    last = runs.latest_run(root, PIPELINE)
    recomputed = sorted(finished - set(last.cached))
    return {
        "lost_or_corrupt_artifacts": bad,
        "stale_running_executions": stale,
        "orphan_folders": orphans,
        "serve_mlmd_disagreements": disagreements,
        "finished_components_recomputed": len(recomputed),
        "final_states": {n.node_id: n.state for n in last.components},
    }


def finished_components(root: str) -> set[str]:
    """The components recorded COMPLETE or CACHED under `root` so far."""
    from frontier.pipelines import runs

    if not os.path.exists(os.path.join(root, runs.METADATA_FILE)):
        return set()
    done = set()
    for run in runs.list_runs(root, PIPELINE):
        done.update(n.node_id for n in run.components if n.state in ("COMPLETE", "CACHED"))
    return done


def run_point(point: KillPoint, reference: dict, workdir: str, recover: bool = True) -> dict:
    """Runs one scenario in a fresh root under `workdir`; returns its counts.
    With `recover` False, no run makes frontier's recovery pass."""
    os.makedirs(workdir, exist_ok=True)
    root = os.path.join(workdir, point.name.replace(":", "_"))
    started = time.perf_counter()
    result = {"kills": list(point.kills), "killed_by_signal": 0, "mid_write_hit": None}
    after_kill = 0
    with open(os.path.join(workdir, point.name.replace(":", "_") + ".log"), "w") as log:
        for kill in point.kills:
            status = run_child(root, kill, log, recover)
            result["killed_by_signal"] += status == -signal.SIGKILL
            # What a kill leaves LIVE must already be whole, before any recovery.
            after_kill += corrupt_artifacts(root, reference)
        finished = finished_components(root)
        result["final_status"] = run_child(root, None, log, recover)
    with open(log.name) as f:
        text = f.read()
    if any(k.endswith(":mid") for k in point.kills):
        result["mid_write_hit"] = "FAULTS mid-write hit" in text
    result.update(check_root(root, reference, finished))
    result["lost_or_corrupt_artifacts"] += after_kill
    result["recovered"] = (
        result["final_status"] == 0
        and result["killed_by_signal"] == len(point.kills)
        and all(
            result[k] == 0
            for k in (
                "lost_or_corrupt_artifacts",
                "stale_running_executions",
                "orphan_folders",
                "serve_mlmd_disagreements",
                "finished_components_recomputed",
            )
        )
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def reference_run(workdir: str) -> dict[str, list[str]]:
    """An uninterrupted run; returns its artifacts' file shapes."""
    root = os.path.join(workdir, "reference")
    with open(os.path.join(workdir, "reference.log"), "w") as log:
        status = run_child(root, None, log)
    if status != 0:
        raise RuntimeError(
            f"the uninterrupted reference run failed (status {status}); see {log.name}"
        )
    return artifact_shapes(root)


def code_digest() -> str:
    """A hash of frontier's Python sources (what `component_version` hashes, and more)."""
    import hashlib

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder in ("components", "pipelines", "schemas"):
        for path in sorted(glob.glob(os.path.join(here, folder, "**", "*.py"), recursive=True)):
            with open(path, "rb") as f:
                digest.update(path.encode() + f.read())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", help="comma-separated point names (default: all)")
    parser.add_argument("--list", action="store_true", help="print the point names and exit")
    parser.add_argument("--workdir", help="keep the run roots here (default: a temp folder)")
    parser.add_argument(
        "--no-recovery",
        action="store_true",
        help="runs skip frontier's recovery pass: what the checks find without it",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kill", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.kill, recover=not args.no_recovery)
        return
    points = kill_points()
    if args.list:
        print("\n".join(p.name for p in points))
        return
    if args.points:
        wanted = args.points.split(",")
        unknown = sorted(set(wanted) - {p.name for p in points})
        if unknown:
            parser.error(f"unknown kill points {unknown}; --list names them")
        points = [p for p in points if p.name in wanted]
    started, code = time.perf_counter(), code_digest()
    workdir = args.workdir or tempfile.mkdtemp(prefix="frontier-faults-")
    os.makedirs(workdir, exist_ok=True)
    reference = reference_run(workdir)
    per_point = {}
    from frontier.components.common.progress import track

    for point in track(points, "faults", unit="point"):
        per_point[point.name] = run_point(point, reference, workdir, not args.no_recovery)
        print(point.name, json.dumps(per_point[point.name]), flush=True)
    totals = {
        key: sum(r[key] for r in per_point.values())
        for key in (
            "lost_or_corrupt_artifacts",
            "stale_running_executions",
            "orphan_folders",
            "serve_mlmd_disagreements",
            "finished_components_recomputed",
        )
    }
    print(
        json.dumps(
            {
                "kill_points": len(per_point),
                "recovery": not args.no_recovery,
                "runs_recovered": sum(r["recovered"] for r in per_point.values()),
                **totals,
                "mid_write_hits": sum(bool(r["mid_write_hit"]) for r in per_point.values()),
                "seconds": round(time.perf_counter() - started, 1),
                "code_changed_during_run": code_digest() != code,
                "workdir": workdir,
                "points": per_point,
            }
        )
    )


if __name__ == "__main__":
    main()
