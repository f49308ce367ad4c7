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

Every node of the DAG links to a page. A frontier component links to its own
(its `HtmlReport`'s `index.html`); every other node (stock TFX components, a
frontier component that failed before publishing its page, Resolvers) gets a
node page written here (`write_node_pages`), the local equivalent of the
Kubeflow / Vertex AI node side panel: its state, execution, start, end and
duration, parameters, and the artifacts it read, made or resolved, with links
to their folders and to what a browser can open in them. Node pages live in
`<root>/nodes/<run id>/` (`node_pages_dir`), one folder per run, so that
rebuilding an older run's page leaves the latest run's node pages alone.

`frontier run` writes `<root>/report.html` after each run; `frontier report
[RUN]` rebuilds any recorded run's page (`page_name`). Self-contained: inline
SVG and CSS, no script, font or image from elsewhere, so it opens from
`file://` offline. Links are relative to the page's folder, so the page moves
with its root.

A part that cannot be drawn (the DAG, the results) is logged as a warning and
left out: the page of a finished run is always written.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import platform
import re
from collections.abc import Sequence
from importlib import metadata

from absl import logging

from frontier.pipelines import charts
from frontier.pipelines.results import Result
from frontier.pipelines.runs import ArtifactRecord, NodeRecord, RunRecord

REPORT_FILE = "report.html"
NODES_DIR = "nodes"  # node pages: <root>/nodes/<run id>/<node id>.html
HTML_TYPE = "frontier.HtmlReport"
COMPONENT_VERSION = "component_version"  # = versioning.COMPONENT_VERSION_KEY
# Parameter values longer than this (characters) are folded into a <details>.
_SHORT_VALUE = 60
# Files in an artifact's folder that a browser shows as they are (the stock Schema's
# schema.pbtxt, the Evaluator's eval_config.json), linked on a node page beside the
# folder; stock statistics, anomalies and metrics are binary protos: the folder only.
_READABLE = (".html", ".json", ".txt", ".pbtxt", ".md", ".csv", ".svg", ".png")
_READABLE_LISTED = 8  # per artifact: a folder of many such files is linked, not listed
# A node's state in words on its page (the DAG's box says the first word).
_STATE_WORDS = {
    "COMPLETE": "executed",
    "CACHED": "reused from the cache: its outputs are those of an earlier execution",
    "FAILED": "failed: it published no outputs; the run's log has the error",
    "INTERRUPTED": "interrupted: the run was killed before it finished",
    "RUNNING": "running, or left open by a run that ended abnormally",
    "NEW": "registered, not started",
    "CANCELED": "canceled",
}
# Versions of the process that writes the page: (label, distribution name).
_DISTRIBUTIONS = (
    ("frontier", "tfx-frontier"),
    ("TFX", "tfx"),
    ("TensorFlow", "tensorflow"),
    ("ML Metadata", "ml-metadata"),
    ("Apache Beam", "apache-beam"),
)

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}td{max-width:30em;overflow-wrap:anywhere}"
    ".graph{overflow:auto}.CACHED,.COMPLETE{color:#1e8e3e}.CACHED{color:#1a73e8}"
    ".FAILED{color:#c22}.INTERRUPTED{color:#e37400}.muted{color:#777}"
    ".details th{background:none;border:none;padding:1px 12px 1px 0;font-weight:600}"
    ".details td{border:none;padding:1px 0}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
    ".tag{font-size:.8em;background:#e8f0fe;color:#1967d2;border-radius:4px;padding:1px 5px}"
    ".card{border:1px solid #dadce0;border-radius:8px;padding:8px;width:360px}"
    ".card h3{font-size:1em;margin:0 0 4px}.card p{margin:4px 0;font-size:.92em}"
    ".params td{max-width:none;font-size:.92em}.params td:first-child{white-space:nowrap}.params code{background:#f1f3f4;padding:0 3px;border-radius:3px}"
    ".kv{display:inline-block;margin:0 10px 2px 0}details.kv{display:block}"
    "details pre{white-space:pre-wrap;max-height:20em;overflow:auto;background:#f8f9fa;"
    "padding:4px;margin:2px 0}summary{cursor:pointer}"
)


