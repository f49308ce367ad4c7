"""Small self-contained HTML pages: every component leaves one (ARCHITECTURE.md rule 4).

Plots are inline PNG (base64), so a page is one file that the Kubeflow /
Vertex UI and the local run report can show with no assets beside it.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Collection, Iterable, Mapping, Sequence

from frontier.schemas.artifacts import HTML_FILE_NAME

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}h2{margin-top:1.4em}
.muted{color:#777}img{max-width:100%}
"""


def escape(value: object) -> str:
    return html.escape(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], fmt: str = "{:.4f}") -> str:
    """An HTML table; floats are formatted with `fmt`."""

    def cell(v: object) -> str:
        return escape(fmt.format(v)) if isinstance(v, float) else escape(v)

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def split_table(
    columns: Sequence[tuple[str, str]],
    metrics: Mapping[str, Mapping[str, object]],
    optional: Collection[str] = (),
) -> str:
    """A table of per-split metrics: a row per split, a column per (header, key).

    The first column is the split's name (headed "split"); each other cell is
    `metrics[split][key]`: `examples` as an int, a string as it is, anything
    else as a float (formatted by `table`).

    Args:
      columns: (header, key) of each column after the split's name.
      metrics: split name -> {key: value}.
      optional: keys a split may lack (an empty cell); any other missing key
        is a KeyError.
    """

    def cell(values: Mapping[str, object], key: str) -> object:
        if key in optional and key not in values:
            return ""
        value = values[key]
        if key == "examples":
            return int(value)
        return value if isinstance(value, str) else float(value)

    rows = [(split, *(cell(m, key) for _, key in columns)) for split, m in metrics.items()]
    return table(("split", *(header for header, _ in columns)), rows)


def parameters_table(params: Mapping[str, object]) -> str:
    """The page's "Parameters" table: each parameter's name and its `str` value."""
    return table(("parameter", "value"), [(k, str(v)) for k, v in params.items()])


def figure_png(fig) -> str:
    """Renders a matplotlib figure as an inline <img> and closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img src="data:image/png;base64,{data}">'


def page(title: str, sections: Sequence[tuple[str, str]], subtitle: str = "") -> str:
    """A whole HTML document: a title, then (heading, html body) sections."""
    parts = [f"<h1>{escape(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="muted">{escape(subtitle)}</p>')
    for heading, body in sections:
        parts.append(f"<h2>{escape(heading)}</h2>{body}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def write_report(report_artifact, title: str, document: str) -> str:
    """Writes `document` as the artifact's index.html and records its title."""
    import tensorflow as tf

    tf.io.gfile.makedirs(report_artifact.uri)
    path = os.path.join(report_artifact.uri, HTML_FILE_NAME)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(document)
    report_artifact.set_string_custom_property("title", title)
    return path


def matplotlib_agg() -> None:
    """Selects the non-interactive backend; executors run with no display."""
    import matplotlib

    matplotlib.use("Agg")
