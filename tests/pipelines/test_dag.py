"""The run DAG: edges from MLMD events, layered layout, self-contained SVG."""

from __future__ import annotations

import datetime
import itertools
import xml.etree.ElementTree as ET

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from frontier.pipelines import dag
from frontier.pipelines.runs import ArtifactRecord, NodeRecord, RunRecord

SVG = "{http://www.w3.org/2000/svg}"


def _node(node_id, state="COMPLETE", execution_id=0, outputs=(), kind="frontier.X"):
    return NodeRecord(node_id, kind, execution_id, state, 1.25, tuple(outputs))


def _run(*nodes):
    return RunRecord("p", "run-1", 1, datetime.datetime(2024, 1, 1), tuple(nodes))


def _page(uri):
    return ArtifactRecord(9, "frontier.HtmlReport", "visualization", uri, {})


DIAMOND = dag.Graph(
    ("A", "B", "C", "D"),
    (("A", "B", "Examples"), ("A", "C", "Examples"), ("B", "D", "Model"), ("C", "D", "Model")),
)


def _boxes_overlap(graph, pos):
    w, h = dag.box_width(graph), dag._BOX_H
    for a, b in itertools.combinations(graph.nodes, 2):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if abs(xa - xb) < w and abs(ya - yb) < h:
            return (a, b)
    return None


def test_diamond_is_layered_by_longest_path():
    layers = dag._layers(DIAMOND)
    assert layers == {"A": 0, "B": 1, "C": 1, "D": 2}
    pos = dag.layout(DIAMOND)
    assert pos["A"][0] < pos["B"][0] == pos["C"][0] < pos["D"][0]
    assert _boxes_overlap(DIAMOND, pos) is None


def test_long_edges_get_waypoints_and_sources_move_next_to_their_child():
    # A -> B -> C -> D and A -> D (spans 2 layers); R (a resolver) only feeds D.
    g = dag.Graph(
        ("A", "B", "C", "R", "D"),
        (("A", "B", "x"), ("B", "C", "x"), ("C", "D", "x"), ("A", "D", "x"), ("R", "D", "m")),
    )
    assert dag._layers(g)["R"] == 2
    pos = dag.layout(g)
    assert {k for k in pos if isinstance(k, tuple)} == {("A", "D", 1), ("A", "D", 2)}
    assert _boxes_overlap(g, pos) is None
    # the waypoints are not inside a box of their layer
    for k in (("A", "D", 1), ("A", "D", 2)):
        box = {1: "B", 2: "C" if pos["C"][0] == pos[k][0] else "R"}[k[2]]
        assert abs(pos[k][1] - pos[box][1]) >= dag._BOX_H / 2


def test_wide_graph_has_no_overlaps():
    nodes = ("Ingest", *(f"Branch_{i}" for i in range(15)), *(f"Report_{i}" for i in range(15)))
    edges = [("Ingest", f"Branch_{i}", "Examples") for i in range(15)]
    edges += [(f"Branch_{i}", f"Report_{(i * 7) % 15}", "Model") for i in range(15)]
    edges += [("Ingest", f"Report_{i}", "Examples") for i in range(15)]
    g = dag.Graph(nodes, tuple(edges))
    assert _boxes_overlap(g, dag.layout(g)) is None


def test_svg_parses_links_pages_and_says_states_in_words():
    run = _run(
        _node("A", "COMPLETE", outputs=[_page("/root/p/A/visualization/1")]),
        _node("B", "CACHED"),
        _node("C", "FAILED", outputs=[_page("/root/p/C/visualization/3")]),
        _node("D", "INTERRUPTED"),
    )
    svg = dag.render_svg(DIAMOND, dag.layout(DIAMOND), run, "/root")
    tree = ET.fromstring(svg)
    links = {a.get("href") for a in tree.iter(f"{SVG}a")}
    assert links == {"p/A/visualization/1/index.html", "p/C/visualization/3/index.html"}
    texts = ["".join(t.itertext()) for t in tree.iter(f"{SVG}text")]
    for word in ("executed", "cached", "failed", "interrupted"):
        assert any(t and t.startswith(word + " \u00b7") for t in texts), word
    assert "Examples" in texts and "Model" in texts
    assert len([p for p in tree.iter(f"{SVG}path") if p.get("marker-end")]) == 4
    assert tree.get("viewBox") == f"0 0 {tree.get('width')} {tree.get('height')}"
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in svg


