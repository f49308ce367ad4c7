"""The run page's parts: charts (inline SVG), the results panel, the parameters
table; records built by hand, no pipeline runs."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import xml.etree.ElementTree as ET

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from frontier.pipelines import charts, node_pages, report, results, runs
from frontier.pipelines.results import Bar, Result, Series
from frontier.pipelines.runs import ArtifactRecord, NodeRecord, RunRecord

SVG = "{http://www.w3.org/2000/svg}"
KIP_BARS = (
    Bar("KIP", 0.958, 0.01, "1/class"),
    Bar("random subset", 0.588, 0.02, "1/class", baseline=True),
    Bar("KIP", 0.986, None, "10/class"),
    Bar("random subset", 0.908, None, "10/class", baseline=True),
)
ROUNDS = (0.0, 10.0, 20.0, 30.0)
DP_SERIES = (
    Series("DP-FTRL", ROUNDS, (0.1, 0.6, 0.8, 0.9)),
    Series("FedAvg", ROUNDS, (0.1, 0.7, 0.9, 0.95), baseline=True),
)


def _shown(text) -> str:
    """What a <text> element shows: its text less its <title> child (a tooltip)."""
    return (text.text or "") + "".join(child.tail or "" for child in text)


def _texts(tree, cls=None) -> list[str]:
    return [_shown(t) for t in tree.iter(f"{SVG}text") if cls in (None, t.get("class"))]


def _legend(tree) -> list[str]:
    return [
        _shown(g.find(f"{SVG}text")) for g in tree.iter(f"{SVG}g") if g.get("class") == "legend"
    ]


def _bar_rects(tree) -> list:
    return [g.find(f"{SVG}rect") for g in tree.iter(f"{SVG}g") if "bar" in g.get("class", "")]


# -- charts ---------------------------------------------------------------------------


def test_bar_chart_is_svg_whose_heights_follow_the_values():
    bars = (Bar("a", 0.90), Bar("b", 0.95), Bar("c", 0.80, baseline=True))
    svg = charts.bar_chart(bars, "eval accuracy", "t")
    tree = ET.fromstring(svg)
    assert tree.tag == f"{SVG}svg"
    assert (tree.get("width"), tree.get("height")) == (str(charts.WIDTH), str(charts.HEIGHT))
    heights = [float(r.get("height")) for r in _bar_rects(tree)]
    assert heights[2] < heights[0] < heights[1]
    # The three bars are named under the axis; no legend for a single group.
    assert {"a", "b", "c"} <= set(_texts(tree)) and _legend(tree) == []
    assert _texts(tree, "value") == ["0.900", "0.950", "0.800"]
    # The baseline is muted, the others share the palette's first colour.
    fills = [r.get("fill") for r in _bar_rects(tree)]
    assert fills[0] == fills[1] == charts._PALETTE[0] and fills[2] in charts._MUTED
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in svg


def test_error_bars_exactly_where_a_spread_is_given():
    tree = ET.fromstring(charts.bar_chart(KIP_BARS, "eval accuracy"))
    errors = [p for p in tree.iter(f"{SVG}path") if p.get("class") == "error-bar"]
    assert len(errors) == sum(b.spread is not None for b in KIP_BARS) == 2
    # A spread of 0 is still a stated spread: a flat error bar.
    flat = ET.fromstring(charts.bar_chart((Bar("a", 0.9, 0.0), Bar("b", 0.8))))
    assert len([p for p in flat.iter(f"{SVG}path") if p.get("class") == "error-bar"]) == 1


def test_grouped_bars_have_a_legend_and_group_names():
    tree = ET.fromstring(charts.bar_chart(KIP_BARS, "eval accuracy"))
    assert _legend(tree) == ["KIP", "random subset"]
    assert {"1/class", "10/class"} <= set(_texts(tree))
    rects = _bar_rects(tree)
    assert rects[0].get("fill") == rects[2].get("fill") != rects[1].get("fill")  # per label


def test_close_values_start_the_axis_above_zero_and_say_so():
    close = ET.fromstring(charts.bar_chart((Bar("a", 0.95), Bar("b", 0.96)), "eval accuracy"))
    [caption] = _texts(close, "axis-label")
    assert re.fullmatch(r"eval accuracy \(axis from 0\.9\d*\)", caption), caption
    heights = [float(r.get("height")) for r in _bar_rects(close)]
    assert heights[1] > 1.5 * heights[0]  # the difference is visible
    far = ET.fromstring(charts.bar_chart((Bar("a", 0.2), Bar("b", 0.9)), "eval accuracy"))
    assert _texts(far, "axis-label") == ["eval accuracy"]  # from 0: nothing to say
    alone = ET.fromstring(charts.bar_chart((Bar("a", 0.97, 0.01),), "eval accuracy"))
    assert _texts(alone, "axis-label") == ["eval accuracy"]  # one bar compares with nothing


@pytest.mark.parametrize(
    "low, high", [(0.95, 0.96), (0.588, 0.99), (0.1, 0.975), (2.0, 125.3), (-0.2, 0.3), (0.5, 0.5)]
)
def test_axis_range_is_round_and_covers_the_values(low, high):
    start, end, step = charts.axis_range(low, high)
    assert start <= low and end >= high and 2 <= (end - start) / step <= 6
    assert abs(start / step - round(start / step)) < 1e-6
    assert start >= 0 or low < 0


def test_text_is_escaped_and_output_is_deterministic():
    bars = (Bar('<b>&"x"', 0.5, group="g<1>"), Bar("y", 0.6, group="g<1>"))
    svg = charts.bar_chart(bars, "a & b", "<title>")
    assert svg == charts.bar_chart(bars, "a & b", "<title>")
    tree = ET.fromstring(svg)
    assert _legend(tree) == ['<b>&"x"', "y"] and "g<1>" in _texts(tree)
    assert tree.find(f"{SVG}title").text == "<title>"
    [caption] = _texts(tree, "axis-label")
    assert re.fullmatch(r"a & b \(axis from 0\.\d+\)", caption), caption


def test_many_long_labels_still_leave_a_plot():
    bars = tuple(
        Bar(f"a rather long strategy name {i}", 0.5 + i / 100, group="g") for i in range(12)
    )
    tree = ET.fromstring(charts.bar_chart(bars, "eval accuracy"))
    heights = [float(r.get("height")) for r in _bar_rects(tree)]
    assert len(heights) == 12 and heights == sorted(heights) and heights[0] >= 0
    assert len(_legend(tree)) == 12


def test_empty_input_is_an_empty_string_and_bad_input_a_value_error():
    assert charts.bar_chart(()) == ""
    assert charts.line_chart(()) == "" and charts.line_chart((Series("a", (), ()),)) == ""
    with pytest.raises(ValueError, match="2 x and 1 y"):
        charts.line_chart((Series("a", (1.0, 2.0), (0.5,)),))
    with pytest.raises(ValueError, match="finite"):
        charts.bar_chart((Bar("a", float("nan")),))
    with pytest.raises(ValueError, match="negative"):
        charts.bar_chart((Bar("a", 0.5, -0.1),))


def test_line_chart_has_a_legend_ticks_an_x_label_and_dashed_baselines():
    svg = charts.line_chart(DP_SERIES, "round", "eval accuracy", "DP-FTRL over rounds")
    tree = ET.fromstring(svg)
    assert _legend(tree) == ["DP-FTRL", "FedAvg"]
    lines = {g.get("class"): g.find(f"{SVG}polyline") for g in tree.iter(f"{SVG}g")}
    assert lines["series"].get("stroke-dasharray") is None
    assert lines["series baseline"].get("stroke-dasharray")
    assert lines["series baseline"].get("stroke") in charts._MUTED
    assert "round" in _texts(tree, "axis-label")
    ticks = [t for t in _texts(tree) if re.fullmatch(r"\d\.\d+", t)]
    assert len(ticks) >= 3 and "0.0" in ticks  # accuracy from 0.1: the axis starts at 0
    assert svg == charts.line_chart(DP_SERIES, "round", "eval accuracy", "DP-FTRL over rounds")


# -- the page -------------------------------------------------------------------------

CODE_VERSION = "0123456789abcdef"
EVAL_CONFIG = json.dumps(
    {
        "model_specs": [{"label_key": "label"}],
        "metrics_specs": [{"metrics": [{"k": i}]} for i in range(9)],
    }
)


def _run(pipeline="frontier-demo") -> RunRecord:
    page = ArtifactRecord(3, report.HTML_TYPE, "visualization", "/root/p/Trainer/v/3", {})
    model = ArtifactRecord(
        4, "Model", "model", "/root/p/Trainer/model/4", {"tfx_version": "1.16.0"}
    )
    t0 = datetime.datetime(2024, 1, 1, 10, 0, 0)
    nodes = (
        NodeRecord(
            "Trainer",
            "frontier.components.trainer.component.Trainer",
            1,
            "COMPLETE",
            12.5,
            (model, page),
            {"component_version": CODE_VERSION, "epochs": 7, "learning_rate": 0.001, "tag": ""},
            t0 + datetime.timedelta(seconds=75),
        ),
        NodeRecord(
            "Evaluator",
            "tfx.components.evaluator.component.Evaluator",
            2,
            "CACHED",
            0.5,
            (),
            {"eval_config": EVAL_CONFIG, "example_splits": "null"},
            t0 + datetime.timedelta(seconds=80),
        ),
    )
    return RunRecord(pipeline, "2024-01-01T10:00:00.000001", 1, t0, nodes)


RESULTS = [
    Result("KIP", "KIP vs random subset", "KIP beats a random subset.", "KIP .958", bars=KIP_BARS),
    Result(
        "DP-FTRL",
        "DP-FTRL vs FedAvg",
        "DP-FTRL trails FedAvg by 0.05.",
        "DP-FTRL .9",
        bars=(Bar("DP-FTRL", 0.9), Bar("FedAvg", 0.95, baseline=True)),
        series=DP_SERIES,
        x_label="round",
    ),
]
VERSIONS = {"frontier": "0.1.0", "TFX": "1.16.0", "TensorFlow": "2.16.2"}


def _section(page: str, title: str) -> str:
    """The page's text from `<h2>title</h2>` to the next `<h2>`."""
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end > 0 else None]


