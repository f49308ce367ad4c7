"""Submitting a compiled pipeline to Kubeflow Pipelines (`frontier submit --target kubeflow`).

The file goes through the real client library,
`kfp.Client(host).create_run_from_pipeline_package(...)`: GET
/apis/v2beta1/healthz (from the client's constructor, unless a namespace is
known), find the experiment by name (GET /apis/v2beta1/experiments) or
create it (POST), then POST /apis/v2beta1/runs with the spec inline. With
`upload` the package is first uploaded as a pipeline (POST
/apis/v2beta1/pipelines/upload), or as a new version named after the run when
a pipeline of that name exists in the namespace (POST
.../pipelines/upload_version), and the run refers to that version instead of
carrying the spec.

Adaptation: `kfp.Client` reads only `.yaml`/`.yml` PipelineSpec packages.
Given a PipelineJob `.json` (or a spec in a file with another extension), the
spec is written to a temporary `.yaml` (`kubeflow_package`), where the JSON's
`runtimeConfig.parameterValues` become the parameters' `defaultValue` (typed
by their declaration: TFX writes integers as doubles there) and its
`gcsOutputDirectory` the `defaultPipelineRoot` when the spec has none.

A dry run (`kubeflow_request`) does not construct `kfp.Client` (its
constructor calls the server): it lists the calls the client would make and
builds the run body as `Client.run_pipeline` does, from kfp's public pieces:
the `kfp.pipeline_spec` protos in proto JSON (what `Client` sends as the
run's `pipeline_spec`) and `kfp_server_api`'s models and serializer. The
tests check it against what `kfp.Client` sends to a stand-in server. One
private name of kfp is read, in `_context_namespace`: see there why.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
from typing import Any

from frontier.pipelines.compiled_spec import (
    PIPELINE_JOB,
    PIPELINE_SPEC,
    YAML_SUFFIXES,
    CompiledPipeline,
    RunOptions,
    SubmitError,
    as_pipeline,
    default_run_name,
    for_target,
)
from frontier.pipelines.resources import KUBEFLOW

DEFAULT_EXPERIMENT = "Default"  # kfp.Client's
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
# `Predicate.Operation.EQUALS` of the KFP API's filter (backend/api/v2beta1/filter.proto),
# as kfp.Client writes it in a filter's JSON: the enum's number.
_EQUALS = 1


@dataclasses.dataclass(frozen=True)
class _Submission:
    """One `submit_kubeflow` call's arguments, checked, with the run name chosen."""

    pipeline: CompiledPipeline
    host: str
    run_name: str
    params: dict[str, Any]
    options: RunOptions
    namespace: str | None
    upload: bool

    @property
    def enable_caching(self) -> bool | None:
        """What `kfp.Client` is given as `enable_caching`: False, or None for "as compiled"."""
        return False if self.options.no_cache else None


def _check_kubeflow(host: str | None, pipeline_root: str | None) -> str:
    """`host` without a trailing '/', once host and root are fit for KFP."""
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


# -- the package kfp.Client reads ------------------------------------------------------


def kubeflow_documents(
    pipeline: CompiledPipeline | str, *, enable_caching: bool | None = None
) -> list[dict[str, Any]]:
    """The YAML documents of the package kfp.Client reads for a compiled pipeline.

    The spec first: a PipelineJob's spec with its runtimeConfig merged in
    (parameter values as defaults, the output directory as default pipeline
    root), and with `enable_caching` set on every task of the root DAG (what
    `kfp.Client.run_pipeline(enable_caching=...)` does to a spec it sends);
    then the platform spec, if the file has one.
    """
    pipeline = as_pipeline(pipeline)
    spec = pipeline.spec
    if pipeline.form == PIPELINE_JOB or enable_caching is not None:
        spec = copy.deepcopy(spec)
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
    return [spec] + ([pipeline.platform_spec] if pipeline.platform_spec else [])


