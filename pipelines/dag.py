"""A run's DAG as inline SVG: the local equivalent of the Kubeflow / Vertex run page.

`run_graph` reads the edges from ML Metadata, `layout` places the nodes in
layers (left to right: the demo is wide and shallow), `render_svg` draws boxes
coloured and labelled by state, each linking to its node's page (its `HtmlReport`
page, else the node page `node_pages.write_node_pages` wrote).
No graph library and nothing fetched: the SVG works from file:// offline.
"""

from __future__ import annotations

import dataclasses
import html
import itertools

from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from frontier.pipelines.node_pages import node_link
from frontier.pipelines.page_html import HTML_TYPE
from frontier.pipelines.runs import RunRecord

# Box height, gaps between layers and between boxes in a layer, a long edge's lane, margin.
_BOX_H, _GAP_X, _GAP_Y, _LANE, _MARGIN, _LEGEND_H = 40, 90, 14, 10, 16, 30
_LEGEND_STEP = 110  # px per legend entry: a swatch and the longest state word
# (label, fill, stroke) per state; the label is drawn too, so colour is never the only cue.
_STATES = {
    "COMPLETE": ("executed", "#e6f4ea", "#1e8e3e"),
    "CACHED": ("cached", "#e8f0fe", "#1a73e8"),
    "FAILED": ("failed", "#fce8e6", "#d93025"),
    "INTERRUPTED": ("interrupted", "#fef7e0", "#e37400"),
    "RUNNING": ("running", "#f1f3f4", "#5f6368"),
}
# Node ids: 7 px a character at 12px bold; status lines: 6.3 px a character at 12px
# (DejaVu Sans, the widest usual fallback of system-ui, averages 6.0 on such lines).
_ID_PX, _STATUS_PX, _PAD = 7, 6.3, 8
# The longest status line a box can show: the longest state word, the longest
# duration `_box_duration` writes, and the page mark.
_LONGEST_STATUS = max(
    (
        f"{word} \u00b7 {d} \u00b7 page"
        for word in [v[0] for v in _STATES.values()]
        + [k.lower() for k in mlmd_pb2.Execution.State.keys()]
        for d in ("999.9 s", "99.9 min", "999.9 h")
    ),
    key=len,
)


@dataclasses.dataclass(frozen=True)
class Graph:
    """Node ids in run order and edges `(source, target, label)`, label = artifact type(s)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, str], ...]


def run_graph(store, run: RunRecord, upstream: dict[str, set[str]] | None = None) -> Graph:
    """The data flow between `run`'s nodes, from the MLMD events of its executions.

    An artifact's producer is the node whose execution has an OUTPUT event to it; a
    CACHED execution has OUTPUT events to the artifacts it reused, so a cached node
    still feeds its consumers. A Resolver publishes what it resolved as INTERNAL_OUTPUT
    events (and has no INPUT events), so a consumer's input that a resolver of this run
    resolved gets an edge from that resolver; inputs made outside the run by anyone
    else are dropped. `frontier.HtmlReport` pages are never inputs and make no edges.

    MLMD records artifacts, not channels: when a cached node re-publishes an artifact
    that a resolver of the same run also resolved (the demo's baseline resolver picks a
    KIP branch model that way), its consumers get edges from both. `upstream` (node id
    -> the ids it depends on, from the pipeline: `{c.id: {u.id for u in
    c.upstream_nodes} for c in pipeline.components}`) settles it: edges the pipeline
    does not declare are dropped, and declared ones that carried nothing (a resolver
    that found no baseline) are kept, unlabelled.
    """
    node_of = {n.execution_id: n.node_id for n in run.nodes}
    events = store.get_events_by_execution_ids(list(node_of)) if node_of else []
    sources: dict[int, set[str]] = {}  # artifact id -> in-run nodes that made or resolved it
    inputs: list[tuple[str, int]] = []
    for ev in events:
        if ev.type in (mlmd_pb2.Event.OUTPUT, mlmd_pb2.Event.INTERNAL_OUTPUT):
            sources.setdefault(ev.artifact_id, set()).add(node_of[ev.execution_id])
        elif ev.type == mlmd_pb2.Event.INPUT:
            inputs.append((node_of[ev.execution_id], ev.artifact_id))
    ids = sorted({a for _, a in inputs if a in sources})
    types = {t.id: t.name for t in store.get_artifact_types()}
    type_of = (
        {a.id: types.get(a.type_id, "?") for a in store.get_artifacts_by_id(ids)} if ids else {}
    )
    labels: dict[tuple[str, str], set[str]] = {}
    for target, a in inputs:
        if type_of.get(a, HTML_TYPE) == HTML_TYPE:
            continue
        for source in sources[a] - {target}:
            if upstream is None or source in upstream.get(target, ()):
                labels.setdefault((source, target), set()).add(type_of[a])
    # Several executions of one node in a run (none today) would share its box.
    nodes = tuple(dict.fromkeys(n.node_id for n in run.nodes))
    for target in set(upstream or {}) & set(nodes):
        for source in set(upstream[target]) & set(nodes):
            labels.setdefault((source, target), set())
    edges = tuple((s, t, ", ".join(sorted(ls))) for (s, t), ls in sorted(labels.items()))
    return Graph(nodes, edges)


def upstream_of(pipeline) -> dict[str, set[str]]:
    """`run_graph`'s `upstream` of a `tfx.dsl.Pipeline`: node id -> the ids it depends on."""
    return {c.id: {u.id for u in c.upstream_nodes} for c in pipeline.components}