def test_results_panel_comes_first_with_a_card_per_result():
    page = report.render_report(_run(), "/root", graph_svg="<svg></svg>", results=RESULTS)
    heads = re.findall(r"<h2>([^<]+)</h2>", page)
    assert heads[:3] == ["Results", "Graph", "Parameters and code versions"]
    cards = re.findall(r"<section class='card'>.*?</section>", _section(page, "Results"))
    assert len(cards) == 2
    assert cards[0].count("<svg") == 1 and "KIP beats a random subset." in cards[0]
    assert cards[1].count("<svg") == 2 and "DP-FTRL trails FedAvg by 0.05." in cards[1]
    for card in cards:
        for svg in re.findall(r"<svg.*?</svg>", card):
            ET.fromstring(svg)
    assert "<script" not in page and "@import" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_no_results_no_panel():
    page = report.render_report(_run(), "/root")
    assert "<h2>Results</h2>" not in page and "<h2>Parameters and code versions</h2>" in page


def test_parameters_table_shows_each_components_parameters_and_code_version():
    page = report.render_report(_run(), "/root", versions=VERSIONS)
    section = _section(page, "Parameters and code versions")
    rows = re.findall(r"<tr><td>(.*?)</tr>", section, re.S)
    trainer = next(r for r in rows if r.startswith("Trainer"))
    assert "<code>epochs</code> = 7" in trainer and "<code>learning_rate</code> = 0.001" in trainer
    assert "<code>tag</code> = &quot;&quot;" in trainer  # an empty string is shown as one
    # component_version has its own column, not among the parameters.
    assert f"<td><code>{CODE_VERSION}</code></td>" in trainer
    assert "<code>component_version</code>" not in trainer
    evaluator = next(r for r in rows if r.startswith("Evaluator"))
    assert "stock TFX" in evaluator and "CACHED" in evaluator
    # A long JSON value is folded: its start in the summary, all of it pretty-printed.
    summary, full = re.search(r"<summary>(.*?)</summary><pre>(.*?)</pre>", evaluator, re.S).groups()
    assert "eval_config" in summary and f"({len(EVAL_CONFIG)} characters)" in summary
    assert "&quot;label_key&quot;: &quot;label&quot;" in full and full.count("\n") > 3
    assert "frontier 0.1.0, TFX 1.16.0, TensorFlow 2.16.2" in section
    assert "written by a process with" in section and "recorded by TFX 1.16.0" in section


