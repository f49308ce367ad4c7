"""Past runs, read back from ML Metadata: what ran, what was cached, what it made.

TFX records every run in MLMD: a `pipeline_run` context per run, a `node`
context per component, an execution per component run (state COMPLETE,
CACHED or FAILED) with the execution properties it ran with, OUTPUT events
to the artifacts it made, INPUT events to those it read, and, for a
Resolver, INTERNAL_OUTPUT events to those it resolved. This module turns that into small records for the
CLI (`frontier runs`, `frontier report`) and the run report; it needs only
`ml_metadata`, not TFX.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import string
from collections.abc import Mapping, Sequence

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from frontier.pipelines.recovery import INTERRUPTED, INTERRUPTED_PROPERTY

METADATA_FILE = "metadata.sqlite"
# Resolver and Importer nodes run on every run (they query MLMD); they are
# pipeline plumbing, not components whose work the cache could save.
_SYSTEM_NODE_PREFIX = "tfx.dsl.components.common."
_STATE = {v: k for k, v in mlmd_pb2.Execution.State.items()}
# Execution properties that TFX and frontier keep for their own bookkeeping rather
# than parameters a component ran with: TFX's `__...__` names (e.g. the stateful
# working directory index) and recovery's note, which the node's state already says.
_INTERNAL_PREFIX = "__"
_INTERNAL = frozenset({INTERRUPTED_PROPERTY})
_LISTED = 5  # runs named by `find_run`'s error
# The events a NodeRecord keeps: outputs, inputs, and what a Resolver resolved.
_EVENTS = (mlmd_pb2.Event.OUTPUT, mlmd_pb2.Event.INPUT, mlmd_pb2.Event.INTERNAL_OUTPUT)


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    """One artifact of a node: MLMD id, type name, its input or output key, URI, and
    its custom properties."""

    id: int
    type_name: str
    key: str
    uri: str
    properties: dict


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """One component's execution within a run."""

    node_id: str
    execution_type: str
    execution_id: int
    state: str  # COMPLETE, CACHED, FAILED, RUNNING ..., or INTERRUPTED (`recovery`)
    seconds: float  # from registration to publication (includes driver + executor)
    outputs: tuple[ArtifactRecord, ...]
    # The execution properties it ran with, as TFX recorded them (`parameters_of`).
    parameters: dict = dataclasses.field(default_factory=dict)
    # When its execution was last updated (its end, once it finished); None if unknown.
    ended: datetime.datetime | None = None
    # What it read (INPUT events), for its node page; read with the outputs, at no
    # extra query.
    inputs: tuple[ArtifactRecord, ...] = ()
    # What a Resolver resolved (its INTERNAL_OUTPUT events: it has no OUTPUT ones).
    resolved: tuple[ArtifactRecord, ...] = ()

    @property
    def is_system(self) -> bool:
        """A Resolver or Importer node rather than a component."""
        return self.execution_type.startswith(_SYSTEM_NODE_PREFIX)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run."""

    pipeline: str
    run_id: str
    context_id: int
    started: datetime.datetime
    nodes: tuple[NodeRecord, ...]

    @property
    def ended(self) -> datetime.datetime | None:
        """When the last of its executions was last updated (None without any)."""
        times = [n.ended for n in self.nodes if n.ended is not None]
        return max(times) if times else None

    @property
    def state(self) -> str:
        """The run's state as a whole: FAILED or INTERRUPTED if any component is,
        RUNNING if any is still open, else COMPLETE (cached components included)."""
        states = {n.state for n in self.components}
        for state in ("FAILED", INTERRUPTED, "RUNNING", "NEW"):
            if state in states:
                return "RUNNING" if state == "NEW" else state
        return "COMPLETE"

    @property
    def components(self) -> list[NodeRecord]:
        """The nodes that are components (not Resolver / Importer nodes)."""
        return [n for n in self.nodes if not n.is_system]

    def _with_state(self, state: str) -> list[str]:
        return [n.node_id for n in self.components if n.state == state]

    @property
    def cached(self) -> list[str]:
        return self._with_state("CACHED")

    @property
    def executed(self) -> list[str]:
        return self._with_state("COMPLETE")

    @property
    def failed(self) -> list[str]:
        return self._with_state("FAILED")

    @property
    def interrupted(self) -> list[str]:
        """Components whose run was killed before it finished (`recovery`)."""
        return self._with_state(INTERRUPTED)

    def properties(self, prefix: str, key: str, *keys: str) -> dict[str, dict]:
        """Per node whose id starts with `prefix` (keyed by the rest of its id):
        the properties of its first output artifact that has `key` (and `keys`).

        E.g. `run.properties("CiwReport_", "accuracy")` -> {"ce": {...}, "ciw": {...}},
        in node order; nodes with no such output are left out.
        """
        found = {}
        for node in self.nodes:
            if not node.node_id.startswith(prefix):
                continue
            for a in node.outputs:
                if all(k in a.properties for k in (key, *keys)):
                    found[node.node_id[len(prefix) :]] = dict(a.properties)
                    break
        return found

    def formatted(self, prefix: str, template: str) -> dict[str, str]:
        """`template` filled in with the properties `properties` finds for its fields.

        E.g. `run.formatted("SplLabeler_", "; {num_classes} classes")` -> {"spl": "; 12 classes"}.
        """
        keys = [field for _, field, _, _ in string.Formatter().parse(template) if field]
        return {
            name: template.format(**props) for name, props in self.properties(prefix, *keys).items()
        }

    def accuracy_lines(
        self, prefix: str, line: str, versus: str, notes: dict[str, str] | None = None
    ) -> list[str]:
        """One line per EvaluationReport whose node id starts with `prefix`, in node order.

        Args:
          prefix: the reports' node id prefix; the rest of the id is the line's `name`.
          line: a template of `name` and `accuracy` (the report's held-out accuracy).
          versus: a template of `baseline`, added where the report compared the
            model with a baseline (its `baseline_accuracy`).
          notes: text added to the line of each name (e.g. from `formatted`).
        """
        lines = []
        for name, props in self.properties(prefix, "accuracy").items():
            text = line.format(name=name, accuracy=props["accuracy"])
            base = props.get("baseline_accuracy")
            if isinstance(base, float):
                text += versus.format(baseline=base)
            lines.append(text + (notes or {}).get(name, ""))
        return lines


def open_store(root: str) -> metadata_store.MetadataStore:
    """The MLMD store of a run root (`<root>/metadata.sqlite`), read-write."""
    path = os.path.join(root, METADATA_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no ML Metadata store at {path}: nothing has run under {root} yet")
    config = mlmd_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def _value(v: mlmd_pb2.Value):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("int_value", "double_value", "string_value") else str(v)


def parameters_of(execution: mlmd_pb2.Execution) -> dict:
    """The parameters an execution ran with: its `properties` and `custom_properties`
    (TFX's local runners record execution properties as the latter), by name, less
    the bookkeeping ones (`__...__` names, recovery's note). Values are int, float
    or str; structured ones (lists, protos) are the JSON text TFX recorded."""
    found = {}
    for props in (execution.properties, execution.custom_properties):
        for name, value in props.items():
            if not name.startswith(_INTERNAL_PREFIX) and name not in _INTERNAL:
                found[name] = _value(value)
    return dict(sorted(found.items()))


def _time(ms: int) -> datetime.datetime | None:
    return datetime.datetime.fromtimestamp(ms / 1000.0) if ms else None


def node_id_of(store, execution_id: int, pipeline: str) -> str:
    """The node id of an execution of `pipeline` (its `node` context), else the id."""
    for ctx in store.get_contexts_by_execution(execution_id):
        if ctx.type == "node" and ctx.name.startswith(pipeline + "."):
            return ctx.name[len(pipeline) + 1 :]
    return str(execution_id)


def _run_record(store, ctx) -> RunRecord:
    pipeline = _pipeline_of(store, ctx)
    executions = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    # event type -> execution id -> [(artifact id, key)]
    linked: dict[int, dict[int, list[tuple[int, str]]]] = {t: {} for t in _EVENTS}
    for ev in events:
        if ev.type in linked:
            key = ev.path.steps[0].key if ev.path.steps else ""
            linked[ev.type].setdefault(ev.execution_id, []).append((ev.artifact_id, key))
    artifact_ids = sorted({a for by in linked.values() for pairs in by.values() for a, _ in pairs})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)} if artifact_ids else {}
    types = {t.id: t.name for t in store.get_artifact_types()}
    execution_types = {t.id: t.name for t in store.get_execution_types()}

    def records(event_type: int, execution_id: int) -> tuple[ArtifactRecord, ...]:
        return tuple(
            ArtifactRecord(
                id=a_id,
                type_name=types.get(artifacts[a_id].type_id, "?"),
                key=key,
                uri=artifacts[a_id].uri,
                properties={k: _value(v) for k, v in artifacts[a_id].custom_properties.items()},
            )
            for a_id, key in sorted(linked[event_type].get(execution_id, []), key=lambda p: p[1])
            if a_id in artifacts
        )

    nodes = []
    for e in executions:
        nodes.append(
            NodeRecord(
                node_id=node_id_of(store, e.id, pipeline),
                execution_type=execution_types.get(e.type_id, "?"),
                execution_id=e.id,
                state=INTERRUPTED
                if INTERRUPTED_PROPERTY in e.custom_properties
                else _STATE.get(e.last_known_state, "UNKNOWN"),
                seconds=(e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000.0,
                outputs=records(mlmd_pb2.Event.OUTPUT, e.id),
                parameters=parameters_of(e),
                ended=_time(e.last_update_time_since_epoch),
                inputs=records(mlmd_pb2.Event.INPUT, e.id),
                resolved=records(mlmd_pb2.Event.INTERNAL_OUTPUT, e.id),
            )
        )
    started = datetime.datetime.fromtimestamp(ctx.create_time_since_epoch / 1000.0)
    return RunRecord(pipeline, ctx.name, ctx.id, started, tuple(nodes))


def _pipeline_of(store, ctx) -> str:
    # A run context's executions also sit in the pipeline context.
    for e in store.get_executions_by_context(ctx.id)[:1]:
        for c in store.get_contexts_by_execution(e.id):
            if c.type == "pipeline":
                return c.name
    return ""


def list_runs(root: str, pipeline: str | None = None) -> list[RunRecord]:
    """All runs recorded under `root`, oldest first (optionally of one pipeline)."""
    store = open_store(root)
    runs = [_run_record(store, c) for c in store.get_contexts_by_type("pipeline_run")]
    runs = [r for r in runs if pipeline is None or r.pipeline == pipeline]
    return sorted(runs, key=lambda r: (r.started, r.context_id))


def latest_run(root: str, pipeline: str | None = None) -> RunRecord:
    runs = list_runs(root, pipeline)
    if not runs:
        raise LookupError(f"no runs of {pipeline or 'any pipeline'} recorded under {root}")
    return runs[-1]


def find_run(root: str, run_id: str | None = None) -> RunRecord:
    """The run `run_id` recorded under `root` (as `frontier runs` prints it, or an
    unambiguous prefix of it); the latest run of any pipeline when None.

    Raises:
      FileNotFoundError: no ML Metadata store under `root`.
      LookupError: no run matches (the message names the latest few), or a
        prefix matches several.
    """
    runs = list_runs(root)
    if not runs:
        raise LookupError(f"no runs recorded under {root}")
    if run_id is None:
        return runs[-1]
    exact = [r for r in runs if r.run_id == run_id]
    found = exact or [r for r in runs if r.run_id.startswith(run_id)]
    if len(found) == 1:
        return found[0]
    shown = found if found else runs
    listed = ", ".join(f"{r.run_id} ({r.pipeline})" for r in shown[::-1][:_LISTED])
    more = (
        f" and {len(shown) - _LISTED} more (`frontier runs` lists them)"
        if len(shown) > _LISTED
        else ""
    )
    if found:
        raise LookupError(f"run {run_id!r} is ambiguous under {root}: it begins {listed}{more}")
    raise LookupError(f"no run {run_id!r} under {root}; the latest: {listed}{more}")


def format_runs(
    runs: list[RunRecord],
    headlines: Mapping[str, Sequence[str]] | None = None,
    artifacts: bool = False,
) -> str:
    """A plain-text listing for the terminal: one line per run, then its headline
    figures (`headlines`: run id -> lines, e.g. `results.Result.headline`s) and
    the components that failed or were interrupted; with `artifacts`, every node
    with its state, execution id and output artifacts (MLMD id, type, URI)."""
    lines = []
    for r in runs:
        lines.append(
            f"{r.pipeline}  run {r.run_id}  started {r.started:%Y-%m-%d %H:%M:%S}  "
            f"executed {len(r.executed)}, cached {len(r.cached)}, failed {len(r.failed)}"
            + (f", interrupted {len(r.interrupted)}" if r.interrupted else "")
        )
        lines += [f"    {h}" for h in (headlines or {}).get(r.run_id, ())]
        if not artifacts:
            for what, ids in (("failed", r.failed), ("interrupted", r.interrupted)):
                if ids:
                    lines.append(f"    {what}: {', '.join(ids)}")
            continue
        for n in r.nodes:
            lines.append(f"  {n.node_id:<34} {n.state:<9} execution {n.execution_id}")
            for a in n.outputs:
                lines.append(f"      {a.key:<16} #{a.id:<5} {a.type_name:<24} {a.uri}")
    return "\n".join(lines)