def box_width(graph: Graph) -> int:
    """One width for every box: wide enough for the longest node id at 12px bold
    (up to 260 px) and for any status line ("interrupted \u00b7 99.9 min \u00b7 page":
    `_box_duration` keeps durations short, so no run's line is longer)."""
    ids = min(260, _ID_PX * max((len(n) for n in graph.nodes), default=0) + 20)
    return max(ids, round(_STATUS_PX * len(_LONGEST_STATUS)) + 2 * _PAD)


def _box_duration(seconds: float) -> str:
    """A duration in at most 8 characters, for a box: 12.3 s, 20.6 min, 3.4 h."""
    if seconds < 999.95:
        return f"{seconds:.1f} s"
    if seconds < 99.95 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _layers(graph: Graph) -> dict[str, int]:
    parents = {n: [s for s, t, _ in graph.edges if t == n] for n in graph.nodes}
    layer: dict[str, int] = {}

    def depth(n: str, seen: frozenset = frozenset()) -> int:
        if n not in layer:  # longest path from a source; `seen` stops a (corrupt) cycle
            ps = [p for p in parents[n] if p not in seen]
            layer[n] = 1 + max((depth(p, seen | {n}) for p in ps), default=-1)
        return layer[n]

    for n in graph.nodes:
        depth(n)
    # A source with children sits just left of its nearest child (a Resolver next to its
    # Evaluator, not in column 0 with a long edge across the page).
    for n in graph.nodes:
        kids = [layer[t] for s, t, _ in graph.edges if s == n]
        if not parents[n] and kids:
            layer[n] = min(kids) - 1
    return layer


def layout(graph: Graph, sweeps: int = 4) -> dict:
    """Centre points of the boxes, in layers left to right, ordered to reduce crossings.

    Layers are longest paths from the sources. An edge across several layers gets a
    waypoint in each layer it crosses, keyed `(source, target, layer)` in the returned
    dict next to the node ids; waypoints take part in the ordering (barycenters of
    neighbours in the previous layer, then the next, `sweeps` times), so long edges run
    between boxes, not through them.
    """
    layer = _layers(graph)
    up: dict = {n: [] for n in graph.nodes}
    down: dict = {n: [] for n in graph.nodes}
    for s, t, _ in graph.edges:
        chain = [s, *((s, t, k) for k in range(layer[s] + 1, layer[t])), t]
        for a, b in itertools.pairwise(chain):
            up.setdefault(b, []).append(a)
            down.setdefault(a, []).append(b)
    depth = {k: layer[k] if isinstance(k, str) else k[2] for k in up}
    columns: list[list] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for k in up:  # run order first: stable sorts keep it where barycenters tie
        columns[depth[k]].append(k)

    def reorder(col: list, prev: list, nbrs: dict) -> None:
        pos, key = {k: i for i, k in enumerate(prev)}, {k: i for i, k in enumerate(col)}
        near = {k: [pos[n] for n in nbrs[k] if n in pos] for k in col}
        col.sort(key=lambda k: sum(near[k]) / len(near[k]) if near[k] else key[k])

    for _ in range(sweeps):
        for i in range(1, len(columns)):
            reorder(columns[i], columns[i - 1], up)
        for i in range(len(columns) - 2, -1, -1):
            reorder(columns[i], columns[i + 1], down)
    return _place(columns, up, down, box_width(graph))


