"""`frontier submit`: run a compiled pipeline on Vertex AI or Kubeflow Pipelines.

frontier submit FILE --target vertex --project P --region R [--pipeline-root gs://...]
frontier submit FILE --target kubeflow --host URL [--experiment E] [--namespace N] [--upload]
  both: [--param NAME=VALUE ...] [--no-cache] [--run-name NAME] [--service-account SA] [--dry-run]

FILE is what `frontier compile` writes: a Vertex AI `PipelineJob` JSON
(`pipelineSpec` plus `runtimeConfig`) or a `PipelineSpec` YAML. It is sent
through the real client libraries:

- Vertex AI: `google.cloud.aiplatform.PipelineJob(...)`, then `.submit()`: one
  `PipelineService.CreatePipelineJob` call (before it, the library checks that
  the bucket of the pipeline root exists and creates it otherwise).
- Kubeflow Pipelines: `kfp.Client(host).create_run_from_pipeline_package(...)`:
  GET /apis/v2beta1/healthz (from the client's constructor, unless a namespace
  is known), find the experiment by name (GET /apis/v2beta1/experiments) or
  create it (POST), then POST /apis/v2beta1/runs with the spec inline. With
  `--upload` the package is first uploaded as a pipeline (POST
  /apis/v2beta1/pipelines/upload), or as a new version named after the run when
  a pipeline of that name exists in `--namespace` (POST
  .../pipelines/upload_version), and the run refers to that version instead of
  carrying the spec.

A file `frontier compile` wrote for one target is refused for the other: the
Kubeflow form reads and writes artifacts at the KFP launcher's local paths
and names accelerators as Kubernetes resources, neither of which Vertex AI
accepts, and the Vertex form keeps Vertex accelerator names and resolvers
that open-source KFP cannot run. The target is read from the steps' command
(`CompiledPipeline.compiled_for`).

Adaptation for Kubeflow: `kfp.Client` reads only `.yaml`/`.yml` PipelineSpec
files (`kfp.client.client._extract_pipeline_yaml`). Given a PipelineJob `.json`
(or a spec in a file with another extension), submit writes its `pipelineSpec`
to a temporary `.yaml`, where the JSON's `runtimeConfig.parameterValues` become
the parameters' `defaultValue` (typed by their declaration: TFX writes integers
as doubles there) and its `gcsOutputDirectory` the `defaultPipelineRoot` when
the spec has none, submits that file and removes it.

`--param NAME=VALUE` values are converted by the parameter's type in the spec
(`root.inputDefinitions.parameters`): NUMBER_INTEGER to int, NUMBER_DOUBLE to
float, STRING as given, BOOLEAN from true/false, LIST/STRUCT from JSON.

`--dry-run` needs neither credentials nor a server: it loads the file with the
same libraries, builds the request they would send and prints it as JSON. For
Vertex that is the `CreatePipelineJobRequest` of a `PipelineJob` built with
anonymous credentials (its constructor makes no network call); for Kubeflow,
`kfp.Client` is not constructed (its constructor calls the server): the run
body is built as `Client.run_pipeline` builds it and printed with the calls the
client makes before it (healthz, the experiment lookup).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from frontier.pipelines.resources import KUBEFLOW, TARGETS, VERTEX

PIPELINE_JOB = "PipelineJob"
PIPELINE_SPEC = "PipelineSpec"
YAML_SUFFIXES = (".yaml", ".yml")
DEFAULT_EXPERIMENT = "Default"  # kfp.Client's
VERTEX_RPC = "google.cloud.aiplatform.v1.PipelineService.CreatePipelineJob"
HEALTHZ = "/apis/v2beta1/healthz"
EXPERIMENTS = "/apis/v2beta1/experiments"
PIPELINES = "/apis/v2beta1/pipelines"
UPLOAD = "/apis/v2beta1/pipelines/upload"
UPLOAD_VERSION = "/apis/v2beta1/pipelines/upload_version"
RUNS = "/apis/v2beta1/runs"
# Stand-ins for ids the server assigns, in a dry run's request bodies.
EXPERIMENT_ID = "<experiment_id>"
PIPELINE_ID = "<pipeline_id>"
PIPELINE_VERSION_ID = "<pipeline_version_id>"

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
    """The service could not be reached or refused the submission; the message says which."""


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


def _as_pipeline(pipeline: CompiledPipeline | str) -> CompiledPipeline:
    return pipeline if isinstance(pipeline, CompiledPipeline) else load_spec(pipeline)


def parse_params(specs: Sequence[str], pipeline: CompiledPipeline | str) -> dict[str, Any]:
    """`--param NAME=VALUE` items as {name: value typed by the parameter's declaration}.

    Raises:
      ValueError: an item without `=`, a name given twice, a name the pipeline
        does not declare (listing those it does), or a value that does not
        parse as the declared type (naming the parameter and the type).
    """
    pipeline = _as_pipeline(pipeline)
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
    return f"{_as_pipeline(pipeline).name}-{time.strftime('%Y%m%d-%H%M%S')}"


# -- Vertex AI ------------------------------------------------------------------------


def _check_compiled_for(pipeline: CompiledPipeline, target: str) -> None:
    other = pipeline.compiled_for
    if other is not None and other != target:
        raise ValueError(
            f"{pipeline.path}: compiled for --target {other}, not {target} (the two differ in"
            " artifact paths, accelerator names and resolvers); compile it again with"
            f" `frontier compile ... --target {target}`"
        )


def _check_vertex(pipeline: CompiledPipeline, project, region, pipeline_root) -> None:
    _check_compiled_for(pipeline, VERTEX)
    if not project:
        raise ValueError("--project: --target vertex needs the Google Cloud project to run in")
    if not region:
        raise ValueError("--region: --target vertex needs a Vertex AI region, e.g. us-central1")
    from google.cloud.aiplatform import utils

    try:
        utils.validate_region(region)
    except ValueError as e:
        raise ValueError(f"--region {region!r}: {e}") from None
    if pipeline_root is not None and not (
        pipeline_root.startswith("gs://") and len(pipeline_root) > len("gs://")
    ):
        raise ValueError(
            f"--pipeline-root {pipeline_root!r}: Vertex AI writes pipeline artifacts to Cloud"
            " Storage; expected a gs://BUCKET/PATH URI"
        )
    root = pipeline.default_root
    if pipeline_root is None and root and not root.startswith("gs://"):
        raise ValueError(
            f"{pipeline.path}: its pipeline root {root!r} is not a gs:// URI, which Vertex AI"
            " needs (compiled for kubeflow?); give --pipeline-root gs://BUCKET/PATH"
        )
    if pipeline.platform_spec:
        raise ValueError(
            f"{pipeline.path}: has a Kubernetes platform spec (a second YAML document), which"
            " Vertex AI does not read; submit it with --target kubeflow"
        )


def vertex_job(
    pipeline: CompiledPipeline | str,
    *,
    project: str | None,
    region: str | None,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    run_name: str | None = None,
    no_cache: bool = False,
    credentials: Any = None,
):
    """The `aiplatform.PipelineJob` for a compiled pipeline (not yet submitted).

    Args:
      pipeline: a `load_spec` result or the file's path.
      project, region: where it runs.
      params: runtime parameter values (`parse_params`); the others keep their defaults.
      pipeline_root: a gs:// URI (None: the file's, else the project's default bucket).
      run_name: the display name (None: `default_run_name`).
      no_cache: turn caching off for every task.
      credentials: google.auth credentials (None: application default credentials).

    Raises:
      ValueError: a missing project or region, an unknown region, a pipeline
        root that is not gs://.
    """
    pipeline = _as_pipeline(pipeline)
    _check_vertex(pipeline, project, region, pipeline_root)
    from google.cloud import aiplatform

    with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
        return aiplatform.PipelineJob(  # reads the template here, and only here
            display_name=run_name or default_run_name(pipeline),
            template_path=_vertex_template(pipeline, tmp),
            pipeline_root=pipeline_root,
            parameter_values=dict(params) if params else None,
            enable_caching=False if no_cache else None,
            # TFX's labels (runner and versions) from a PipelineJob file; aiplatform drops them.
            labels=(pipeline.job or {}).get("labels") or None,
            project=project,
            location=region,
            credentials=credentials,
        )


def _vertex_template(pipeline: CompiledPipeline, directory: str) -> str:
    """The file `aiplatform.PipelineJob` is to read for `pipeline`.

    aiplatform reads every template, JSON included, with `yaml.safe_load`
    (YAML 1.1), which takes a JSON number written without a '.', such as the
    1e-06 that `json.dumps` writes, for a string. When that misreads the file,
    the document is written to `directory` as YAML, which PyYAML reads back
    exactly, and that file is read instead (the template's path is not sent).
    """
    import yaml

    if pipeline.path.lower().endswith(YAML_SUFFIXES):
        return pipeline.path
    document = pipeline.job if pipeline.job is not None else pipeline.spec
    with open(pipeline.path, encoding="utf-8") as f:
        if yaml.safe_load(f) == document:
            return pipeline.path
    path = os.path.join(directory, os.path.splitext(os.path.basename(pipeline.path))[0] + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(document, f, sort_keys=True)
    return path


def _vertex_endpoint(job) -> str | None:
    try:
        return job.api_client.select_version("v1")._transport._host
    except Exception:  # noqa: BLE001 (only decorates the printout)
        return None


def vertex_request(
    pipeline: CompiledPipeline | str,
    *,
    project: str | None,
    region: str | None,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    run_name: str | None = None,
    no_cache: bool = False,
    service_account: str | None = None,
    experiment: str | None = None,
) -> dict[str, Any]:
    """What `submit_vertex` would send, as JSON-ready dict; contacts nothing.

    The `PipelineJob` is built with anonymous credentials; `request` is the
    `CreatePipelineJobRequest` (parent, pipelineJob, pipelineJobId) that
    `PipelineJob.submit` sends, in proto JSON (fields left at their default
    omitted).
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform.compat.types import pipeline_service

    job = vertex_job(
        pipeline,
        project=project,
        region=region,
        params=params,
        pipeline_root=pipeline_root,
        run_name=run_name,
        no_cache=no_cache,
        credentials=AnonymousCredentials(),
    )
    if service_account:  # as PipelineJob.submit does
        job._gca_resource.service_account = service_account
    request = pipeline_service.CreatePipelineJobRequest(
        parent=job._parent, pipeline_job=job._gca_resource, pipeline_job_id=job.job_id
    )
    out = {
        "target": VERTEX,
        "rpc": VERTEX_RPC,
        "endpoint": _vertex_endpoint(job),
        "request": json.loads(type(request).to_json(request, including_default_value_fields=False)),
        "before": "PipelineJob.submit first gets the bucket of runtimeConfig.gcsOutputDirectory"
        " and creates it if missing (Cloud Storage)",
    }
    if experiment:
        out["experiment"] = experiment
    return out


def submit_vertex(
    pipeline: CompiledPipeline | str,
    *,
    project: str | None,
    region: str | None,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    run_name: str | None = None,
    no_cache: bool = False,
    service_account: str | None = None,
    experiment: str | None = None,
    credentials: Any = None,
) -> dict[str, Any]:
    """Submits a compiled pipeline as a Vertex AI PipelineJob; returns without waiting.

    Args: as `vertex_job`, plus `service_account` (the run-as account) and
      `experiment` (a Vertex AI experiment to associate the run with).

    Returns:
      {"target", "name" (the job's resource name), "job_id", "display_name", "console"}.

    Raises:
      ValueError: bad arguments (see `vertex_job`).
      SubmitError: no credentials, or Vertex AI refused the job.
    """
    import google.auth.exceptions
    from google.api_core import exceptions as api_exceptions

    try:
        job = vertex_job(
            pipeline,
            project=project,
            region=region,
            params=params,
            pipeline_root=pipeline_root,
            run_name=run_name,
            no_cache=no_cache,
            credentials=credentials,
        )
        job.submit(service_account=service_account, experiment=experiment)
    except google.auth.exceptions.DefaultCredentialsError as e:
        raise SubmitError(
            f"no Google Cloud credentials ({e}); run `gcloud auth application-default login`"
            " or set GOOGLE_APPLICATION_CREDENTIALS (--dry-run needs none)"
        ) from None
    except google.auth.exceptions.GoogleAuthError as e:
        raise SubmitError(f"Google Cloud refused the credentials: {e}") from None
    except api_exceptions.GoogleAPIError as e:
        raise SubmitError(f"Vertex AI refused the pipeline job: {e}") from None
    return {
        "target": VERTEX,
        "name": job.resource_name,
        "job_id": job.job_id,
        "display_name": job.display_name,
        "console": job._dashboard_uri(),
    }


# -- Kubeflow Pipelines ---------------------------------------------------------------


def _check_kubeflow(pipeline: CompiledPipeline, host: str | None, pipeline_root: str | None) -> str:
    _check_compiled_for(pipeline, KUBEFLOW)
    if not host:
        raise ValueError(
            "--host: --target kubeflow needs the Kubeflow Pipelines API URL, e.g."
            " http://localhost:8080 after `kubectl port-forward -n kubeflow"
            " svc/ml-pipeline-ui 8080:80`"
        )
    if not host.startswith(("http://", "https://")):
        raise ValueError(f"--host {host!r}: expected an http:// or https:// URL")
    if pipeline_root is not None and "://" not in pipeline_root:
        raise ValueError(
            f"--pipeline-root {pipeline_root!r}: the components run in the cluster and write"
            " to object storage; expected a URI such as gs://, s3:// or minio://"
        )
    return host.rstrip("/")  # as kfp.Client does


def kubeflow_package(
    pipeline: CompiledPipeline | str, directory: str, *, enable_caching: bool | None = None
) -> str:
    """The `.yaml` file kfp.Client reads for a compiled pipeline.

    That is the file itself when it is a PipelineSpec `.yaml`/`.yml` and
    `enable_caching` is None; otherwise a YAML written into `directory`: a
    PipelineJob's spec with its runtimeConfig merged in (parameter values as
    defaults, the output directory as default pipeline root), and with
    `enable_caching` set on every task of the root DAG (what
    `kfp.Client.run_pipeline(enable_caching=...)` does to a spec it sends).
    """
    import yaml

    pipeline = _as_pipeline(pipeline)
    if (
        pipeline.form == PIPELINE_SPEC
        and pipeline.path.lower().endswith(YAML_SUFFIXES)
        and enable_caching is None
    ):
        return pipeline.path
    spec = copy.deepcopy(pipeline.spec)
    if pipeline.form == PIPELINE_JOB:
        declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
        for name, param in pipeline.parameters.items():
            if param.default is not None:
                declared[name]["defaultValue"] = param.default
                declared[name]["isOptional"] = True
        root = pipeline.runtime_config.get("gcsOutputDirectory")
        if root and not spec.get("defaultPipelineRoot"):
            spec["defaultPipelineRoot"] = root
    if enable_caching is not None:
        for task in spec["root"].get("dag", {}).get("tasks", {}).values():
            task["cachingOptions"] = {"enableCache": enable_caching}
    stem = os.path.splitext(os.path.basename(pipeline.path))[0]
    path = os.path.join(directory, stem + ".yaml")
    docs = [spec] + ([pipeline.platform_spec] if pipeline.platform_spec else [])
    with open(path, "w") as f:
        f.write(f"# {pipeline.name}: adapted from {pipeline.path} by `frontier submit`.\n")
        yaml.safe_dump_all(docs, f, sort_keys=True)
    return path


def _experiment_name(experiment: str | None) -> str:
    """The experiment kfp.Client.create_run_from_pipeline_package uses (its env rules)."""
    from kfp.client import client as kfp_client

    name = experiment or os.environ.get(kfp_client.KF_PIPELINES_DEFAULT_EXPERIMENT_NAME)
    name = os.environ.get(kfp_client.KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME, name)
    return name or DEFAULT_EXPERIMENT


def _context_namespace() -> str:
    """The namespace kfp.Client reads from its local context file ('' without one)."""
    from kfp.client import client as kfp_client

    path = kfp_client.Client._LOCAL_KFP_CONTEXT
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return json.load(f).get("namespace") or ""


def _name_filter(name: str) -> str:
    """The filter kfp.Client sends to find an experiment or pipeline by name."""
    from kfp.client import client as kfp_client

    return json.dumps(
        {
            "predicates": [
                {
                    "operation": kfp_client._FILTER_OPERATIONS["EQUALS"],
                    "key": "display_name",
                    "stringValue": name,
                }
            ]
        }
    )


def kubeflow_request(
    pipeline: CompiledPipeline | str,
    *,
    host: str | None,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    run_name: str | None = None,
    no_cache: bool = False,
    service_account: str | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
    upload: bool = False,
) -> dict[str, Any]:
    """What `submit_kubeflow` would send, as a JSON-ready dict; contacts nothing.

    Returns:
      {"target", "host", "package", "requests": [{"method", "path", "query"?,
      "body"?, "files"?, "when"?}, ...]} in the order kfp.Client sends them;
      "when" marks a call made only in that case. The last is POST
      /apis/v2beta1/runs, whose body is built as `kfp.Client.run_pipeline`
      builds it (`_extract_pipeline_yaml`, `_override_caching_options`,
      `V2beta1Run`) and serialised by `kfp_server_api.ApiClient`; ids the
      server assigns appear as `<experiment_id>`, `<pipeline_id>`,
      `<pipeline_version_id>`.
    """
    import kfp_server_api
    from kfp.client import client as kfp_client

    pipeline = _as_pipeline(pipeline)
    host = _check_kubeflow(pipeline, host, pipeline_root)
    run_name = run_name or default_run_name(pipeline)
    experiment_name = _experiment_name(experiment)
    # kfp.Client(namespace=...) treats "kubeflow" as "not given".
    client_namespace = namespace if namespace and namespace != "kubeflow" else ""
    client_namespace = client_namespace or _context_namespace()
    user_namespace = namespace or client_namespace
    sanitize = kfp_server_api.ApiClient().sanitize_for_serialization
    requests: list[dict[str, Any]] = []
    if not client_namespace:
        requests.append(
            {
                "method": "GET",
                "path": HEALTHZ,
                "why": "kfp.Client() asks whether the deployment is multi-user (then it"
                " takes the namespace of the pod it runs in)",
            }
        )
    requests.append(
        {
            "method": "GET",
            "path": EXPERIMENTS,
            "query": {"filter": _name_filter(experiment_name), "namespace": user_namespace},
        }
    )
    requests.append(
        {
            "method": "POST",
            "path": EXPERIMENTS,
            "body": sanitize(
                kfp_server_api.V2beta1Experiment(
                    display_name=experiment_name, description=None, namespace=user_namespace
                )
            ),
            "when": f"no experiment is named {experiment_name!r}",
        }
    )
    runtime_config = kfp_server_api.V2beta1RuntimeConfig(
        pipeline_root=pipeline_root, parameters=dict(params or {})
    )
    with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
        if upload:
            package = kubeflow_package(pipeline, tmp, enable_caching=False if no_cache else None)
            requests.extend(_upload_requests(pipeline.name, package, run_name, namespace))
            run = kfp_server_api.V2beta1Run(
                experiment_id=EXPERIMENT_ID,
                display_name=run_name,
                pipeline_spec=None,
                pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
                    pipeline_id=PIPELINE_ID, pipeline_version_id=PIPELINE_VERSION_ID
                ),
                runtime_config=runtime_config,
                service_account=service_account,
            )
        else:
            package = kubeflow_package(pipeline, tmp)
            doc = kfp_client._extract_pipeline_yaml(package)
            if no_cache:
                kfp_client._override_caching_options(doc.pipeline_spec, False)
            run = kfp_server_api.V2beta1Run(
                experiment_id=EXPERIMENT_ID,
                display_name=run_name,
                pipeline_spec=doc.to_dict(),
                pipeline_version_reference=None,
                runtime_config=runtime_config,
                service_account=service_account,
            )
    requests.append({"method": "POST", "path": RUNS, "body": sanitize(run)})
    if package != pipeline.path:
        package = f"{pipeline.path}, written as a temporary PipelineSpec YAML for kfp.Client"
    return {
        "target": KUBEFLOW,
        "host": host,
        "package": package,
        "requests": requests,
    }


def _upload_requests(
    name: str, package: str, run_name: str, namespace: str | None
) -> list[dict[str, Any]]:
    import yaml

    with open(package) as f:
        content = next(d for d in yaml.safe_load_all(f) if d is not None)
    files = {"uploadfile": {"filename": os.path.basename(package), "pipeline_spec": content}}
    upload_query = {"name": name}
    if namespace:
        upload_query["namespace"] = namespace
    new = f"no pipeline is named {name!r}"
    list_query = {"page_token": "", "page_size": "10", "sort_by": "", "filter": _name_filter(name)}
    if namespace:
        list_query["namespace"] = namespace
    return [
        {"method": "GET", "path": PIPELINES, "query": list_query},
        {"method": "POST", "path": UPLOAD, "query": upload_query, "files": files, "when": new},
        {
            "method": "GET",
            "path": f"{PIPELINES}/{PIPELINE_ID}/versions",
            "query": {"page_token": "", "page_size": "1", "sort_by": "created_at desc"},
            "when": new,
        },
        {
            "method": "POST",
            "path": UPLOAD_VERSION,
            "query": {"name": run_name, "pipelineid": PIPELINE_ID},
            "files": files,
            "when": f"a pipeline is named {name!r}",
        },
    ]


def _api_error(host: str, error) -> str:
    message = error.body
    try:
        body = json.loads(error.body)
        message = body.get("message") or body.get("error") or error.body
    except (TypeError, ValueError, AttributeError):
        pass
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"Kubeflow Pipelines at {host} answered {error.status} {error.reason}: {message}"


def submit_kubeflow(
    pipeline: CompiledPipeline | str,
    *,
    host: str | None,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    run_name: str | None = None,
    no_cache: bool = False,
    service_account: str | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
    upload: bool = False,
) -> dict[str, Any]:
    """Submits a compiled pipeline to Kubeflow Pipelines with kfp.Client; returns without waiting.

    Args:
      pipeline: a `load_spec` result or the file's path.
      host: the KFP API URL (e.g. http://localhost:8080).
      params: runtime parameter values (`parse_params`).
      pipeline_root: where artifacts go (None: the spec's, else the cluster's default).
      run_name: the run's display name (None: `default_run_name`).
      no_cache: turn caching off for every task.
      service_account: the Kubernetes service account the run uses.
      experiment: the experiment's name (None: kfp's default, "Default").
      namespace: the Kubernetes namespace (multi-user deployments).
      upload: upload the package as a pipeline (or a new version of the
        pipeline of that name in `namespace`) and run that version.

    Returns:
      {"target", "host", "run_id", "experiment_id", "display_name", "url", and
      with `upload` "pipeline_id" and "pipeline_version_id"}.

    Raises:
      ValueError: bad arguments.
      SubmitError: the server cannot be reached or refused a call (its message included).
    """
    import kfp
    import kfp_server_api
    import urllib3

    pipeline = _as_pipeline(pipeline)
    host = _check_kubeflow(pipeline, host, pipeline_root)
    run_name = run_name or default_run_name(pipeline)
    out: dict[str, Any] = {"target": KUBEFLOW, "host": host, "display_name": run_name}
    with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
        try:
            client = kfp.Client(host=host, namespace=namespace or "kubeflow")
            if upload:
                package = kubeflow_package(
                    pipeline, tmp, enable_caching=False if no_cache else None
                )
                found = client.create_experiment(
                    name=_experiment_name(experiment), namespace=namespace
                )
                pipeline_id, version_id = _upload(
                    client, package, pipeline.name, run_name, namespace
                )
                run = client.run_pipeline(
                    experiment_id=found.experiment_id,
                    job_name=run_name,
                    params=dict(params or {}),
                    pipeline_id=pipeline_id,
                    version_id=version_id,
                    pipeline_root=pipeline_root,
                    service_account=service_account,
                )
                out.update(pipeline_id=pipeline_id, pipeline_version_id=version_id)
            else:
                run = client.create_run_from_pipeline_package(
                    kubeflow_package(pipeline, tmp),
                    arguments=dict(params or {}),
                    run_name=run_name,
                    experiment_name=experiment,
                    namespace=namespace,
                    pipeline_root=pipeline_root,
                    enable_caching=False if no_cache else None,
                    service_account=service_account,
                ).run_info
        except kfp_server_api.ApiException as e:
            raise SubmitError(_api_error(host, e)) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise SubmitError(f"cannot reach Kubeflow Pipelines at {host}: {e}") from None
    out.update(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        url=f"{host}/#/runs/details/{run.run_id}",
    )
    return out


def _upload(
    client, package: str, name: str, run_name: str, namespace: str | None
) -> tuple[str, str]:
    """Uploads `package` as pipeline `name`, or as version `run_name` of it; (ids).

    The pipeline is looked up in `namespace`, where it is uploaded: on
    multi-user KFP, pipeline names are unique per namespace, and
    `kfp.Client.get_pipeline_id` looks only among the shared ones.
    """
    listed = client.list_pipelines(filter=_name_filter(name), namespace=namespace).pipelines
    if listed and len(listed) > 1:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise SubmitError(f"{len(listed)} pipelines are named {name!r}{where}; expected one")
    pipeline_id = listed[0].pipeline_id if listed else None
    if pipeline_id is None:
        uploaded = client.upload_pipeline(package, pipeline_name=name, namespace=namespace)
        pipeline_id = uploaded.pipeline_id
        versions = client.list_pipeline_versions(
            pipeline_id, page_size=1, sort_by="created_at desc"
        ).pipeline_versions
        if not versions:
            raise SubmitError(f"the server lists no version of the uploaded pipeline {name!r}")
        return pipeline_id, versions[0].pipeline_version_id
    version = client.upload_pipeline_version(
        package, pipeline_version_name=run_name, pipeline_id=pipeline_id
    )
    return pipeline_id, version.pipeline_version_id


# -- the command ----------------------------------------------------------------------

_ONLY = {
    VERTEX: (("host", "--host"), ("namespace", "--namespace"), ("upload", "--upload")),
    KUBEFLOW: (("project", "--project"), ("region", "--region")),
}


def submit(args: argparse.Namespace) -> dict[str, Any]:
    """Runs `frontier submit` from parsed arguments; returns what was (or would be) sent.

    Raises:
      FileNotFoundError, ValueError: a bad file or flag (the message names it).
      SubmitError: the service cannot be reached or refused the submission.
    """
    for attr, flag in _ONLY[args.target]:
        if getattr(args, attr):
            other = KUBEFLOW if args.target == VERTEX else VERTEX
            raise ValueError(f"{flag} applies to --target {other} only")
    pipeline = load_spec(args.file)
    params = parse_params(args.param, pipeline)
    common = dict(
        params=params,
        pipeline_root=args.pipeline_root,
        run_name=args.run_name,
        no_cache=args.no_cache,
        service_account=args.service_account,
        experiment=args.experiment,
    )
    if args.target == VERTEX:
        where = dict(project=args.project, region=args.region)
        if args.dry_run:
            return vertex_request(pipeline, **where, **common)
        return submit_vertex(pipeline, **where, **common)
    where = dict(host=args.host, namespace=args.namespace, upload=args.upload)
    if args.dry_run:
        return kubeflow_request(pipeline, **where, **common)
    return submit_kubeflow(pipeline, **where, **common)


def _cmd_submit(args: argparse.Namespace) -> int:
    import warnings

    # google-api-core's "non-supported Python version" and kfp's "This client only works
    # with ..." notices say nothing about this submission.
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        result = submit(args)
    except SubmitError as e:
        print(f"frontier: error: {e}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(json.dumps(result, indent=2))
    elif result["target"] == VERTEX:
        print(f"submitted {result['display_name']} to Vertex AI as {result['name']}")
        print(f"  console: {result['console']}")
    else:
        print(f"submitted {result['display_name']} to Kubeflow Pipelines at {result['host']}")
        print(f"  run id:        {result['run_id']}")
        print(f"  experiment id: {result['experiment_id']}")
        if "pipeline_id" in result:
            print(
                f"  pipeline:      {result['pipeline_id']} version {result['pipeline_version_id']}"
            )
        print(f"  details:       {result['url']}")
    return 0


def register(subparsers) -> None:
    """Adds `frontier submit` to the `frontier` parser's sub-commands."""
    p = subparsers.add_parser(
        "submit",
        help="submit a compiled pipeline to Vertex AI or Kubeflow Pipelines",
        description="Submit a pipeline compiled by `frontier compile` (a Vertex PipelineJob"
        " JSON or a PipelineSpec YAML) with the real client libraries: Vertex AI through"
        " google.cloud.aiplatform.PipelineJob, Kubeflow Pipelines through kfp.Client (a"
        " .json is adapted to the .yaml kfp.Client reads). --dry-run prints the request"
        " instead, needing no credentials and no server.",
    )
    p.add_argument("file", help="the compiled pipeline (.json PipelineJob or .yaml PipelineSpec)")
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a runtime parameter's value, typed by its declaration (repeatable)",
    )
    p.add_argument("--no-cache", action="store_true", help="run every task, reusing nothing")
    p.add_argument("--run-name", help="the run's display name (default: pipeline name and time)")
    p.add_argument(
        "--pipeline-root", help="where artifacts go (vertex: gs://...; default: the file's)"
    )
    p.add_argument(
        "--service-account", help="run as this account (vertex: GCP; kubeflow: Kubernetes)"
    )
    p.add_argument(
        "--experiment",
        help="kubeflow: the experiment (default: Default); vertex: a Vertex AI experiment",
    )
    p.add_argument("--dry-run", action="store_true", help="print the request as JSON; send nothing")
    vertex = p.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project")
    vertex.add_argument("--region", help="Vertex AI region, e.g. us-central1")
    kubeflow = p.add_argument_group("kubeflow")
    kubeflow.add_argument("--host", help="Kubeflow Pipelines API URL, e.g. http://localhost:8080")
    kubeflow.add_argument("--namespace", help="Kubernetes namespace (multi-user deployments)")
    kubeflow.add_argument(
        "--upload",
        action="store_true",
        help="upload the package as a pipeline (or a new version of it) and run that version",
    )
    p.set_defaults(func=_cmd_submit, quiet=True)
