"""KipDistill's HTML page: metrics, curves, the support images, the support labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from frontier.components.common import html
from frontier.components.kip.distill import KipHistory, KipResult, centered_one_hot

MAX_CLASSES_SHOWN = 20  # rows of the image grids
MAX_PER_CLASS_SHOWN = 10  # columns of the image grids
MAX_LABEL_ROWS_SHOWN = 200  # rows of the label heat map


def curves_figure(history: KipHistory) -> str:
    """KRR loss and accuracy over KIP steps: each step's target batch, and held-out points."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history.step, getattr(history, metric), lw=1, label="target batch")
        held_out = getattr(history, f"eval_{metric}")
        if held_out:
            ax.plot(history.eval_step, held_out, marker="o", label="held-out (eval split)")
        ax.set_xlabel("step")
        ax.set_title(f"KRR {metric}" + (" (MSE)" if metric == "loss" else ""))
        if metric == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    return html.figure_png(fig)


def _to_display(images: np.ndarray, per_image: bool, lo: float, hi: float) -> np.ndarray:
    """[n, H, W, C] -> values in [0, 1], [n, H, W] (grey) or [n, H, W, 3] (RGB)."""
    images = np.asarray(images, np.float64)
    if per_image:
        axes = tuple(range(1, images.ndim))
        lo = images.min(axis=axes, keepdims=True)
        hi = images.max(axis=axes, keepdims=True)
    scaled = (images - lo) / np.where(hi > lo, hi - lo, 1.0)
    if scaled.shape[-1] == 3:
        return scaled
    return scaled.mean(axis=-1)  # grey (one channel, or the channels' mean)


def _mosaic(cells: list[list[np.ndarray]], cell_shape: tuple[int, ...]) -> np.ndarray:
    """Rows of images -> one array with a one-pixel gap between cells (NaN in
    grey images, drawn white by the colour map; white in RGB images)."""
    h, w = cell_shape[:2]
    rows, cols = len(cells), max((len(r) for r in cells), default=0)
    gap = 1.0 if len(cell_shape) == 3 else np.nan
    out = np.full((rows * (h + 1) - 1, max(cols * (w + 1) - 1, 1), *cell_shape[2:]), gap)
    for i, row in enumerate(cells):
        for j, image in enumerate(row):
            out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = image
    return out


def support_images_figure(
    init_x: np.ndarray,
    final_x: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    image_shape: tuple[int, int, int],
    per_image_scale: bool,
    unchanged: bool | None = None,
) -> str:
    """The initial and the final support side by side, one row per class
    (one panel when they are the same images, as for `random` and `label_solve`).

    Args:
      init_x, final_x: float [n_s, H*W*C] support inputs before and after.
      labels: int [n_s] the class each support point was drawn from.
      class_names: C class names, for the rows.
      image_shape: (H, W, C).
      per_image_scale: rescale each image to its own range (for ZCA-space
        images); otherwise one range for all, so that changes show.
      unchanged: whether the method left the support as it was (one panel);
        None: whether `init_x` equals `final_x`.
    """
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    n = len(labels)
    panels = [(init_x, "initial support"), (final_x, "final support")]
    if unchanged is None:
        unchanged = np.array_equal(init_x, final_x)
    if unchanged:
        panels = [(final_x, "support (unchanged)")]
    both = np.concatenate([x for x, _ in panels])
    lo, hi = float(both.min()), float(both.max())
    shown = [c for c in range(len(class_names)) if np.any(labels == c)][:MAX_CLASSES_SHOWN]
    cols = max(min(MAX_PER_CLASS_SHOWN, int(np.sum(labels == c))) for c in shown)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(len(panels) * max(2.0, 0.5 * cols + 1.0), max(2.0, 0.45 * len(shown) + 1.0)),
        squeeze=False,
    )
    cmap = plt.get_cmap("gray").copy()
    cmap.set_bad("white")
    h = image_shape[0]
    for ax, (x, title) in zip(axes[0], panels, strict=True):
        display = _to_display(x.reshape(n, *image_shape), per_image_scale, lo, hi)
        cells = [
            [display[i] for i in np.flatnonzero(labels == c)[:MAX_PER_CLASS_SHOWN]] for c in shown
        ]
        ax.imshow(
            _mosaic(cells, display.shape[1:]),
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
        ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in range(len(shown))])
        ax.set_yticklabels([class_names[c] for c in shown])
        ax.set_xticks([])
        ax.set_title(title)
    return html.figure_png(fig)


