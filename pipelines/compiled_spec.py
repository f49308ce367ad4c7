"""A compiled pipeline file, as `frontier submit` reads it for either target.

`frontier compile` writes one of two forms: a Vertex AI `PipelineJob` JSON
(`pipelineSpec` plus `runtimeConfig`) or a `PipelineSpec` YAML (the spec
alone, with further YAML documents for kfp's `PlatformSpec`). `load_spec`
reads either, checks it against the pipeline-spec protos and returns a
`CompiledPipeline`: its spec, its runtime parameters with their defaults,
and the target it was compiled for (`compiled_for`; a file compiled for one
target is refused for the other, `for_target`).

`--param NAME=VALUE` values are converted by the parameter's type in the spec
(`root.inputDefinitions.parameters`): NUMBER_INTEGER to int, NUMBER_DOUBLE to
float, STRING as given, BOOLEAN from true/false, LIST/STRUCT from JSON
(`parse_params`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from frontier.pipelines.resources import KUBEFLOW, VERTEX

PIPELINE_JOB = "PipelineJob"
PIPELINE_SPEC = "PipelineSpec"
YAML_SUFFIXES = (".yaml", ".yml")

# A parameter's declared type (schema 2.1 `parameterType`, 2.0 `type`) -> Python type.
_TYPES: dict[str, type] = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "INT": int,
    "NUMBER_DOUBLE": float,
    "DOUBLE": float,
    "BOOLEAN": bool,
    "LIST": list,
    "STRUCT": dict,
}
_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a finite number",
    bool: "true or false",
    list: "a JSON list",
    dict: "a JSON object",
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class SubmitError(RuntimeError):
    """The service could not be reached or refused the submission; the message says which.

    Raised by both targets (`frontier.pipelines.vertex`, `frontier.pipelines.kubeflow`).
    """


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run goes on either target: `frontier submit`'s flags common to both.

    `submit_vertex` and `submit_kubeflow` take these as keyword arguments.

    Attributes:
      params: runtime parameter values (`parse_params`); the others keep their defaults.
      pipeline_root: where artifacts go (Vertex: a gs:// URI; Kubeflow: an object
        store URI); None: the file's, else the service's default.
      run_name: the run's display name (None: `default_run_name`).
      no_cache: turn caching off for every task.
      service_account: the account the run uses (Vertex: GCP; Kubeflow: Kubernetes).
      experiment: Kubeflow: the experiment's name (None: kfp's default,
        "Default"); Vertex: a Vertex AI experiment to associate the run with.
    """

    params: Mapping[str, Any] | None = None
    pipeline_root: str | None = None
    run_name: str | None = None
    no_cache: bool = False
    service_account: str | None = None
    experiment: str | None = None


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One runtime parameter of a compiled pipeline.

    Attributes:
      name: its name in `root.inputDefinitions.parameters`.
      type: its declared type as written in the spec (e.g. NUMBER_INTEGER).
      default: the value a run gets without `--param` (None: none given).
      description: what it means, from the spec.
    """

    name: str
    type: str
    default: Any = None
    description: str = ""


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline file, as read by `load_spec`.

    Attributes:
      path: the file.
      form: PIPELINE_JOB (Vertex PipelineJob JSON) or PIPELINE_SPEC (the spec alone).
      spec: the PipelineSpec dict.
      job: the whole PipelineJob dict (form PIPELINE_JOB), else None.
      platform_spec: a PipelineSpec YAML's further documents, merged (kfp's
        PlatformSpec; empty for what frontier compiles).
    """

    path: str
    form: str
    spec: dict[str, Any]
    job: dict[str, Any] | None = None
    platform_spec: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        """The pipeline's name (`pipelineInfo.name`)."""
        return self.spec["pipelineInfo"]["name"]

    @property
    def compiled_for(self) -> str | None:
        """VERTEX or KUBEFLOW for a spec `frontier compile` wrote (read from its steps'
        command), None for a spec frontier did not compile."""
        from frontier.pipelines.compile import COMMAND
        from frontier.pipelines.entrypoint import KFP_LAUNCHER_PATHS

        executors = self.spec.get("deploymentSpec", {}).get("executors", {}).values()
        commands = [e.get("container", {}).get("command") or [] for e in executors]
        ours = [c for c in commands if c[: len(COMMAND)] == COMMAND]
        if not ours:
            return None
        return KUBEFLOW if any(KFP_LAUNCHER_PATHS in c for c in ours) else VERTEX

    @property
    def runtime_config(self) -> dict[str, Any]:
        """The PipelineJob's `runtimeConfig` ({} for a PipelineSpec file)."""
        return (self.job or {}).get("runtimeConfig") or {}

    @property
    def default_root(self) -> str | None:
        """The pipeline root a run gets without `--pipeline-root` (Vertex's order)."""
        return self.spec.get("defaultPipelineRoot") or self.runtime_config.get("gcsOutputDirectory")

    @property
    def parameters(self) -> dict[str, Parameter]:
        """The runtime parameters by name, with their defaults."""
        declared = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        values = self.runtime_config.get("parameterValues") or {}
        old_values = self.runtime_config.get("parameters") or {}  # schema 2.0
        out = {}
        for name, decl in sorted(declared.items()):
            kind = decl.get("parameterType") or decl.get("type") or ""
            default = decl.get("defaultValue")
            if name in values:
                default = values[name]
            elif name in old_values:
                default = next(iter(old_values[name].values()), None)
            out[name] = Parameter(name, kind, _typed(default, kind), decl.get("description", ""))
        return out


def _typed(value: Any, kind: str) -> Any:
    """`value` as its declared type where that loses nothing (TFX writes ints as doubles)."""
    if _TYPES.get(kind) is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if _TYPES.get(kind) is int and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # schema 2.0 intValue, an int64 in JSON
    return value


