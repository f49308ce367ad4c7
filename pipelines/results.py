"""A run's headline results: each technique's figure against its baseline.

Each shipped pipeline module (`cli.PIPELINES`) has `results(run) ->
list[Result]`, read from what ML Metadata recorded of the run (artifact
properties) and from files its artifacts hold. The same `Result`s give the
terminal's summary lines (`Result.sentence`), the run page's results panel
(a small plot each, `report`) and `frontier runs`' headline figures
(`Result.headline`), so the three never disagree.

Spread. A demo run trains each model once, so the spread it can state is
that of its evaluation set: for two models scored on the same examples,
the standard error of the paired difference of their per-example
correctness (`metrics.paired_difference`, which `EvaluationReport`
records as `accuracy_difference_se`); for a single accuracy, the binomial
standard error. Seed-to-seed spread is what the benchmarks measure.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence

from frontier.pipelines.runs import RunRecord


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar of a comparison.

    Attributes:
      label: what was trained (e.g. "KIP", "random subset").
      value: its figure, in the `Result`'s `metric` (accuracy in [0, 1]).
      spread: one standard error of `value` (an error bar), or None.
      group: bars with the same group are drawn side by side (e.g. the
        support size "10/class"); "" for a single group.
      baseline: whether this bar is the comparison's baseline (drawn muted).
    """

    label: str
    value: float
    spread: float | None = None
    group: str = ""
    baseline: bool = False


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a line plot: `y[i]` at `x[i]` (e.g. accuracy per round)."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    baseline: bool = False


@dataclasses.dataclass(frozen=True)
class Result:
    """One technique's comparison in one run.

    Attributes:
      technique: "Model", "KIP", "CIW", "SPL" or "DP-FTRL".
      title: what is compared, e.g. "DP-FTRL vs DP-FedAvg at epsilon 8.0".
      sentence: one sentence saying what the comparison shows, with the
        spread where the difference is within it.
      headline: a short figure for `frontier runs`, e.g. "CIW 0.93 vs CE 0.81".
      metric: the unit of the bars and of the series' y (e.g. "eval accuracy").
      bars: the figures compared (a bar chart), in drawing order.
      series: lines over `x_label` (e.g. accuracy over rounds), drawn as a
        second small plot when given.
      x_label: the series' x axis.
      series_metric: the series' y unit when it differs from `metric`.
    """

    technique: str
    title: str
    sentence: str
    headline: str
    metric: str = "eval accuracy"
    bars: tuple[Bar, ...] = ()
    series: tuple[Series, ...] = ()
    x_label: str = ""
    series_metric: str = ""


def binomial_se(accuracy: float, n: int) -> float:
    """The standard error sqrt(p (1 - p) / n) of an accuracy p on n examples."""
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n) if n > 0 else 0.0


def within_noise(difference: float, se: float | None, z: float = 2.0) -> bool:
    """Whether |difference| is within `z` standard errors (always False without one)."""
    return se is not None and abs(difference) <= z * se


@dataclasses.dataclass(frozen=True)
class Paired:
    """A model's eval accuracy against its baseline's on the same examples.

    Attributes:
      name, baseline_name: what the two are, in words.
      value, baseline: their accuracies in [0, 1].
      se: the standard error of `value - baseline` (paired on the same
        examples), or None when the run did not record one.
      examples: the number of eval examples (None when not recorded).
    """

    name: str
    value: float
    baseline_name: str
    baseline: float
    se: float | None = None
    examples: int | None = None

    @property
    def difference(self) -> float:
        return self.value - self.baseline

    @property
    def within_noise(self) -> bool:
        """|difference| within 2 standard errors (False without one)."""
        return within_noise(self.difference, self.se)

    def bars(self, group: str = "") -> tuple[Bar, Bar]:
        """The model's bar and the baseline's, with binomial error bars."""
        n = self.examples or 0
        spread = (lambda p: binomial_se(p, n)) if n else (lambda p: None)
        return (
            Bar(self.name, self.value, spread(self.value), group),
            Bar(self.baseline_name, self.baseline, spread(self.baseline), group, baseline=True),
        )

    def words(self) -> str:
        """E.g. "CIW 0.931 beats CE 0.812 by 0.119 (+- 0.021, 1 s.e. on 360 eval
        examples)", or "... : the difference (-0.005 +- 0.012, ...) is within noise"."""
        return compare_words(
            self.name, self.value, self.baseline_name, self.baseline, self.se, self.examples
        )


