"""`frontier submit`: run a compiled pipeline on Vertex AI or Kubeflow Pipelines.

frontier submit FILE --target vertex --project P --region R [--pipeline-root gs://...]
frontier submit FILE --target kubeflow --host URL [--experiment E] [--namespace N] [--upload]
  both: [--param NAME=VALUE ...] [--no-cache] [--run-name NAME] [--service-account SA] [--dry-run]

FILE is what `frontier compile` writes: a Vertex AI `PipelineJob` JSON
(`pipelineSpec` plus `runtimeConfig`) or a `PipelineSpec` YAML, read by
`frontier.pipelines.compiled_spec` (which also types `--param` values by
their declaration and refuses a file compiled for the other target: the
Kubeflow form reads and writes artifacts at the KFP launcher's local paths
and names accelerators as Kubernetes resources, neither of which Vertex AI
accepts, and the Vertex form keeps Vertex accelerator names and resolvers
that open-source KFP cannot run). It is sent through the real client
libraries: `google.cloud.aiplatform.PipelineJob` (`frontier.pipelines.vertex`)
or `kfp.Client` (`frontier.pipelines.kubeflow`, which adapts a `.json` to the
`.yaml` kfp.Client reads).

`--dry-run` needs neither credentials nor a server: it loads the file with the
same libraries, builds the request they would send and prints it as JSON. For
Vertex that is the `CreatePipelineJobRequest` of a `PipelineJob` built with
anonymous credentials; for Kubeflow the run body as `Client.run_pipeline`
builds it, with the calls the client makes before it (healthz, the
experiment lookup).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from frontier.pipelines.compiled_spec import SubmitError, load_spec, parse_params
from frontier.pipelines.kubeflow import submit_kubeflow
from frontier.pipelines.resources import KUBEFLOW, TARGETS, VERTEX
from frontier.pipelines.vertex import submit_vertex

# Flags that apply to either target (`RunOptions`' fields; `params` comes from
# --param), then each target's own; each is the keyword of `submit_vertex` /
# `submit_kubeflow` that takes its value.
_COMMON = ("pipeline_root", "run_name", "no_cache", "service_account", "experiment")
_OWN = {VERTEX: ("project", "region"), KUBEFLOW: ("host", "namespace", "upload")}
_SEND = {VERTEX: submit_vertex, KUBEFLOW: submit_kubeflow}


def submit(args: argparse.Namespace) -> dict[str, Any]:
    """Runs `frontier submit` from parsed arguments; returns what was (or would be) sent.

    Raises:
      FileNotFoundError, ValueError: a bad file or flag (the message names it).
      SubmitError: the service cannot be reached or refused the submission.
    """
    other = KUBEFLOW if args.target == VERTEX else VERTEX
    for attr in _OWN[other]:
        if getattr(args, attr):
            raise ValueError(f"--{attr} applies to --target {other} only")
    pipeline = load_spec(args.file)
    options = {attr: getattr(args, attr) for attr in (*_OWN[args.target], *_COMMON)}
    params = parse_params(args.param, pipeline)
    return _SEND[args.target](pipeline, params=params, dry_run=args.dry_run, **options)


def _summary(result: dict[str, Any]) -> list[str]:
    """The lines printed for a submission that was sent."""
    if result["target"] == VERTEX:
        return [
            f"submitted {result['display_name']} to Vertex AI as {result['name']}",
            f"  console: {result['console']}",
        ]
    lines = [
        f"submitted {result['display_name']} to Kubeflow Pipelines at {result['host']}",
        f"  run id:        {result['run_id']}",
        f"  experiment id: {result['experiment_id']}",
    ]
    if "pipeline_id" in result:
        lines.append(
            f"  pipeline:      {result['pipeline_id']} version {result['pipeline_version_id']}"
        )
    return [*lines, f"  details:       {result['url']}"]


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
    print(json.dumps(result, indent=2) if args.dry_run else "\n".join(_summary(result)))
    return 0