def _e(v: object) -> str:
    return html.escape(str(v))


def _link(uri: str, base: str, text: str | None = None) -> str:
    """A link to `uri`, relative to `base` (the page's folder) for local paths."""
    target = uri if "://" in uri else os.path.relpath(uri, base)
    return f'<a href="{_e(target)}">{_e(text or target)}</a>'


def _html_report(node: NodeRecord):
    """`node`'s `HtmlReport` output (its own page), or None."""
    return next((a for a in node.outputs if a.type_name == HTML_TYPE), None)


def page_link(node: NodeRecord, root: str) -> str | None:
    """The href of `node`'s `HtmlReport` page, relative to `root` (the folder of
    the page that links it) for a local path; None when it has no page."""
    a = _html_report(node)
    if a is None:
        return None
    page = os.path.join(a.uri, "index.html")
    return page if "://" in page else os.path.relpath(page, root)


def node_link(node: NodeRecord, root: str, node_pages: dict[str, str] | None) -> str | None:
    """The href of `node`'s page, relative to `root` (the folder of the page that
    links it): its `HtmlReport` page (`page_link`), else its node page when
    `node_pages` (node id -> path, as `write_node_pages` returns) has one; else None."""
    own = page_link(node, root)
    if own is not None or node.node_id not in (node_pages or {}):
        return own
    return os.path.relpath(node_pages[node.node_id], root)


def _file_safe(name: str) -> str:
    # A TFX run id is a timestamp: a ':' would make a relative link read as a URL scheme.
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def page_name(run_id: str) -> str:
    """The file name of a rebuilt run page, `report-<run id>.html`, with every
    character other than letters, digits, '.', '_' and '-' made '-' (TFX's run
    ids are timestamps, and a ':' would make a relative link read as a URL scheme)."""
    return f"report-{_file_safe(run_id)}.html"


def node_pages_dir(root: str, run_id: str) -> str:
    """The folder of a run's node pages, `<root>/nodes/<run id>` (the id made safe
    as in `page_name`; one of only dots would name the folder above)."""
    safe = _file_safe(run_id)
    if not safe.strip("."):
        safe = safe.replace(".", "-") or "-"
    return os.path.join(os.path.abspath(root), NODES_DIR, safe)


def node_page_name(node_id: str) -> str:
    """The file name of a node's page in its run's folder, `<node id>.html` (made
    safe as in `page_name`)."""
    return f"{_file_safe(node_id)}.html"


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


def _duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s} s" if minutes else f"{seconds:.1f} s"


def _details(run: RunRecord, extra: dict[str, str] | None) -> str:
    """The run's details as a two-column table, Kubeflow's "Run details" tab."""
    ended = run.ended
    rows = [
        ("pipeline", _e(run.pipeline)),
        ("run id", _e(run.run_id)),
        ("state", f"<span class='{_e(run.state)}'>{_e(run.state)}</span>"),
        ("started", f"{run.started:%Y-%m-%d %H:%M:%S}"),
    ]
    if ended is not None:
        rows.append(("ended", f"{ended:%Y-%m-%d %H:%M:%S}"))
        rows.append(("duration", _duration((ended - run.started).total_seconds())))
    parts = [
        f"{len(run.executed)} executed",
        f"{len(run.cached)} reused from cache",
        f"{len(run.failed)} failed",
    ]
    if run.interrupted:
        parts.append(f"{len(run.interrupted)} interrupted")
    rows.append(("components", f"{len(run.components)}: {', '.join(parts)}"))
    if run.failed:
        rows.append(("failed", _e(", ".join(run.failed))))
    rows += [(_e(k), _e(v)) for k, v in (extra or {}).items()]
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
        plots = f"<p class='muted'>chart not drawn: {_e(e)}</p>"
    return (
        f"<section class='card'><h3><span class='tag'>{_e(result.technique)}</span> "
        f"{_e(result.title)}</h3>"
        f"{plots}<p>{_e(result.sentence)}</p></section>"
    )