def test_run_details_give_state_and_duration():
    page = report.render_report(_run(), "/root", extra={"runner": "local"})
    assert "<th>state</th><td><span class='COMPLETE'>COMPLETE</span>" in page
    assert "<th>duration</th><td>1 min 20 s</td>" in page
    assert "<th>runner</th><td>local</td>" in page


def test_process_versions_name_frontier_tfx_and_tensorflow():
    versions = report.process_versions()
    assert versions["TFX"] == "1.16.0" and versions["TensorFlow"].startswith("2.16")
    assert versions["frontier"] != "not installed"


def test_page_names_are_safe_file_names():
    assert report.page_name("2024-01-01T10:00:00.5") == "report-2024-01-01T10-00-00.5.html"
    assert report.page_name("a/b c") == "report-a-b-c.html"


# -- writing the page: a results failure is logged, the page still written ----------


@pytest.fixture
def absl_records():
    """Records of absl's logger (the CLI may have stopped it propagating to caplog's)."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler, logger = _Keep(logging.INFO), logging.getLogger("absl")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _empty_store(root) -> None:
    config = mlmd_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(root / runs.METADATA_FILE)
    config.sqlite.connection_mode = mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    metadata_store.MetadataStore(config)


def test_a_results_failure_leaves_the_page_without_its_panel(tmp_path, monkeypatch, absl_records):
    _empty_store(tmp_path)

    def fail(run):
        raise AttributeError("module 'frontier.pipelines.demo' has no attribute 'results'")

    monkeypatch.setattr(results, "results_of", fail)
    page = open(report.write_report(_run(), str(tmp_path))).read()
    assert "<h2>Results</h2>" not in page and "<h2>Parameters and code versions</h2>" in page
    [warning] = [r for r in absl_records if r.levelno == logging.WARNING]
    assert "no results shown" in warning.getMessage() and "has no attribute" in warning.getMessage()


def test_results_are_computed_for_the_page_and_a_bad_chart_keeps_its_sentence(
    tmp_path, monkeypatch, absl_records
):
    _empty_store(tmp_path)
    bad = Result("X", "bad figures", "What X shows.", "X", series=(Series("a", (1.0,), ()),))
    monkeypatch.setattr(results, "results_of", lambda run: [RESULTS[0], bad])
    page = open(report.write_report(_run(), str(tmp_path))).read()
    panel = _section(page, "Results")
    assert panel.count("<section class='card'>") == 2 and "What X shows." in panel
    assert "chart not drawn" in panel and panel.count("<svg") == 1
    assert any("chart not drawn" in r.getMessage() for r in absl_records)


def test_output_elsewhere_links_relative_to_its_folder(tmp_path, monkeypatch):
    _empty_store(tmp_path)
    monkeypatch.setattr(results, "results_of", lambda run: [])
    run = _run()
    page_dir = tmp_path / "pages" / "old"
    path = report.write_report(run, str(tmp_path), output=str(page_dir / "x.html"))
    assert path == str(page_dir / "x.html")
    hrefs = re.findall(r'href="([^"]+)"', open(path).read())
    assert os.path.relpath("/root/p/Trainer/v/3/index.html", page_dir) in hrefs


def test_format_runs_prints_headlines_and_artifacts_only_when_asked():
    run = _run()
    brief = runs.format_runs([run], {run.run_id: ["KIP 0.958 vs random 0.588"]})
    lines = brief.splitlines()
    assert lines[0].startswith("frontier-demo  run 2024-01-01T10:00:00.000001")
    assert lines[1:] == ["    KIP 0.958 vs random 0.588"]
    full = runs.format_runs([run], {run.run_id: ["KIP 0.958 vs random 0.588"]}, artifacts=True)
    assert "Trainer" in full and "/root/p/Trainer/model/4" in full


# -- node pages: every node of the DAG has a page -------------------------------------

STOCK = "tfx.components."
RESOLVER = "tfx.dsl.components.common.resolver.Resolver"
RUN_ID = "2024-01-02T10:00:00.000001"


def _artifact(root, id_, type_name, key, path, props=None, files=()):
    """An artifact whose folder exists under `root`, with `files` (name -> text) in it."""
    uri = root / path
    uri.mkdir(parents=True, exist_ok=True)
    for name, text in dict(files).items():
        (uri / name).parent.mkdir(parents=True, exist_ok=True)
        (uri / name).write_text(text)
    return ArtifactRecord(id_, type_name, key, str(uri), dict(props or {}))


def _demo_like_run(root, run_id=RUN_ID) -> RunRecord:
    """A frontier Trainer (with its page) and the stock nodes around it, as the demo has
    them: StatisticsGen, SchemaGen, a resolver, the stock Evaluator and frontier's Pusher
    (no page); every artifact's folder on disk under `root`."""
    p = "pipelines/demo"
    examples = _artifact(root, 1, "Examples", "examples", f"{p}/Ingest/examples/1")
    stats = _artifact(
        root,
        2,
        "ExampleStatistics",
        "statistics",
        f"{p}/StatisticsGen/statistics/2",
        files={"Split-train/FeatureStats.pb": "\x00binary"},
    )
    schema = _artifact(
        root,
        3,
        "Schema",
        "schema",
        f"{p}/SchemaGen/schema/3",
        files={"schema.pbtxt": "feature {}"},
    )
    model = _artifact(root, 4, "Model", "model", f"{p}/Trainer/model/4")
    page = _artifact(
        root, 5, report.HTML_TYPE, "visualization", f"{p}/Trainer/v/5", files={"index.html": "<p>"}
    )
    old_model = _artifact(root, 6, "Model", "model", f"{p}/Trainer/model/0")
    evaluation = _artifact(
        root,
        7,
        "ModelEvaluation",
        "evaluation",
        f"{p}/Evaluator/evaluation/7",
        files={"eval_config.json": "{}", "metrics-00000-of-00001": "\x00"},
    )
    blessing = _artifact(
        root, 8, "ModelBlessing", "blessing", f"{p}/Evaluator/blessing/8", {"blessed": 1}
    )
    (root / "serving" / "1704189600").mkdir(parents=True, exist_ok=True)
    pushed = _artifact(
        root,
        9,
        "PushedModel",
        "pushed_model",
        f"{p}/Pusher/pushed_model/9",
        {"pushed": 1, "pushed_destination": str(root / "serving" / "1704189600")},
    )
    t0 = datetime.datetime(2024, 1, 2, 10, 0, 0)

    def node(node_id, kind, i, outputs=(), inputs=(), resolved=(), params=None, state="COMPLETE"):
        end = t0 + datetime.timedelta(seconds=10 * i)
        return NodeRecord(
            node_id, kind, i, state, 2.5, tuple(outputs), params or {}, end, inputs, resolved
        )

    nodes = (
        node(
            "Ingest", "frontier.components.ingest.component.Ingest", 1, [examples], state="CACHED"
        ),
        node(
            "StatisticsGen",
            STOCK + "statistics_gen.component.StatisticsGen",
            2,
            [stats],
            [examples],
        ),
        node("SchemaGen", STOCK + "schema_gen.component.SchemaGen", 3, [schema], [stats]),
        node(
            "Trainer",
            "frontier.components.trainer.component.Trainer",
            4,
            [model, page],
            [examples],
            params={"component_version": CODE_VERSION, "epochs": 7},
        ),
        node("latest_blessed_model_resolver", RESOLVER, 5, resolved=[old_model]),
        node(
            "Evaluator",
            STOCK + "evaluator.component.Evaluator",
            6,
            [blessing, evaluation],
            [examples, model, old_model],
            params={"eval_config": EVAL_CONFIG, "example_splits": "null"},
        ),
        node(
            "Pusher",
            "frontier.components.pusher.component.Pusher",
            7,
            [pushed],
            [blessing, model],
            params={"component_version": CODE_VERSION},
        ),
    )
    return RunRecord("frontier-demo", run_id, 1, t0, nodes)


