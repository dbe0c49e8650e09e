"""Small SVG drawing helpers for the server-rendered charts: scales, ticks, paths, axes.

Only geometry and markup live here; what is drawn (and every number in it) comes from `charts`.
Styling is by CSS class (`static/sigmd.css`), so the charts follow the page and its print stylesheet.

The charts scale with the page (a viewBox, no fixed size). On a narrow screen the stylesheet draws their
text larger in chart units (up to `MAX_FONT`) so that it stays legible once the chart is shrunk to fit,
and hides every other x-axis label (class `tick-alt`). Margins and label positions are laid out for that
largest size, so no label is clipped at any width.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH = 640
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 84, 20, 28, 60
MAX_FONT = 20
"""The largest font size (in chart units) the stylesheet gives chart text (on a narrow screen)."""
CHAR_WIDTH = 0.62
"""Width of one character of tick text, in ems (generous for digits and month names)."""
LABEL_GAP = 26
"""Least distance between two labelled y-axis ticks, in chart units, so labels of MAX_FONT never overlap."""
LOG_STEPS = (1, 2, 5)


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
class LogScale:
    """A logarithmic map from a positive data domain to a pixel range; values at or below `lo` sit at `lo`."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        value = min(max(value, self.lo), self.hi)
        span = math.log10(self.hi) - math.log10(self.lo)
        if span <= 0:
            return (self.start + self.end) / 2
        return self.start + (math.log10(value) - math.log10(self.lo)) / span * (self.end - self.start)


@dataclass(frozen=True)
class Frame:
    """A plotting area: pixel size, x and y scales."""

    height: int
    x: Scale
    y: Scale | LogScale

    @staticmethod
    def of(height: int, x_domain: tuple[float, float], y_domain: tuple[float, float], *, y_log: bool = False) -> Frame:
        y_scale = LogScale if y_log else Scale
        return Frame(
            height,
            Scale(x_domain[0], x_domain[1], MARGIN_LEFT, WIDTH - MARGIN_RIGHT),
            y_scale(y_domain[0], y_domain[1], height - MARGIN_BOTTOM, MARGIN_TOP),
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


def _log_series(lo: float, hi: float) -> list[float]:
    """The 1-2-5 values (…, 5, 10, 20, 50, 100, …) from the one at or below `lo` to the one at or above `hi`."""
    values: list[float] = []
    power = math.floor(math.log10(lo))
    while True:
        for step in LOG_STEPS:
            value = round(step * 10.0**power, 10)
            values.append(value)
            if value >= hi:
                below = [v for v in values if v <= lo * (1 + 1e-9)]
                return values[len(below) - 1 :] if below else values
        power += 1


def log_domain(values: list[float], floor: float = 1.0) -> tuple[float, float]:
    """A log axis's range: from the 1-2-5 value at or below the smallest value to the one above the largest.

    Values below `floor` (a censored `<0.5`, an absent result) are drawn at the floor.
    """
    positive = [max(v, floor) for v in values if v is not None]
    if not positive:
        return floor, floor * 10
    lo, hi = min(positive) / 1.1, max(positive) * 1.1
    series = _log_series(max(lo, floor), hi)
    return series[0], series[-1]


def log_ticks(frame: Frame) -> tuple[list[float], list[float]]:
    """Labelled and unlabelled ticks of a log y axis: 1-2-5 values where labels fit, else powers of ten.

    Labels are never closer than LABEL_GAP chart units; the 2s and 5s that have no room for a label keep
    their grid line.
    """
    lo, hi = frame.y.lo, frame.y.hi
    every = [v for v in _log_series(lo, hi) if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
    for keep in (LOG_STEPS, (1, 5), (1,)):
        labelled = [v for v in every if _mantissa(v) in keep]
        gaps = [abs(frame.y(a) - frame.y(b)) for a, b in itertools.pairwise(labelled)]
        if all(gap >= LABEL_GAP for gap in gaps):
            return labelled, [v for v in every if v not in labelled]
    return [every[0], every[-1]], every[1:-1]


def _mantissa(value: float) -> int:
    return round(value / 10.0 ** math.floor(math.log10(value) + 1e-9))


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


def text(
    x: float,
    y: float,
    content: str,
    css: str = "",
    anchor: str = "start",
    rotate: bool = False,
    centred: bool = False,
) -> str:
    """A label; `centred` puts its middle (not its baseline) at y, whatever the font size."""
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    klass = f' class="{css}"' if css else ""
    baseline = ' dominant-baseline="central"' if centred else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{baseline}{klass}{transform}>{escape(content)}</text>'


def text_width(content: str, font: float = MAX_FONT) -> float:
    """A generous estimate of the width of a label in chart units."""
    return len(content) * CHAR_WIDTH * font


def marker(x: float, y: float, comparator: str, css: str) -> str:
    """A circle for a measured value; a triangle pointing the way the true value lies for a censored one."""
    if comparator in ("<", "<="):
        return f'<path class="{css}" d="M{x - 5:.1f},{y - 4:.1f} L{x + 5:.1f},{y - 4:.1f} L{x:.1f},{y + 5:.1f} Z"/>'
    if comparator in (">", ">="):
        return f'<path class="{css}" d="M{x - 5:.1f},{y + 4:.1f} L{x + 5:.1f},{y + 4:.1f} L{x:.1f},{y - 5:.1f} Z"/>'
    return f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="4.5"/>'


def tick_label(value: float) -> str:
    return f"{value:g}"


def y_axis(frame: Frame, ticks: list[float], label: str, minor: list[float] | None = None) -> str:
    parts = [f'<line class="axis" x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.bottom}"/>']
    for tick in minor or ():
        y = frame.y(tick)
        parts.append(f'<line class="grid grid-minor" x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}"/>')
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}"/>')
        parts.append(f'<line class="axis" x1="{frame.left - 5}" y1="{y:.1f}" x2="{frame.left}" y2="{y:.1f}"/>')
        parts.append(text(frame.left - 8, y, tick_label(tick), "tick", "end", centred=True))
    parts.append(text(MAX_FONT, (frame.top + frame.bottom) / 2, label, "axis-label", "middle", rotate=True))
    return "".join(parts)


def x_axis(frame: Frame, ticks: list[tuple[float, str]], label: str) -> str:
    """The x axis with its tick labels; every other label is marked `tick-alt` (hidden on narrow screens) when
    more than four would share the axis, and a label near an edge is moved inward so it is never clipped."""
    parts = [f'<line class="axis" x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}"/>']
    alternate = len(ticks) > 4
    for index, (value, name) in enumerate(ticks):
        x = frame.x(value)
        half = text_width(name) / 2
        label_x = min(max(x, half + 2), WIDTH - half - 2)
        css = "tick tick-alt" if alternate and index % 2 else "tick"
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{frame.bottom}" x2="{x:.1f}" y2="{frame.bottom + 5}"/>')
        parts.append(text(label_x, frame.bottom + 6 + MAX_FONT, name, css, "middle"))
    parts.append(text((frame.left + frame.right) / 2, frame.height - 8, label, "axis-label", "middle"))
    return "".join(parts)


def document(element_id: str, height: int, title: str, description: str, body: str) -> Markup:
    """An inline SVG with a title and description that assistive technology reads out."""
    return Markup(
        f'<svg class="chart" id="{escape(element_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(element_id)}-title {escape(element_id)}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(element_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(element_id)}-desc">{escape(description)}</desc>{body}</svg>'
    )
