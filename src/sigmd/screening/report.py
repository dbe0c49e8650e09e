"""The screening report: one self-contained HTML page for readers (inline CSS and SVG; no scripts, nothing fetched).

Everything shown comes from summary.json and the IgM points of the assessed patients. Labels and terms are
worded by `sigmd.core.explain`; percentages carry their 95% intervals (Wilson unless said otherwise); every
chart has a text alternative and a table with the same numbers; the page reads at 390 px and prints.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sigmd
from sigmd.core.explain import LABEL_WORDS, label_words
from sigmd.screening.prevalence import AGE_BANDS, age_band, wilson

if TYPE_CHECKING:
    from sigmd.core.knowledge import Knowledge

Point = tuple[float, float, float | None, bool]
"""(age in years, IgM mg/dL, age-matched low limit or None, below the limit)."""

MAX_POINTS = 5000
"""At most this many IgM results are drawn (all are counted in the table under the plot)."""

WIDTH = 480
FONT = 14
INK, MUTED, GRID = "#1a1a1a", "#4a4a4a", "#d5d5d5"
LOW_COLOUR, NOT_LOW_COLOUR, POINT_COLOUR, BAR_COLOUR = "#b3261e", "#1f5f99", "#0f6e5c", "#5b3f8c"

SEXES = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Sex not recorded"}
GROUPS = {"all": "All patients", "children (<18)": "Children (under 18)", "adults (18+)": "Adults (18 and over)"}
POPULATIONS = {"adults": "adults (18+)", "children": "children (<18)"}
"""A published figure's population, as the screen's age group of the same people."""
FIELDS = {
    "patient_id": "patient ID",
    "birth_date": "birth date",
    "collected_date": "collection date",
    "loinc": "test code (LOINC)",
    "ref_low": "laboratory range, low end",
    "ref_high": "laboratory range, high end",
    "row_no": "row number",
}
"""Input columns named in reject reasons, in words."""
FUNNEL_WORDS = {
    "patients_with_low_igm": "At least one IgM result below the age-matched limit",
    "isolated_low_igm": "Latest IgM low, with normal IgG and IgA",
    "persistent": "… and IgM persistently low",
    "secondary_excluded": "… and secondary causes excluded",
    "workup_complete": "… and every ESID criterion assessed",
    "esid_met": "… and every ESID criterion met",
}
RESULT_STEPS = frozenset({"low_igm_results"})
"""Funnel steps that count results, not patients: stated in words, never drawn as a step."""
LABEL_ORDER = ("complete_sigmd", "partial_sigmd", "isolated_low_igm", "secondary_low_igm", *LABEL_WORDS)


class Html(str):
    """Text that is already HTML (escaped where needed); everything else is escaped on the way in."""

    __slots__ = ()


def esc(value: object) -> str:
    return value if isinstance(value, Html) else html.escape(str(value), quote=True)


# Numbers ------------------------------------------------------------------------------------------------------


def count(n: int) -> str:
    return f"{n:,}"


def compact(n: int) -> str:
    """`1,234` below 10,000; `12k` and `1.2M` above, for labels in a narrow space."""
    if n < 10_000:
        return count(n)
    return f"{n / 1000:.0f}k" if n < 999_500 else f"{n / 1_000_000:.1f}M"


def _decimals(proportion: float) -> int:
    pct = 100 * proportion
    return 1 if pct >= 1 else 2 if pct >= 0.1 else 3


def _pct_number(proportion: float, decimals: int) -> str:
    return "0" if proportion == 0 else f"{100 * proportion:.{decimals}f}"


def percent(proportion: float, low: float | None = None, high: float | None = None) -> str:
    """`1.2% (0.9–1.6%)`: one number of decimals for the estimate and its bounds, enough for rare conditions."""
    decimals = _decimals(proportion if proportion > 0 else (high or 0.0))
    text = f"{_pct_number(proportion, decimals)}%"
    if low is None or high is None:
        return text
    return f"{text} ({_pct_number(low, decimals)}–{_pct_number(high, decimals)}%)"


def interval(low: float, high: float, proportion: float) -> str:
    """A 95% interval alone, `0.9–1.6%`, rounded as `percent` rounds its estimate."""
    decimals = _decimals(proportion if proportion > 0 else high)
    return f"{_pct_number(low, decimals)}–{_pct_number(high, decimals)}%"


def quoted(proportion: float, low: float, high: float) -> str:
    """`1.2%, 95% CI 0.9–1.6%`, for a sentence."""
    return f"{percent(proportion)}, 95% CI {interval(low, high, proportion)}"


def share(part: int, total: int) -> str:
    """`part` of `total` as a percentage with its Wilson 95% interval, or a dash without a denominator."""
    if total <= 0:
        return "–"
    low, high = wilson(part, total)
    return percent(part / total, low, high)


def nice_ticks(top: float, wanted: int = 5) -> list[float]:
    """Ticks from 0 in steps of 1, 2, 2.5 or 5 × 10^k, the last at or above `top`."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / wanted
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def tick_text(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * step:
        decimals += 1
    return f"{value:,.{decimals}f}"


# Words ----------------------------------------------------------------------------------------------------------


def group_words(stratum: str, group: str) -> str:
    if stratum == "age_band":
        start, _, end = group.rstrip("+").partition("-")
        return f"{start} years and over" if group.endswith("+") else f"{start}–{end} years"
    if stratum == "sex":
        return SEXES.get(group, group.replace("_", " ").capitalize())
    return GROUPS.get(group, group)


def band_words(band: str) -> str:
    return band.replace("-", "–")


def field_words(field: str) -> str:
    return FIELDS.get(field, field.replace("_", " "))


@dataclass(frozen=True)
class Names:
    """The names of the reference sets and rule profiles, as the content gives them."""

    reference_sets: dict[str, str]
    profiles: dict[str, str]

    @classmethod
    def of(cls, knowledge: Knowledge | None) -> Names:
        if knowledge is None:
            from sigmd import content

            knowledge = content.load()
        return cls(
            {k: v.name for k, v in knowledge.reference_sets.items()},
            {k: v.name for k, v in knowledge.profiles.items()},
        )

    def reference_set(self, set_id: str) -> str:
        return self.reference_sets.get(set_id, set_id)

    def profile(self, profile_id: str) -> str:
        return self.profiles.get(profile_id, profile_id)


# Tables ---------------------------------------------------------------------------------------------------------


SLASH = re.compile(r"/(?=[A-Za-z])")
"""A slash between words (`allergy/immunology`), where a row header may wrap."""


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False


def number_cell(value: object) -> str:
    """A numeric cell that may wrap only between its parts (`3`, `2.7%`, `(2.0–3.7%)`), so narrow screens reflow it."""
    if isinstance(value, Html):
        return value
    return " ".join(f'<span class="nw">{esc(part)}</span>' for part in str(value).split(" "))


def table(
    table_id: str,
    caption: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
) -> str:
    """A table whose first cell of each row is its row header, in a labelled, focusable scroll container.

    The container keeps a table that is wider than a narrow screen from scrolling the page sideways.
    """
    caption_id = f"{table_id}-caption"
    head = "".join(f'<th scope="col"{" class=num" if c.numeric else ""}>{esc(c.title)}</th>' for c in columns)
    lines = []
    for row in rows:
        cells = [f'<th scope="row">{SLASH.sub("/<wbr>", esc(row[0]))}</th>']
        for column, value in zip(columns[1:], row[1:], strict=True):
            cells.append(f"<td class=num>{number_cell(value)}</td>" if column.numeric else f"<td>{esc(value)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    markup = (
        f'<table id="{table_id}"><caption id="{caption_id}">{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    )
    return f'<div class="table-wrap" role="region" tabindex="0" aria-labelledby="{caption_id}">{markup}</div>'


# Charts ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A plot area inside a WIDTH-wide viewBox, with room for tick labels and axis titles on every side."""

    height: int
    left: int = 78
    right: int = 22
    top: int = 20
    bottom: int = 60

    @property
    def x0(self) -> float:
        return float(self.left)

    @property
    def x1(self) -> float:
        return float(WIDTH - self.right)

    @property
    def y0(self) -> float:
        return float(self.height - self.bottom)

    @property
    def y1(self) -> float:
        return float(self.top)

    def x(self, value: float, top: float) -> float:
        return self.x0 + (value / top if top else 0.0) * (self.x1 - self.x0)

    def y(self, value: float, top: float) -> float:
        return self.y0 - (value / top if top else 0.0) * (self.y0 - self.y1)


def svg(height: int, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{esc(label)}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'font-size="{FONT}" fill="{INK}">{body}</svg>'
    )


def y_axis(frame: Frame, ticks: Sequence[float], title: str) -> str:
    top = ticks[-1]
    out = []
    for tick in ticks:
        y = frame.y(tick, top)
        out.append(f'<line x1="{frame.x0}" y1="{y:.1f}" x2="{frame.x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{frame.x0 - 7}" y="{y + 4.5:.1f}" text-anchor="end">{tick_text(tick, ticks)}</text>')
    middle = (frame.y0 + frame.y1) / 2
    out.append(
        f'<text x="16" y="{middle:.1f}" transform="rotate(-90 16 {middle:.1f})" text-anchor="middle">{esc(title)}</text>'
    )
    out.append(f'<line x1="{frame.x0}" y1="{frame.y0}" x2="{frame.x0}" y2="{frame.y1}" stroke="{INK}"/>')
    return "".join(out)


def x_axis(frame: Frame, ticks: Sequence[float], title: str) -> str:
    top = ticks[-1]
    out = [f'<line x1="{frame.x0}" y1="{frame.y0}" x2="{frame.x1}" y2="{frame.y0}" stroke="{INK}"/>']
    for tick in ticks:
        x = frame.x(tick, top)
        out.append(f'<line x1="{x:.1f}" y1="{frame.y0}" x2="{x:.1f}" y2="{frame.y0 + 5}" stroke="{INK}"/>')
        out.append(f'<text x="{x:.1f}" y="{frame.y0 + 19}" text-anchor="middle">{tick_text(tick, ticks)}</text>')
    out.append(
        f'<text x="{(frame.x0 + frame.x1) / 2:.1f}" y="{frame.y0 + 44}" text-anchor="middle">{esc(title)}</text>'
    )
    return "".join(out)


def igm_plot(points: Sequence[Point]) -> str:
    """IgM against age for the assessed patients' results, each with its age-matched limit."""
    if not points:
        return "<p>No patient needed the full assessment, so there is no IgM plot.</p>"
    shown = list(points[:MAX_POINTS])
    values = sorted([p[1] for p in shown] + [p[2] for p in shown if p[2] is not None])
    cap = values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)] if len(values) >= 100 else values[-1]
    y_ticks = nice_ticks(cap * 1.05)
    y_top = y_ticks[-1]
    x_ticks = nice_ticks(max(p[0] for p in shown))
    x_top = x_ticks[-1]
    frame = Frame(height=380, top=40)
    marks = []
    above = 0
    for age, igm, limit, low in shown:
        x = frame.x(age, x_top)
        if limit is not None and limit <= y_top:
            ly = frame.y(limit, y_top)
            marks.append(f'<line x1="{x - 4:.1f}" y1="{ly:.1f}" x2="{x + 4:.1f}" y2="{ly:.1f}" stroke="{MUTED}"/>')
        above += igm > y_top
        y = frame.y(min(igm, y_top), y_top)
        if low:
            marks.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{LOW_COLOUR}"/>')
        else:
            marks.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="none" stroke="{NOT_LOW_COLOUR}" stroke-width="1.3"/>'
            )
    legend = (
        f'<rect x="8" y="9" width="9" height="9" fill="{LOW_COLOUR}"/><text x="22" y="18">below the limit</text>'
        f'<circle cx="162" cy="13.5" r="4.5" fill="none" stroke="{NOT_LOW_COLOUR}" stroke-width="1.3"/>'
        '<text x="172" y="18">not below</text>'
        f'<line x1="262" y1="13.5" x2="276" y2="13.5" stroke="{MUTED}" stroke-width="2"/>'
        '<text x="282" y="18">age-matched limit</text>'
    )
    low_count = sum(p[3] for p in shown)
    label = (
        f"Scatter plot of {count(len(shown))} IgM results of the assessed patients against age "
        f"({x_ticks[0]:.0f} to {x_top:,.0f} years, IgM 0 to {tick_text(y_top, y_ticks)} mg/dL): "
        f"{count(low_count)} results are below their age-matched limit. The table after the plot gives the numbers "
        "by age band."
    )
    body = (
        y_axis(frame, y_ticks, "IgM (mg/dL)")
        + x_axis(frame, x_ticks, "Age at the result (years)")
        + "".join(marks)
        + legend
    )
    notes = [
        "Filled red squares are results below the age-matched limit of the chosen reference set, open blue circles "
        "results not below it, grey dashes each result's limit."
    ]
    if len(points) > len(shown):
        notes.append(f"The first {count(len(shown))} of {count(len(points))} results are drawn.")
    if above:
        notes.append(f"{count(above)} results above {tick_text(y_top, y_ticks)} mg/dL are drawn on the top edge.")
    return (
        f"<figure>{svg(frame.height, label, body)}"
        f"<figcaption>IgM against age for the patients given the full assessment. {esc(' '.join(notes))}</figcaption>"
        "</figure>"
    )