def labels_figure(y: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> str:
    """The support labels [n_s, C] as a heat map, rows grouped by drawn class."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    order = np.argsort(labels, kind="stable")[:MAX_LABEL_ROWS_SHOWN]
    values = np.asarray(y)[order]
    vmax = float(np.abs(values).max()) or 1.0
    rows, cols = values.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.4 * cols + 2.0), min(12.0, 0.18 * rows + 1.5)))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(range(cols))
    ax.set_xticklabels(class_names, rotation=90 if cols > 12 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("support point (grouped by drawn class)")
    if rows <= 40:
        ax.set_yticks(range(rows))
        ax.set_yticklabels([class_names[c] for c in np.asarray(labels)[order]])
    fig.colorbar(image, ax=ax)
    return html.figure_png(fig)


def distillation_page(
    *,
    result: KipResult,
    init_x: np.ndarray,
    metrics: Mapping[str, Mapping[str, float]],
    params: Mapping[str, object],
    class_names: Sequence[str],
    image_shape: tuple[int, int, int] | None,
    show_labels: bool,
    subtitle: str = "",
) -> str:
    """The whole page.

    Args:
      result: the distilled support.
      init_x: float [n_s, D] the initial support, preprocessed like
        `result.x` (`result.preprocessing.apply` of the training rows). The
        images are drawn in input space (`preprocessing.invert`) when the
        preprocessing is invertible, else (ZCA) in the preprocessed space.
      metrics: split -> {"examples", "loss_before", "accuracy_before", "loss",
        "accuracy"} (`executor.support_metrics`).
      params: the parameters to list.
      class_names: C class names.
      image_shape: (H, W, C) for image data, else None (no image grids).
      show_labels: draw the support labels (when learned or solved).
      subtitle: a line under the title (e.g. the data source).
    """
    sections = [("KRR metrics of the support", _metrics_section(metrics))]
    history = result.history
    if history.step:
        sections.append(("Training curves", _curves_section(history)))
    if image_shape is not None:
        sections.append(
            ("Support images", _images_section(result, init_x, class_names, image_shape))
        )
    if show_labels:
        sections.append(("Support labels", _labels_section(result, class_names)))
    sections.append(("Parameters", html.parameters_table(params)))
    return html.page("KipDistill: dataset distillation", sections, subtitle=subtitle)


def _metrics_section(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """The KRR loss and accuracy of the support before and after, per split."""
    columns = (
        ("examples", "examples"),
        ("loss before", "loss_before"),
        ("loss after", "loss"),
        ("accuracy before", "accuracy_before"),
        ("accuracy after", "accuracy"),
    )
    return (
        html.split_table(columns, metrics)
        + '<p class="muted">Kernel ridge regression with the support as training set; '
        '"before": the initial class-balanced random support with one-hot labels, '
        '"after": the distilled support. Loss: mean squared error against the '
        "centred one-hot labels.</p>"
    )


def _curves_section(history: KipHistory) -> str:
    """The training curves and the final target-batch loss and accuracy."""
    last = [
        ("final target-batch loss", float(history.loss[-1])),
        ("final target-batch accuracy", float(history.accuracy[-1])),
    ]
    return curves_figure(history) + html.table(("", "value"), last)


def _images_section(
    result: KipResult,
    init_x: np.ndarray,
    class_names: Sequence[str],
    image_shape: tuple[int, int, int],
) -> str:
    """The initial and final support images: in input space when the
    preprocessing is invertible, else (ZCA) in the preprocessed space."""
    prep = result.preprocessing
    unchanged = bool(np.array_equal(init_x, result.x))
    if prep.invertible:
        shown = (prep.invert(init_x), prep.invert(result.x))
        note = "In input space, all images on one intensity scale."
    else:
        shown = (init_x, result.x)
        note = "ZCA-whitened images, each rescaled to its own range."
    figure = support_images_figure(
        *shown,
        result.labels,
        class_names,
        image_shape,
        per_image_scale=not prep.invertible,
        unchanged=unchanged,
    )
    return figure + f'<p class="muted">{html.escape(note)}</p>'


def _labels_section(result: KipResult, class_names: Sequence[str]) -> str:
    """The support labels' heat map and how far they moved from the one-hot."""
    moved = int(np.sum(np.argmax(result.y, axis=1) != result.labels))
    change = float(np.abs(result.y - centered_one_hot(result.labels, len(class_names))).mean())
    text = (
        f"{moved} of {len(result.labels)} support points have an arg-max label other than "
        f"the class they were drawn from; mean |y - one-hot| = {change:.4f}. The "
        "distilled Examples carry the arg-max; the soft labels are in kip_result.npz."
    )
    return (
        labels_figure(result.y, result.labels, class_names)
        + f'<p class="muted">{html.escape(text)}</p>'
    )