def _package_path(pipeline: CompiledPipeline, directory: str, enable_caching: bool | None) -> str:
    """The file itself when kfp.Client can read it as it is, else `<directory>/<stem>.yaml`."""
    if (
        pipeline.form == PIPELINE_SPEC
        and pipeline.path.lower().endswith(YAML_SUFFIXES)
        and enable_caching is None
    ):
        return pipeline.path
    stem = os.path.splitext(os.path.basename(pipeline.path))[0]
    return os.path.join(directory, stem + ".yaml")


def kubeflow_package(
    pipeline: CompiledPipeline | str, directory: str, *, enable_caching: bool | None = None
) -> str:
    """The `.yaml` file kfp.Client reads for a compiled pipeline.

    That is the file itself when it is a PipelineSpec `.yaml`/`.yml` and
    `enable_caching` is None; otherwise `kubeflow_documents` written as YAML
    into `directory`.
    """
    import yaml

    pipeline = as_pipeline(pipeline)
    path = _package_path(pipeline, directory, enable_caching)
    if path == pipeline.path:
        return path
    with open(path, "w") as f:
        f.write(f"# {pipeline.name}: adapted from {pipeline.path} by `frontier submit`.\n")
        yaml.safe_dump_all(
            kubeflow_documents(pipeline, enable_caching=enable_caching), f, sort_keys=True
        )
    return path


# -- what kfp.Client reads and sends ---------------------------------------------------


def _experiment_name(experiment: str | None) -> str:
    """The experiment kfp.Client.create_run_from_pipeline_package uses (its env rules)."""
    from kfp.client import client as kfp_client

    name = experiment or os.environ.get(kfp_client.KF_PIPELINES_DEFAULT_EXPERIMENT_NAME)
    name = os.environ.get(kfp_client.KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME, name)
    return name or DEFAULT_EXPERIMENT


def _context_namespace() -> str:
    """The namespace kfp.Client reads from its local context file ('' without one).

    kfp's one private name here: `Client._LOCAL_KFP_CONTEXT`, the context
    file's path. Its public reader, `Client.get_user_namespace()`, needs a
    constructed client, and the constructor calls the server when no
    namespace is known, which a dry run must not do.
    """
    from kfp.client import client as kfp_client

    path = kfp_client.Client._LOCAL_KFP_CONTEXT
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return json.load(f).get("namespace") or ""


def _name_filter(name: str) -> str:
    """The filter kfp.Client sends to find an experiment or pipeline by name."""
    predicate = {"operation": _EQUALS, "key": "display_name", "stringValue": name}
    return json.dumps({"predicates": [predicate]})


def _run_pipeline_spec(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """A run body's `pipeline_spec` for a package's documents, as kfp.Client builds it.

    The spec goes through the PipelineSpec proto and back to proto JSON (so
    fields at their default drop out, as they do in what the client sends);
    with a non-empty platform spec, both go as {"pipeline_spec", "platform_spec"}.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(
        documents[1] if len(documents) > 1 else {}, pipeline_spec_pb2.PlatformSpec()
    )
    if platform == pipeline_spec_pb2.PlatformSpec():
        return json_format.MessageToDict(spec)
    return {
        "pipeline_spec": json_format.MessageToDict(spec),
        "platform_spec": json_format.MessageToDict(platform),
    }


# -- a dry run: what kfp.Client would send ---------------------------------------------


def _experiment_requests(run: _Submission, sanitize) -> list[dict[str, Any]]:
    """The calls kfp.Client makes before the run: healthz from its constructor when it
    knows no namespace, then the experiment's lookup by name and its creation."""
    import kfp_server_api

    experiment_name = _experiment_name(run.options.experiment)
    # kfp.Client(namespace=...) treats "kubeflow" as "not given".
    client_namespace = run.namespace if run.namespace and run.namespace != "kubeflow" else ""
    client_namespace = client_namespace or _context_namespace()
    user_namespace = run.namespace or client_namespace
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
    query = {"filter": _name_filter(experiment_name), "namespace": user_namespace}
    experiment = kfp_server_api.V2beta1Experiment(
        display_name=experiment_name, description=None, namespace=user_namespace
    )
    return [
        *requests,
        {"method": "GET", "path": EXPERIMENTS, "query": query},
        {
            "method": "POST",
            "path": EXPERIMENTS,
            "body": sanitize(experiment),
            "when": f"no experiment is named {experiment_name!r}",
        },
    ]


def _upload_requests(run: _Submission, package: str) -> list[dict[str, Any]]:
    """The calls of `_upload`: the lookup of the pipeline by name in the run's
    namespace, then either its upload and version listing, or a new version."""
    import yaml

    with open(package) as f:
        spec = next(d for d in yaml.safe_load_all(f) if d is not None)
    name, namespace = run.pipeline.name, run.namespace
    files = {"uploadfile": {"filename": os.path.basename(package), "pipeline_spec": spec}}
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
            "query": {"name": run.run_name, "pipelineid": PIPELINE_ID},
            "files": files,
            "when": f"a pipeline is named {name!r}",
        },
    ]