def _place(columns: list[list], up: dict, down: dict, width: int) -> dict:
    """y per key: as close to its neighbours' mean as the layer's order and spacing allow."""
    size = {k: _BOX_H if isinstance(k, str) else _LANE for col in columns for k in col}
    y: dict = {}
    for col in columns:  # stacked first
        top = 0.0
        for k in col:
            y[k], top = top + size[k] / 2, top + size[k] + _GAP_Y
    for nbrs in (up, down, up, down):
        order = columns if nbrs is up else columns[::-1]
        for col in order:
            want = {k: sum(y[n] for n in nbrs[k]) / len(nbrs[k]) if nbrs[k] else y[k] for k in col}
            prev = None
            for k in col:  # push down to keep the order and the gaps
                lo = y[prev] + (size[prev] + size[k]) / 2 + _GAP_Y if prev is not None else -1e9
                y[k], prev = max(want[k], lo), k
            # then the whole layer back up, so the pushes do not drift it downwards
            shift = sum(y[k] - want[k] for k in col) / len(col) if col else 0.0
            for k in col:
                y[k] -= shift
    # Branches that share no edge are stacked one gap apart: the passes pull each node to
    # its neighbours but leave the space between branches wherever it fell.
    branch: dict = {}
    for start in sorted(y, key=y.__getitem__):
        todo = [start] if start not in branch else []
        while todo:
            k = todo.pop()
            if k not in branch:
                branch[k] = start
                todo += up[k] + down[k]
    top = 0.0
    for start in dict.fromkeys(branch.values()):  # in order of their top nodes
        keys = [k for k in branch if branch[k] == start]
        lo = min(y[k] - size[k] / 2 for k in keys)
        hi = max(y[k] + size[k] / 2 for k in keys)
        y.update({k: y[k] + top - lo for k in keys})
        top += hi - lo + 2 * _GAP_Y
    return {
        k: (i * (width + _GAP_X) + width / 2, y[k]) for i, col in enumerate(columns) for k in col
    }


