"""The DpFtrlTrainer's page: accuracy and epsilon over rounds, and the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from frontier.components.common import html

LABELS = {
    "dp_ftrl": "DP-FTRL",
    "blt_dp_ftrl": "BLT-DP-FTRL",
    "dp_fedavg": "DP-FedAvg",
    "fedavg": "FedAvg (non-private)",
}


def _points(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    rows = [(h["round"] + 1, h[key]) for h in history if h.get(key) is not None]
    return [r for r, _ in rows], [v for _, v in rows]


def curves_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Eval accuracy (left) and epsilon so far (right) against rounds, one line per run."""
    html.matplotlib_agg()
    import matplotlib.pyplot as plt

    fig, (acc, eps) = plt.subplots(1, 2, figsize=(10, 3.6))
    for mechanism, history in histories.items():
        label = LABELS.get(mechanism, mechanism)
        rounds, values = _points(history, "eval_accuracy")
        if rounds:
            acc.plot(rounds, values, marker=".", label=label)
        rounds, values = _points(history, "epsilon")
        if rounds:
            eps.plot(rounds, values, label=label)
    acc.set_xlabel("round")
    acc.set_ylabel("eval accuracy")
    acc.legend()
    eps.set_xlabel("round")
    eps.set_ylabel("epsilon so far")
    if eps.lines:
        eps.legend()
    fig.tight_layout()
    return html.figure_png(fig)


_COVERAGE = (
    "<p>The epsilon above covers the trained model (its weights). The accuracies on this "
    "page and the exported model's <code>train_accuracy</code>, <code>eval_accuracy</code> "
    "and <code>eval_loss</code> properties are measured on the data without noise: they are "
    "statistics of the simulation, not covered by the guarantee.</p>"
)


def dp_ftrl_page(
    ledger: Mapping[str, Any],
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    finals: Mapping[str, Mapping[str, Any]],
    subtitle: str = "",
) -> str:
    """The whole page.

    Args:
      ledger: the privacy ledger of the exported run (`Executor._ledger`).
      histories: mechanism -> per-round history (`FederatedResult.history`),
        the exported run first.
      finals: mechanism -> {"eval_accuracy", "epsilon", "noise_multiplier"}.
      subtitle: a line under the title (the data).
    """
    eps = ledger["epsilon"]
    privacy = html.table(
        ["", "value"],
        [
            ("mechanism", ledger["mechanism"]),
            ("privacy unit", ledger["privacy_unit"]),
            ("rho (zCDP)", "n/a" if ledger["rho"] is None else f"{ledger['rho']:.4f}"),
            ("epsilon", "n/a (not private)" if eps is None else f"{eps:.3f}"),
            ("delta", f"{ledger['delta']:g}"),
            ("rounds run", ledger["rounds_run"]),
            ("privacy budget (epsilon)", ledger.get("privacy_budget") or "none"),
        ]
        + [(k, str(v)) for k, v in ledger["parameters"].items()],
    )
    comparison = html.table(
        ["run", "final eval accuracy", "epsilon", "noise multiplier"],
        [
            (
                LABELS.get(m, m),
                "n/a" if f["eval_accuracy"] is None else f"{f['eval_accuracy']:.4f}",
                "n/a" if f["epsilon"] is None else f"{f['epsilon']:.3f}",
                f"{f['noise_multiplier']:.4f}",
            )
            for m, f in finals.items()
        ],
    )
    return html.page(
        "DpFtrlTrainer: user-level private federated training",
        [
            ("Privacy", privacy),
            ("Accuracy and epsilon over rounds", curves_figure(histories)),
            ("Comparison (same clients, schedule, clipping and rho)", comparison),
            ("What the guarantee covers", _COVERAGE),
        ],
        subtitle=subtitle,
    )