def _dry_run(run: _Submission) -> dict[str, Any]:
    """`kubeflow_request`'s dict for a checked submission; contacts nothing."""
    import kfp_server_api

    sanitize = kfp_server_api.ApiClient().sanitize_for_serialization
    # Without --upload kfp.Client reads the package as compiled and sets the caching itself.
    package = _package_path(run.pipeline, "", run.enable_caching if run.upload else None)
    requests = _experiment_requests(run, sanitize)
    version = None
    if run.upload:
        with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
            uploaded = kubeflow_package(run.pipeline, tmp, enable_caching=run.enable_caching)
            requests += _upload_requests(run, uploaded)
        version = kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=PIPELINE_ID, pipeline_version_id=PIPELINE_VERSION_ID
        )
    documents = kubeflow_documents(run.pipeline, enable_caching=run.enable_caching)
    body = kfp_server_api.V2beta1Run(
        experiment_id=EXPERIMENT_ID,
        display_name=run.run_name,
        pipeline_spec=None if run.upload else _run_pipeline_spec(documents),
        pipeline_version_reference=version,
        runtime_config=kfp_server_api.V2beta1RuntimeConfig(
            pipeline_root=run.options.pipeline_root, parameters=dict(run.params)
        ),
        service_account=run.options.service_account,
    )
    requests.append({"method": "POST", "path": RUNS, "body": sanitize(body)})
    if package != run.pipeline.path:
        package = f"{run.pipeline.path}, written as a temporary PipelineSpec YAML for kfp.Client"
    return {"target": KUBEFLOW, "host": run.host, "package": package, "requests": requests}


# -- the submission --------------------------------------------------------------------


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


def _run_uploaded(client, run: _Submission, directory: str) -> tuple[Any, dict[str, str]]:
    """Uploads the package (`_upload`) and runs that version; (the run, the ids)."""
    package = kubeflow_package(run.pipeline, directory, enable_caching=run.enable_caching)
    found = client.create_experiment(
        name=_experiment_name(run.options.experiment), namespace=run.namespace
    )
    pipeline_id, version_id = _upload(
        client, package, run.pipeline.name, run.run_name, run.namespace
    )
    sent = client.run_pipeline(
        experiment_id=found.experiment_id,
        job_name=run.run_name,
        params=dict(run.params),
        pipeline_id=pipeline_id,
        version_id=version_id,
        pipeline_root=run.options.pipeline_root,
        service_account=run.options.service_account,
    )
    return sent, {"pipeline_id": pipeline_id, "pipeline_version_id": version_id}


def _run_package(client, run: _Submission, directory: str):
    """Runs the package with the spec inline (`create_run_from_pipeline_package`)."""
    return client.create_run_from_pipeline_package(
        kubeflow_package(run.pipeline, directory),
        arguments=dict(run.params),
        run_name=run.run_name,
        experiment_name=run.options.experiment,
        namespace=run.namespace,
        pipeline_root=run.options.pipeline_root,
        enable_caching=run.enable_caching,
        service_account=run.options.service_account,
    ).run_info


