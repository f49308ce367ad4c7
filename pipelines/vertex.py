"""Submitting a compiled pipeline to Vertex AI Pipelines (`frontier submit --target vertex`).

The file goes through the real client library:
`google.cloud.aiplatform.PipelineJob(...)`, then `.submit()`: one
`PipelineService.CreatePipelineJob` call (before it, the library checks that
the bucket of the pipeline root exists and creates it otherwise).

A dry run (`vertex_request`) needs neither credentials nor a server: it builds
the same `PipelineJob` with anonymous credentials (its constructor makes no
network call) and returns the `CreatePipelineJobRequest` that `.submit()`
would send.

aiplatform keeps an unsubmitted job's proto, its parent and its endpoint
private (`PipelineJob.gca_resource` raises until the job has a resource name),
so the dry run reads `_gca_resource`, `_parent` and the transport's host, and
the console link is `_dashboard_uri()`: the request printed is then the one
`.submit()` builds, not a copy that could drift from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from frontier.pipelines.compiled_spec import (
    YAML_SUFFIXES,
    CompiledPipeline,
    RunOptions,
    SubmitError,
    default_run_name,
    for_target,
)
from frontier.pipelines.resources import VERTEX

VERTEX_RPC = "google.cloud.aiplatform.v1.PipelineService.CreatePipelineJob"


def _check_vertex(pipeline: CompiledPipeline, project, region, pipeline_root) -> None:
    """Refuses what Vertex AI cannot run: a missing project or region, an unknown
    region, a root that is not gs://, a Kubernetes platform spec."""
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
    credentials: Any = None,
    **options: Any,
):
    """The `aiplatform.PipelineJob` for a compiled pipeline (not yet submitted).

    Args:
      pipeline: a `load_spec` result or the file's path.
      project, region: where it runs.
      credentials: google.auth credentials (None: application default credentials).
      **options: `RunOptions` fields; `service_account` and `experiment` are
        given to `PipelineJob.submit`, not here.

    Raises:
      ValueError: a missing project or region, an unknown region, a pipeline
        root that is not gs://.
      TypeError: an option that is not a `RunOptions` field.
    """
    run = RunOptions(**options)
    pipeline = for_target(pipeline, VERTEX)
    _check_vertex(pipeline, project, region, run.pipeline_root)
    from google.cloud import aiplatform

    with tempfile.TemporaryDirectory(prefix="frontier-submit-") as tmp:
        return aiplatform.PipelineJob(  # reads the template here, and only here
            display_name=run.run_name or default_run_name(pipeline),
            template_path=_vertex_template(pipeline, tmp),
            pipeline_root=run.pipeline_root,
            parameter_values=dict(run.params) if run.params else None,
            enable_caching=False if run.no_cache else None,
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
    """The API host the job's client talks to (None if aiplatform's internals moved)."""
    try:
        return job.api_client.select_version("v1")._transport._host
    except Exception:  # noqa: BLE001 (only decorates the printout)
        return None


def _create_request(job, service_account: str | None, experiment: str | None) -> dict[str, Any]:
    """What `job.submit(service_account=...)` sends, as a JSON-ready dict; contacts nothing.

    `request` is the `CreatePipelineJobRequest` (parent, pipelineJob,
    pipelineJobId) in proto JSON (fields left at their default omitted).
    """
    from google.cloud.aiplatform.compat.types import pipeline_service

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
    credentials: Any = None,
    dry_run: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Submits a compiled pipeline as a Vertex AI PipelineJob; returns without waiting.

    Args:
      pipeline, project, region, credentials: as `vertex_job`.
      dry_run: send nothing; return what would be sent (`vertex_request`).
      **options: `RunOptions` fields (params, pipeline_root, run_name,
        no_cache, service_account, experiment).

    Returns:
      {"target", "name" (the job's resource name), "job_id", "display_name", "console"};
      with `dry_run`, `vertex_request`'s dict.

    Raises:
      ValueError: bad arguments (see `vertex_job`).
      SubmitError: no credentials, or Vertex AI refused the job.
    """
    import google.auth.exceptions
    from google.api_core import exceptions as api_exceptions

    run = RunOptions(**options)
    if dry_run:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    submit_options = {"service_account": run.service_account, "experiment": run.experiment}
    try:
        job = vertex_job(
            pipeline, project=project, region=region, credentials=credentials, **options
        )
        if dry_run:
            return _create_request(job, **submit_options)
        job.submit(**submit_options)
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


def vertex_request(pipeline: CompiledPipeline | str, **options: Any) -> dict[str, Any]:
    """What `submit_vertex(pipeline, **options)` would send, as a JSON-ready dict; contacts nothing.

    `options` are `submit_vertex`'s (credentials aside: the job is built with
    anonymous ones). Returns {"target", "rpc", "endpoint", "request",
    "before", and "experiment" when given}: `request` is the
    `CreatePipelineJobRequest` (parent, pipelineJob, pipelineJobId) that
    `PipelineJob.submit` sends, in proto JSON (fields left at their default
    omitted).
    """
    if "credentials" in options:
        raise TypeError("vertex_request builds the job with anonymous credentials")
    return submit_vertex(pipeline, dry_run=True, **options)
