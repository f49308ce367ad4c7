"""The run page's parts: charts (inline SVG), the results panel, the parameters
table; records built by hand, no pipeline runs."""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import xml.etree.ElementTree as ET

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from frontier.pipelines import charts, report, results, runs
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