def results_panel(results: Sequence[Result]) -> str:
    """The "Results" section: one card per result ("" when there are none)."""
    if not results:
        return ""
    cards = "".join(_card(r) for r in results)
    return f"<h2>Results</h2><div class='cards'>{cards}</div>"


def _value(name: str, value: object) -> str:
    """One parameter as `name = value`; a long value (JSON, paths) folded into a
    <details> whose summary is its start, pretty-printed when it is JSON."""
    text = value if isinstance(value, str) else repr(value)
    shown = json.dumps(text) if text == "" else text  # an empty string is still a value
    if len(shown) <= _SHORT_VALUE:
        return f"<span class='kv'><code>{_e(name)}</code> = {_e(shown)}</span>"
    try:
        full = json.dumps(json.loads(text), indent=1, sort_keys=True)
    except ValueError:
        full = text
    return (
        f"<details class='kv'><summary><code>{_e(name)}</code> = "
        f"{_e(shown[: _SHORT_VALUE - 10])}\u2026 <span class='muted'>({len(shown)} characters)"
        f"</span></summary><pre>{_e(full)}</pre></details>"
    )


def _parameters(params: dict) -> str:
    """Parameters as `_value`s, short ones first so that folded ones do not split them."""
    short = [_value(k, v) for k, v in params.items() if len(str(v)) <= _SHORT_VALUE]
    long = [_value(k, v) for k, v in params.items() if len(str(v)) > _SHORT_VALUE]
    return "".join(short + long) or "<span class='muted'>none recorded</span>"


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
            f"<code>{_e(code)}</code>"
            if code is not None
            else "<span class='muted'>" + ("stock TFX" if stock else "none") + "</span>"
        )
        cell = _parameters(params)
        kind = node.execution_type.rsplit(".", 1)[-1]  # the component's class
        kind = "" if node.node_id.startswith(kind) else f"<br><span class='muted'>{_e(kind)}</span>"
        rows.append(
            f"<tr><td>{_e(node.node_id)}{kind}</td>"
            f"<td class='{_e(node.state)}'>{_e(node.state)}</td><td>{version}</td>"
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
    process = ", ".join(f"{_e(k)} {_e(v)}" for k, v in versions.items())
    run_tfx = (
        f" The run's artifacts were recorded by TFX {_e(', '.join(recorded))}." if recorded else ""
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
                f"<tr><td>{_e(node.node_id)}</td><td class='{node.state}'>{node.state}</td>"
                f"<td>{_e(a.key)}</td><td>{a.id}</td><td>{_e(a.type_name)}</td>"
                f"<td>{_link(a.uri, root)}</td><td class='muted'>{_e(props)}</td></tr>"
            )
            if a.type_name == HTML_TYPE:
                title = a.properties.get("title", node.node_id)
                page = os.path.join(a.uri, "index.html")
                visuals.append(
                    f"<li>{_link(page, root, title)} <span class='muted'>({_e(node.node_id)})</span></li>"
                )
        if not node.outputs:
            rows.append(
                f"<tr><td>{_e(node.node_id)}</td><td class='{node.state}'>{node.state}</td>"
                "<td colspan=5 class='muted'>no outputs</td></tr>"
            )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(run.pipeline)} run "
        f"{_e(run.run_id)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(run.pipeline)}: run {_e(run.run_id)}</h1>"
        + _details(run, extra)
        + results_panel(results)
        + (f"<h2>Graph</h2><div class='graph'>{graph_svg}</div>" if graph_svg else "")
        + parameters_section(run, versions)
        + f"<h2>Visualizations</h2><ul>{''.join(visuals) or '<li>none</li>'}</ul>"
        "<h2>Artifacts</h2><table><tr><th>component</th><th>execution</th><th>output</th>"
        "<th>MLMD id</th><th>type</th><th>uri</th><th>properties</th></tr>"
        f"{''.join(rows)}</table></body></html>"
    )


def _local(path: object) -> bool:
    """Whether `path` is an existing local file or folder (a page links only those:
    it must work offline, and a link to nothing is broken)."""
    return isinstance(path, str) and "://" not in path and os.path.exists(path)


