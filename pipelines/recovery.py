"""Executions left RUNNING by a process that died: marked failed, their folders removed.

A local run killed outright (SIGKILL, an out-of-memory kill, a closed
laptop) cannot record its end: TFX leaves the component's execution
`RUNNING` in ML Metadata for ever, and its half-written output folders on
disk. Finished components are safe (the next run takes them from the cache);
the interrupted one is not, and nothing says so.

`recover_interrupted` runs before every local run of a pipeline
(`runner.run_pipeline`): each execution of that pipeline still `NEW` or
`RUNNING` belongs to a run that ended, because local runs of one pipeline
under one root are made one at a time (LocalDagRunner and BeamDagRunner both
run a pipeline inside one process). Each is marked `FAILED` with the custom
property `frontier_interrupted` saying when it was found and why, the output
artifacts it had not published are marked `ABANDONED`, and the folders TFX
had prepared for it (`<pipeline_root>/<node>/<output key>/<execution id>`,
and the executor's scratch folder under `.system`) are removed. `frontier
runs` then shows the node as `INTERRUPTED`.

`reconcile_pushes` runs next: it finishes the two-phase pushes of the
pipeline's Pushers (`frontier.components.pusher.push`). A push whose
`PushedModel` never became LIVE in ML Metadata is rolled back: its staging
folder and the version it may have renamed into place are removed, so the
serving directory holds exactly the versions that ML Metadata records.

`orphan_folders` lists the artifact folders under a run root's pipelines that
no LIVE artifact in ML Metadata names (left by runs killed before this
module existed, by failed executions, or by abandoned outputs), and
`frontier runs --gc` lists them, then removes them with `--yes`.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import shutil

INTERRUPTED_PROPERTY = "frontier_interrupted"
INTERRUPTED = "INTERRUPTED"  # the state `runs` shows for such an execution
_OPEN_STATES = ("NEW", "RUNNING")


@dataclasses.dataclass(frozen=True)
class Interrupted:
    """One execution found open and closed.

    Attributes:
      execution_id: its MLMD id.
      node_id: the component it ran.
      removed: the folders removed (its unpublished outputs and scratch).
    """

    execution_id: int
    node_id: str
    removed: tuple[str, ...]


def recover_interrupted(
    metadata_path: str, pipeline_name: str, pipeline_root: str, now: datetime.datetime | None = None
) -> list[Interrupted]:
    """Closes the executions of `pipeline_name` that a dead process left open.

    Args:
      metadata_path: the run root's MLMD SQLite file (nothing to do if absent).
      pipeline_name: the pipeline about to run.
      pipeline_root: its artifact root (where TFX puts `<node>/<key>/<id>`).
      now: the time written into the property (default: now).

    Returns:
      What was closed, one `Interrupted` per execution (also logged).
    """
    from absl import logging
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.pipelines.runs import node_id_of, open_store

    if not os.path.exists(metadata_path):
        return []
    store = open_store(os.path.dirname(metadata_path))
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        return []
    open_states = {mlmd_pb2.Execution.State.Value(s) for s in _OPEN_STATES}
    stale = [
        e for e in store.get_executions_by_context(context.id) if e.last_known_state in open_states
    ]
    when = (now or datetime.datetime.now()).isoformat(timespec="seconds")
    closed = []
    for execution in stale:
        node = node_id_of(store, execution.id, pipeline_name)
        execution.last_known_state = mlmd_pb2.Execution.FAILED
        execution.custom_properties[
            INTERRUPTED_PROPERTY
        ].string_value = (
            f"left open by a run that ended before the component finished; marked failed at {when}"
        )
        abandoned = _unpublished_outputs(store, execution.id)
        for artifact in abandoned:
            artifact.state = mlmd_pb2.Artifact.ABANDONED
        removed = _remove_folders(pipeline_root, node, execution.id, abandoned)
        store.put_executions([execution])
        if abandoned:
            store.put_artifacts(abandoned)
        logging.warning(
            "%s: execution %d of %s was left open by a run that died; marked failed, removed %s",
            pipeline_name,
            execution.id,
            node,
            list(removed) or "nothing",
        )
        closed.append(Interrupted(execution.id, node, removed))
    return closed


@dataclasses.dataclass(frozen=True)
class PushOutcome:
    """One push intent found and settled.

    Attributes:
      intent: the intent file's path.
      version_dir: the serving version the push was to create.
      committed: whether ML Metadata recorded the push (a LIVE `PushedModel`).
      removed: what a rolled-back push left and was removed (staging folder,
        version folder); empty for a committed push.
    """

    intent: str
    version_dir: str
    committed: bool
    removed: tuple[str, ...]


def reconcile_pushes(metadata_path: str, pipeline_root: str) -> list[PushOutcome]:
    """Commits or rolls back every push intent under `pipeline_root`.

    Runs before a local run, after `recover_interrupted` (so no execution of
    the pipeline is open). An intent whose `PushedModel` output is LIVE in ML
    Metadata was committed; any other was not, and its staging folder and its
    version folder are removed, the version only if no LIVE `PushedModel`
    names it (a version one record names stays, whichever push made it).
    Every intent file is then deleted.

    Args:
      metadata_path: the run root's MLMD SQLite file.
      pipeline_root: the pipeline's artifact root (intents lie at
        `<node>/<output key>/<execution id>.push-intent.json`).

    Returns:
      One `PushOutcome` per intent (rollbacks are also logged).
    """
    from absl import logging
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.components.pusher import read_intent
    from frontier.pipelines.runs import open_store

    paths = intent_files(pipeline_root)
    if not paths:
        return []
    store = open_store(os.path.dirname(metadata_path)) if os.path.exists(metadata_path) else None
    live = mlmd_pb2.Artifact.LIVE
    served = recorded_versions(store) if store is not None else set()
    outcomes = []
    for path in paths:
        try:
            intent = read_intent(path)
        except ValueError as e:  # written whole by design; a foreign file is only reported
            logging.warning("%s; left in place", e)
            continue
        records = store.get_artifacts_by_uri(intent.pushed_model_uri) if store else []
        committed = any(a.state == live for a in records)
        removed = []
        if not committed:
            candidates = [intent.staging]
            if os.path.abspath(intent.version_dir) not in served:
                candidates.append(intent.version_dir)
            for folder in candidates:
                if os.path.isdir(folder):
                    shutil.rmtree(folder)
                    removed.append(folder)
            logging.warning(
                "push of %s was not recorded in ML Metadata (the run died first); rolled back,"
                " removed %s",
                intent.version_dir,
                removed or "nothing",
            )
        os.remove(path)
        outcomes.append(PushOutcome(path, intent.version_dir, committed, tuple(removed)))
    return outcomes


def intent_files(pipeline_root: str) -> list[str]:
    """The push intents under a pipeline root (`<node>/<key>/<id>.push-intent.json`)."""
    from frontier.components.pusher import INTENT_SUFFIX

    return sorted(glob.glob(os.path.join(pipeline_root, "*", "*", "*" + INTENT_SUFFIX)))


def recorded_versions(store) -> set[str]:
    """The serving folders that LIVE, pushed `PushedModel` artifacts name."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    served = set()
    for artifact in store.get_artifacts_by_type("PushedModel"):
        props = artifact.custom_properties
        if artifact.state == mlmd_pb2.Artifact.LIVE and props["pushed"].int_value == 1:
            served.add(os.path.abspath(props["pushed_destination"].string_value))
    return served