def _dag_links(page_path) -> dict[str, str | None]:
    """The run page's DAG: node id -> the href of its box (None: no link)."""
    text = open(page_path).read()
    [svg] = re.findall(r"<svg[^>]*class=\"dag\".*?</svg>", text, re.S)
    tree = ET.fromstring(svg)
    links = {}
    for a in tree.iter(f"{SVG}a"):
        for g in a.iter(f"{SVG}g"):
            links[g.find(f"{SVG}text").text] = a.get("href")
    for g in tree.iter(f"{SVG}g"):
        if "node" in g.get("class", "").split():
            links.setdefault(g.find(f"{SVG}text").text, None)
    return links


def _hrefs(page_path) -> list[str]:
    return re.findall(r'href="([^"]+)"', open(page_path).read())


@pytest.fixture
def demo_root(tmp_path, monkeypatch):
    _empty_store(tmp_path)
    monkeypatch.setattr(results, "results_of", lambda run: [])
    return tmp_path


def test_every_dag_node_links_to_a_page_that_exists(demo_root):
    run = _demo_like_run(demo_root)
    path = report.write_report(run, str(demo_root))
    links = _dag_links(path)
    assert set(links) == {n.node_id for n in run.nodes}
    folder = node_pages.node_pages_dir(str(demo_root), RUN_ID)
    assert folder == str(demo_root / "nodes" / "2024-01-02T10-00-00.000001")
    for node_id, href in links.items():
        assert href is not None, node_id
        assert os.path.isfile(os.path.join(demo_root, href)), (node_id, href)
    # A frontier component keeps its own page; the others get a node page.
    assert links["Trainer"] == "pipelines/demo/Trainer/v/5/index.html"
    for node_id in ("Ingest", "StatisticsGen", "Evaluator", "Pusher"):
        assert links[node_id] == os.path.relpath(os.path.join(folder, f"{node_id}.html"), demo_root)
    assert sorted(os.listdir(folder)) == sorted(
        f"{n.node_id}.html" for n in run.nodes if n.node_id != "Trainer"
    )