def igm_table(points: Sequence[Point]) -> str:
    bands: dict[str, list[Point]] = {name: [] for name, _, _ in AGE_BANDS}
    for point in points:
        bands[age_band(max(0, int(point[0])))].append(point)
    rows = []
    for name, members in bands.items():
        if not members:
            continue
        limits = [p[2] for p in members if p[2] is not None]
        rows.append(
            (
                group_words("age_band", name),
                count(len(members)),
                count(sum(p[3] for p in members)),
                f"{statistics.median(p[1] for p in members):,.1f}",
                f"{statistics.median(limits):,.1f}" if limits else "–",
            )
        )
    return table(
        "igm-by-age",
        "IgM results of the assessed patients by age band",
        [
            Column("Age band"),
            Column("IgM results", True),
            Column("Below the limit", True),
            Column("Median IgM (mg/dL)", True),
            Column("Median limit (mg/dL)", True),
        ],
        rows,
    )


def funnel_steps(summary: dict[str, Any]) -> list[tuple[str, int]]:
    """The funnel in patients: screened, assessed, then each ESID step (steps counting results are left out)."""
    steps = [("Patients screened", summary["patients"])]
    judged = summary["patients_assessed_by_core"] + summary.get("patients_judged_setwise", 0)
    steps.append(("Judged in full (not plainly normal at the pre-filter)", judged))
    for step in summary["funnel"]:
        if step["step"] not in RESULT_STEPS:
            words = FUNNEL_WORDS.get(step["step"], step["description"][:1].upper() + step["description"][1:])
            steps.append((words, step["count"]))
    return steps


