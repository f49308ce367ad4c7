"""Runtime parameters: the settings a compiled pipeline lets each run change.

A pipeline module declares its `RuntimeParam`s in one place, the list its
`create_pipeline` gives `runner.make_pipeline`; `apply` turns the named execution properties of its nodes into one TFX
`RuntimeParameter` each, whose default is the value the pipeline was built
with. The same definition then runs everywhere:

- local runs (`runner.run_pipeline`) put each default in place first (or the
  value `frontier run --param k=v` set with `set_values`), with `resolve`: TFX
  1.16's own substitution drops a falsy default (a seed of 0) and then fails
  the run with "Parameter value not ready";
- `KubeflowV2DagRunner` compiles each into a pipeline input
  (`root.inputDefinitions.parameters`), wired into every task that uses it, so
  Vertex AI and Kubeflow take a new value per run (`frontier submit --param`).

Only whole execution properties of type int, float or str can be runtime
parameters (TFX's rule); a value is checked where the component reads it, in
its executor, since at build time only the default is known. The one proto
property promoted here, the Pusher's `push_destination`, travels as its
filesystem base directory: frontier's Pusher executor accepts a plain path or
URI there as well as `PushDestination` JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

PUSH_DESTINATION = "push_destination"


@dataclasses.dataclass(frozen=True)
class RuntimeParam:
    """One runtime parameter of a pipeline.

    Attributes:
      name: the parameter's name in the compiled spec (`[a-z_][a-z0-9_]*`).
      properties: execution-property names it sets on each node that has them.
      nodes: the node ids it applies to; None: every node with one of `properties`.
      description: what the value means, shown in the compiled spec and by `frontier submit`.
      value: if set, only the properties that hold this value (a pipeline's
        seed drives the seeds built from it; a branch configured with a seed
        of its own keeps that one fixed).
    """

    name: str
    properties: tuple[str, ...]
    nodes: tuple[str, ...] | None = None
    description: str = ""
    value: Any = None


def _plain(key: str, value: Any) -> Any:
    """The scalar a property's current value becomes as a parameter default."""
    from google.protobuf import json_format, message

    if key == PUSH_DESTINATION:
        from tfx.proto import pusher_pb2

        if isinstance(value, str):
            value = json_format.Parse(value, pusher_pb2.PushDestination())
        if value.WhichOneof("destination") != "filesystem":
            raise ValueError("only a filesystem push_destination can be a runtime parameter")
        return value.filesystem.base_directory
    if isinstance(value, message.Message):
        raise ValueError(
            f"execution property {key!r} is a {type(value).__name__} proto; only int, float"
            " and str properties can be runtime parameters"
        )
    return value


def _ptype(component, key: str) -> type:
    kind = component.spec.PARAMETERS[key].type
    return kind if kind in (int, float, str) else str


def apply(components: Iterable, params: Iterable[RuntimeParam]) -> dict[str, Any]:
    """Makes each parameter's execution properties runtime parameters, in place.

    Args:
      components: the pipeline's nodes.
      params: the parameters; names must be unique.

    Returns:
      {name: default}, the default being the value every target had.

    Raises:
      ValueError: a parameter that matches no node (or names a node that is
        not there), targets that disagree on the value (the default would be
        ambiguous: name the nodes), or a property that cannot be a parameter.
    """
    from tfx.orchestration import data_types

    components = list(components)
    by_id = {c.id: c for c in components}
    defaults: dict[str, Any] = {}
    for param in params:
        if param.name in defaults:
            raise ValueError(f"runtime parameter {param.name!r} is declared twice")
        missing = [n for n in param.nodes or () if n not in by_id]
        if missing:
            raise ValueError(f"runtime parameter {param.name!r}: no node with id {missing}")
        targets = [
            (c, key)
            for c in (components if param.nodes is None else [by_id[n] for n in param.nodes])
            for key in param.properties
            if c.exec_properties.get(key) is not None
            and (param.value is None or c.exec_properties[key] == param.value)
        ]
        if not targets:
            raise ValueError(
                f"runtime parameter {param.name!r}: no node has {list(param.properties)}"
            )
        values = {(c.id, key): _plain(key, c.exec_properties[key]) for c, key in targets}
        if isinstance(next(iter(values.values())), data_types.RuntimeParameter):
            raise ValueError(f"runtime parameter {param.name!r}: already applied")
        if len({repr(v) for v in values.values()}) > 1:
            raise ValueError(
                f"runtime parameter {param.name!r}: its nodes disagree on the default "
                f"({', '.join(f'{n}.{k}={v!r}' for (n, k), v in values.items())}); "
                "restrict it to nodes that share a value"
            )
        ptypes = {_ptype(c, key) for c, key in targets}
        if len(ptypes) > 1:
            raise ValueError(f"runtime parameter {param.name!r}: its properties differ in type")
        ptype = ptypes.pop()
        default = ptype(next(iter(values.values())))
        runtime = data_types.RuntimeParameter(
            name=param.name, ptype=ptype, default=default, description=param.description
        )
        for c, key in targets:
            c.exec_properties[key] = runtime
        defaults[param.name] = default
    return defaults


