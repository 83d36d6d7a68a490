"""Draw small charts as inline SVG, on the server: axes, ticks and units, colours from the page's theme.

No JavaScript and no vendored library: a chart is a few dozen elements, and drawing them here keeps the page
one HTML answer (fast, printable, readable with scripts blocked). Colours are CSS variables of the page
(``--ja-fg``, ``--ja-accent``...), so the light and dark themes apply to the charts too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 26, 36


@dataclass(frozen=True)
class Point:
    """One value at one moment; ``marked`` draws it hollow (e.g. a reconstructed snapshot)."""

    at: datetime
    value: float
    marked: bool = False
    label: str = ""


def nice_ticks(high: float, count: int = 4) -> list[float]:
    """Return round tick values from 0 to at least ``high`` (1, 2 or 5 times a power of ten apart)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)
    return [step * index for index in range(math.ceil(high / step) + 1)]


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _time_ticks(low: datetime, high: datetime) -> list[datetime]:
    span = (high - low).total_seconds()
    if span <= 0:
        return [low]
    return [low + timedelta(seconds=span * index / 3) for index in range(4)]


def _time_label(moment: datetime, span: timedelta) -> str:
    if span < timedelta(hours=1):
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%H:%M" if span < timedelta(days=2) else "%Y-%m-%d")


def _frame(title: str, y_unit: str, ticks: Sequence[float], y_of: object) -> list[str]:
    parts = [
        f'<svg class="ja-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="ja-axis"/>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'class="ja-axis"/>',
        # Above the plot, where the top tick's label cannot cover it.
        f'<text x="4" y="{TOP - 12}" class="ja-unit">{escape(y_unit)}</text>',
    ]
    for tick in ticks:
        y = y_of(tick)  # type: ignore[operator]
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="ja-grid"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(tick)}</text>')
    return parts


def line_chart(points: Sequence[Point], *, title: str, y_unit: str, x_unit: str = "UTC") -> str:
    """Return an SVG line chart of values over time; marked points are drawn hollow, with a legend."""
    if not points:
        return f'<p class="ja-muted">{escape(title)}: no data yet</p>'
    ordered = sorted(points, key=lambda point: point.at)
    low, high = ordered[0].at, ordered[-1].at
    span = high - low
    ticks = nice_ticks(max(point.value for point in ordered))
    top_value = ticks[-1] or 1.0
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(moment: datetime) -> float:
        seconds = span.total_seconds()
        share = 0.5 if seconds <= 0 else (moment - low).total_seconds() / seconds
        return LEFT + 8 + share * (plot_width - 16)

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - value / top_value)

    parts = _frame(title, y_unit, ticks, y_of)
    for moment in _time_ticks(low, high) if span.total_seconds() > 0 else [low]:
        x = x_of(moment)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_time_label(moment, span)}</text>"
        )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end" class="ja-unit">time ({x_unit})</text>'
    )
    real = [point for point in ordered if not point.marked]
    if len(real) > 1:
        path = " ".join(f"{x_of(p.at):.1f},{y_of(p.value):.1f}" for p in real)
        parts.append(f'<polyline points="{path}" class="ja-line"/>')
    for point in ordered:
        css = "ja-dot-marked" if point.marked else "ja-dot"
        tip = escape(
            f"{point.at:%Y-%m-%d %H:%M} UTC: {_number(point.value)} {y_unit}"
            + (f" ({point.label})" if point.label else "")
        )
        parts.append(
            f'<circle cx="{x_of(point.at):.1f}" cy="{y_of(point.value):.1f}" r="3.5" class="{css}">'
            f"<title>{tip}</title></circle>"
        )
    if any(point.marked for point in ordered):
        parts.append(
            f'<circle cx="{WIDTH - 150}" cy="{TOP + 4}" r="3.5" class="ja-dot-marked"/>'
            f'<text x="{WIDTH - 142}" y="{TOP + 8}">reconstructed</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(days: Sequence[tuple[datetime, int]], *, title: str, y_unit: str) -> str:
    """Return an SVG bar chart of one count per day (UTC days, oldest first)."""
    if not days:
        return f'<p class="ja-muted">{escape(title)}: no data yet</p>'
    ticks = nice_ticks(max(count for _, count in days))
    top_value = ticks[-1] or 1.0
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(days)

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - value / top_value)

    parts = _frame(title, y_unit, ticks, y_of)
    label_every = max(1, math.ceil(len(days) / 6))
    for index, (day, count) in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        y = y_of(count)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot * 0.7, 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" class="ja-bar">'
            f"<title>{day:%Y-%m-%d}: {count} {escape(y_unit)}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{day:%m-%d}</text>"
            )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end" class="ja-unit">day (UTC)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def day_of(moment: datetime) -> datetime:
    """Return the UTC day (midnight) a moment falls on."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
