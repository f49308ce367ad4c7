"""The SplLabeler's page: confusion matrix, class sizes, and the mapping."""

from __future__ import annotations

import numpy as np

from frontier.components.common import html
from frontier.components.spl.labels import DROPPED, SplLabelMap
from frontier.schemas.dataset import DatasetInfo


def confusion_figure(label_map: SplLabelMap) -> str:
    """Heat map of the pool's (weak label, teacher prediction) counts.

    Each cell is annotated with its count and, in brackets, the pre-training
    class it maps to (`-` where the strategy drops it).
    """
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    c = label_map.confusion
    names = label_map.class_names
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(np.log1p(c), cmap="viridis")
    fig.colorbar(im, ax=ax, label="log(1 + examples)")
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("teacher prediction t")
    ax.set_ylabel("weak label w")
    if len(names) <= 20:
        bright = np.log1p(c.max()) / 2
        for w in range(c.shape[0]):
            for t in range(c.shape[1]):
                cls = label_map.lookup[w, t]
                tag = "-" if cls == DROPPED else str(cls)
                ax.text(
                    t,
                    w,
                    f"{c[w, t]}\n[{tag}]",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if np.log1p(c[w, t]) > bright else "white",
                )
    ax.set_title(f"pool confusion (cells: count [pre-training class], {label_map.strategy})")
    return html.figure_png(fig)


def class_sizes_figure(label_map: SplLabelMap) -> str:
    """Bar chart of the pool examples in each pre-training class."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    counts = [c.count for c in label_map.classes]
    colors = {"agree": "tab:green", "disagree": "tab:red"}
    fig, ax = plt.subplots(figsize=(max(5.0, 0.18 * len(counts) + 2), 3.2))
    ax.bar(
        range(len(counts)),
        counts,
        color=[colors.get(c.kind, "tab:blue") for c in label_map.classes],
    )
    ax.set_xlabel("pre-training class id")
    ax.set_ylabel("pool examples")
    ax.set_title(f"{label_map.num_classes} classes ({label_map.strategy})")
    return html.figure_png(fig)


def spl_page(label_map: SplLabelMap, info: DatasetInfo, subtitle: str = "") -> str:
    """The whole page: settings, confusion heat map, class sizes, mapping, counts."""
    c = label_map.confusion
    total = int(c.sum())
    settings = html.table(
        ["setting", "value"],
        [
            ("strategy", label_map.strategy),
            ("min_count", label_map.min_count or "n/a"),
            ("pool examples (train)", total),
            ("teacher agrees with the weak label", f"{np.trace(c) / total:.4f}"),
            ("pre-training classes", label_map.num_classes),
            ("dropped examples (train)", label_map.dropped),
            (
                "examples written per split",
                ", ".join(f"{k}: {v}" for k, v in info.split_counts.items()),
            ),
        ],
    )
    mapping = html.table(
        ["id", "name", "kind", "weak w", "teacher t", "examples"],
        [
            (
                cls.id,
                cls.name,
                cls.kind,
                "" if cls.weak is None else label_map.class_names[cls.weak],
                "" if cls.teacher is None else label_map.class_names[cls.teacher],
                cls.count,
            )
            for cls in label_map.classes
        ],
    )
    return html.page(
        "SplLabeler: pre-training label space",
        [
            ("Settings", settings),
            ("Weak label x teacher prediction", confusion_figure(label_map)),
            ("Pre-training class sizes", class_sizes_figure(label_map)),
            ("Mapping (class id -> cells)", mapping),
        ],
        subtitle=subtitle,
    )