class _Store:
    """A real in-memory MLMD store with the events TFX writes (see the module docstring)."""

    def __init__(self):
        config = mlmd_pb2.ConnectionConfig()
        config.fake_database.SetInParent()
        self.store = metadata_store.MetadataStore(config)
        self.types = {
            name: self.store.put_artifact_type(mlmd_pb2.ArtifactType(name=name))
            for name in ("Examples", "Model", "frontier.HtmlReport")
        }
        self.exec_type = self.store.put_execution_type(mlmd_pb2.ExecutionType(name="t"))

    def artifact(self, type_name):
        return self.store.put_artifacts([mlmd_pb2.Artifact(type_id=self.types[type_name])])[0]

    def execution(self, outputs=(), inputs=(), internal=()):
        [e] = self.store.put_executions([mlmd_pb2.Execution(type_id=self.exec_type)])
        kinds = [(mlmd_pb2.Event.OUTPUT, outputs), (mlmd_pb2.Event.INPUT, inputs)]
        kinds.append((mlmd_pb2.Event.INTERNAL_OUTPUT, internal))
        events = [
            mlmd_pb2.Event(artifact_id=a, execution_id=e, type=t) for t, ids in kinds for a in ids
        ]
        self.store.put_events(events)
        return e


def test_run_graph_reads_cached_outputs_resolvers_and_skips_pages():
    m = _Store()
    examples, model, old_model, stray, page = (
        m.artifact(t) for t in ("Examples", "Model", "Model", "Model", "frontier.HtmlReport")
    )
    m.execution(outputs=[old_model])  # an earlier run's Trainer
    ingest = m.execution(outputs=[examples])
    trainer = m.execution(inputs=[examples], outputs=[model, page])  # CACHED: reused outputs
    resolver = m.execution(internal=[old_model])  # resolvers publish INTERNAL_OUTPUT only
    report = m.execution(inputs=[page])  # a page as input makes no edge
    evaluator = m.execution(inputs=[examples, model, old_model, stray])
    run = _run(
        _node("Ingest", "COMPLETE", ingest),
        _node("Trainer", "CACHED", trainer),
        _node("Resolver", "COMPLETE", resolver, kind="tfx.dsl.components.common.resolver.R"),
        _node("Report", "COMPLETE", report),
        _node("Evaluator", "COMPLETE", evaluator),
    )
    g = dag.run_graph(m.store, run)
    assert g.nodes == ("Ingest", "Trainer", "Resolver", "Report", "Evaluator")
    assert set(g.edges) == {
        ("Ingest", "Trainer", "Examples"),
        ("Ingest", "Evaluator", "Examples"),
        ("Trainer", "Evaluator", "Model"),
        ("Resolver", "Evaluator", "Model"),
    }


def test_upstream_settles_an_artifact_both_cached_and_resolved():
    # The demo's second run: the resolver's "latest blessed model" is the KIP branch's
    # model, which that branch's cached trainer re-publishes in the same run.
    m = _Store()
    examples, kip_model = m.artifact("Examples"), m.artifact("Model")
    ingest = m.execution(outputs=[examples])
    resolver = m.execution(internal=[kip_model])
    kip = m.execution(inputs=[examples], outputs=[kip_model])
    kip_eval = m.execution(inputs=[examples, kip_model])
    evaluator = m.execution(inputs=[examples, kip_model])  # as its baseline
    run = _run(
        _node("Ingest", "COMPLETE", ingest),
        _node("Resolver", "COMPLETE", resolver),
        _node("Kip", "CACHED", kip),
        _node("KipEval", "CACHED", kip_eval),
        _node("Evaluator", "COMPLETE", evaluator),
    )
    pairs = {(s, t) for s, t, _ in dag.run_graph(m.store, run).edges}
    assert {("Kip", "Evaluator"), ("Resolver", "KipEval")} <= pairs  # MLMD alone over-draws
    upstream = {
        "Kip": {"Ingest"},
        "KipEval": {"Ingest", "Kip"},
        "Evaluator": {"Ingest", "Resolver"},
    }
    assert set(dag.run_graph(m.store, run, upstream).edges) == {
        ("Ingest", "Kip", "Examples"),
        ("Ingest", "KipEval", "Examples"),
        ("Ingest", "Evaluator", "Examples"),
        ("Kip", "KipEval", "Model"),
        ("Resolver", "Evaluator", "Model"),
    }