def test_a_stock_nodes_page_names_its_parameters_outputs_and_links_back(demo_root):
    run = _demo_like_run(demo_root)
    report.write_report(run, str(demo_root))
    folder = node_pages.node_pages_dir(str(demo_root), RUN_ID)
    page = open(os.path.join(folder, "Evaluator.html")).read()
    assert "<h1>Evaluator</h1>" in page and "tfx.components.evaluator.component.Evaluator" in page
    assert "<span class='COMPLETE'>executed</span> (COMPLETE)" in page
    assert "<th>execution</th><td>6 in ML Metadata</td>" in page
    assert "<th>started</th><td>2024-01-02 10:00:57</td>" in page  # its end less 2.5 s
    assert "<th>ended</th><td>2024-01-02 10:01:00</td><" in page
    assert "<th>duration</th><td>2.5 s</td>" in page and "stock TFX component" in page
    # Its parameters, the long JSON folded as on the run page.
    params = _section(page, "Parameters")
    assert "<code>example_splits</code> = null" in params
    assert "<summary><code>eval_config</code>" in params and "&quot;label_key&quot;" in params
    # Its outputs: key, MLMD id, type, URI, the files a browser opens, properties.
    outputs = _section(page, "Outputs")
    evaluation = re.search(r"<tr><td>evaluation</td>.*?</tr>", outputs)[0]
    assert "<td>7</td><td>ModelEvaluation</td>" in evaluation
    assert f">{demo_root}/pipelines/demo/Evaluator/evaluation/7</a>" in evaluation
    assert ">eval_config.json</a>" in evaluation and "metrics-00000" not in evaluation
    assert "<code>blessed</code> = 1" in outputs
    # Its inputs, each from the node of this run that made or resolved it, linked.
    inputs = _section(page, "Inputs")
    model = re.search(r"<tr><td>model</td>.*?</tr>", inputs)[0]
    assert '<a href="../../pipelines/demo/Trainer/v/5/index.html">Trainer</a>' in model
    assert (
        '<a href="latest_blessed_model_resolver.html">latest_blessed_model_resolver</a>' in inputs
    )
    assert '<a href="Ingest.html">Ingest</a>' in inputs
    # Back to the run page, twice (top and bottom); nothing fetched, nothing run.
    assert page.count('<a href="../../report.html">\u2190 the run page</a>') == 2
    assert "<script" not in page and "http" not in page