def _unpublished_outputs(store, execution_id: int) -> list:
    """The execution's output artifacts that never became LIVE."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    kinds = (mlmd_pb2.Event.OUTPUT, mlmd_pb2.Event.PENDING_OUTPUT)
    ids = sorted(
        {
            e.artifact_id
            for e in store.get_events_by_execution_ids([execution_id])
            if e.type in kinds
        }
    )
    artifacts = store.get_artifacts_by_id(ids) if ids else []
    return [a for a in artifacts if a.state != mlmd_pb2.Artifact.LIVE]


def _remove_folders(pipeline_root: str, node: str, execution_id: int, artifacts: list) -> tuple:
    """Removes what TFX prepared for the execution; returns the removed paths."""
    node_dir = os.path.join(pipeline_root, node)
    candidates = set(glob.glob(os.path.join(node_dir, "*", str(execution_id))))
    candidates.update(glob.glob(os.path.join(node_dir, ".system", "*", str(execution_id))))
    candidates.update(a.uri for a in artifacts if a.uri)
    removed = []
    for path in sorted(candidates):
        # Only folders under the pipeline root: an artifact's uri is never
        # trusted to point anywhere else.
        inside = os.path.commonpath([os.path.abspath(path), os.path.abspath(pipeline_root)])
        if os.path.isdir(path) and inside == os.path.abspath(pipeline_root):
            shutil.rmtree(path)
            removed.append(path)
    return tuple(removed)


def orphan_folders(root: str) -> list[str]:
    """Artifact folders under `<root>/pipelines` that no LIVE artifact names.

    TFX lays an execution's outputs out as
    `<root>/pipelines/<pipeline>/<node>/<output key>/<execution id>`; a
    folder of that shape is an orphan when no LIVE artifact's URI is it or
    lies inside it. Folders of executions still open (NEW or RUNNING) are
    left alone: `recover_interrupted` decides about those.
    """
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.pipelines.runs import open_store

    store = open_store(root)
    live = [
        os.path.abspath(a.uri)
        for a in store.get_artifacts()
        if a.state == mlmd_pb2.Artifact.LIVE and a.uri
    ]
    open_states = {mlmd_pb2.Execution.State.Value(s) for s in _OPEN_STATES}
    running = {str(e.id) for e in store.get_executions() if e.last_known_state in open_states}
    orphans = []
    pattern = os.path.join(os.path.abspath(root), "pipelines", "*", "*", "*", "*")
    for folder in sorted(glob.glob(pattern)):
        name = os.path.basename(folder)
        if not (os.path.isdir(folder) and name.isdigit()) or name in running:
            continue
        if any(uri == folder or uri.startswith(folder + os.sep) for uri in live):
            continue
        orphans.append(folder)
    return orphans
