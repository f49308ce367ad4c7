"""Node pages: the local equivalent of the Kubeflow / Vertex AI node side panel.

Every node of the run page's DAG links to a page. A frontier component links
to its own (its `HtmlReport`'s `index.html`); every other node (stock TFX
components, a frontier component that failed before publishing its page,
Resolvers) gets a node page written here (`write_node_pages`): its state in
words, execution, start, end and duration, parameters, and the artifacts it
read, made or resolved, with links to their folders and to what a browser
can open in them, and a link back to the run page.

Node pages live in `<root>/nodes/<run id>/<node id>.html` (`node_pages_dir`,
`node_page_name`), one folder per run: `frontier report OLD` rebuilds an
older run's page and its node pages, and a folder of their own leaves the
latest run's node pages alone. Like the run page they are self-contained and
link relative to their folder, and only to what exists on disk.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence

from frontier.pipelines.page_html import (
    COMPONENT_VERSION,
    HTML_TYPE,
    STYLE,
    duration,
    esc,
    file_safe,
    link,
    parameter,
    parameters,
    write_whole,
)
from frontier.pipelines.runs import ArtifactRecord, NodeRecord, RunRecord

NODES_DIR = "nodes"  # node pages: <root>/nodes/<run id>/<node id>.html
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


def node_pages_dir(root: str, run_id: str) -> str:
    """The folder of a run's node pages, `<root>/nodes/<run id>` (the id made safe
    as in `report.page_name`; one of only dots would name the folder above)."""
    safe = file_safe(run_id)
    if not safe.strip("."):
        safe = safe.replace(".", "-") or "-"
    return os.path.join(os.path.abspath(root), NODES_DIR, safe)


def node_page_name(node_id: str) -> str:
    """The file name of a node's page in its run's folder, `<node id>.html` (made
    safe as in `report.page_name`)."""
    return f"{file_safe(node_id)}.html"


def _local(path: object) -> bool:
    """Whether `path` is an existing local file or folder (a page links only those:
    it must work offline, and a link to nothing is broken)."""
    return isinstance(path, str) and "://" not in path and os.path.exists(path)


def _path(path: str, base: str) -> str:
    """`path` as text, linked (relative to `base`) when it is a local file or folder."""
    if _local(path):
        return link(path, base, path)
    where = "" if "://" in path else " <span class='muted'>(not on disk)</span>"
    return f"<code>{esc(path)}</code>{where}"


def _openable(uri: str, base: str) -> list[str]:
    """Links to the files directly in an artifact's folder that a browser shows."""
    if not _local(uri) or not os.path.isdir(uri):
        return []
    names = sorted(
        n
        for n in os.listdir(uri)
        if n.lower().endswith(_READABLE) and os.path.isfile(os.path.join(uri, n))
    )
    shown = [link(os.path.join(uri, n), base, n) for n in names[:_READABLE_LISTED]]
    if len(names) > _READABLE_LISTED:
        shown.append(f"<span class='muted'>and {len(names) - _READABLE_LISTED} more</span>")
    return shown


def _properties(props: dict, base: str) -> str:
    """An artifact's properties; a value that is a local path (the Pusher's
    `pushed_destination`) is a link to it."""
    parts = []
    for k, v in sorted(props.items()):
        if isinstance(v, str) and os.path.isabs(v) and _local(v):
            parts.append(f"<span class='kv'><code>{esc(k)}</code> = {link(v, base, v)}</span>")
        else:
            parts.append(parameter(k, v))
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
                link(pages[n], base, n) if n in (pages or {}) and _local(pages[n]) else esc(n)
                for n in made_by.get(a.id, ())
            ]
            source = f"<td>{', '.join(names) or '<span class=muted>an earlier run</span>'}</td>"
        rows.append(
            f"<tr><td>{esc(a.key)}</td><td>{a.id}</td><td>{esc(a.type_name)}</td><td>{uri}</td>"
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
        ("pipeline", esc(run.pipeline)),
        ("run id", esc(run.run_id)),
        ("state", f"<span class='{esc(node.state)}'>{esc(words)}</span> ({esc(node.state)})"),
        ("execution", f"{node.execution_id} in ML Metadata"),
        ("type", f"<code>{esc(node.execution_type)}</code>"),
    ]
    if node.ended is not None:
        started = node.ended - datetime.timedelta(seconds=node.seconds)
        rows.append(("started", f"{started:%Y-%m-%d %H:%M:%S}"))
        rows.append(("ended", f"{node.ended:%Y-%m-%d %H:%M:%S}"))
    rows.append(("duration", duration(node.seconds)))
    if code is not None:
        rows.append(("component_version", f"<code>{esc(code)}</code>"))
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
    back = "<p>" + link(run_page, base, "\u2190 the run page") + "</p>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(node.node_id)} \u00b7 "
        f"{esc(run.pipeline)} run {esc(run.run_id)}</title><style>{STYLE}</style></head><body>"
        f"{back}<h1>{esc(node.node_id)}"
        + ("" if node.node_id.startswith(kind) else f" <span class='muted'>{esc(kind)}</span>")
        + f"</h1><table class='details'>{details}</table>"
        f"<h2>Parameters</h2><div class='params'>{parameters(params)}</div>"
        f"<h2>Inputs</h2>{inputs}" + resolved + f"<h2>Outputs</h2>{outputs}{back}</body></html>"
    )


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
        write_whole(path, render_node_page(run, last[n], folder, run_page, pages))
    keep = {os.path.basename(p) for p in written.values()}
    for name in os.listdir(folder):
        if name.endswith((".html", ".html.tmp")) and name not in keep:
            os.remove(os.path.join(folder, name))
    return written
