"""The EvaluationReport HTML page: verdict, thresholds, metrics per slice, plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from frontier.components.common import html
from frontier.components.evaluate.config import recall_label
from frontier.components.evaluate.metrics import OVERALL, ReliabilityBins, SliceMetrics
from frontier.components.evaluate.tfma_results import TfmaResults

MAX_CLIENT_ROWS = 50  # client slices shown in the HTML (all are in metrics.json)


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str]) -> str:
    """Row-normalised confusion matrix with counts, as an inline PNG."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    c = confusion.shape[0]
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, np.maximum(rows, 1))
    size = min(9.0, 2.5 + 0.45 * c)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if confusion[i, j]:
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        str(confusion[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color=color,
                    )
    ax.set_xticks(range(c), class_names, rotation=90 if c > 10 else 0)
    ax.set_yticks(range(c), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (colour: share of the true class)")
    return html.figure_png(fig)


def reliability_figure(bins: ReliabilityBins, ece: float) -> str:
    """Accuracy vs confidence per bin (reliability diagram) and bin counts."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    width = np.diff(bins.edges)
    left = bins.edges[:-1]
    full = bins.counts > 0
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.bar(
        left[full],
        bins.accuracy[full],
        width=width[full],
        align="edge",
        edgecolor="k",
        label="accuracy",
    )
    top.bar(
        left[full],
        bins.confidence[full] - bins.accuracy[full],
        bottom=bins.accuracy[full],
        width=width[full],
        align="edge",
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.set_title(f"reliability diagram, ECE = {ece:.4f}")
    top.legend(loc="upper left")
    bottom.bar(left, bins.counts, width=width, align="edge", edgecolor="k", color="grey")
    bottom.set_xlabel("top-1 confidence")
    bottom.set_ylabel("examples")
    bottom.set_xlim(0, 1)
    return html.figure_png(fig)


def _verdict(blessed: bool | None, tfma: TfmaResults, has_baseline: bool) -> str:
    if blessed is None:
        text = "not validated: no threshold was configured in the Evaluator"
    elif blessed:
        text = "<b style='color:#1a7f37'>BLESSED</b>: every threshold holds"
    else:
        text = f"<b style='color:#c62828'>NOT BLESSED</b>: {len(tfma.failures)} threshold(s) failed"
    if blessed is not None and not has_baseline:
        text += " (no baseline model yet: comparison thresholds were skipped)"
    return f"<p>{text}</p>"


def _ordered_slices(names: Sequence[str]) -> list[str]:
    """Overall first, then by column, numeric values in numeric order."""

    def key(name: str) -> tuple:
        if name == OVERALL:
            return (0, "", 0, 0, "")
        column, _, value = name.partition("=")
        if value.lstrip("-").isdigit():
            return (1, column, 0, int(value), "")
        return (1, column, 1, 0, value)

    return sorted(names, key=key)


def _cell(metric: str, value: object) -> object:
    """Counts as integers, everything else as is."""
    if "count" in metric and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def evaluation_page(
    *,
    sliced: Mapping[str, SliceMetrics],
    tfma: TfmaResults,
    blessed: bool | None,
    class_names: Sequence[str],
    model_uri: str,
    baseline_uri: str | None,
    eval_split: str,
) -> str:
    """The whole page (see `EvaluationReport`)."""
    overall = sliced[OVERALL]
    facts = [
        ("candidate model", model_uri),
        ("baseline model", baseline_uri or "none"),
        ("evaluated split", eval_split),
        ("examples", overall.examples),
        ("accuracy", overall.accuracy),
        ("log-loss", overall.log_loss),
        (f"ECE ({len(overall.reliability.counts)} bins)", overall.ece),
    ]
    sections = [
        (
            "Verdict",
            _verdict(blessed, tfma, baseline_uri is not None) + html.table(("", "value"), facts),
        )
    ]

    if tfma.failures:
        rows = [
            (f.slice, f.metric, f.threshold, "missing" if f.value is None else f.value)
            for f in tfma.failures
        ]
        body = html.table(("slice", "metric", "threshold", "value"), rows)
    elif blessed is not None:
        body = "<p>All configured thresholds hold.</p>"
    else:
        body = "<p class='muted'>No thresholds configured.</p>"
    sections.append(("Thresholds", body))

    # TFMA's own metrics, without the per-class columns (shown below).
    columns = sorted({m for row in tfma.metrics.values() for m in row if "[class " not in m})
    if columns:
        rows = [
            (name, *(_cell(m, tfma.metrics[name].get(m, "")) for m in columns))
            for name in _ordered_slices(list(tfma.metrics))
        ]
        sections.append(("TFMA metrics per slice", html.table(("slice", *columns), rows)))

    names = _ordered_slices(list(sliced))
    clients = [n for n in names if n.startswith("client_id=")]
    shown = [n for n in names if not n.startswith("client_id=")]
    note = ""
    if len(clients) > MAX_CLIENT_ROWS:
        clients = sorted(clients, key=lambda n: sliced[n].accuracy)[:MAX_CLIENT_ROWS]
        note = f"<p class='muted'>Showing the {MAX_CLIENT_ROWS} clients with the lowest accuracy; metrics.json has all.</p>"
    rows = [
        (n, sliced[n].examples, sliced[n].accuracy, sliced[n].log_loss, sliced[n].ece)
        for n in shown + clients
    ]
    sections.append(
        (
            "Accuracy, log-loss and calibration per slice",
            html.table(("slice", "examples", "accuracy", "log-loss", "ECE"), rows) + note,
        )
    )

    # Top-1 recall of class k: the share of its examples whose arg-max is k. TFMA's
    # `recall[class k][top 1]` is the same quantity (see config.py), shown beside it.
    tfma_overall = tfma.metrics.get(OVERALL, {})
    support = overall.confusion.sum(axis=1)
    recall_rows = [
        (
            f"{k}: {name}",
            int(support[k]),
            float(overall.recall[k]),
            tfma_overall.get(recall_label(k), ""),
        )
        for k, name in enumerate(class_names)
    ]
    headers = ("class", "examples", "recall (top-1)", "TFMA: recall (top-1)")
    sections.append(("Per-class recall", html.table(headers, recall_rows)))
    sections.append(("Confusion matrix", confusion_figure(overall.confusion, class_names)))
    sections.append(("Reliability diagram", reliability_figure(overall.reliability, overall.ece)))
    return html.page("Evaluation", sections, subtitle=f"model {model_uri}")