def funnel_plot(steps: Sequence[tuple[str, int]]) -> str:
    ticks = nice_ticks(max(5, *(n for _, n in steps)))
    pitch = 44
    frame = Frame(height=12 + pitch * len(steps) + 60, left=10, right=26, top=12)
    out = []
    for index, (words, n) in enumerate(steps):
        y = frame.top + index * pitch
        width = frame.x(n, ticks[-1]) - frame.x0
        shown = f"{words}: {count(n)}"
        out.append(f'<text x="{frame.x0}" y="{y + 13}">{esc(shown)}</text>')
        if n > 0:
            out.append(
                f'<rect x="{frame.x0}" y="{y + 19}" width="{max(width, 1.5):.1f}" height="16" fill="{BAR_COLOUR}"/>'
            )
    label = "Bar chart of the screening funnel, in patients: " + "; ".join(f"{w}: {count(n)}" for w, n in steps) + "."
    body = "".join(out) + x_axis(frame, ticks, "Patients")
    return (
        f"<figure>{svg(frame.height, label, body)}<figcaption>The screening funnel, counted in patients. The steps "
        "after the full assessment follow the ESID criteria as counted by Janssen et al. 2018, under the chosen "
        "reference set.</figcaption></figure>"
    )


def prevalence_plot(prevalence: Sequence[dict[str, Any]]) -> str:
    rows = [r for r in prevalence if r["stratum"] == "age_band" and r["form"] == "any" and r["stage"] == "any"]
    highs = [r["ci95_high"] for r in rows if r["ci95_high"] is not None]
    ticks = nice_ticks(100 * max(highs, default=0.0))
    top = ticks[-1] / 100
    frame = Frame(height=340, bottom=76)
    slot = (frame.x1 - frame.x0) / max(len(rows), 1)
    out = [y_axis(frame, ticks, "Prevalence (%)")]
    out.append(f'<line x1="{frame.x0}" y1="{frame.y0}" x2="{frame.x1}" y2="{frame.y0}" stroke="{INK}"/>')
    described = []
    for index, r in enumerate(rows):
        x = frame.x0 + (index + 0.5) * slot
        out.append(f'<text x="{x:.1f}" y="{frame.y0 + 19}" text-anchor="middle">{esc(band_words(r["group"]))}</text>')
        out.append(
            f'<text x="{x:.1f}" y="{frame.y0 + 36}" text-anchor="middle" font-size="12" fill="{MUTED}">'
            f"n={compact(r['patients'])}</text>"
        )
        if r["prevalence"] is None:
            out.append(f'<text x="{x:.1f}" y="{frame.y0 - 8}" text-anchor="middle" fill="{MUTED}">none</text>')
            described.append(f"{group_words('age_band', r['group'])}: no patients")
            continue
        y, y_low, y_high = (frame.y(r[k], top) for k in ("prevalence", "ci95_low", "ci95_high"))
        out.append(f'<line x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" stroke="{INK}"/>')
        for cap_y in (y_low, y_high):
            out.append(f'<line x1="{x - 6:.1f}" y1="{cap_y:.1f}" x2="{x + 6:.1f}" y2="{cap_y:.1f}" stroke="{INK}"/>')
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{POINT_COLOUR}"/>')
        described.append(
            f"{group_words('age_band', r['group'])}: {percent(r['prevalence'], r['ci95_low'], r['ci95_high'])}"
        )
    out.append(
        f'<text x="{(frame.x0 + frame.x1) / 2:.1f}" y="{frame.y0 + 62}" text-anchor="middle">'
        "Age band (years, at the latest IgM result)</text>"
    )
    label = (
        "Prevalence of SIgMD (partial or complete) by age band with Wilson 95% intervals: " + "; ".join(described) + "."
    )
    return (
        f"<figure>{svg(frame.height, label, ''.join(out))}<figcaption>Prevalence of SIgMD (partial or complete, "
        "provisional or confirmed) by age band: dots are estimates, bars Wilson 95% confidence intervals, n the "
        "patients screened in the band. The table below gives the same numbers.</figcaption></figure>"
    )