def test_node_pages_link_what_a_browser_opens_and_every_link_resolves(demo_root):
    run = _demo_like_run(demo_root)
    report.write_report(run, str(demo_root))
    folder = node_pages.node_pages_dir(str(demo_root), RUN_ID)
    pusher = open(os.path.join(folder, "Pusher.html")).read()
    assert f'<a href="../../serving/1704189600">{demo_root}/serving/1704189600</a>' in pusher
    schema = open(os.path.join(folder, "SchemaGen.html")).read()
    assert ">schema.pbtxt</a>" in schema
    stats = open(os.path.join(folder, "StatisticsGen.html")).read()
    assert "FeatureStats.pb" not in stats  # a binary proto: its folder only
    resolver = open(os.path.join(folder, "latest_blessed_model_resolver.html")).read()
    resolved = _section(resolver, "Resolved")
    assert "<td>6</td><td>Model</td>" in resolved and "TFX wiring" in resolver
    cached = open(os.path.join(folder, "Ingest.html")).read()
    assert "reused from the cache" in cached and "<code>" not in _section(cached, "Inputs")
    for name in os.listdir(folder):
        for href in _hrefs(os.path.join(folder, name)):
            assert "://" not in href, (name, href)
            assert os.path.exists(os.path.join(folder, href)), (name, href)


