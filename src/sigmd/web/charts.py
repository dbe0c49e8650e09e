"""The assessment charts: IgM for age against the reference band, and the IgM/IgG/IgA timeline.

Every number drawn comes from the report (the machine output of the core) or from the reference set
in the knowledge; nothing is invented. The bundled reference tables publish no median, so the band's
centre is the log-normal centre that the core derives from the interval (`sigmd.core.stats`), labelled
as such. Each chart carries a title, a description and data tables as its text alternative.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from sigmd.core.explain import in_words
from sigmd.core.intervals import ReferenceInterval, SexScope
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte
from sigmd.core.stats import LogNormalFit
from sigmd.render.machine import ReportDocument, ResultEntry
from sigmd.web import svg

CENTRE_LABEL = "estimated centre (log-normal)"
LOG_FLOOR_MG_DL = 1.0
"""The foot of the log IgM axis: a value below it (a censored `<0.5`) is drawn there, and a note says so."""
LOW_STATUSES = ("low", "absent")
TIMELINE_ANALYTES = (Analyte.IGM, Analyte.IGG, Analyte.IGA)


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    description: str
    svgs: tuple[Markup, ...]
    tables: tuple[Table, ...]
    legend: tuple[tuple[str, str], ...]
    """(css class of the swatch, what it shows)."""
    notes: tuple[str, ...] = ()
    summary: str = ""
    """The chart in one or two sentences, shown under it for a reader who does not read the chart."""


@dataclass(frozen=True)
class BandStep:
    """One age band of the reference set, clipped to the ages shown."""

    age_from: float
    age_to: float
    row: ReferenceInterval
    centre: float | None

    @property
    def lower(self) -> float | None:
        return self.row.lower_mg_dl

    @property
    def upper(self) -> float | None:
        return self.row.upper_mg_dl


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _shown(result: ResultEntry) -> str:
    comparator = "" if result.comparator == "=" else result.comparator
    return f"{comparator}{_num(result.value_mg_dl, 2)}"


def band_steps(knowledge: Knowledge, set_id: str, sex: str, lo: float, hi: float) -> list[BandStep]:
    """The IgM intervals of a reference set for the patient's sex that overlap ages [lo, hi], in age order.

    Sex-specific rows are used for female and male patients where published, pooled rows otherwise;
    the same choice `ReferenceSet.lookup` makes for a single result.
    """
    reference_set = knowledge.reference_sets.get(set_id)
    if reference_set is None:
        return []
    chosen: dict[tuple[float, float], ReferenceInterval] = {}
    for row in reference_set.intervals:
        if row.analyte is not Analyte.IGM:
            continue
        start, end = row.age_from.approx_years, row.age_to.approx_years
        if end <= lo or start >= hi:
            continue
        key = (start, end)
        if row.sex.value == sex or (row.sex is SexScope.ANY and key not in chosen):
            chosen[key] = row
    steps = []
    for (start, end), row in sorted(chosen.items()):
        centre = None
        if row.lower_mg_dl and row.upper_mg_dl and 0 < row.lower_mg_dl < row.upper_mg_dl:
            centre = LogNormalFit.from_interval(row.lower_mg_dl, row.upper_mg_dl).geometric_mean
        steps.append(BandStep(max(start, lo), min(end, hi), row, centre))
    return steps


def _age_domain(ages: list[float]) -> tuple[float, float]:
    first, last = min(ages), max(ages)
    pad = max(0.25 * (last - first), min(2.0, 0.2 * last), 0.25)
    return max(0.0, first - pad), last + pad


def igm_for_age(
    report: ReportDocument, knowledge: Knowledge, element_id: str = "igm-age", *, log: bool = True
) -> Figure | None:
    """IgM against age: the reference set's age-matched band (lower, upper, centre), the low limit used for each
    result and the patient's IgM results.

    The IgM axis is logarithmic by default (immunoglobulin levels are log-normal, so the band's centre sits
    midway and a halving looks the same at any level), with ticks at 1-2-5 values; `log=False` draws it linear
    from zero.
    """
    results = [r for r in report.results if r.analyte == Analyte.IGM.value and r.age_years is not None]
    if not results:
        return None
    set_id, sex = report.reference_set.id, report.patient.sex
    lo, hi = _age_domain([r.age_years for r in results])
    steps = band_steps(knowledge, set_id, sex, lo, hi)
    values = [r.value_mg_dl for r in results] + [r.limit_used_mg_dl for r in results if r.limit_used_mg_dl]
    bounds = [v for s in steps for v in (s.lower, s.upper) if v]
    if log:
        bottom, top = svg.log_domain([*values, *bounds], floor=LOG_FLOOR_MG_DL)
        frame = svg.Frame.of(320, (lo, hi), (bottom, top), y_log=True)
        labelled, minor = svg.log_ticks(frame)
        body = [svg.y_axis(frame, labelled, "IgM (mg/dL, log scale)", minor)]
    else:
        bottom, top = 0.0, svg.nice_top(max([*values, *bounds, 1.0]))
        frame = svg.Frame.of(320, (lo, hi), (bottom, top))
        body = [svg.y_axis(frame, svg.nice_ticks(0, top), "IgM (mg/dL)")]
    for step in steps:
        x0, x1 = frame.x(step.age_from), frame.x(step.age_to)
        if step.lower is not None and step.upper is not None and step.upper > bottom:
            y_up, y_low = frame.y(min(step.upper, top)), frame.y(max(step.lower or bottom, bottom))
            body.append(
                f'<rect class="band" x="{x0:.1f}" y="{y_up:.1f}" width="{x1 - x0:.1f}" height="{y_low - y_up:.1f}"/>'
            )
        for value, css in ((step.lower, "band-lower"), (step.upper, "band-upper"), (step.centre, "band-centre")):
            if value is not None and bottom < value <= top:
                y = frame.y(value)
                body.append(f'<line class="{css}" x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}"/>')
    ages = svg.nice_ticks(lo, hi, 6)
    body.append(svg.x_axis(frame, [(a, f"{a:g}") for a in ages], "age (years)"))
    ordered = sorted(results, key=lambda r: r.date)
    body.append(
        f'<path class="series" d="{svg.polyline([(frame.x(r.age_years), frame.y(r.value_mg_dl)) for r in ordered])}"/>'
    )
    for r in ordered:
        x, y = frame.x(r.age_years), frame.y(r.value_mg_dl)
        if r.limit_used_mg_dl is not None:
            ly = frame.y(r.limit_used_mg_dl)
            css = "limit-tick limit-lab" if _from_laboratory(r) else "limit-tick"
            body.append(f'<line class="{css}" x1="{x - 10:.1f}" y1="{ly:.1f}" x2="{x + 10:.1f}" y2="{ly:.1f}"/>')
        body.append(svg.marker(x, y, r.comparator, f"point point-{r.status}"))
    ref_name = report.reference_set.name
    described = "; ".join(
        f"{_shown(r)} mg/dL on {r.date} at age {_num(r.age_years, 2)} years ({r.status}, "
        f"low limit used {_num(r.limit_used_mg_dl)} mg/dL)"
        for r in ordered
    )
    axis = "on a logarithmic axis" if log else "on a linear axis from zero"
    description = (
        f"IgM in mg/dL {axis} against age in years. Shaded: the age-matched reference interval of reference set "
        f"{ref_name} ({set_id}) for sex {sex}, from its lower to its upper limit; dashed line: the {CENTRE_LABEL}; "
        f"red marks: the low limit used for each result. The patient's IgM results: {described}."
    )
    lab_decided = [r for r in ordered if _from_laboratory(r)]
    notes = []
    if lab_decided:
        notes.append(_laboratory_note(lab_decided))
    if not steps:
        notes.append(f"Reference set '{set_id}' has no IgM interval for these ages and sex {sex} in this content.")
    if log and any(r.value_mg_dl < bottom for r in ordered):
        notes.append(f"Values below {bottom:g} mg/dL are drawn at the foot of the log axis.")
    if report.content_version not in (None, knowledge.content_version):
        notes.append(
            f"The band is drawn from content version {knowledge.content_version}; "
            f"this assessment used content version {report.content_version}."
        )
    legend = [
        ("band", "age-matched reference interval (lower to upper limit)"),
        ("band-centre", CENTRE_LABEL),
        ("limit-tick", "low limit used for the result (profile)"),
    ]
    if lab_decided:
        legend.append(("limit-tick limit-lab", "low limit taken from the laboratory's own range"))
    legend += [
        ("point point-low", "the patient's IgM, low or absent (triangle: censored value, e.g. <5)"),
        ("point point-normal", "the patient's IgM, normal or high"),
    ]
    return Figure(
        id=element_id,
        title="IgM for age",
        description=description,
        svgs=(svg.document(element_id, frame.height, "IgM for age", description, "".join(body)),),
        tables=(
            Table(
                "The patient's IgM results",
                ("date", "age (years)", "reported", "IgM (mg/dL)", "low limit used (mg/dL)", "limit from", "status"),
                tuple(
                    (
                        str(r.date),
                        _num(r.age_years, 2),
                        r.reported,
                        _shown(r),
                        _num(r.limit_used_mg_dl),
                        _limit_source(r),
                        r.status,
                    )
                    for r in ordered
                ),
            ),
            Table(
                f"Reference band: {ref_name} ({set_id}), sex {sex}",
                ("age band", "published", "lower (mg/dL)", "upper (mg/dL)", f"{CENTRE_LABEL} (mg/dL)"),
                tuple((s.row.band, s.row.published, _num(s.lower), _num(s.upper), _num(s.centre)) for s in steps),
            ),
        ),
        legend=tuple(legend),
        notes=tuple(notes),
        summary=_igm_summary(ordered, steps),
    )


def _laboratory_note(results: list[ResultEntry]) -> str:
    """Which IgM results the laboratory's own range decided, with that range and the low limit taken from it."""
    by_range: dict[tuple[str, str], list[str]] = {}
    for r in results:
        key = (f"{_num(r.lower_limit_mg_dl)}–{_num(r.upper_limit_mg_dl)}", _num(r.limit_used_mg_dl))
        by_range.setdefault(key, []).append(str(r.date))
    parts = [
        f"on {_and(dates)} against the laboratory's range {span} mg/dL (low limit used {limit} mg/dL)"
        for (span, limit), dates in by_range.items()
    ]
    return (
        f"The laboratory's own range decided {'this result' if len(results) == 1 else 'these results'}: IgM "
        f"{'; '.join(parts)}, not the shaded reference band, which is shown for comparison."
    )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _from_laboratory(result: ResultEntry) -> bool:
    return bool(result.interval and result.interval.from_laboratory)