def _not_compiled(path: str, found: str) -> ValueError:
    """The error for a file that is not a compiled pipeline; `found` says what it is."""
    return ValueError(
        f"{path}: not a compiled pipeline ({found}); expected a Vertex PipelineJob JSON"
        " (with pipelineSpec) or a PipelineSpec YAML (with pipelineInfo, root and"
        " schemaVersion), as `frontier compile` writes"
    )


def load_spec(path: str) -> CompiledPipeline:
    """Reads a compiled pipeline: a PipelineJob JSON or a PipelineSpec YAML/JSON.

    The spec is checked by parsing it into the pipeline-spec protos (an unknown
    field or a wrong type fails).

    Raises:
      FileNotFoundError: no such file.
      ValueError: naming the file, when it is not a compiled pipeline.
    """
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such file (expected a pipeline compiled by `frontier compile`)"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise _not_compiled(path, "not UTF-8 text") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        if path.lower().endswith(".json"):
            docs = [json.loads(text)]
        else:  # YAML, a superset of JSON
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (ValueError, yaml.YAMLError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _not_compiled(path, f"cannot be parsed: {reason}") from None
    if not docs or not isinstance(docs[0], dict):
        raise _not_compiled(path, "not a mapping")
    first = docs[0]
    if "pipelineSpec" in first:
        form, spec, job = PIPELINE_JOB, first["pipelineSpec"], first
        if len(docs) > 1:
            raise _not_compiled(path, "a PipelineJob followed by more YAML documents")
    elif "pipelineInfo" in first and "root" in first:
        form, spec, job = PIPELINE_SPEC, first, None
    else:
        raise _not_compiled(path, f"top-level keys {sorted(map(str, first))[:8]}")
    if not isinstance(spec, dict):
        raise _not_compiled(path, "pipelineSpec is not a mapping")
    platform: dict[str, Any] = {}
    for doc in docs[1:]:
        if not isinstance(doc, dict):
            raise _not_compiled(path, "a further YAML document is not a mapping")
        platform.update(doc)
    try:
        if job is not None:
            json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    except json_format.ParseError as e:
        raise ValueError(f"{path}: not a valid {form}: {e}") from None
    for key in ("schemaVersion", "pipelineInfo", "root"):
        if not spec.get(key):
            raise _not_compiled(path, f"the spec has no {key}")
    if not spec["pipelineInfo"].get("name"):
        raise _not_compiled(path, "the spec has no pipelineInfo.name")
    return CompiledPipeline(os.path.abspath(path), form, spec, job, platform)


def as_pipeline(pipeline: CompiledPipeline | str) -> CompiledPipeline:
    """`pipeline` itself, or the file of that path read by `load_spec`."""
    return pipeline if isinstance(pipeline, CompiledPipeline) else load_spec(pipeline)


def parse_params(specs: Sequence[str], pipeline: CompiledPipeline | str) -> dict[str, Any]:
    """`--param NAME=VALUE` items as {name: value typed by the parameter's declaration}.

    Raises:
      ValueError: an item without `=`, a name given twice, a name the pipeline
        does not declare (listing those it does), or a value that does not
        parse as the declared type (naming the parameter and the type).
    """
    pipeline = as_pipeline(pipeline)
    known = pipeline.parameters
    values: dict[str, Any] = {}
    for item in specs:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        if name not in known:
            listing = ", ".join(f"{p.name} ({p.type})" for p in known.values()) or "none"
            raise ValueError(
                f"--param {name}: {pipeline.name} ({pipeline.path}) has no runtime parameter"
                f" {name!r}; its runtime parameters are: {listing}"
            )
        if name in values:
            raise ValueError(f"--param {name}: given twice")
        values[name] = _convert(known[name], text, pipeline)
    return values


def _convert(param: Parameter, text: str, pipeline: CompiledPipeline) -> Any:
    """`text` as the declared type of `param` (see the module docstring)."""
    kind = _TYPES.get(param.type)
    if kind is None:
        raise ValueError(
            f"--param {param.name}: its declared type {param.type or '(none)'} in"
            f" {pipeline.path} is not one of {', '.join(_TYPES)}"
        )
    try:
        if kind is str:
            return text
        if kind is int:
            return int(text.strip())
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        if kind is bool:
            return _BOOLEANS[text.strip().lower()]
        value = json.loads(text)
        if not isinstance(value, kind):
            raise ValueError(text)
        return value
    except (ValueError, KeyError):
        raise ValueError(
            f"--param {param.name}={text!r}: expected {_EXPECTED[kind]}"
            f" ({param.name} is {param.type} in {pipeline.name})"
        ) from None


def default_run_name(pipeline: CompiledPipeline | str) -> str:
    """The run's display name without `--run-name`: the pipeline's name and the time."""
    return f"{as_pipeline(pipeline).name}-{time.strftime('%Y%m%d-%H%M%S')}"


def for_target(pipeline: CompiledPipeline | str, target: str) -> CompiledPipeline:
    """`pipeline` (read by `load_spec` if a path), refused when `frontier compile` wrote
    it for the other target (see `CompiledPipeline.compiled_for`).

    Raises:
      ValueError: naming the target it was compiled for and how to compile it again.
    """
    pipeline = as_pipeline(pipeline)
    other = pipeline.compiled_for
    if other is not None and other != target:
        raise ValueError(
            f"{pipeline.path}: compiled for --target {other}, not {target} (the two differ in"
            " artifact paths, accelerator names and resolvers); compile it again with"
            f" `frontier compile ... --target {target}`"
        )
    return pipeline
