"""The CiwTrainer's HTML page: instance weights, training curves, metrics, parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from frontier.components.common import html

TITLE = "CiwTrainer: training under label noise"
WEIGHTS_SECTION = "Instance weights in the last epoch"
CURVES_SECTION = "Training curves"
FINAL_SECTION = "Final metrics"
PARAMETERS_SECTION = "Parameters"
LOW_WEIGHT = 0.5  # the weights table counts examples below half the uniform weight

_CLEAN_COLOR, _FLIPPED_COLOR, _ALL_COLOR = "tab:green", "tab:red", "tab:blue"


def weight_groups(
    weights: np.ndarray, flipped: np.ndarray | None
) -> list[tuple[str, np.ndarray, str]]:
    """(name, weights of the group, colour): clean and flipped labels, or all examples."""
    weights = np.asarray(weights, np.float64)
    if flipped is None:
        return [("all examples", weights, _ALL_COLOR)]
    flipped = np.asarray(flipped, bool)
    groups = [
        ("clean labels", weights[~flipped], _CLEAN_COLOR),
        ("flipped labels", weights[flipped], _FLIPPED_COLOR),
    ]
    return [g for g in groups if len(g[1])]


def weights_figure(weights: np.ndarray, flipped: np.ndarray | None = None) -> str:
    """Histogram of the per-example weights as an inline PNG.

    Args:
      weights: float [N], each training example's weight in the last epoch
        (times the batch size: 1 is the uniform weight).
      flipped: optional bool [N], whether the example's training label differs
        from its true label; then one histogram per group, on shared bins.
    """
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, np.float64)
    top = max(float(weights.max(initial=0.0)), 1.0)
    bins = np.linspace(0.0, top * 1.0001, 41)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, values, color in weight_groups(weights, flipped):
        ax.hist(values, bins=bins, alpha=0.6, color=color, label=f"{name} ({len(values)})")
    ax.axvline(1.0, color="k", linestyle=":", linewidth=1, label="uniform weight")
    ax.set_xlabel("instance weight x batch size")
    ax.set_ylabel("examples")
    ax.grid(alpha=0.3)
    ax.legend()
    return html.figure_png(fig)


def weight_rows(weights: np.ndarray, flipped: np.ndarray | None) -> list[tuple]:
    """(group, examples, mean, median, share below `LOW_WEIGHT`) per group."""
    return [
        (
            name,
            len(values),
            float(values.mean()),
            float(np.median(values)),
            float(np.mean(values < LOW_WEIGHT)),
        )
        for name, values, _ in weight_groups(weights, flipped)
    ]


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
    example_weights: np.ndarray,
    flipped: np.ndarray | None,
    final: Mapping[str, Mapping[str, object]],
    params: Mapping[str, object],
    reweights: bool,
    burn_in_epochs: float | None = None,
    subtitle: str = "",
) -> str:
    """The whole page.

    Args:
      history: metric -> per-epoch values (`CiwResult.history`).
      example_weights: float [N], the last epoch's weight of each training
        example (`CiwResult.example_weights`).
      flipped: bool [N], training label != true label, when the true labels
        are known; else None.
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
            "every weight is 1. Train longer or shorten <code>burn_in</code>.</p>"
        )
    elif not reweights:
        note = (
            f"<p class='muted'>Method {html.escape(params.get('method', ''))} does not reweight "
            "examples: every weight is 1.</p>"
        )
    elif flipped is not None:
        note = (
            "<p class='muted'>Flipped labels are those that differ from the true label "
            "(<code>true_label</code>); reweighting should give them low weight.</p>"
        )
    else:
        note = ""
    weights_body = (
        note
        + weights_figure(example_weights, flipped)
        + html.table(
            ("group", "examples", "mean weight", "median weight", f"share < {LOW_WEIGHT}"),
            weight_rows(example_weights, flipped),
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