def test_a_failed_frontier_node_gets_a_page_and_missing_folders_are_not_linked(demo_root):
    gone = ArtifactRecord(11, "Examples", "examples", str(demo_root / "gone" / "11"), {})
    remote = ArtifactRecord(12, "Examples", "more", "gs://bucket/examples/12", {})
    failed = NodeRecord(
        "CiwTrainer_ciw",
        "frontier.components.ciw.component.CiwTrainer",
        3,
        "FAILED",
        1.0,
        (),
        {"component_version": CODE_VERSION, "seed": 0},
        None,
        (gone, remote),
    )
    run = RunRecord("p", "run:1", 1, datetime.datetime(2024, 1, 1), (failed,))
    [href] = _dag_links(report.write_report(run, str(demo_root))).values()
    assert href == "nodes/run-1/CiwTrainer_ciw.html"
    page = open(demo_root / href).read()
    assert "failed: it published no outputs" in page and "none (a failed execution" in page
    assert f"<code>{CODE_VERSION}</code>" in page and "<code>seed</code> = 0" in page
    assert f"<code>{demo_root}/gone/11</code> <span class='muted'>(not on disk)</span>" in page
    assert "<code>gs://bucket/examples/12</code>" in page and "an earlier run" in page
    assert "<th>started</th>" not in page  # not known without its end
    assert _hrefs(demo_root / href) == ["../../report.html"] * 2


def test_a_rebuilt_page_of_another_run_writes_its_node_pages_into_its_own_folder(demo_root):
    latest = _demo_like_run(demo_root, "2024-01-03T09:00:00.5")
    report.write_report(latest, str(demo_root))
    latest_dir = node_pages.node_pages_dir(str(demo_root), latest.run_id)
    before = {n: open(os.path.join(latest_dir, n)).read() for n in os.listdir(latest_dir)}
    old = _demo_like_run(demo_root, RUN_ID)
    output = demo_root / report.page_name(RUN_ID)
    report.write_report(old, str(demo_root), output=str(output))
    old_dir = node_pages.node_pages_dir(str(demo_root), RUN_ID)
    assert old_dir != latest_dir and os.path.isdir(old_dir)
    assert {n: open(os.path.join(latest_dir, n)).read() for n in os.listdir(latest_dir)} == before
    assert _dag_links(output)["Evaluator"] == os.path.relpath(
        os.path.join(old_dir, "Evaluator.html"), demo_root
    )
    back = f'<a href="../../{output.name}">'
    assert back in open(os.path.join(old_dir, "Evaluator.html")).read()


