"""The run report: one `report.html` under the run root after each run.

It draws the run's DAG (`dag`: each node's state and duration, edges labelled
with artifact types, each node linking to its page), links every component's
visualization (`frontier.HtmlReport` artifacts) and lists every output
artifact with its MLMD id, so a user opens one file to see what the run did,
what it reused from the cache and where things are. Self-contained: inline
SVG and CSS, nothing fetched.
"""

from __future__ import annotations

import html
import os

from frontier.pipelines.runs import NodeRecord, RunRecord

REPORT_FILE = "report.html"
HTML_TYPE = "frontier.HtmlReport"

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "th{background:#f3f3f3}td{max-width:30em;overflow-wrap:anywhere}.graph{overflow:auto}.CACHED{color:#2a6}.FAILED{color:#c22}.muted{color:#777}"
)


def _e(v: object) -> str:
    return html.escape(str(v))


def _link(uri: str, root: str, text: str | None = None) -> str:
    """A link to `uri`, relative to `root` for local paths (the report moves with its root)."""
    target = uri if "://" in uri else os.path.relpath(uri, root)
    return f'<a href="{_e(target)}">{_e(text or target)}</a>'


def page_link(node: NodeRecord, root: str) -> str | None:
    """The href of `node`'s `HtmlReport` page, relative to `root` for a local
    path (the report moves with its root); None when it has no page."""
    for a in node.outputs:
        if a.type_name == HTML_TYPE:
            page = os.path.join(a.uri, "index.html")
            return page if "://" in page else os.path.relpath(page, root)
    return None


def render_report(
    run: RunRecord, root: str, extra: dict[str, str] | None = None, graph_svg: str = ""
) -> str:
    """The report page for `run`; links are relative to `root`; `graph_svg` is
    the run's DAG (`dag.render_svg`), drawn first when given."""
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
    summary = (
        f"{len(run.executed)} executed, {len(run.cached)} reused from cache, "
        f"{len(run.failed)} failed"
    )
    extras = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in (extra or {}).items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(run.pipeline)} run report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{_e(run.pipeline)}: run {_e(run.run_id)}</h1>"
        f"<p>Started {run.started:%Y-%m-%d %H:%M:%S}; {summary}.</p><ul>{extras}</ul>"
        + (f"<h2>Graph</h2><div class='graph'>{graph_svg}</div>" if graph_svg else "")
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
) -> str:
    """Writes `<root>/report.html` for `run` and returns its path.

    Args:
      run: the run, as `runs` reads it from the root's ML Metadata.
      root: the run root (links are relative to it).
      extra: more lines for the page's head (name: value).
      upstream: the pipeline's dependencies (`dag.upstream_of`), which settle
        edges that ML Metadata alone leaves ambiguous; without them the DAG is
        drawn from ML Metadata's events alone.
    """
    from frontier.pipelines import dag
    from frontier.pipelines.runs import open_store

    try:
        graph = dag.run_graph(open_store(root), run, upstream)
        svg = dag.render_svg(graph, dag.layout(graph), run, root)
    except Exception as e:  # noqa: BLE001 - a drawing bug must not fail a finished run
        from absl import logging

        logging.warning("report.html without its graph: drawing the DAG failed: %r", e)
        svg = ""
    path = os.path.join(root, REPORT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(render_report(run, root, extra, svg))
    os.replace(tmp, path)
    return path