def _path(path: str, base: str) -> str:
    """`path` as text, linked (relative to `base`) when it is a local file or folder."""
    if _local(path):
        return _link(path, base, path)
    where = "" if "://" in path else " <span class='muted'>(not on disk)</span>"
    return f"<code>{_e(path)}</code>{where}"


def _openable(uri: str, base: str) -> list[str]:
    """Links to the files directly in an artifact's folder that a browser shows."""
    if not _local(uri) or not os.path.isdir(uri):
        return []
    names = sorted(
        n
        for n in os.listdir(uri)
        if n.lower().endswith(_READABLE) and os.path.isfile(os.path.join(uri, n))
    )
    shown = [_link(os.path.join(uri, n), base, n) for n in names[:_READABLE_LISTED]]
    if len(names) > _READABLE_LISTED:
        shown.append(f"<span class='muted'>and {len(names) - _READABLE_LISTED} more</span>")
    return shown


def _properties(props: dict, base: str) -> str:
    """An artifact's properties; a value that is a local path (the Pusher's
    `pushed_destination`) is a link to it."""
    parts = []
    for k, v in sorted(props.items()):
        if isinstance(v, str) and os.path.isabs(v) and _local(v):
            parts.append(f"<span class='kv'><code>{_e(k)}</code> = {_link(v, base, v)}</span>")
        else:
            parts.append(_value(k, v))
    return "".join(parts) or "<span class='muted'>none</span>"


def _artifacts_table(
    artifacts: Sequence[ArtifactRecord],
    base: str,
    made_by: dict[int, list[str]] | None = None,
    pages: dict[str, str] | None = None,
) -> str:
    """Artifacts as a table: key, MLMD id, type, URI (with what a browser opens in
    it) and properties; with `made_by` (artifact id -> node ids of this run), a
    column naming the node that made each, linked to its page (`pages`: node id ->
    path) where that page exists."""
    head = "<tr><th>key</th><th>MLMD id</th><th>type</th><th>uri</th>"
    head += "<th>from</th>" if made_by is not None else ""
    rows = [head + "<th>properties</th></tr>"]
    for a in artifacts:
        uri = _path(a.uri, base)
        opens = _openable(a.uri, base)
        if opens:
            uri += "<br><span class='muted'>open:</span> " + " \u00b7 ".join(opens)
        source = ""
        if made_by is not None:
            names = [
                _link(pages[n], base, n) if n in (pages or {}) and _local(pages[n]) else _e(n)
                for n in made_by.get(a.id, ())
            ]
            source = f"<td>{', '.join(names) or '<span class=muted>an earlier run</span>'}</td>"
        rows.append(
            f"<tr><td>{_e(a.key)}</td><td>{a.id}</td><td>{_e(a.type_name)}</td><td>{uri}</td>"
            f"{source}<td>{_properties(a.properties, base)}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


def render_node_page(
    run: RunRecord,
    node: NodeRecord,
    base: str,
    run_page: str,
    pages: dict[str, str] | None = None,
) -> str:
    """The page of one node of `run`: the local Kubeflow / Vertex AI node panel.

    Its state in words, execution id and type, start, end and duration, the
    parameters it ran with, and the artifacts it read, made or (a Resolver)
    resolved, each with its MLMD id, type, URI (a link to its folder and to
    the files a browser opens there, when on disk) and properties.

    Args:
      run: the run the node belongs to.
      node: the node.
      base: the folder the page is written to: links are relative to it.
      run_page: the run page's path, linked back to.
      pages: node id -> path of each node's page (its `HtmlReport`'s
        `index.html` or its node page), to link the node that made each input.
    """
    words = _STATE_WORDS.get(node.state, node.state.lower())
    kind = node.execution_type.rsplit(".", 1)[-1]
    params = dict(node.parameters)
    code = params.pop(COMPONENT_VERSION, None)
    rows = [
        ("pipeline", _e(run.pipeline)),
        ("run id", _e(run.run_id)),
        ("state", f"<span class='{_e(node.state)}'>{_e(words)}</span> ({_e(node.state)})"),
        ("execution", f"{node.execution_id} in ML Metadata"),
        ("type", f"<code>{_e(node.execution_type)}</code>"),
    ]
    if node.ended is not None:
        started = node.ended - datetime.timedelta(seconds=node.seconds)
        rows.append(("started", f"{started:%Y-%m-%d %H:%M:%S}"))
        rows.append(("ended", f"{node.ended:%Y-%m-%d %H:%M:%S}"))
    rows.append(("duration", _duration(node.seconds)))
    if code is not None:
        rows.append(("component_version", f"<code>{_e(code)}</code>"))
    elif node.is_system:
        rows.append(("kind", "TFX wiring: it queries ML Metadata and runs no executor"))
    elif node.execution_type.startswith("tfx."):
        rows.append(("kind", "stock TFX component, versioned by TFX"))
    details = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    made_by: dict[int, list[str]] = {}
    for n in run.nodes:
        for a in (*n.outputs, *n.resolved):
            if n.node_id != node.node_id and n.node_id not in made_by.get(a.id, []):
                made_by.setdefault(a.id, []).append(n.node_id)
    inputs = (
        _artifacts_table(node.inputs, base, made_by, pages)
        if node.inputs
        else "<p class='muted'>none recorded</p>"
    )
    if node.outputs:
        outputs = _artifacts_table(node.outputs, base)
    else:
        why = " (a failed execution publishes none)" if node.state == "FAILED" else ""
        outputs = f"<p class='muted'>none{why}</p>"
    resolved = ""
    if node.is_system or node.resolved:
        found = _artifacts_table(node.resolved, base) if node.resolved else "<p>nothing</p>"
        resolved = (
            "<h2>Resolved</h2><p class='muted'>What it found in ML Metadata for the nodes"
            f" that consume it (INTERNAL_OUTPUT events).</p>{found}"
        )
    back = "<p>" + _link(run_page, base, "\u2190 the run page") + "</p>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(node.node_id)} \u00b7 "
        f"{_e(run.pipeline)} run {_e(run.run_id)}</title><style>{_STYLE}</style></head><body>"
        f"{back}<h1>{_e(node.node_id)}"
        + ("" if node.node_id.startswith(kind) else f" <span class='muted'>{_e(kind)}</span>")
        + f"</h1><table class='details'>{details}</table>"
        f"<h2>Parameters</h2><div class='params'>{_parameters(params)}</div>"
        f"<h2>Inputs</h2>{inputs}" + resolved + f"<h2>Outputs</h2>{outputs}{back}</body></html>"
    )