def test_writing_a_runs_node_pages_again_replaces_its_stale_ones(demo_root):
    run = _demo_like_run(demo_root)
    report.write_report(run, str(demo_root))
    folder = node_pages.node_pages_dir(str(demo_root), RUN_ID)
    (demo_root / "nodes" / "notes.txt").write_text("kept: not a page")
    fewer = dataclasses.replace(run, nodes=run.nodes[:2])
    report.write_report(fewer, str(demo_root))
    assert sorted(os.listdir(folder)) == ["Ingest.html", "StatisticsGen.html"]
    assert (demo_root / "nodes" / "notes.txt").exists()


def test_node_page_folders_and_names_are_safe():
    assert (
        node_pages.node_pages_dir("/r", "2024-01-01T10:00:00.5") == "/r/nodes/2024-01-01T10-00-00.5"
    )
    assert node_pages.node_pages_dir("/r", "..") == "/r/nodes/--"
    assert node_pages.node_pages_dir("/r", "a/b") == "/r/nodes/a-b"
    assert node_pages.node_page_name("Evaluator") == "Evaluator.html"


def test_runs_read_what_each_node_read_and_what_a_resolver_resolved(tmp_path):
    """`runs` keeps INPUT and INTERNAL_OUTPUT events, with their keys, from ML Metadata."""
    _empty_store(tmp_path)
    store = runs.open_store(str(tmp_path))
    ctx_type = {
        t: store.put_context_type(mlmd_pb2.ContextType(name=t))
        for t in ("pipeline", "pipeline_run", "node")
    }
    art_type = {
        t: store.put_artifact_type(mlmd_pb2.ArtifactType(name=t)) for t in ("Examples", "Model")
    }
    exec_type = store.put_execution_type(mlmd_pb2.ExecutionType(name=RESOLVER))
    examples, model = store.put_artifacts(
        [
            mlmd_pb2.Artifact(type_id=art_type["Examples"], uri="/r/examples/1"),
            mlmd_pb2.Artifact(type_id=art_type["Model"], uri="/r/model/2"),
        ]
    )
    pipeline = mlmd_pb2.Context(type_id=ctx_type["pipeline"], name="p")
    run_ctx = mlmd_pb2.Context(type_id=ctx_type["pipeline_run"], name="run-1")

    def execution(node, events):
        contexts = [pipeline, run_ctx, mlmd_pb2.Context(type_id=ctx_type["node"], name=f"p.{node}")]
        pairs = [
            (
                store.get_artifacts_by_id([a])[0],  # as stored: put_execution writes it back
                mlmd_pb2.Event(
                    type=kind, path=mlmd_pb2.Event.Path(steps=[{"key": key}, {"index": 0}])
                ),
            )
            for kind, a, key in events
        ]
        e = mlmd_pb2.Execution(type_id=exec_type, last_known_state=mlmd_pb2.Execution.COMPLETE)
        store.put_execution(e, pairs, contexts, reuse_context_if_already_exist=True)

    execution("Resolver", [(mlmd_pb2.Event.INTERNAL_OUTPUT, model, "model")])
    execution(
        "Evaluator",
        [(mlmd_pb2.Event.INPUT, examples, "examples"), (mlmd_pb2.Event.INPUT, model, "baseline")],
    )
    [run] = runs.list_runs(str(tmp_path))
    resolver, evaluator = run.nodes
    assert resolver.outputs == () and resolver.inputs == ()
    assert [(a.key, a.id, a.type_name) for a in resolver.resolved] == [("model", model, "Model")]
    assert [(a.key, a.id, a.uri) for a in evaluator.inputs] == [
        ("baseline", model, "/r/model/2"),
        ("examples", examples, "/r/examples/1"),
    ]
    assert evaluator.outputs == () and evaluator.resolved == ()
