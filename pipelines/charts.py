"""Small inline SVG charts for the run page's results panel (`report`).

Pure functions from `results.Bar`s and `results.Series` to one `<svg>`
element each, fixed at `WIDTH` x `HEIGHT` pixels: no script, no font or image
from elsewhere (the system-ui font family), every text escaped, and the same
input always gives the same bytes (numbers are written with fixed precision).

Conventions shared by both charts:
  - Baselines are muted: grey fills (bars) and grey dashed lines (series);
    the others take the palette's colours. Colour is never the only cue:
    bars are named under the axis or in a legend and carry their value,
    lines are named in a legend.
  - The y axis' unit is written across the top left, above the legend.
  - The y axis need not start at 0: close accuracies (0.95 vs 0.96) would
    be indistinguishable on a 0-1 axis, so the axis starts at a round value
    below the lowest figure when every figure is well above 0, and the unit
    then says where it starts ("eval accuracy (axis from 0.90)").
  - Empty input (no bars, or no series with points) returns "": the caller
    leaves the chart out. Malformed input (a series whose x and y differ in
    length, a value that is not finite) raises ValueError.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from frontier.pipelines.results import Bar, Series

WIDTH, HEIGHT = 360, 200  # pixels, every chart
_FONT = 'font-family="system-ui,sans-serif"'
# Margins (px) around the plot area: room for the y tick labels on the left, the x
# labels and x axis label below; the unit and the legend's rows go above (`_head`).
_LEFT, _RIGHT, _TOP, _BOTTOM = 50, 10, 10, 34
_LEGEND_ROW = 14  # px per legend row
_PALETTE = ("#1a73e8", "#e37400", "#1e8e3e", "#9334e6", "#d93025", "#12b5cb")
_MUTED = ("#80868b", "#a8adb3", "#5f6368", "#c4c7ca")
_DASHES = ("5 3", "2 2", "8 3 2 3", "1 3")
# px per character at font-size 10 and 9, for fitting labels (estimates for system-ui)
_CHAR_W, _CHAR_W9 = 5.6, 5.0
_VALUE_ROOM = 12  # px above the highest tick, for the value written over a bar


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(v: float) -> str:
    """A coordinate with one decimal: enough for pixels, and stable across platforms."""
    return f"{v:.1f}"


def _label(v: float, step: float) -> str:
    """A tick or value label with as many decimals as `step` needs (at least 0)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 3
    return f"{v:.{min(decimals, 6)}f}"


def _value(v: float) -> str:
    """A bar's value label: three decimals for figures below 10 (accuracies), fewer above."""
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def _short(text: str, width_px: float, char_w: float = _CHAR_W) -> str:
    """`text` cut with an ellipsis to fit `width_px`, at `char_w` px per character."""
    fit = max(1, int(width_px / char_w))
    return text if len(text) <= fit else text[: max(1, fit - 1)] + "\u2026"