def declared(components: Iterable) -> dict[str, Any]:
    """The pipeline's runtime parameters, {name: TFX RuntimeParameter}, by name."""
    from tfx.orchestration import data_types

    found: dict[str, Any] = {}
    for c in components:
        for value in c.exec_properties.values():
            if isinstance(value, data_types.RuntimeParameter):
                found.setdefault(value.name, value)
    return found


def resolve(components: Iterable) -> dict[str, Any]:
    """Replaces every runtime parameter by its default, in place (for local runs).

    Returns:
      {name: value} of the parameters replaced.
    """
    from tfx.orchestration import data_types

    values: dict[str, Any] = {}
    for c in components:
        for key, value in list(c.exec_properties.items()):
            if isinstance(value, data_types.RuntimeParameter):
                c.exec_properties[key] = values[value.name] = value.ptype(value.default)
    return values


def convert(name: str, text: str, ptype: type) -> Any:
    """`text` (from `--param name=text`) as `ptype`, else a ValueError naming `name`."""
    if ptype is str:
        return text
    try:
        return ptype(text)
    except ValueError:
        kind = {int: "an integer", float: "a number"}[ptype]
        raise ValueError(f"--param {name}={text}: expected {kind}") from None


def set_values(components: Iterable, values: Mapping[str, str]) -> None:
    """Sets the defaults of runtime parameters (`frontier run --param`), in place.

    Args:
      components: the pipeline's nodes.
      values: {name: text}; each is converted to the parameter's type.

    Raises:
      ValueError: an unknown name (the message lists the known ones) or a
        value of the wrong type.
    """
    found = declared(components)
    unknown = sorted(set(values) - set(found))
    if unknown:
        raise ValueError(
            f"unknown runtime parameter(s) {unknown}; this pipeline has {sorted(found)}"
        )
    for name, text in values.items():
        found[name].default = convert(name, text, found[name].ptype)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["k=v", ...]` from repeated `--param` flags, as {k: v}."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def from_config(config: Any, *names: str) -> dict[str, Any]:
    """A component's arguments `names`, taken from the fields of `config` that bear those
    names (a pipeline config, or parsed command-line arguments)."""
    return {name: getattr(config, name) for name in names}


# Parameters the shipped pipelines share.
def seed(value: int) -> RuntimeParam:
    """The `seed` parameter: every seed property that holds the pipeline's seed `value`."""
    return RuntimeParam(
        "seed",
        ("seed", "partition_seed"),
        description="seed of the data split, the client partition and every training step",
        value=value,
    )


def source(*nodes: str, value: str | None = None) -> RuntimeParam:
    """The `source` parameter: what the given Ingest nodes read (those reading `value`
    when it is given)."""
    return RuntimeParam(
        "source",
        ("source",),
        nodes,
        "Ingest's data: a file, directory or glob (local path, gs://...) or sklearn:<name>",
        value,
    )
