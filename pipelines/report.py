"""The run page: the local equivalent of the Kubeflow / Vertex AI run page.

One HTML file per run, written from what ML Metadata recorded (`runs`) and
what the run's artifacts hold. Top to bottom:

  - the run's details: pipeline, run id, state, start, end and duration, and
    how many components executed, were reused from the cache or failed;
  - Results: one card per `results.Result` of the run (each technique's
    headline figure against its baseline as a small bar chart, a line chart
    when it has series, and one sentence saying what the comparison shows);
  - Graph: the run's DAG (`dag`: each node's state and duration, edges
    labelled with artifact types, each node linking to its page);
  - Parameters and code versions: each component's execution properties as
    TFX recorded them for this run, its `component_version` (frontier's hash
    of its code), and the versions of frontier, TFX and TensorFlow in the
    process that wrote the page;
  - Visualizations: every component's page (`frontier.HtmlReport` artifacts);
  - Artifacts: every output artifact with its MLMD id, type and URI.

Every node of the DAG links to a page: a frontier component to its own (its
`HtmlReport`'s `index.html`), every other node to the node page that
`node_pages` writes for it before the run page is written.

`frontier run` writes `<root>/report.html` after each run; `frontier report
[RUN]` rebuilds any recorded run's page (`page_name`). Self-contained: inline
SVG and CSS, no script, font or image from elsewhere, so it opens from
`file://` offline. Links are relative to the page's folder, so the page moves
with its root.

A part that cannot be drawn (the DAG, the results) is logged as a warning and
left out: the page of a finished run is always written.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib import metadata

from absl import logging

from frontier.pipelines import charts
from frontier.pipelines.node_pages import write_node_pages
from frontier.pipelines.page_html import (
    COMPONENT_VERSION,
    HTML_TYPE,
    STYLE,
    duration,
    esc,
    file_safe,
    link,
    parameters,
    write_whole,
)
from frontier.pipelines.results import Result
from frontier.pipelines.runs import RunRecord

REPORT_FILE = "report.html"
# Versions of the process that writes the page: (label, distribution name).
_DISTRIBUTIONS = (
    ("frontier", "tfx-frontier"),
    ("TFX", "tfx"),
    ("TensorFlow", "tensorflow"),
    ("ML Metadata", "ml-metadata"),
    ("Apache Beam", "apache-beam"),
)


def page_name(run_id: str) -> str:
    """The file name of a rebuilt run page, `report-<run id>.html`, with every
    character other than letters, digits, '.', '_' and '-' made '-' (TFX's run
    ids are timestamps, and a ':' would make a relative link read as a URL scheme)."""
    return f"report-{file_safe(run_id)}.html"


def process_versions() -> dict[str, str]:
    """Versions of frontier, TFX, TensorFlow, ML Metadata, Beam and Python in this
    process (read from the installed distributions: nothing is imported)."""
    found = {}
    for label, dist in _DISTRIBUTIONS:
        try:
            found[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[label] = "not installed"
    found["Python"] = platform.python_version()
    return found


def run_results(run: RunRecord, log: bool = True) -> list[Result] | None:
    """`results.results_of(run)`, or None when computing them fails (a missing
    `results` function or a bug there must not fail a run): logged with the
    error when `log`, as a warning for a finished run."""
    from frontier.pipelines import results as results_lib

    try:
        return results_lib.results_of(run)
    except Exception as e:  # noqa: BLE001 - see the docstring
        if log:
            # A run that did not finish may lack what its results read: expected, not alarming.
            logging.log(
                logging.WARNING if run.state == "COMPLETE" else logging.INFO,
                "%s run %s: no results shown: computing them failed: %r",
                run.pipeline,
                run.run_id,
                e,
            )
        return None


def _details(run: RunRecord, extra: dict[str, str] | None) -> str:
    """The run's details as a two-column table, Kubeflow's "Run details" tab."""
    ended = run.ended
    rows = [
        ("pipeline", esc(run.pipeline)),
        ("run id", esc(run.run_id)),
        ("state", f"<span class='{esc(run.state)}'>{esc(run.state)}</span>"),
        ("started", f"{run.started:%Y-%m-%d %H:%M:%S}"),
    ]
    if ended is not None:
        rows.append(("ended", f"{ended:%Y-%m-%d %H:%M:%S}"))
        rows.append(("duration", duration((ended - run.started).total_seconds())))
    parts = [
        f"{len(run.executed)} executed",
        f"{len(run.cached)} reused from cache",
        f"{len(run.failed)} failed",
    ]
    if run.interrupted:
        parts.append(f"{len(run.interrupted)} interrupted")
    rows.append(("components", f"{len(run.components)}: {', '.join(parts)}"))
    if run.failed:
        rows.append(("failed", esc(", ".join(run.failed))))
    rows += [(esc(k), esc(v)) for k, v in (extra or {}).items()]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='details'>{body}</table>"


def _card(result: Result) -> str:
    """One result as a card: heading, bar chart, line chart (if any), sentence."""
    try:
        plots = charts.bar_chart(result.bars, result.metric, result.title)
        if result.series:
            plots += charts.line_chart(
                result.series,
                result.x_label,
                result.series_metric or result.metric,
                result.title,
            )
    except ValueError as e:  # bad figures: keep the sentence, say why there is no plot
        logging.warning("results panel: %s: chart not drawn: %s", result.title, e)
        plots = f"<p class='muted'>chart not drawn: {esc(e)}</p>"
    return (
        f"<section class='card'><h3><span class='tag'>{esc(result.technique)}</span> "
        f"{esc(result.title)}</h3>"
        f"{plots}<p>{esc(result.sentence)}</p></section>"
    )


def results_panel(results: Sequence[Result]) -> str:
    """The "Results" section: one card per result ("" when there are none)."""
    if not results:
        return ""
    cards = "".join(_card(r) for r in results)
    return f"<h2>Results</h2><div class='cards'>{cards}</div>"


def parameters_section(run: RunRecord, versions: dict[str, str] | None = None) -> str:
    """The "Parameters and code versions" section.

    One row per component (Resolver and Importer nodes are left out: their
    parameters are TFX's wiring): its state, its `component_version` (the
    hash of its code frontier puts in the cache key; stock TFX components
    have none and are versioned by TFX itself) and its other execution
    properties, as recorded in ML Metadata for this run (for a cached
    component, those of the cached execution, which equal the reused one's).
    Then the versions of the process that wrote the page (`versions`,
    default `process_versions()`) and the TFX version recorded with the
    run's artifacts.
    """
    versions = process_versions() if versions is None else versions
    rows = []
    for node in run.components:
        params = dict(node.parameters)
        code = params.pop(COMPONENT_VERSION, None)
        stock = node.execution_type.startswith("tfx.")
        version = (
            f"<code>{esc(code)}</code>"
            if code is not None
            else "<span class='muted'>" + ("stock TFX" if stock else "none") + "</span>"
        )
        cell = parameters(params)
        kind = node.execution_type.rsplit(".", 1)[-1]  # the component's class
        kind = (
            "" if node.node_id.startswith(kind) else f"<br><span class='muted'>{esc(kind)}</span>"
        )
        rows.append(
            f"<tr><td>{esc(node.node_id)}{kind}</td>"
            f"<td class='{esc(node.state)}'>{esc(node.state)}</td><td>{version}</td>"
            f"<td>{cell}</td></tr>"
        )
    recorded = sorted(
        {
            str(a.properties["tfx_version"])
            for n in run.nodes
            for a in n.outputs
            if "tfx_version" in a.properties
        }
    )
    process = ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items())
    run_tfx = (
        f" The run's artifacts were recorded by TFX {esc(', '.join(recorded))}." if recorded else ""
    )
    return (
        "<h2>Parameters and code versions</h2>"
        f"<p>This page was written by a process with {process}: the versions of that"
        f" process, not necessarily the run's.{run_tfx} A frontier component's"
        " <code>component_version</code> is a hash of its code, part of its cache key.</p>"
        "<table class='params'><tr><th>component</th><th>execution</th>"
        "<th>component_version</th><th>parameters (execution properties in ML Metadata)</th></tr>"
        f"{''.join(rows)}</table>"
    )


def render_report(
    run: RunRecord,
    root: str,
    extra: dict[str, str] | None = None,
    graph_svg: str = "",
    results: Sequence[Result] = (),
    versions: dict[str, str] | None = None,
) -> str:
    """The run page for `run`.

    Args:
      run: the run, as `runs` reads it from ML Metadata.
      root: the folder the page is written to: links are relative to it.
      extra: more lines for the run's details (name: value).
      graph_svg: the run's DAG (`dag.render_svg`), drawn when given.
      results: the run's results, one card each in the Results panel (none: no panel).
      versions: the process's versions (`process_versions()` when None).
    """
    rows, visuals = [], []
    for node in run.nodes:
        for a in node.outputs:
            props = ", ".join(
                f"{k}={v}" for k, v in sorted(a.properties.items()) if not k.startswith("tfx_")
            )
            rows.append(
                f"<tr><td>{esc(node.node_id)}</td><td class='{node.state}'>{node.state}</td>"
                f"<td>{esc(a.key)}</td><td>{a.id}</td><td>{esc(a.type_name)}</td>"
                f"<td>{link(a.uri, root)}</td><td class='muted'>{esc(props)}</td></tr>"
            )
            if a.type_name == HTML_TYPE:
                title = a.properties.get("title", node.node_id)
                page = os.path.join(a.uri, "index.html")
                visuals.append(
                    f"<li>{link(page, root, title)} <span class='muted'>({esc(node.node_id)})</span></li>"
                )
        if not node.outputs:
            rows.append(
                f"<tr><td>{esc(node.node_id)}</td><td class='{node.state}'>{node.state}</td>"
                "<td colspan=5 class='muted'>no outputs</td></tr>"
            )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(run.pipeline)} run "
        f"{esc(run.run_id)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(run.pipeline)}: run {esc(run.run_id)}</h1>"
        + _details(run, extra)
        + results_panel(results)
        + (f"<h2>Graph</h2><div class='graph'>{graph_svg}</div>" if graph_svg else "")
        + parameters_section(run, versions)
        + f"<h2>Visualizations</h2><ul>{''.join(visuals) or '<li>none</li>'}</ul>"
        "<h2>Artifacts</h2><table><tr><th>component</th><th>execution</th><th>output</th>"
        "<th>MLMD id</th><th>type</th><th>uri</th><th>properties</th></tr>"
        f"{''.join(rows)}</table></body></html>"
    )


def write_report(
    run: RunRecord,
    root: str,
    extra: dict[str, str] | None = None,
    upstream: dict[str, set[str]] | None = None,
    results: Sequence[Result] | None = None,
    output: str | None = None,
) -> str:
    """Writes the page of `run` (default `<root>/report.html`) and returns its path,
    after the pages of its nodes that have no `HtmlReport` (`write_node_pages`),
    which its DAG links to.

    Args:
      run: the run, as `runs` reads it from the root's ML Metadata.
      root: the run root (its ML Metadata store and artifacts).
      extra: more lines for the run's details (name: value).
      upstream: the pipeline's dependencies (`dag.upstream_of`), which settle
        edges that ML Metadata alone leaves ambiguous; without them the DAG is
        drawn from ML Metadata's events alone.
      results: the run's results; None computes them (`run_results`), and a
        failure to do so leaves the page without its Results panel.
      output: the page's path; links are relative to its folder.
    """
    from frontier.pipelines import dag
    from frontier.pipelines.runs import open_store

    output = os.path.abspath(output or os.path.join(root, REPORT_FILE))
    base = os.path.dirname(output)
    # Before the run page, so that its links lead somewhere as soon as it exists.
    try:
        node_pages = write_node_pages(run, root, output)
    except Exception as e:  # noqa: BLE001 - as for the DAG: the run page still gets written
        logging.warning("DAG nodes without node pages: writing them failed: %r", e)
        node_pages = {}
    try:
        graph = dag.run_graph(open_store(root), run, upstream)
        svg = dag.render_svg(graph, dag.layout(graph), run, base, node_pages)
    except Exception as e:  # noqa: BLE001 - a drawing bug must not fail a finished run
        logging.warning("run page without its graph: drawing the DAG failed: %r", e)
        svg = ""
    if results is None:
        results = run_results(run) or ()
    try:
        page = render_report(run, base, extra, svg, results)
    except Exception as e:  # noqa: BLE001 - as for the DAG: the page without the panel
        if not results:
            raise
        logging.warning("run page without its results: drawing them failed: %r", e)
        page = render_report(run, base, extra, svg)
    os.makedirs(base, exist_ok=True)
    write_whole(output, page)
    return output