def nice_step(span: float, intervals: int = 5) -> float:
    """The smallest round tick step (1, 2 or 5 times a power of ten) that cuts
    `span` into at most `intervals` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    power = 10.0 ** math.floor(math.log10(span / intervals))
    for m in (1.0, 2.0, 5.0, 10.0):
        if span / (m * power) <= intervals * (1 + 1e-9):
            return m * power
    return 10.0 * power


def axis_range(low: float, high: float) -> tuple[float, float, float]:
    """(start, end, tick step) of a y axis that shows values in [low, high].

    The axis starts at 0 when every value is non-negative and the lowest is
    below half of the highest (bars from 0 are then readable and honest);
    otherwise at a round value a little below `low` (15 % of the range), so
    that differences of a few hundredths stay visible. Both ends are
    multiples of the step.

    Raises:
      ValueError: `low` or `high` is not finite.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"axis_range: values must be finite, got [{low}, {high}]")
    if high < low:
        low, high = high, low
    if high == low:  # one value: a range around it
        low, high = low - (abs(low) or 1.0) * 0.05, high + (abs(high) or 1.0) * 0.05
    floor = 0.0 if 0 <= low < 0.5 * high else low - 0.15 * (high - low)
    if low >= 0:
        floor = max(floor, 0.0)
    step = nice_step(high - floor)
    start = math.floor(floor / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    return start, max(end, start + step), step


def _legend(entries: list[tuple[str, str, str]], y0: float) -> tuple[list[str], float]:
    """Legend items `(label, colour, kind)` (kind "bar", "line" or "dash:<pattern>") laid
    out left to right from the plot's left edge, the first row's baseline at `y0`
    px, wrapping onto new rows.

    Returns:
      (the SVG elements, the height in px the legend takes).
    """
    out, x, row = [], float(_LEFT), 0
    for label, colour, kind in entries:
        text = _short(label, WIDTH - _LEFT - _RIGHT - 20)
        need = 18 + _CHAR_W * len(text) + 10
        if x + need > WIDTH - _RIGHT and x > _LEFT:
            x, row = float(_LEFT), row + 1
        y = y0 + row * _LEGEND_ROW
        if kind == "bar":
            swatch = (
                f'<rect x="{_num(x)}" y="{_num(y - 8)}" width="12" height="9" fill="{colour}"/>'
            )
        else:
            dash = f' stroke-dasharray="{kind[5:]}"' if kind.startswith("dash:") else ""
            swatch = (
                f'<line x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 14)}" y2="{_num(y - 4)}" '
                f'stroke="{colour}" stroke-width="2"{dash}/>'
            )
        out.append(
            f'<g class="legend">{swatch}<text x="{_num(x + 18)}" y="{_num(y)}">'
            f"<title>{_e(label)}</title>{_e(text)}</text></g>"
        )
        x += need
    return out, (row + 1) * _LEGEND_ROW if entries else 0


def _colours(keys: list[tuple[str, bool]]) -> dict[tuple[str, bool], str]:
    """A colour per (label, baseline), in order of first appearance: palette or muted."""
    found: dict[tuple[str, bool], str] = {}
    counts = {False: 0, True: 0}
    for key in keys:
        if key not in found:
            pool = _MUTED if key[1] else _PALETTE
            found[key] = pool[counts[key[1]] % len(pool)]
            counts[key[1]] += 1
    return found


def _head(
    metric: str, start: float, step: float, entries: list[tuple[str, str, str]]
) -> tuple[list[str], float]:
    """The chart's head: the y axis' unit across the top left, saying where the
    axis starts when that is not 0 (bar heights are then not proportional to
    the values), then the legend's rows.

    Returns:
      (the SVG elements, the y in px where the plot area may begin).
    """
    label = metric
    if start != 0:
        where = f"axis from {_label(start, step)}"
        label = f"{metric} ({where})" if metric else where
    out, y = [], float(_TOP)
    if label:
        y += _LEGEND_ROW
        out.append(
            f'<text class="axis-label" x="4" y="{_num(y - 4)}"><title>{_e(label)}</title>'
            f"{_e(_short(label, WIDTH - 8))}</text>"
        )
    legend, height = _legend(entries, y + _LEGEND_ROW - 4)
    # Many long legend entries would leave no plot: it keeps 60 px, the legend overlaps.
    return out + legend, min(y + height + 6, HEIGHT - _BOTTOM - 60)


def _y_axis(start: float, end: float, step: float, top: float, bottom: float):
    """Grid lines and tick labels from `start` (at `bottom`) to `end` (at `top`), px.

    Returns:
      (the SVG elements, a function from a value to its y in px).
    """

    def y_of(v: float) -> float:
        return bottom - (v - start) / (end - start) * (bottom - top)

    out = []
    for i in range(int(round((end - start) / step)) + 1):
        v = start + i * step  # by index: adding the step up would drift
        y = y_of(v)
        out.append(
            f'<line class="grid" x1="{_LEFT}" y1="{_num(y)}" x2="{WIDTH - _RIGHT}" '
            f'y2="{_num(y)}" stroke="#e8eaed"/>'
            f'<text x="{_LEFT - 4}" y="{_num(y + 3)}" text-anchor="end">{_label(v, step)}</text>'
        )
    return out, y_of


def _open(kind: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" {_FONT} '
        f'font-size="10" fill="#3c4043"><title>{_e(title)}</title>'
    )


def _finite(values: Sequence[float], what: str) -> None:
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"{what}: values must be finite, got {v}")


