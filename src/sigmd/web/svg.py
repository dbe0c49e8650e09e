"""Small SVG drawing helpers for the server-rendered charts: scales, ticks, paths, axes.

Only geometry and markup live here; what is drawn (and every number in it) comes from `charts`.
Styling is by CSS class (`static/sigmd.css`), so the charts follow the page and its print stylesheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH = 640
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 28, 44


@dataclass(frozen=True)
class Scale:
    """A linear map from a data domain to a pixel range."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


@dataclass(frozen=True)
class Frame:
    """A plotting area: pixel size, x and y scales."""

    height: int
    x: Scale
    y: Scale

    @staticmethod
    def of(height: int, x_domain: tuple[float, float], y_domain: tuple[float, float]) -> Frame:
        return Frame(
            height,
            Scale(x_domain[0], x_domain[1], MARGIN_LEFT, WIDTH - MARGIN_RIGHT),
            Scale(y_domain[0], y_domain[1], height - MARGIN_BOTTOM, MARGIN_TOP),
        )

    @property
    def left(self) -> float:
        return self.x.start

    @property
    def right(self) -> float:
        return self.x.end

    @property
    def top(self) -> float:
        return self.y.end

    @property
    def bottom(self) -> float:
        return self.y.start


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def nice_top(value: float) -> float:
    """A round upper bound at or above `value` (the top of a y axis)."""
    if value <= 0:
        return 1.0
    ticks = nice_ticks(0, value * 1.05, 5)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else value
    return ticks[-1] if ticks[-1] >= value else ticks[-1] + step


def date_ticks(start: date, end: date) -> list[date]:
    """First days of months (or of years, for long spans) between two dates."""
    span = (end - start).days
    months = 1 if span <= 200 else 3 if span <= 800 else 6 if span <= 1600 else 12 if span <= 4000 else 60
    ticks = []
    year, month = start.year, start.month
    while True:
        day = date(year, month, 1)
        if day > end:
            break
        if day >= start and (month - 1) % months == 0 and (months < 12 or year % (months // 12) == 0):
            ticks.append(day)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return ticks


def pad_dates(first: date, last: date) -> tuple[date, date]:
    margin = max(timedelta(days=30), (last - first) * 0.06)
    return first - margin, last + margin


def polyline(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if index == 0 else 'L'}{x:.1f},{y:.1f}" for index, (x, y) in enumerate(points))


def text(x: float, y: float, content: str, css: str = "", anchor: str = "start", rotate: bool = False) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}{transform}>{escape(content)}</text>'


def marker(x: float, y: float, comparator: str, css: str) -> str:
    """A circle for a measured value; a triangle pointing the way the true value lies for a censored one."""
    if comparator in ("<", "<="):
        return f'<path class="{css}" d="M{x - 5:.1f},{y - 4:.1f} L{x + 5:.1f},{y - 4:.1f} L{x:.1f},{y + 5:.1f} Z"/>'
    if comparator in (">", ">="):
        return f'<path class="{css}" d="M{x - 5:.1f},{y + 4:.1f} L{x + 5:.1f},{y + 4:.1f} L{x:.1f},{y - 5:.1f} Z"/>'
    return f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="4.5"/>'


def y_axis(frame: Frame, ticks: list[float], label: str) -> str:
    parts = [f'<line class="axis" x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.bottom}"/>']
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}"/>')
        parts.append(text(frame.left - 6, y + 4, f"{tick:g}", "tick", "end"))
    parts.append(text(16, (frame.top + frame.bottom) / 2, label, "axis-label", "middle", rotate=True))
    return "".join(parts)


def x_axis(frame: Frame, ticks: list[tuple[float, str]], label: str) -> str:
    parts = [f'<line class="axis" x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}"/>']
    for value, name in ticks:
        x = frame.x(value)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{frame.bottom}" x2="{x:.1f}" y2="{frame.bottom + 5}"/>')
        parts.append(text(x, frame.bottom + 18, name, "tick", "middle"))
    parts.append(text((frame.left + frame.right) / 2, frame.height - 6, label, "axis-label", "middle"))
    return "".join(parts)


def document(element_id: str, height: int, title: str, description: str, body: str) -> Markup:
    """An inline SVG with a title and description that assistive technology reads out."""
    return Markup(
        f'<svg class="chart" id="{escape(element_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(element_id)}-title {escape(element_id)}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(element_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(element_id)}-desc">{escape(description)}</desc>{body}</svg>'
    )