def test_a_declared_dependency_that_carried_nothing_is_a_dashed_edge():
    # The demo's first run: nothing blessed yet, the resolver resolves nothing.
    m = _Store()
    resolver, evaluator = m.execution(), m.execution()
    run = _run(_node("Resolver", "COMPLETE", resolver), _node("Evaluator", "COMPLETE", evaluator))
    g = dag.run_graph(m.store, run, {"Evaluator": {"Resolver", "NotInThisRun"}})
    assert g.edges == (("Resolver", "Evaluator", ""),)
    tree = ET.fromstring(dag.render_svg(g, dag.layout(g), run, "/root"))
    [edge] = [p for p in tree.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert edge.get("stroke-dasharray") and "no artifact" in "".join(edge.itertext())


def test_a_drawing_failure_leaves_the_report_without_its_graph(tmp_path, monkeypatch):
    from frontier.pipelines import report

    config = mlmd_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    metadata_store.MetadataStore(config)  # the run root's store, empty
    monkeypatch.setattr(dag, "layout", lambda graph: 1 / 0)
    run = _run(_node("A"))
    path = report.write_report(run, str(tmp_path))
    page = open(path).read()
    assert "<svg" not in page and "A" in page and "<h2>Artifacts</h2>" in page


def _status_width(text: str) -> float | None:
    """`text`'s width at the status line's 12px in DejaVu Sans (the widest usual
    fallback of system-ui), or None where Pillow or the font is missing."""
    try:
        from PIL import ImageFont

        return ImageFont.truetype("DejaVuSans.ttf", 12).getlength(text)
    except (ImportError, OSError):
        return None


def test_boxes_fit_the_longest_status_line_and_share_one_width():
    durations = (0.04, 12.5, 999.9, 1234.5, 5990.0, 5999.0, 3 * 86400.0)
    nodes = [
        NodeRecord(f"N{i}", "frontier.X", i, state, seconds, (_page(f"/root/p/N{i}/v/1"),))
        for i, (state, seconds) in enumerate(
            itertools.product((*dag._STATES, "CANCELED", "UNKNOWN"), durations)
        )
    ]
    graph = dag.Graph(tuple(n.node_id for n in nodes), ())
    tree = ET.fromstring(dag.render_svg(graph, dag.layout(graph), _run(*nodes), "/root"))
    widths = {float(r.get("width")) for g in tree.iter(f"{SVG}g") for r in g.iter(f"{SVG}rect")}
    widths -= {14.0}  # the legend's swatches
    assert widths == {dag.box_width(graph)}
    status = [
        "".join(t.itertext()) for t in tree.iter(f"{SVG}text") if t.get("font-weight") is None
    ]
    status = [t for t in status if " \u00b7 " in t]
    assert len(status) == len(nodes)
    longest = max(status, key=len)
    assert "interrupted \u00b7 99.8 min \u00b7 page" in status
    assert len(longest) == len(dag._LONGEST_STATUS)
    room = dag.box_width(graph) - 2 * dag._PAD
    assert room >= 6 * len(longest)  # no usual sans is narrower than 6 px a character
    measured = _status_width(dag._LONGEST_STATUS)
    if measured is not None:
        assert room >= measured
    # Short ids still get boxes wide enough for the status; long ones as before.
    assert dag.box_width(dag.Graph(("A",), ())) == dag.box_width(graph)
    long_id = "latest_blessed_model_resolver"
    assert dag.box_width(dag.Graph((long_id,), ())) == 7 * len(long_id) + 20


def test_box_durations_stay_short():
    assert [dag._box_duration(s) for s in (0.04, 999.9, 999.96, 1234.5, 5990, 5999, 86400)] == [
        "0.0 s",
        "999.9 s",
        "16.7 min",
        "20.6 min",
        "99.8 min",
        "1.7 h",
        "24.0 h",
    ]


def test_nodes_without_an_html_report_link_to_their_node_page():
    run = _run(
        _node("A", outputs=[_page("/root/p/A/visualization/1")]),
        _node("B", kind="tfx.components.statistics_gen.component.StatisticsGen"),
        _node("C", kind="tfx.dsl.components.common.resolver.Resolver"),
    )
    graph = dag.Graph(("A", "B", "C"), ())
    pages = {n: f"/root/nodes/run-1/{n}.html" for n in ("A", "B")}  # C: none written
    tree = ET.fromstring(dag.render_svg(graph, dag.layout(graph), run, "/root", pages))
    links = {a.find(f"{SVG}g").find(f"{SVG}text").text: a.get("href") for a in tree.iter(f"{SVG}a")}
    # The HtmlReport wins over a node page; a node with neither is drawn unlinked.
    assert links == {"A": "p/A/visualization/1/index.html", "B": "nodes/run-1/B.html"}
    texts = ["".join(t.itertext()) for t in tree.iter(f"{SVG}text")]
    assert "executed \u00b7 1.2 s" in texts and "executed \u00b7 1.2 s \u00b7 page" in texts
    # The tooltip still ends with the execution type (browser_check reads it there).
    titles = [g.find(f"{SVG}title").text for g in tree.iter(f"{SVG}g") if g.get("class")]
    assert titles[1].split("\n")[-1] == "tfx.components.statistics_gen.component.StatisticsGen"


def test_a_narrow_graph_still_shows_the_whole_legend():
    run = _run(_node("A"))
    graph = dag.Graph(("A",), ())
    tree = ET.fromstring(dag.render_svg(graph, dag.layout(graph), run, "/root"))
    swatches = [r for r in tree.iter(f"{SVG}rect") if r.get("width") == "14"]
    assert len(swatches) == len(dag._STATES)
    # the last word starts 20 px after its swatch; "interrupted" is the longest, ~70 px
    assert float(tree.get("width")) >= float(swatches[-1].get("x")) + 20 + 70