def bar_chart(bars: Sequence[Bar], metric: str = "", title: str = "") -> str:
    """A grouped bar chart of `bars`, as one `<svg>` element `WIDTH` x `HEIGHT` px.

    Bars with the same `group` stand side by side, groups in order of first
    appearance, named under the x axis; a legend names the bars' labels (one
    colour per label). When every bar's group is "" the bars are named under
    the axis instead, all but the baselines in one colour, and there is no
    legend. A single bar's axis starts at 0. Each bar carries its value
    above it and, when its `spread` is not None, an error bar of +-1 spread
    (one standard error; 0 draws a flat one); `baseline` bars are grey.

    Args:
      bars: the figures, in drawing order.
      metric: the y axis' unit (e.g. "eval accuracy"); when the axis does not
        start at 0 the label says where it starts.
      title: the chart's tooltip / accessible name.

    Returns:
      The SVG text, or "" when `bars` is empty.

    Raises:
      ValueError: a value or spread that is not finite, or a negative spread.
    """
    if not bars:
        return ""
    _finite([b.value for b in bars], "bar_chart")
    _finite([b.spread for b in bars if b.spread is not None], "bar_chart spread")
    if any(b.spread is not None and b.spread < 0 for b in bars):
        raise ValueError("bar_chart: a spread is one standard error and cannot be negative")
    groups: dict[str, list[Bar]] = {}
    for b in bars:
        groups.setdefault(b.group, []).append(b)
    named_groups = list(groups) != [""]
    if named_groups:  # a colour per label, named in the legend
        colour = _colours([(b.label, b.baseline) for b in bars])
    else:  # labels under the bars: one colour for the compared, greys for baselines
        colour = _colours([(b.label, b.baseline) for b in bars if b.baseline])
        colour.update({(b.label, False): _PALETTE[0] for b in bars if not b.baseline})
        groups = {b.label: [b] for b in bars}  # one slot per bar, named by its label
    low = min(b.value - (b.spread or 0.0) for b in bars)
    high = max(b.value + (b.spread or 0.0) for b in bars)
    # One bar compares with nothing: from 0, its height is its value.
    start, end, step = axis_range(min(low, 0.0) if len(bars) == 1 else low, high)
    entries = [(label, c, "bar") for (label, _), c in colour.items()] if named_groups else []
    head, top = _head(metric, start, step, entries)
    bottom = HEIGHT - _BOTTOM
    axis, y_of = _y_axis(start, end, step, top + _VALUE_ROOM, bottom)
    out = [_open("bars", title or metric or "bar chart"), *head, *axis]
    slot = (WIDTH - _LEFT - _RIGHT) / len(groups)  # px per group
    for gi, (group, members) in enumerate(groups.items()):
        bar_w = min(48.0, slot * 0.8 / len(members))
        x0 = _LEFT + gi * slot + (slot - bar_w * len(members)) / 2
        for bi, b in enumerate(members):
            x = x0 + bi * bar_w
            y = y_of(max(b.value, start))
            spread = f" +- {b.spread:.3f}" if b.spread is not None else ""
            tip = f"{b.label}{' (' + b.group + ')' if b.group else ''}: {b.value:.4f}{spread}"
            base = " baseline" if b.baseline else ""
            out.append(
                f'<g class="bar{base}"><title>{_e(tip)}</title>'
                f'<rect x="{_num(x + 1)}" y="{_num(y)}" width="{_num(bar_w - 2)}" '
                f'height="{_num(bottom - y)}" fill="{colour[(b.label, b.baseline)]}"/></g>'
            )
            cx, label_y = x + bar_w / 2, y
            if b.spread is not None:
                lo, hi = (
                    y_of(min(max(v, start), end)) for v in (b.value - b.spread, b.value + b.spread)
                )
                cap = min(4.0, bar_w / 4)
                out.append(
                    f'<path class="error-bar" d="M{_num(cx)},{_num(lo)}V{_num(hi)}'
                    f"M{_num(cx - cap)},{_num(lo)}H{_num(cx + cap)}"
                    f'M{_num(cx - cap)},{_num(hi)}H{_num(cx + cap)}" stroke="#202124" '
                    'stroke-width="1" fill="none"/>'
                )
                label_y = min(label_y, hi)
            small = ' font-size="9"' if bar_w < 34 else ""  # "0.984" must fit its bar
            out.append(
                f'<text class="value" x="{_num(cx)}" y="{_num(label_y - 3)}"{small} '
                f'text-anchor="middle">{_value(b.value)}</text>'
            )
        out.append(
            f'<text x="{_num(_LEFT + gi * slot + slot / 2)}" y="{bottom + 13}" font-size="9" '
            f'text-anchor="middle"><title>{_e(group)}</title>'
            f"{_e(_short(group, slot - 4, _CHAR_W9))}</text>"
        )
    out.append(
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{WIDTH - _RIGHT}" y2="{bottom}" stroke="#5f6368"/>'
    )
    out.append("</svg>")
    return "".join(out)