def _limit_source(result: ResultEntry) -> str:
    if result.limit_used_mg_dl is None:
        return "none"
    return "laboratory's own range" if _from_laboratory(result) else "reference set"


def _igm_summary(ordered: list[ResultEntry], steps: list[BandStep]) -> str:
    """One sentence a clinician reads instead of the chart: the latest IgM against its limit, and the count of lows."""
    latest = ordered[-1]
    low = [r for r in ordered if r.status in LOW_STATUSES]
    where = f"{_shown(latest)} mg/dL on {latest.date} at age {_num(latest.age_years, 1)} years"
    status = in_words(latest.status)
    limit = (
        f", against a low limit of {_num(latest.limit_used_mg_dl)} mg/dL from the {_limit_source(latest)}"
        if latest.limit_used_mg_dl is not None
        else ", not judged against a limit"
    )
    band = next((s for s in steps if s.age_from <= latest.age_years <= s.age_to), None)
    band_text = (
        f" The reference interval at that age is {_num(band.lower)}–{_num(band.upper)} mg/dL."
        if band is not None and band.lower is not None and band.upper is not None
        else ""
    )
    return (
        f"Latest IgM {where}: {status}{limit}. {len(low)} of {len(ordered)} IgM result"
        f"{'' if len(ordered) == 1 else 's'} low or absent.{band_text}"
    )