def _write(path: str, text: str) -> None:
    """Writes `path` whole or not at all: a reader never sees half a page."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_node_pages(run: RunRecord, root: str, run_page: str) -> dict[str, str]:
    """Writes a page for each node of `run` that has no `HtmlReport` of its own.

    Pages go to `node_pages_dir(root, run.run_id)`, each written whole (a temporary
    file, then a rename); other pages left there by an earlier writing of this
    run's pages are removed, so the folder holds this writing's nodes only. Where a
    node ran several times in a run, its last execution's page is written (the
    DAG draws that one).

    Args:
      run: the run.
      root: the run root.
      run_page: the path of the run page that links them (linked back to).

    Returns:
      node id -> the path of its page, for the nodes given one.
    """
    folder = node_pages_dir(root, run.run_id)
    last = {n.node_id: n for n in run.nodes}
    written = {
        n: os.path.join(folder, node_page_name(n))
        for n, node in last.items()
        if _html_report(node) is None
    }
    pages = dict(written)
    for n, node in last.items():
        own = _html_report(node)
        if own is not None and "://" not in own.uri:
            pages[n] = os.path.join(own.uri, "index.html")
    os.makedirs(folder, exist_ok=True)
    for n, path in written.items():
        _write(path, render_node_page(run, last[n], folder, run_page, pages))
    keep = {os.path.basename(p) for p in written.values()}
    for name in os.listdir(folder):
        if name.endswith((".html", ".html.tmp")) and name not in keep:
            os.remove(os.path.join(folder, name))
    return written


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
    _write(output, page)
    return output
