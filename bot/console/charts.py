"""Server-rendered SVG charts: no chart library, a title and description for screen readers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

__all__ = ["bar_chart", "line_chart"]

W, H = 600, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 24, 14, 34
COLOURS = ("#0b5394", "#b45f06", "#38761d", "#741b47")


def _frame(
    ident: str, title: str, desc: str, inner: list[str], y_max: float, ticks: Sequence[float]
) -> Markup:
    plot_h = H - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
    ]
    for tick in ticks:
        y = TOP + plot_h - (tick / y_max) * plot_h if y_max else TOP + plot_h
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{tick:g}</text>'
        )
    parts += inner
    parts.append("</svg>")
    return Markup("".join(parts))


def _x(index: int, count: int) -> float:
    span = W - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def line_chart(
    ident: str, title: str, points: Sequence[tuple[date, float]], *, y_max: float = 10
) -> Markup:
    """Draw values over time as a line with a dot per value (the pain-score trend)."""
    plot_h = H - TOP - BOTTOM
    coords = [
        (_x(i, len(points)), TOP + plot_h - (value / y_max) * plot_h)
        for i, (_, value) in enumerate(points)
    ]
    inner = []
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        inner.append(
            f'<polyline points="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>'
        )
    for (x, y), (day, _value) in zip(coords, points, strict=True):
        inner.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLOURS[0]}"/>')
        inner.append(
            f'<text x="{x:.1f}" y="{H - 12}" text-anchor="middle" font-size="11" '
            f'fill="#333">{day.strftime("%m-%d")}</text>'
        )
    first = f"{points[0][1]:g} on {points[0][0]}" if points else "no values"
    last = f"{points[-1][1]:g} on {points[-1][0]}" if points else ""
    desc = f"{len(points)} values from {first} to {last}; the table below lists each one."
    return _frame(ident, title, desc, inner, y_max, [0, y_max / 2, y_max])


def bar_chart(
    ident: str, title: str, days: Sequence[date], series: Mapping[str, Sequence[int]]
) -> Markup:
    """Draw daily counts as stacked bars, one colour per series, with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    y_max = max([*totals, 1])
    plot_h = H - TOP - BOTTOM
    slot = (W - LEFT - RIGHT) / max(len(days), 1)
    inner = []
    for i, day in enumerate(days):
        base: float = TOP + plot_h
        for colour, values in zip(COLOURS, series.values(), strict=False):
            height = values[i] / y_max * plot_h
            base -= height
            inner.append(
                f'<rect x="{LEFT + i * slot + 1:.1f}" y="{base:.1f}" '
                f'width="{max(slot - 2, 1):.1f}" height="{height:.1f}" fill="{colour}"/>'
            )
        if i % max(1, len(days) // 6) == 0:
            inner.append(
                f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{H - 12}" text-anchor="middle" '
                f'font-size="11" fill="#333">{day.strftime("%m-%d")}</text>'
            )
    for n, (name, colour) in enumerate(zip(series, COLOURS, strict=False)):
        x = LEFT + n * 110
        inner.append(
            f'<rect x="{x}" y="{H - 10}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{H - 1}" font-size="11" fill="#333">{escape(name)}</text>'
        )
    desc = f"{len(days)} days; {sum(totals)} in all; the table below lists each day."
    return _frame(ident, title, desc, inner, y_max, [0, y_max])