def timeline(report: ReportDocument, element_id: str = "timeline") -> Figure | None:
    """IgM, IgG and IgA against date, one panel each, with the low limit used for each result."""
    series = {
        analyte: sorted((r for r in report.results if r.analyte == analyte.value), key=lambda r: r.date)
        for analyte in TIMELINE_ANALYTES
    }
    series = {analyte: rows for analyte, rows in series.items() if rows}
    if not series:
        return None
    days = [r.date for rows in series.values() for r in rows]
    start, end = svg.pad_dates(min(days), max(days))
    ticks = svg.date_ticks(start, end)
    svgs = []
    described = []
    for analyte, rows in series.items():
        top = svg.nice_top(max(max(r.value_mg_dl, r.limit_used_mg_dl or 0) for r in rows))
        frame = svg.Frame.of(220, (start.toordinal(), end.toordinal()), (0.0, top))
        body = [
            svg.y_axis(frame, svg.nice_ticks(0, top, 4), f"{analyte} (mg/dL)"),
            svg.x_axis(frame, [(t.toordinal(), t.strftime("%b %Y")) for t in ticks], "date of sample"),
        ]
        limited = [(r, r.limit_used_mg_dl) for r in rows if r.limit_used_mg_dl is not None]
        shown_limits = [(frame.x(r.date.toordinal()), frame.y(limit)) for r, limit in limited]
        if shown_limits:
            body.append(f'<path class="limit-line" d="{svg.polyline(shown_limits)}"/>')
            body.extend(
                f'<line class="limit-tick{" limit-lab" if _from_laboratory(r) else ""}" '
                f'x1="{x - 9:.1f}" y1="{y:.1f}" x2="{x + 9:.1f}" y2="{y:.1f}"/>'
                for (x, y), (r, _) in zip(shown_limits, limited, strict=True)
            )
        points = [(frame.x(r.date.toordinal()), frame.y(r.value_mg_dl)) for r in rows]
        body.append(f'<path class="series" d="{svg.polyline(points)}"/>')
        body.extend(
            svg.marker(x, y, r.comparator, f"point point-{r.status}") for (x, y), r in zip(points, rows, strict=True)
        )
        title = f"{analyte} over time"
        text = "; ".join(
            f"{_shown(r)} mg/dL on {r.date} (low limit {_num(r.limit_used_mg_dl)}, {r.status})" for r in rows
        )
        described.append(f"{analyte}: {text}")
        svgs.append(
            svg.document(
                f"{element_id}-{analyte.value.lower()}",
                frame.height,
                title,
                f"{analyte} in mg/dL against date. {text}.",
                "".join(body),
            )
        )
    rows_all = sorted((r for rows in series.values() for r in rows), key=lambda r: (r.date, r.analyte))
    latest = "; ".join(
        f"{analyte} {_shown(rows[-1])} mg/dL on {rows[-1].date} ({in_words(rows[-1].status)})"
        for analyte, rows in series.items()
    )
    return Figure(
        id=element_id,
        title="IgM, IgG and IgA over time",
        description="Each panel shows one immunoglobulin in mg/dL against the date of the sample; the dashed line "
        "joins the low limit used for each result (age-matched, or from the laboratory's own range where that "
        "decided it). " + " ".join(described),
        svgs=tuple(svgs),
        tables=(
            Table(
                "Results over time",
                ("date", "analyte", "reported", "mg/dL", "low limit used (mg/dL)", "limit basis", "status"),
                tuple(
                    (
                        str(r.date),
                        r.analyte,
                        r.reported,
                        _shown(r),
                        _num(r.limit_used_mg_dl),
                        in_words(r.limit_basis) if r.limit_basis else "none",
                        r.status,
                    )
                    for r in rows_all
                ),
            ),
        ),
        legend=(
            ("limit-line", "low limit used for each result"),
            *(
                (("limit-tick limit-lab", "low limit taken from the laboratory's own range"),)
                if any(_from_laboratory(r) for r in rows_all)
                else ()
            ),
            ("point point-low", "result low or absent (triangle: censored value)"),
            ("point point-normal", "result normal or high"),
        ),
        summary=f"Latest results: {latest}.",
    )