def _api_error(host: str, error) -> str:
    """The message of a refused call: the server's own message where its body has one."""
    message = error.body
    try:
        body = json.loads(error.body)
        message = body.get("message") or body.get("error") or error.body
    except (TypeError, ValueError, AttributeError):
        pass
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"Kubeflow Pipelines at {host} answered {error.status} {error.reason}: {message}"


def _send(run: _Submission) -> dict[str, Any]:
    """`submit_kubeflow`'s submission through kfp.Client, its errors as SubmitError."""
    import kfp
    import kfp_server_api
    import urllib3

    out: dict[str, Any] = {"target": KUBEFLOW, "host": run.host, "display_name": run.run_name}
    with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
        try:
            client = kfp.Client(host=run.host, namespace=run.namespace or "kubeflow")
            if run.upload:
                sent, ids = _run_uploaded(client, run, tmp)
                out.update(ids)
            else:
                sent = _run_package(client, run, tmp)
        except kfp_server_api.ApiException as e:
            raise SubmitError(_api_error(run.host, e)) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise SubmitError(f"cannot reach Kubeflow Pipelines at {run.host}: {e}") from None
    out.update(
        run_id=sent.run_id,
        experiment_id=sent.experiment_id,
        url=f"{run.host}/#/runs/details/{sent.run_id}",
    )
    return out


def submit_kubeflow(
    pipeline: CompiledPipeline | str,
    *,
    host: str | None,
    namespace: str | None = None,
    upload: bool = False,
    dry_run: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Submits a compiled pipeline to Kubeflow Pipelines with kfp.Client; returns without waiting.

    Args:
      pipeline: a `load_spec` result or the file's path.
      host: the KFP API URL (e.g. http://localhost:8080).
      namespace: the Kubernetes namespace (multi-user deployments).
      upload: upload the package as a pipeline (or a new version of the
        pipeline of that name in `namespace`) and run that version.
      dry_run: send nothing; return what would be sent (`kubeflow_request`).
      **options: `RunOptions` fields (params, pipeline_root, run_name,
        no_cache, service_account, experiment).

    Returns:
      {"target", "host", "run_id", "experiment_id", "display_name", "url", and
      with `upload` "pipeline_id" and "pipeline_version_id"}; with `dry_run`,
      `kubeflow_request`'s dict.

    Raises:
      ValueError: bad arguments.
      TypeError: an option that is not a `RunOptions` field.
      SubmitError: the server cannot be reached or refused a call (its message included).
    """
    run = RunOptions(**options)
    pipeline = for_target(pipeline, KUBEFLOW)
    submission = _Submission(
        pipeline=pipeline,
        host=_check_kubeflow(host, run.pipeline_root),
        run_name=run.run_name or default_run_name(pipeline),
        params=dict(run.params or {}),
        options=run,
        namespace=namespace,
        upload=upload,
    )
    return _dry_run(submission) if dry_run else _send(submission)


def kubeflow_request(pipeline: CompiledPipeline | str, **options: Any) -> dict[str, Any]:
    """What `submit_kubeflow(pipeline, **options)` would send, as a JSON-ready dict; contacts nothing.

    Returns:
      {"target", "host", "package", "requests": [{"method", "path", "query"?,
      "body"?, "files"?, "when"?}, ...]} in the order kfp.Client sends them;
      "when" marks a call made only in that case. The last is POST
      /apis/v2beta1/runs, whose body is built as `kfp.Client.run_pipeline`
      builds it (`V2beta1Run`, the spec in proto JSON) and serialised by
      `kfp_server_api.ApiClient`; ids the server assigns appear as
      `<experiment_id>`, `<pipeline_id>`, `<pipeline_version_id>`.
    """
    return submit_kubeflow(pipeline, dry_run=True, **options)