# Sections -------------------------------------------------------------------------------------------------------


def _row(
    prevalence: Sequence[dict[str, Any]], stratum: str, group: str, form: str, stage: str
) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in prevalence
            if r["stratum"] == stratum and r["group"] == group and r["form"] == form and r["stage"] == stage
        ),
        None,
    )


def wilson_text(row: dict[str, Any] | None) -> str:
    if row is None or row["prevalence"] is None:
        return "no patients"
    return percent(row["prevalence"], row["ci95_low"], row["ci95_high"])


def exact_text(row: dict[str, Any] | None) -> str:
    if row is None or row["prevalence"] is None or row.get("exact95_low") is None:
        return "–"
    return interval(row["exact95_low"], row["exact95_high"], row["prevalence"])


def _date_range(summary: dict[str, Any]) -> str:
    dates = summary.get("results_collected") or {}
    first, last = dates.get("first_date"), dates.get("last_date")
    if first and last:
        return f" (results collected {first} to {last})"
    return ""


def summary_sentences(summary: dict[str, Any], names: Names) -> list[str]:
    """The quotable summary, in plain text: its numbers are summary.json's."""
    patients = summary["patients"]
    setting = (
        f"under the reference set “{names.reference_set(summary['reference_set'])}” and the rule profile "
        f"“{names.profile(summary['profile'])}”"
    )
    if patients == 0:
        return [
            f"No patient could be screened: none of the {count(summary['rows']['in'])} rows in gave a patient with a "
            f"usable IgM result ({setting}, as of {summary['as_of']})."
        ]
    prevalence = summary["prevalence"]
    overall = _row(prevalence, "overall", "all", "any", "any")
    cases = overall["cases"] if overall else 0
    partial = _row(prevalence, "overall", "all", "partial", "any")
    complete = _row(prevalence, "overall", "all", "complete", "any")
    confirmed = _row(prevalence, "overall", "all", "any", "confirmed")
    met = next((s["count"] for s in summary["funnel"] if s["step"] == "esid_met"), None)
    overall_text = quoted(overall["prevalence"], overall["ci95_low"], overall["ci95_high"]) if overall else "–"
    sentences = [
        f"Of {count(patients)} patients screened{_date_range(summary)}, {count(cases)} "
        f"({overall_text}) were classed as selective IgM deficiency (SIgMD) "
        f"{setting}: {count(partial['cases'] if partial else 0)} partial and "
        f"{count(complete['cases'] if complete else 0)} complete; "
        f"{count(confirmed['cases'] if confirmed else 0)} confirmed and "
        f"{count(cases - (confirmed['cases'] if confirmed else 0))} provisional."
    ]
    if met is not None:
        sentences.append(
            f"{count(met)} ({quoted(met / patients, *wilson(met, patients))}) met every ESID criterion "
            "(the last step of the funnel)."
        )
    sentences.append(
        f"Intervals are Wilson score 95% intervals; the exact (Clopper–Pearson) 95% interval of the overall "
        f"prevalence is {exact_text(overall)}. Results are as of {summary['as_of']}; screening findings are not "
        "diagnoses."
    )
    return sentences


