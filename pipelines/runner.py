"""Running a pipeline locally with TFX's own runners, then reporting on it.

Orchestration is TFX's (ARCHITECTURE.md): `LocalDagRunner` (in-process, one
component after another) or `BeamDagRunner` (the pipeline as a Beam graph).
MLMD is a SQLite file under the run root, so caching and lineage survive
between runs; after the run, `report.html` is written from what MLMD recorded,
and `rebuild_report` writes the page of any recorded run again.

Run-root layout:
  <root>/metadata.sqlite      ML Metadata (lineage, cache)
  <root>/pipelines/<name>/    pipeline root: every artifact's files
  <root>/serving/             the push destination (one numeric dir per version)
  <root>/report.html          the latest run's page
  <root>/report-<run id>.html a recorded run's page, rebuilt (`frontier report`)
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time

from absl import logging

from frontier.pipelines import recovery
from frontier.pipelines import report as report_lib
from frontier.pipelines import runs as runs_lib

RUNNERS = ("local", "beam")


def is_remote(root: str) -> bool:
    """Whether `root` is a URI (`gs://...`, `s3://...`) rather than a local path."""
    return "://" in root


def _join(root: str, *parts: str) -> str:
    if is_remote(root):
        return "/".join([root.rstrip("/"), *parts])
    return os.path.join(os.path.abspath(root), *parts)


def pipeline_root(root: str, name: str) -> str:
    return _join(root, "pipelines", name)


def metadata_path(root: str) -> str:
    return _join(root, runs_lib.METADATA_FILE)


def serving_dir(root: str) -> str:
    return _join(root, "serving")


def data_dir(root: str, name: str) -> str:
    """Where a pipeline that makes its own source files keeps them (`<root>/data/<name>`)."""
    return _join(root, "data", name)


def metadata_config(root: str):
    """MLMD connection config for the SQLite store under a local `root`; None for a
    remote root (Vertex AI and Kubeflow keep their own metadata store)."""
    from tfx import v1 as tfx

    if is_remote(root):
        return None
    os.makedirs(os.path.abspath(root), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path(root))


def make_pipeline(name: str, components: list, root: str, enable_cache: bool, params=()):
    """The `tfx.dsl.Pipeline` of a shipped pipeline, laid out under `root`.

    Args:
      name: pipeline name.
      components: its nodes.
      root: a local run root (artifacts and MLMD store under it) or, to
        compile for Vertex AI / Kubeflow, a remote one (artifacts only).
      enable_cache: TFX caching.
      params: the pipeline's `parameters.RuntimeParam`s, applied here so that
        local runs and compiled specs share one definition.
    """
    from tfx import v1 as tfx

    from frontier.pipelines import parameters

    parameters.apply(components, params)
    return tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=pipeline_root(root, name),
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_config(root),
    )


def check_local_root(root: str) -> None:
    """Refuses a remote root for a local run (its MLMD store is a local SQLite file)."""
    if is_remote(root):
        raise ValueError(
            f"--root {root}: a local run needs a local directory (its ML Metadata store is a"
            " SQLite file there); to run under a gs:// root, compile for Vertex AI with"
            " `frontier compile` and `frontier submit` the result"
        )


def run_pipeline(pipeline, runner: str = "local") -> None:
    """Runs a `tfx.dsl.Pipeline` with TFX's local or Beam DAG runner, after
    closing what an earlier, killed run of it left open (`recovery`)."""
    from tfx import v1 as tfx

    from frontier.pipelines import parameters

    check_local_root(pipeline.pipeline_info.pipeline_root)
    parameters.resolve(pipeline.components)
    metadata_path = pipeline.metadata_connection_config.sqlite.filename_uri
    recovery.recover_interrupted(
        metadata_path, pipeline.pipeline_info.pipeline_name, pipeline.pipeline_info.pipeline_root
    )
    recovery.reconcile_pushes(metadata_path, pipeline.pipeline_info.pipeline_root)

    if runner == "local":
        tfx.orchestration.LocalDagRunner().run(pipeline)
    elif runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        BeamDagRunner().run(pipeline)
    else:
        raise ValueError(f"unknown runner {runner!r}; expected one of {RUNNERS}")


def run_and_report(
    pipeline, root: str, runner: str = "local"
) -> tuple[runs_lib.RunRecord, str, float]:
    """Runs `pipeline`, then writes `<root>/report.html` for the run.

    The report is written for a failed run as well (it shows which component
    failed and what the others published); the error is then re-raised.

    Returns:
      (the run as recorded in MLMD, the report's path, wall seconds of the run).
    """
    start = time.perf_counter()
    try:
        run_pipeline(pipeline, runner)
    except BaseException:
        seconds = time.perf_counter() - start
        _write_report(root, pipeline, runner, seconds, missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    run, path = _write_report(root, pipeline, runner, seconds)
    return run, path, seconds


def _write_report(root: str, pipeline, runner: str, seconds: float, missing_ok: bool = False):
    from frontier.pipelines import dag

    name = pipeline.pipeline_info.pipeline_name
    try:
        run = runs_lib.latest_run(root, name)
    except (LookupError, FileNotFoundError):
        if missing_ok:  # failed before MLMD recorded anything
            return None, None
        raise
    path = report_lib.write_report(
        run,
        os.path.abspath(root),
        extra={
            "runner": runner,
            "pipeline time (s)": f"{seconds:.1f}",
            "metadata": metadata_path(root),
            "pipeline root": pipeline_root(root, name),
        },
        upstream=dag.upstream_of(pipeline),
    )
    return run, path


def shipped_upstream(run: runs_lib.RunRecord) -> dict[str, set[str]] | None:
    """The DAG's `upstream` for a recorded run of a shipped pipeline, else None.

    A recorded run keeps no channels, only ML Metadata's events; the shipped
    pipeline's declared dependencies (`dag.upstream_of`) settle the edges
    those leave ambiguous. The pipeline is built with its default config under
    a throw-away root (building the SPL and demo pipelines writes their source
    files). None, so that the DAG is drawn from ML Metadata alone, when the run
    is not of a shipped pipeline, when the pipeline cannot be built, or when
    the run has nodes today's pipeline lacks (an older version, or another
    config): its declared edges would drop real ones.
    """
    from frontier.pipelines import dag
    from frontier.pipelines.cli import PIPELINES

    for name in PIPELINES.values():
        module = importlib.import_module(name)
        if getattr(module, "PIPELINE_NAME", None) != run.pipeline:
            continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                upstream = dag.upstream_of(module.create_pipeline(tmp))
        except Exception as e:  # noqa: BLE001 - the DAG is still drawn, from MLMD alone
            logging.warning("DAG from ML Metadata alone: building %s failed: %r", name, e)
            return None
        missing = {n.node_id for n in run.nodes} - set(upstream)
        if missing:
            logging.info(
                "DAG from ML Metadata alone: %s has no node %s",
                run.pipeline,
                ", ".join(sorted(missing)),
            )
            return None
        return upstream
    return None


def rebuild_report(
    root: str, run_id: str | None = None, output: str | None = None
) -> tuple[runs_lib.RunRecord, str]:
    """Writes the page of a recorded run again, from ML Metadata and its artifacts.

    Args:
      root: a local run root.
      run_id: the run (as `frontier runs` prints it, or an unambiguous prefix);
        None: the latest run of any pipeline.
      output: the page's path; default `<root>/report-<run id>.html`
        (`report.page_name`), beside `report.html`, so relative links work.

    Returns:
      (the run, the page's path).

    Raises:
      FileNotFoundError: no ML Metadata store under `root`.
      LookupError: no such run (the message names the latest ones).
    """
    root = os.path.abspath(root)
    run = runs_lib.find_run(root, run_id)
    path = report_lib.write_report(
        run,
        root,
        extra={
            "page": "rebuilt by `frontier report` from ML Metadata (runner and wall time"
            " are not recorded there)",
            "metadata": metadata_path(root),
            "pipeline root": pipeline_root(root, run.pipeline),
        },
        upstream=shipped_upstream(run),
        output=output or os.path.join(root, report_lib.page_name(run.run_id)),
    )
    return run, path
