"""The Trainer's HTML page: learning curves, final metrics, parameters, layers."""

from __future__ import annotations

from collections.abc import Mapping

from frontier.components.common import html


def curves_figure(history: Mapping[str, list[float]]) -> str:
    """Loss and accuracy per epoch, train and eval, as an inline PNG."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "train"), ("val_", "eval")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return html.figure_png(fig)


def training_page(
    history: Mapping[str, list[float]],
    final: Mapping[str, Mapping[str, float]],
    params: Mapping[str, object],
    layers: list[tuple[str, str, int]],
    subtitle: str = "",
) -> str:
    """The whole page.

    Args:
      history: metric name -> per-epoch values (Keras `History.history`).
      final: split name -> {"examples", "loss", "accuracy"} after training.
      params: training parameters to list.
      layers: (name, output shape, parameter count) per model layer.
      subtitle: a line under the title (e.g. the data source).
    """
    final_rows = [
        (split, int(m["examples"]), float(m["loss"]), float(m["accuracy"]))
        for split, m in final.items()
    ]
    epoch_rows = [
        (i + 1, *(float(history[k][i]) for k in sorted(history)))
        for i in range(len(next(iter(history.values()), [])))
    ]
    sections = [
        ("Final metrics", html.table(("split", "examples", "loss", "accuracy"), final_rows)),
        ("Learning curves", curves_figure(history)),
        ("Per epoch", html.table(("epoch", *sorted(history)), epoch_rows)),
        (
            "Parameters",
            html.table(("parameter", "value"), [(k, str(v)) for k, v in params.items()]),
        ),
        ("Layers", html.table(("layer", "output shape", "parameters"), layers)),
    ]
    return html.page("Trainer: baseline classifier", sections, subtitle=subtitle)
