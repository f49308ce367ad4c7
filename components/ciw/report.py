"""The CiwTrainer's HTML page: instance weights, training curves, metrics, parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from frontier.components.common import html
from frontier.components.trainer.step import CLEAN, FLIPPED, HISTOGRAM_EDGES

TITLE = "CiwTrainer: training under label noise"
WEIGHTS_SECTION = "Instance weights in the last epoch"
CURVES_SECTION = "Training curves"
FINAL_SECTION = "Final metrics"
PARAMETERS_SECTION = "Parameters"
LOW_WEIGHT = 0.5  # the weights table counts examples below half the uniform weight

_CLEAN_COLOR, _FLIPPED_COLOR, _ALL_COLOR = "tab:green", "tab:red", "tab:blue"


def weight_groups(histogram: np.ndarray, noisy: bool) -> list[tuple[str, np.ndarray, str]]:
    """(name, counts per bin, colour) of each non-empty group: clean and flipped
    labels when the true labels are known, else all examples (row 0)."""
    histogram = np.asarray(histogram, np.int64)
    if not noisy:
        return [("all examples", histogram[CLEAN], _ALL_COLOR)]
    groups = [
        ("clean labels", histogram[CLEAN], _CLEAN_COLOR),
        ("flipped labels", histogram[FLIPPED], _FLIPPED_COLOR),
    ]
    return [g for g in groups if g[1].sum()]


def weights_figure(histogram: np.ndarray, noisy: bool) -> str:
    """The last epoch's weight histogram per group as an inline PNG.

    Args:
      histogram: int [2, bins], counts of instance weights (times the batch
        size: 1 is the uniform weight) per bin of `HISTOGRAM_EDGES`, clean
        labels (or all examples) in row 0, flipped labels in row 1
        (`CiwResult.weight_histogram`).
      noisy: whether the rows are clean / flipped (true labels known).
    """
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    edges = HISTOGRAM_EDGES.copy()
    edges[-1] = edges[-2] + (edges[-2] - edges[-3])  # the open last bin, drawn one bin wide
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, counts, color in weight_groups(histogram, noisy):
        ax.stairs(
            counts, edges, fill=True, alpha=0.6, color=color, label=f"{name} ({counts.sum()})"
        )
    ax.axvline(1.0, color="k", linestyle=":", linewidth=1, label="uniform weight")
    ax.set_xlabel(f"instance weight x batch size (last bin: >= {HISTOGRAM_EDGES[-2]:g})")
    ax.set_ylabel("examples")
    ax.grid(alpha=0.3)
    ax.legend()
    return html.figure_png(fig)


def weight_rows(histogram: np.ndarray, noisy: bool) -> list[tuple]:
    """(group, examples, median weight's bin, share below `LOW_WEIGHT`) per group."""
    rows = []
    for name, counts, _ in weight_groups(histogram, noisy):
        total = int(counts.sum())
        median_bin = int(np.searchsorted(np.cumsum(counts), total / 2.0))
        low, high = HISTOGRAM_EDGES[median_bin], HISTOGRAM_EDGES[median_bin + 1]
        below = counts[: int(np.searchsorted(HISTOGRAM_EDGES, LOW_WEIGHT))].sum()
        rows.append((name, total, f"[{low:g}, {high:g})", float(below) / max(total, 1)))
    return rows


_PANELS = (
    ("loss", (("loss", "train objective"), ("val_loss", "eval cross-entropy"))),
    (
        "accuracy",
        (
            ("accuracy", "train, training labels"),
            ("true_accuracy", "train, true labels"),
            ("val_accuracy", "eval"),
        ),
    ),
    (
        "mean instance weight",
        (("mean_weight_clean", "clean labels"), ("mean_weight_flipped", "flipped labels")),
    ),
)


def curves_figure(history: Mapping[str, Sequence[float]], burn_in_epochs: float | None) -> str:
    """Loss, accuracies and mean weights per epoch as an inline PNG.

    Args:
      history: `CiwResult.history` (metric -> per-epoch values).
      burn_in_epochs: where the burn-in (plain cross-entropy) ends, in epochs,
        drawn as a dotted line; None for none.
    """
    html.matplotlib_agg()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [(t, [(k, n) for k, n in keys if history.get(k)]) for t, keys in _PANELS]
    panels = [(t, keys) for t, keys in panels if keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key, name in keys:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        if burn_in_epochs is not None:
            ax.axvline(burn_in_epochs, color="gray", linestyle=":", label="end of burn-in")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return html.figure_png(fig)


def ciw_page(
    *,
    history: Mapping[str, Sequence[float]],
    weight_histogram: np.ndarray,
    noisy: bool,
    final: Mapping[str, Mapping[str, object]],
    params: Mapping[str, object],
    reweights: bool,
    burn_in_epochs: float | None = None,
    subtitle: str = "",
) -> str:
    """The whole page.

    Args:
      history: metric -> per-epoch values (`CiwResult.history`).
      weight_histogram: int [2, bins], the last epoch's instance weights per
        bin, clean (or all) and flipped labels (`CiwResult.weight_histogram`).
      noisy: whether the true labels are known (rows clean and flipped).
      final: split name -> {"examples", "labels", "loss", "accuracy" and
        optionally "true_accuracy"} after training.
      params: the parameters to list.
      reweights: whether the method reweights examples at all (else the
        weights are uniform, and the page says so).
      burn_in_epochs: where the burn-in ends, in epochs (reweighting methods).
      subtitle: a line under the title (e.g. the data source).
    """
    epochs = len(next(iter(history.values()), []))
    if burn_in_epochs is not None and burn_in_epochs >= epochs:
        burn_in_epochs = None
        note = (
            "<p class='muted'>The burn-in (plain cross-entropy) lasted the whole training: "
            "every weight is 1. Train longer or shorten the burn-in.</p>"
        )
    elif not reweights:
        note = (
            f"<p class='muted'>Method {html.escape(params.get('method', ''))} does not reweight "
            "examples: every weight is 1.</p>"
        )
    elif noisy:
        note = (
            "<p class='muted'>Flipped labels are those that differ from the true label "
            "(<code>true_label</code>); reweighting should give them low weight.</p>"
        )
    else:
        note = ""
    weights_body = (
        note
        + weights_figure(weight_histogram, noisy)
        + html.table(
            ("group", "examples", "median weight (bin)", f"share < {LOW_WEIGHT}"),
            weight_rows(weight_histogram, noisy),
        )
    )
    final_columns = (
        ("examples", "examples"),
        ("labels", "labels"),
        ("cross-entropy", "loss"),
        ("accuracy", "accuracy"),
        ("true-label accuracy", "true_accuracy"),
    )
    epoch_rows = [(i + 1, *(float(history[k][i]) for k in sorted(history))) for i in range(epochs)]
    sections = [
        (FINAL_SECTION, html.split_table(final_columns, final, optional=("true_accuracy",))),
        (WEIGHTS_SECTION, weights_body),
        (CURVES_SECTION, curves_figure(history, burn_in_epochs)),
        ("Per epoch", html.table(("epoch", *sorted(history)), epoch_rows)),
        (PARAMETERS_SECTION, html.parameters_table(params)),
    ]
    return html.page(TITLE, sections, subtitle=subtitle)