def rows_sentence(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    return (
        f"{count(rows['in'])} rows in = {count(rows['used'])} used + {count(rows['rejected'])} rejected "
        "(rejects.parquet gives each rejected row with its reason)."
    )


def verdicts_section(summary: dict[str, Any]) -> str:
    patients = summary["patients"]
    order = {label: index for index, label in enumerate(dict.fromkeys(LABEL_ORDER))}
    entries = []
    for key, n in summary["labels"].items():
        label, _, certainty = key.partition("/")
        entries.append((order.get(label, len(order)), certainty != "confirmed", label, certainty, n))
    rows = [
        (label_words(label), certainty, count(n), share(n, patients)) for _, _, label, certainty, n in sorted(entries)
    ]
    return table(
        "verdicts-table",
        f"Verdicts of the {count(patients)} patients screened",
        [Column("Verdict"), Column("Certainty"), Column("Patients", True), Column("Share of screened (95% CI)", True)],
        rows,
    )


def prevalence_section(summary: dict[str, Any]) -> str:
    prevalence = summary["prevalence"]
    main = [r for r in prevalence if r["form"] == "any" and r["stage"] == "any"]
    overview = table(
        "prevalence-table",
        "Prevalence of SIgMD (partial or complete, provisional or confirmed) by group",
        [
            Column("Group"),
            Column("Screened", True),
            Column("Cases", True),
            Column("Prevalence (Wilson 95% CI)", True),
            Column("Exact 95% CI (Clopper–Pearson)", True),
        ],
        [
            (
                group_words(r["stratum"], r["group"]),
                count(r["patients"]),
                count(r["cases"]),
                wilson_text(r),
                exact_text(r),
            )
            for r in main
        ],
    )

    def cases(row: dict[str, Any] | None) -> str:
        return "–" if row is None else f"{count(row['cases'])}: {wilson_text(row)}"

    columns = (("partial", "any"), ("complete", "any"), ("any", "confirmed"))
    detail = table(
        "prevalence-forms-table",
        "Cases and prevalence (Wilson 95% CI) by form, and confirmed cases of either form",
        [
            Column("Group"),
            Column("Partial SIgMD", True),
            Column("Complete SIgMD", True),
            Column("Confirmed (either form)", True),
        ],
        [
            (
                group_words(r["stratum"], r["group"]),
                *(cases(_row(prevalence, r["stratum"], r["group"], form, stage)) for form, stage in columns),
            )
            for r in main
        ],
    )
    published = []
    for figure in summary["published_prevalence"]:
        group = POPULATIONS.get(figure["population"])
        ours = _row(prevalence, "age_group", group, figure["form"], "any") if group else None
        source = f'<a href="{esc(figure["source_url"])}">{esc(figure["source_title"])}</a>'
        note = f" {esc(figure['note'])}" if figure["note"] else ""
        published.append((figure["text"], wilson_text(ours) if ours else "–", Html(source + note)))
    comparison = table(
        "published-table",
        "Published prevalence figures beside this screen",
        [
            Column("Published figure"),
            Column("This screen, same form and age group (Wilson 95% CI)", True),
            Column("Source and note"),
        ],
        published,
    )
    return (
        "<p>Cases are patients whose verdict is partial or complete SIgMD. Percentages are followed by their 95% "
        "confidence interval: the Wilson score interval, and in its own column the exact (Clopper–Pearson) interval, "
        "which is more conservative for rare conditions.</p>"
        + prevalence_plot(prevalence)
        + overview
        + '<h3 id="by-form">By form and certainty</h3>'
        + detail
        + '<h3 id="published">Published figures</h3>'
        + "<p>Published figures come from other populations and definitions; they are context, not a benchmark.</p>"
        + comparison
    )


def source_link(source: str) -> str:
    """`Title <https://...>` as a link; other text as it is."""
    title, _, url = source.rpartition(" <")
    if title and url.startswith("https://") and url.endswith(">"):
        return f'<a href="{esc(url[:-1])}">{esc(title)}</a>'
    return esc(source)


def funnel_section(summary: dict[str, Any]) -> str:
    steps = funnel_steps(summary)
    patients = summary["patients"]
    rows = [
        (words, count(n), share(n, patients) if index or not patients else "100%")
        for index, (words, n) in enumerate(steps)
    ]
    results = sum(s["count"] for s in summary["funnel"] if s["step"] in RESULT_STEPS)
    sources = dict.fromkeys(s["source"] for s in summary["funnel"] if s.get("source"))
    cited = f" Source: {'; '.join(source_link(s) for s in sources)}." if sources else ""
    return (
        funnel_plot(steps)
        + table(
            "funnel-table",
            "Screening funnel, in patients",
            [Column("Step"), Column("Patients", True), Column("Share of screened (95% CI)", True)],
            rows,
        )
        + f"<p>The funnel counts patients, not results: the assessed patients had {count(results)} IgM results "
        f"below the age-matched limit between them.{cited}</p>"
    )


def sensitivity_section(summary: dict[str, Any], names: Names) -> str:
    patients = summary["patients"]
    rows = []
    for entry in summary["reference_set_sensitivity"]:
        name = names.reference_set(entry["reference_set"])
        if entry["reference_set"] == summary["reference_set"]:
            name += " (the chosen set)"
        rows.append(
            (
                name,
                count(entry["partial_sigmd"]),
                count(entry["complete_sigmd"]),
                f"{count(entry['deficient'])}: {share(entry['deficient'], patients)}",
            )
        )
    return (
        "<p>How many of the same patients would be called SIgMD under each reference set, with the same rule "
        f"profile. Computed for {esc(summary['reference_set_sensitivity_scope'])}.</p>"
        + table(
            "sensitivity-table",
            "SIgMD cases under each reference set",
            [
                Column("Reference set"),
                Column("Partial", True),
                Column("Complete", True),
                Column("Either form: cases, share of screened (95% CI)", True),
            ],
            rows,
        )
    )


REFUSAL_WORDS = {
    "every_row_refused": "every row rejected",
    "birth_dates_conflict": "conflicting birth dates",
    "sexes_conflict": "conflicting sexes",
    "no_usable_igm": "no usable IgM result",
    "refused_by_core": "refused by the assessment",
}


def patients_sentence(summary: dict[str, Any]) -> str:
    """Patient ids read = screened + refused, with the refusals by reason (summary.json's `patients_refused`)."""
    refused = summary.get("patients_refused")
    if refused is None:
        return ""
    screened = summary["patients"]
    reasons = [f"{count(refused[key])} {words}" for key, words in REFUSAL_WORDS.items() if refused.get(key)]
    because = f" ({'; '.join(reasons)})" if reasons else ""
    return (
        f"{count(screened + refused['total'])} patients read = {count(screened)} screened + "
        f"{count(refused['total'])} refused{because}."
    )


def other_analytes_sentence(summary: dict[str, Any]) -> str:
    """Results of other analytes set aside (OMOP and FHIR Bulk input), which are not rows in."""
    other = summary.get("other_analytes")
    if not other or not other["rows"]:
        return ""
    return (
        f"Besides, {count(other['rows'])} results of other analytes (LOINC codes sigmd does not screen) were set "
        "aside, not read as rows; summary.json lists the most frequent codes."
    )


def other_resources_sentence(summary: dict[str, Any]) -> str:
    """Lines of resource types screening does not read (FHIR Bulk input), which are not rows in."""
    other = summary.get("other_resources") or {}
    if not other:
        return ""
    listed = ", ".join(f"{kind} {count(n)}" for kind, n in other.items())
    return f"Lines of resource types screening does not read were counted and set aside: {listed}."


def records_sentence(summary: dict[str, Any]) -> str:
    """Whether conditions and medications were seen, which decides whether secondary causes can show."""
    records = summary.get("records")
    if not records:
        return (
            "No conditions or medications were given, so secondary causes and immunoglobulin or anti-CD20 "
            "treatment could not be seen: no verdict here rules them out."
        )
    set_aside = sum((records.get("not_used") or {}).values())
    besides = (
        f" {count(set_aside)} more {'was' if set_aside == 1 else 'were'} set aside (withdrawn, refuted, not taken or"
        " given, or without a code or text)."
        if set_aside
        else ""
    )
    return (
        f"Conditions and medications ({records['table']}): {count(records['conditions'])} conditions and "
        f"{count(records['medications'])} medications for {count(records['patients'])} patients; "
        f"{count(records['patients_with_a_secondary_cause'])} patients have one that counts for a secondary cause, "
        f"{count(records['patients_with_treatment_setting_aside_igg'])} a treatment that sets their IgG aside.{besides}"
    )


def data_section(summary: dict[str, Any]) -> str:
    reasons = summary.get("reject_reasons") or {}
    rows = summary["rows"]
    sentences = (
        rows_sentence(summary),
        patients_sentence(summary),
        other_analytes_sentence(summary),
        other_resources_sentence(summary),
        records_sentence(summary),
    )
    parts = [f"<p>{esc(' '.join(s for s in sentences if s))}</p>"]
    if reasons:
        parts.append(
            table(
                "rejects-table",
                "Rejected rows by the input column at fault",
                [Column("Column"), Column("Rows rejected", True), Column("Share of rows in", True)],
                [
                    (field_words(k), count(n), percent(n / rows["in"]) if rows["in"] else "–")
                    for k, n in reasons.items()
                ],
            )
        )
    parts.append(
        "<p>The results folder also holds each patient's verdict with its IgM course and criteria (patients.parquet), "
        "the rejected rows (rejects.parquet), the OMOP cohort of the patients labelled SIgMD (cohort.parquet, when "
        "every patient id is a whole number), CSV copies of these when asked for (--csv) and every number of this "
        "report (summary.json).</p>"
    )
    return "".join(parts)


STYLE = """
:root{color-scheme:light}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff}
header,nav,main,footer{max-width:62rem;margin:0 auto;padding:0 1rem}
header{padding-top:1.25rem}
h1{font-size:1.65rem;line-height:1.2;margin:0 0 .25rem}
h2{font-size:1.3rem;line-height:1.25;margin:2rem 0 .5rem;padding-top:.5rem;border-top:2px solid #d5d5d5}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}
p,li,dd{max-width:46rem}
a{color:#0a58a8;overflow-wrap:anywhere}
a:focus-visible,.table-wrap:focus-visible{outline:3px solid #0a58a8;outline-offset:2px}
.subtitle{margin:0;color:#4a4a4a}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:1rem 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;list-style:none;margin:.5rem 0;padding:.5rem 0;
 border-top:1px solid #d5d5d5;border-bottom:1px solid #d5d5d5}
.lead{font-size:1.1rem}
.disclaimer{background:#fff4ce;border-left:5px solid #8a6100;padding:.75rem 1rem;margin:1rem 0}
figure{margin:1.25rem 0}
figure svg{display:block;width:100%;max-width:34rem;height:auto}
figcaption{color:#4a4a4a;font-size:.95rem;margin-top:.4rem;max-width:46rem}
.table-wrap{max-width:100%;overflow-x:auto;margin:1rem 0}
table{border-collapse:collapse;font-size:.92rem;font-variant-numeric:tabular-nums;margin:1rem 0}
.table-wrap table{margin:0}
caption{caption-side:top;text-align:left;font-weight:600;padding:0 0 .35rem}
th,td{border:1px solid #c4c4c4;padding:.3rem .55rem;text-align:left;vertical-align:top}
thead th{background:#eef1f4}
tbody th{font-weight:600}
td{overflow-wrap:break-word}
tbody th,td a{overflow-wrap:anywhere}
.num{text-align:right}
.nw{white-space:nowrap}
footer{margin-top:2.5rem;padding-bottom:2rem;color:#4a4a4a;font-size:.92rem}
footer>:first-child{border-top:2px solid #d5d5d5;padding-top:1rem}
@media (max-width:30rem){body{font-size:.95rem}h1{font-size:1.4rem}dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}header,nav,main,footer{padding:0 .75rem}table{font-size:.8rem}th,td{padding:.25rem .3rem}}
@media print{
 body{font-size:10.5pt;color:#000}
 header,main,footer{max-width:none;padding:0}
 nav{display:none}
 .table-wrap{overflow:visible}
 h2{border-top:none;break-after:avoid}
 h3{break-after:avoid}
 figure,tr,.disclaimer{break-inside:avoid}
 figure svg{max-width:15cm}
 a{color:#000}
 .disclaimer,thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 #published-table a::after{content:" <" attr(href) ">";font-size:.85em}
}
"""

SECTIONS = (
    ("summary", "Summary"),
    ("verdicts", "Verdicts"),
    ("prevalence", "Prevalence"),
    ("funnel", "Funnel"),
    ("igm", "IgM against age"),
    ("sensitivity", "Reference-set sensitivity"),
    ("data", "Input rows"),
)


def render(summary: dict[str, Any], points: Sequence[Point], names: Names) -> str:
    """The report as one HTML page."""
    reference = names.reference_set(summary["reference_set"])
    profile = names.profile(summary["profile"])
    facts = [
        ("Reference set", reference),
        ("Rule profile", profile),
        ("As of", summary["as_of"]),
        ("Rows", rows_sentence(summary).split(" (", 1)[0]),
        ("Content version", summary["content_version"]),
        ("sigmd version", sigmd.__version__),
    ]
    nav = "".join(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title in SECTIONS)
    summary_text = " ".join(summary_sentences(summary, names))
    bodies = {
        "summary": (
            f'<p class="lead" id="summary-text">{esc(summary_text)}</p>'
            f'<p class="disclaimer"><strong>Clinical judgement.</strong> {esc(summary["disclaimer"])} '
            "A screening hit is a prompt to review the patient's record, not a diagnosis.</p>"
            f"<p>{esc(rows_sentence(summary))}</p>"
        ),
        "verdicts": verdicts_section(summary),
        "prevalence": prevalence_section(summary),
        "funnel": funnel_section(summary),
        "igm": (
            "<p>Every IgM result of the patients given the full assessment, against the patient's age at the "
            "result, with the age-matched limit that judged it.</p>"
            + igm_plot(points)
            + (igm_table(points) if points else "")
        ),
        "sensitivity": sensitivity_section(summary, names),
        "data": data_section(summary),
    }
    sections = "".join(
        f'<section id="{key}" aria-labelledby="{key}-heading"><h2 id="{key}-heading">{esc(title)}</h2>{bodies[key]}</section>'
        for key, title in SECTIONS
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SIgMD screening report – {esc(summary['as_of'])}</title>"
        f"<style>{STYLE}</style></head><body>"
        '<header><h1>SIgMD screening report</h1><p class="subtitle">Population screening for selective IgM '
        "deficiency (SIgMD) with sigmd</p>"
        '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl></header>"
        f'<nav aria-label="Report sections"><ul>{nav}</ul></nav>'
        f"<main>{sections}</main>"
        f"<footer><p>{esc(summary['disclaimer'])}</p><p>Made by sigmd {esc(sigmd.__version__)} from summary.json "
        f"(content version {esc(summary['content_version'])}). The page is self-contained: it runs no scripts and "
        "loads nothing from the network.</p></footer>"
        "</body></html>\n"
    )


def write_report(
    path: Path, summary: dict[str, Any], points: Sequence[Point], knowledge: Knowledge | None = None
) -> None:
    """Write report.html from the summary, the IgM points and the content's names (the bundled content if None)."""
    path.write_text(render(summary, points, Names.of(knowledge)), encoding="utf-8")