def render_svg(
    graph: Graph,
    positions: dict,
    run: RunRecord,
    root: str,
    node_pages: dict[str, str] | None = None,
) -> str:
    """The DAG as one `<svg>` element, to inline in `report.html` (no script, no fonts).

    Boxes show the node id, its state in words and its duration, coloured by state;
    each links to its node's page, relative to `root`: its `HtmlReport` page, else its
    node page in `node_pages` (node id -> path, from `node_pages.write_node_pages`); a
    node with neither is drawn without a link. Edges are curves through their
    waypoints with arrowheads and the artifact type(s) they carry.
    """
    e = html.escape
    w, h = box_width(graph), _BOX_H
    ox, oy = _MARGIN, _MARGIN + _LEGEND_H  # the legend sits above the graph
    right, bottom = (max((p[i] for p in positions.values()), default=0.0) for i in (0, 1))
    width, height = int(right + w / 2 + 2 * ox), int(bottom + h / 2 + oy + _MARGIN)
    # A graph narrower than the legend (one or two layers) would cut its last states off.
    width = max(width, 2 * _MARGIN + len(_STATES) * _LEGEND_STEP)
    records = {n.node_id: n for n in run.nodes}  # the last execution of a node wins
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" '
            'font-family="system-ui,sans-serif" font-size="12">'
        ),
        f"<title>{e(run.pipeline)} run {e(run.run_id)}</title>",
        (
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#80868b"/></marker>'
            "</defs>"
        ),
        # Hover cues without script: a linked box thickens, an edge turns blue.
        "<style>.dag a:hover rect{stroke-width:3}.dag .edge:hover{stroke:#1a73e8;stroke-width:2.5}</style>",
    ]
    for i, (label, fill, stroke) in enumerate(_STATES.values()):
        x = _MARGIN + i * _LEGEND_STEP
        out.append(
            f'<rect x="{x}" y="{_MARGIN}" width="14" height="14" rx="3" fill="{fill}" '
            f'stroke="{stroke}"/><text x="{x + 20}" y="{_MARGIN + 11}">{label}</text>'
        )
    # Labels must not cover a box or another label: boxes are taken first.
    taken = [
        (positions[n][0] - w / 2 + ox, positions[n][1] - h / 2 + oy, w, h) for n in graph.nodes
    ]
    said: set[tuple[str, str]] = set()
    for s, t, label in graph.edges:
        mids = sorted(k for k in positions if isinstance(k, tuple) and k[:2] == (s, t))
        pts = [(positions[k][0] + ox, positions[k][1] + oy) for k in (s, *mids, t)]
        # Leave the source's right side, cross each waypoint's column straight (boxes
        # there sit above and below), curve only in the gaps, end at the target's left.
        spans = [(x - w / 2, x + w / 2, y) for x, y in pts]
        gaps = [((a[1], a[2]), (b[0], b[2])) for a, b in itertools.pairwise(spans)]
        d = f"M{gaps[0][0][0]:.1f},{gaps[0][0][1]:.1f}"
        for (x0, y0), (x1, y1) in gaps:
            c = (x1 - x0) / 2  # horizontal tangents at both ends
            d += f" L{x0:.1f},{y0:.1f} C{x0 + c:.1f},{y0:.1f} {x1 - c:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        dash = "" if label else ' stroke-dasharray="4 3"'  # a dependency that carried nothing
        out.append(
            f'<path class="edge" d="{d}" fill="none" stroke="#9aa0a6" stroke-width="1.2"{dash} '
            f'marker-end="url(#arrow)"><title>{e(s)} \u2192 {e(t)}: '
            f"{e(label or 'no artifact')}</title></path>"
        )
        # Each artifact type once per source: fifteen `Examples` labels round one Ingest
        # would hide the edges; the edge's tooltip names its types anyway.
        lines = [a for a in label.split(", ") if a and (s, a) not in said]
        placed = _label(lines, gaps[0], taken) if lines else []
        said.update((s, a) for a in lines if placed)
        out.extend(placed)
    for n in graph.nodes:
        node = records[n]
        label, fill, stroke = _STATES.get(node.state, (node.state.lower(), "#fff", "#9aa0a6"))
        x, y = positions[n][0] - w / 2 + ox, positions[n][1] - h / 2 + oy
        page = node_link(node, root, node_pages)
        more = " \u00b7 page" if page else ""
        tip = f"{n}\n{label} in {node.seconds:.1f} s\nexecution {node.execution_id}\n{node.execution_type}"
        box = (
            f'<g class="node {e(node.state)}"><title>{e(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w}" height="{h}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2.5 if node.state == "FAILED" else 1.5}"/>'
            f'<text x="{x + _PAD:.1f}" y="{y + 16:.1f}" font-weight="600">{e(n)}</text>'
            f'<text x="{x + _PAD:.1f}" y="{y + 32:.1f}" fill="{stroke}">{e(label)} \u00b7 '
            f"{_box_duration(node.seconds)}{more}</text></g>"
        )
        out.append(f'<a href="{e(page)}">{box}</a>' if page else box)
    out.append("</svg>")
    return "\n".join(out)


def _label(lines: list[str], gap: tuple, taken: list) -> list[str]:
    """The edge's artifact types, one a line, on its first curve where they fit.

    Tried at the middle of the curve, then nearer its ends; where nothing fits it is left
    out (the caller tries the source's next edge; the tooltip names the types anyway).
    """
    (x0, y0), (x1, y1) = gap
    lw, lh = 5.2 * max(len(t) for t in lines) + 4, 11 * len(lines)
    for t in (0.5, 0.3, 0.7, 0.15, 0.85):
        # the point at `t` of the edge's cubic (control points half way, level with the ends)
        x, y = x0 + (x1 - x0) * t * (1.5 - 1.5 * t + t * t), y0 + (y1 - y0) * t * t * (3 - 2 * t)
        r = (x - lw / 2, y - lh / 2, lw, lh)
        if all(
            r[0] + r[2] <= q[0] or q[0] + q[2] <= r[0] or r[1] + r[3] <= q[1] or q[1] + q[3] <= r[1]
            for q in taken
        ):
            taken.append(r)
            spans = "".join(
                f'<tspan x="{x:.1f}" dy="{11 if i else 0}">{html.escape(line)}</tspan>'
                for i, line in enumerate(lines)
            )
            return [
                f'<text x="{x:.1f}" y="{r[1] + 8:.1f}" text-anchor="middle" font-size="9" '
                f'fill="#5f6368" stroke="#fff" stroke-width="3" paint-order="stroke">{spans}</text>'
            ]
    return []