def paired_from_report(props: dict, name: str, baseline_name: str) -> Paired | None:
    """A `Paired` from an `EvaluationReport`'s properties (`accuracy`,
    `baseline_accuracy`, `accuracy_difference_se`, `examples`); None without a baseline."""
    base = props.get("baseline_accuracy")
    if not isinstance(base, float) or not isinstance(props.get("accuracy"), float):
        return None
    se = props.get("accuracy_difference_se")
    n = props.get("examples")
    return Paired(
        name,
        props["accuracy"],
        baseline_name,
        base,
        se if isinstance(se, float) else None,
        n if isinstance(n, int) else None,
    )


def against_shared_baseline(
    reports: dict[str, dict], name_of: dict[str, str], baseline_name: str
) -> tuple[list[Paired], tuple[Bar, ...]]:
    """Comparisons whose `EvaluationReport`s share one baseline model (CIW's
    methods against CE, SPL's strategies against no pre-training).

    Args:
      reports: `run.properties(prefix, "accuracy")`: per name, a report's properties.
      name_of: words for a name (the name itself when absent).
      baseline_name: words for the shared baseline.

    Returns:
      (a `Paired` per report that has a baseline, in order; the bars: the
      baseline's first, then each model's).
    """
    pairs = []
    for name, props in reports.items():
        paired = paired_from_report(props, name_of.get(name, name), baseline_name)
        if paired is not None:
            pairs.append(paired)
    if not pairs:
        return [], ()
    base, n = pairs[0], pairs[0].examples or 0
    spread = binomial_se(base.baseline, n) if n else None
    bars = (Bar(baseline_name, base.baseline, spread, baseline=True),)
    return pairs, bars + tuple(p.bars()[0] for p in pairs)


def compare_words(
    name: str,
    value: float,
    baseline_name: str,
    baseline: float,
    se: float | None,
    n: int | None = None,
) -> str:
    """Which of the two is ahead and by how much, or that the difference is within
    noise (2 standard errors), with the spread when there is one."""
    diff = value - baseline
    spread = f"+- {se:.3f}, 1 s.e." + (f" on {n} eval examples" if n else "") if se else ""
    if within_noise(diff, se):
        return (
            f"{name} {value:.3f} vs {baseline_name} {baseline:.3f}: the difference"
            f" ({diff:+.3f} {spread}) is within noise"
        )
    verb = "beats" if diff > 0 else "trails"
    return f"{name} {value:.3f} {verb} {baseline_name} {baseline:.3f} by {abs(diff):.3f}" + (
        f" ({spread})" if spread else ""
    )


def tally(pairs: Sequence[Paired]) -> str:
    """How many of `pairs` the model wins, loses and ties within noise, in words."""
    wins = sum(p.difference > 0 and not p.within_noise for p in pairs)
    losses = sum(p.difference < 0 and not p.within_noise for p in pairs)
    ties = len(pairs) - wins - losses
    parts = [f"ahead in {wins}", f"behind in {losses}"]
    if ties:
        parts.append(f"within noise in {ties}")
    return f"{', '.join(parts)} of {len(pairs)}"


def summary_lines(results: Sequence[Result]) -> list[str]:
    """The terminal's line per comparison: "<technique>: <sentence>" (results that
    only draw lines over rounds, with no figures compared, are left to the page)."""
    return [f"{r.technique}: {r.sentence}" for r in results if r.bars]


def results_of(run: RunRecord, modules: Sequence[str] | None = None) -> list[Result]:
    """The `results` of the shipped pipeline module whose `PIPELINE_NAME` is the run's
    pipeline ([] for a pipeline that is not shipped)."""
    if modules is None:
        from frontier.pipelines.cli import PIPELINES

        modules = tuple(PIPELINES.values())
    for name in modules:
        module = importlib.import_module(name)
        if getattr(module, "PIPELINE_NAME", None) == run.pipeline:
            return list(module.results(run))
    return []
