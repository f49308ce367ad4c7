"""The Ingest component's HTML page (ARCHITECTURE.md rule 4): source, how the
splits were made, columns and roles (a split column among them), per-split
counts, and a few samples (an image grid for image data); with label noise,
its settings, the realized flip fraction of the train split and the flips per
clean class; with a client partition, its settings, examples per client and
the label skew per split, and the first clients' classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.common import html
from frontier.components.ingest import spec
from frontier.components.ingest.clients import PartitionSummary, client_name
from frontier.components.ingest.noise import FlipSummary
from frontier.components.ingest.plan import SourcePlan
from frontier.schemas.dataset import (
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    TRUE_LABEL_KEY,
    VIDEO_ID_KEY,
    WEAK_LABEL_KEY,
    DatasetInfo,
)

MAX_CLASSES_SHOWN = 20
SAMPLES_PER_CLASS = 8
MAX_TARGETS_SHOWN = 9
CLIENTS_SHOWN = 10
CLASSES_PER_CLIENT_SHOWN = 5


def columns_table(plan: SourcePlan, max_features: int = 20) -> str:
    rows: list[tuple[object, ...]] = [
        ("feature", col, key, dim)
        for col, key, dim in zip(
            plan.feature_columns, plan.feature_keys, plan.feature_dims, strict=True
        )
    ]
    if len(rows) > max_features:
        more = len(rows) - max_features
        rows = rows[:max_features] + [
            ("feature", f"... {more} more", "", sum(plan.feature_dims[max_features:]))
        ]
    for key, col in (
        (
            LABEL_KEY,
            plan.label_column
            if plan.format not in ("images", "sklearn")
            else "(sub-folder / target)",
        ),
        (TRUE_LABEL_KEY, "(clean label, before noise)" if plan.label_noise else None),
        (WEAK_LABEL_KEY, plan.weak_label_column),
        (
            CLIENT_ID_KEY,
            plan.client_id_column
            or (
                f"(generated: {plan.client_partition.describe()})"
                if plan.client_partition is not None
                else None
            ),
        ),
        (EXAMPLE_ID_KEY, plan.example_id_column or "(file#row, generated)"),
        (VIDEO_ID_KEY, plan.video_id_column),
    ):
        if col:
            rows.append(("role", col, key, 1))
    if plan.split_column:
        # Read to choose each row's split, never written into the examples.
        rows.append(("split", plan.split_column, "(not written: names the split)", "-"))
    return html.table(["kind", "source column", "key written", "length"], rows)


def _split_rule(plan: SourcePlan) -> str:
    """How rows were assigned to splits, in words."""
    if plan.split_column:
        return f"predefined: each row names its split in column {plan.split_column!r}"
    return "seeded hash of the example id (eval_fraction, seed)"


def counts_table(info: DatasetInfo) -> str:
    splits = list(info.split_counts)
    rows = [
        (f"{i}: {name}", *(info.class_counts.get(s, (0,) * info.num_classes)[i] for s in splits))
        for i, name in enumerate(info.class_names)
    ]
    rows.append(("total", *(info.split_counts[s] for s in splits)))
    return html.table(["class", *splits], rows)


def _storage(info: DatasetInfo) -> str:
    """How the features are stored (`DatasetInfo.image_encoding`), in words."""
    if info.compact:
        return f"uint8 bytes, decoded as k / {info.pixel_divisor}"
    return "float32 values"


def image_grid(info: DatasetInfo, samples: Mapping[int, Sequence[np.ndarray]]) -> str:
    """A grid, one row per class, of sample images given as flat [H*W*C] vectors in [0, 1]
    (any range is shown scaled to its min..max)."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    h, w, c = info.image_shape
    classes = sorted(samples)[:MAX_CLASSES_SHOWN]
    if not classes:
        return "<p class='muted'>no samples</p>"
    cols = max(len(samples[k]) for k in classes)
    fig, axes = plt.subplots(
        len(classes), cols, figsize=(1.1 * cols + 1.2, 1.1 * len(classes)), squeeze=False
    )
    for r, k in enumerate(classes):
        for j in range(cols):
            ax = axes[r][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(samples[k]):
                img = np.asarray(samples[k][j], np.float32).reshape(h, w, c)
                if c == 1:
                    ax.imshow(img[:, :, 0], cmap="gray")
                else:
                    lo, hi = float(img.min()), float(img.max())
                    ax.imshow((img - lo) / (hi - lo) if hi > 1 or lo < 0 else img)
            if j == 0:
                ax.set_ylabel(str(info.class_names[k])[:14], rotation=0, ha="right", va="center")
    return html.figure_png(fig)


def sample_table(info: DatasetInfo, rows: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    keys = list(info.feature_keys[:8])
    labels = [LABEL_KEY] + ([TRUE_LABEL_KEY] if info.has(TRUE_LABEL_KEY) else [])
    headers = [EXAMPLE_ID_KEY, *labels, *keys] + (["..."] if len(info.feature_keys) > 8 else [])
    body = []
    for row in rows[:limit]:
        cells = [row[EXAMPLE_ID_KEY], *(info.class_names[int(row[k])] for k in labels)]
        for k in keys:
            v = np.asarray(row[k]).ravel()
            cells.append(float(v[0]) if v.size == 1 else f"[{v.size} values]")
        if len(info.feature_keys) > 8:
            cells.append("")
        body.append(cells)
    return html.table(headers, body, fmt="{:.4g}")


def noise_section(plan: SourcePlan, info: DatasetInfo, flips: FlipSummary) -> str:
    """Label-noise settings, the realized flip fraction of the train split,
    and per clean class the train examples, how many were flipped, and to which
    classes."""
    noise = plan.label_noise
    settings = html.table(
        ["", ""],
        [
            ("label noise", noise.kind),
            ("noise rate", float(noise.rate)),
            ("noise seed", noise.seed),
            ("train examples", flips.total),
            ("flipped train labels", flips.flipped),
            ("realized flip fraction (train)", float(flips.flipped_fraction)),
            ("eval split", "clean labels (label == true_label)"),
        ],
    )
    rows = []
    for t, (total, flipped, to) in enumerate(flips.per_class()[:MAX_CLASSES_SHOWN]):
        ranked = sorted(to.items(), key=lambda kv: (-kv[1], kv[0]))
        targets = ", ".join(f"{n}: {c}" for n, c in ranked[:MAX_TARGETS_SHOWN])
        if len(ranked) > MAX_TARGETS_SHOWN:
            targets += f", ... ({len(ranked) - MAX_TARGETS_SHOWN} more)"
        share = flipped / total if total else 0.0
        rows.append((f"{t}: {info.class_names[t]}", total, flipped, share, targets or "-"))
    more = flips.num_classes - MAX_CLASSES_SHOWN
    note = f"<p class='muted'>{more} more classes not shown</p>" if more > 0 else ""
    per_class = html.table(
        [
            "clean class (true_label)",
            "train examples",
            "flipped",
            "flipped share",
            "flipped to (class id: count)",
        ],
        rows,
    )
    return settings + per_class + note


def partition_section(plan: SourcePlan, info: DatasetInfo, clients: PartitionSummary) -> str:
    """Client-partition settings; per split the clients with examples, the
    examples per client (min / median / mean / max over all K clients) and the
    label skew (classes per client, mean client label entropy against the
    split's, mean total-variation distance to the split's label distribution);
    and the classes of the first clients' train examples."""
    partition = plan.client_partition
    k = partition.num_clients
    settings = html.table(
        ["", ""],
        [
            ("client partition", partition.scheme),
            ("clients (num_clients)", k),
            (
                "partition alpha",
                float(partition.alpha) if partition.scheme == spec.DIRICHLET else "- (iid)",
            ),
            ("partition seed", partition.seed),
            ("client ids", f"{client_name(0, k)} .. {client_name(k - 1, k)}"),
            ("splits", "every split carries client_id; federated training uses train"),
        ],
    )
    rows = []
    for split in [*spec.SPLIT_NAMES, None]:
        lo, median, mean, hi = clients.size_stats(split)
        rows.append(
            (
                split or "all",
                int(clients.sizes(split).sum()),
                f"{clients.clients_with_examples(split)} of {k}",
                lo,
                median,
                mean,
                hi,
                clients.classes_per_client(split),
                clients.mean_client_entropy(split),
                clients.global_entropy(split),
                clients.mean_tv_distance(split),
            )
        )
    stats = html.table(
        [
            "split",
            "examples",
            "clients with examples",
            "min / client",
            "median",
            "mean",
            "max",
            "classes per client (mean)",
            "client label entropy (mean, bits)",
            "split label entropy (bits)",
            "TV distance to split labels (mean)",
        ],
        rows,
        fmt="{:.3f}",
    )
    note = (
        "<p class='muted'>Label skew on the clean labels: an IID partition has client entropy"
        " close to the split's (a little lower for small clients) and a small TV distance;"
        " Dirichlet label skew lowers the entropy and raises the distance. Empty clients"
        " (possible with hash sampling) have no examples in the data.</p>"
    )
    train = clients.matrix(spec.TRAIN_SPLIT)
    shown = []
    for index in range(min(k, CLIENTS_SHOWN)):
        row = train[index]
        ranked = sorted(((int(n), c) for c, n in enumerate(row) if n), reverse=True)
        classes = ", ".join(
            f"{info.class_names[c]}: {n}" for n, c in ranked[:CLASSES_PER_CLIENT_SHOWN]
        )
        if len(ranked) > CLASSES_PER_CLIENT_SHOWN:
            classes += f", ... ({len(ranked) - CLASSES_PER_CLIENT_SHOWN} more)"
        shown.append((client_name(index, k), int(row.sum()), classes or "-"))
    more = k - CLIENTS_SHOWN
    more_note = f"<p class='muted'>{more} more clients not shown</p>" if more > 0 else ""
    first = html.table(["client_id", "train examples", "classes (name: count)"], shown)
    return settings + stats + note + first + more_note


def build_report(
    plan: SourcePlan,
    info: DatasetInfo,
    samples: Sequence[Mapping[str, Any]],
    flips: FlipSummary | None = None,
    clients: PartitionSummary | None = None,
) -> str:
    """The whole page. `samples` are converted rows (a few per class); `flips`
    the (clean, noisy) label counts of the train split when there is label
    noise; `clients` the examples per client and class when there is a client
    partition."""
    counts_note = (
        "<p class='muted'>train: counted by the noisy label; eval: clean labels</p>"
        if plan.label_noise is not None
        else ""
    )
    sections = [
        (
            "Source",
            html.table(
                ["", ""],
                [
                    ("source", plan.source),
                    ("format", plan.format),
                    ("files", plan.num_files),
                    ("classes", info.num_classes),
                    ("input length", info.input_dim),
                    ("image shape (H, W, C)", info.image_shape or "-"),
                    ("stored as", _storage(info)),
                    ("splits", _split_rule(plan)),
                ],
            ),
        ),
        ("Columns and roles", columns_table(plan)),
        ("Examples per split and class", counts_table(info) + counts_note),
    ]
    if plan.label_noise is not None and flips is not None:
        sections.append(("Label noise (train split)", noise_section(plan, info, flips)))
    if plan.client_partition is not None and clients is not None:
        sections.append(("Client partition", partition_section(plan, info, clients)))
    if info.image_shape is not None and samples:
        by_class: dict[int, list[np.ndarray]] = {}
        for row in samples:
            flat = np.concatenate(
                [np.asarray(row[k], np.float32).ravel() for k in info.feature_keys]
            )
            by_class.setdefault(int(row[LABEL_KEY]), []).append(flat)
        sections.append(("Samples", image_grid(info, by_class)))
    elif samples:
        sections.append(("Samples", sample_table(info, samples)))
    return html.page("Ingest", sections, subtitle=info.source)