def line_chart(
    series: Sequence[Series], x_label: str = "", metric: str = "", title: str = ""
) -> str:
    """A line chart of `series`, as one `<svg>` element `WIDTH` x `HEIGHT` px.

    One line per series (points marked when a series has at most 12), x and y
    ticks, `x_label` under the x axis, `metric` beside the y axis (saying
    where it starts when not at 0), a legend naming every series; baselines
    are grey and dashed, each with its own dash pattern.

    Args:
      series: the lines, in drawing order (later ones on top).
      x_label: the x axis' name and unit (e.g. "round").
      metric: the y axis' unit (e.g. "eval accuracy").
      title: the chart's tooltip / accessible name.

    Returns:
      The SVG text, or "" when no series has a point.

    Raises:
      ValueError: a series whose x and y differ in length, or a value that is
        not finite.
    """
    for s in series:
        if len(s.x) != len(s.y):
            raise ValueError(
                f"line_chart: series {s.label!r} has {len(s.x)} x and {len(s.y)} y values"
            )
        _finite([*s.x, *s.y], f"line_chart series {s.label!r}")
    drawn = [s for s in series if s.x]
    if not drawn:
        return ""
    colour = _colours([(s.label, s.baseline) for s in drawn])
    dashes: dict[tuple[str, bool], str] = {}
    for key in colour:
        if key[1]:
            dashes[key] = _DASHES[len(dashes) % len(_DASHES)]
    entries = [
        (label, c, f"dash:{dashes[(label, b)]}" if b else "line")
        for (label, b), c in colour.items()
    ]
    ys = [v for s in drawn for v in s.y]
    start, end, step = axis_range(min(ys), max(ys))
    head, top = _head(metric, start, step, entries)
    bottom = HEIGHT - _BOTTOM
    axis, y_of = _y_axis(start, end, step, top, bottom)
    xs = [v for s in drawn for v in s.x]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    x_step = nice_step(x_hi - x_lo)
    plot_l, plot_r = _LEFT + 4, WIDTH - _RIGHT - 4

    def x_of(v: float) -> float:
        return plot_l + (v - x_lo) / (x_hi - x_lo) * (plot_r - plot_l)

    out = [_open("lines", title or metric or "line chart"), *head, *axis]
    # Ticks by integer index: adding the step up would drift and differ between platforms.
    for k in range(math.ceil(x_lo / x_step - 1e-9), math.floor(x_hi / x_step + 1e-9) + 1):
        tick = k * x_step
        x = x_of(tick)
        out.append(
            f'<line x1="{_num(x)}" y1="{bottom}" x2="{_num(x)}" y2="{bottom + 3}" stroke="#5f6368"/>'
            f'<text x="{_num(x)}" y="{bottom + 13}" text-anchor="middle">{_label(tick, x_step)}</text>'
        )
    out.append(
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{WIDTH - _RIGHT}" y2="{bottom}" stroke="#5f6368"/>'
    )
    if x_label:
        out.append(
            f'<text class="axis-label" x="{_num((_LEFT + WIDTH - _RIGHT) / 2)}" '
            f'y="{HEIGHT - 6}" text-anchor="middle">{_e(x_label)}</text>'
        )
    for s in drawn:
        key = (s.label, s.baseline)
        points = " ".join(f"{_num(x_of(x))},{_num(y_of(y))}" for x, y in zip(s.x, s.y, strict=True))
        dash = f' stroke-dasharray="{dashes[key]}"' if s.baseline else ""
        marks = ""
        if len(s.x) <= 12:
            marks = "".join(
                f'<circle cx="{_num(x_of(x))}" cy="{_num(y_of(y))}" r="2" fill="{colour[key]}"/>'
                for x, y in zip(s.x, s.y, strict=True)
            )
        last = f"{s.label}: {s.y[-1]:.4f} at {x_label or 'x'} {s.x[-1]:g}"
        out.append(
            f'<g class="series{" baseline" if s.baseline else ""}"><title>{_e(last)}</title>'
            f'<polyline points="{points}" fill="none" stroke="{colour[key]}" '
            f'stroke-width="{1.5 if s.baseline else 2}"{dash}/>{marks}</g>'
        )
    out.append("</svg>")
    return "".join(out)
