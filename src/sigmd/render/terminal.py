"""A readable terminal report (Rich) of the typed report, whose names are the machine output's, so both say the same."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sigmd.core.explain import label_words
from sigmd.render.display import in_unit, measured
from sigmd.render.machine import ReportDocument, SourceRef

_OUTCOME_STYLE = {"met": "green", "not_met": "red", "unknown": "yellow"}
_STATUS_STYLE = {"absent": "bold red", "low": "red", "normal": "green", "high": "magenta"}
_STATUS_TEXT = {"no_interval": "not judged"}
"""Statuses whose machine value reads ambiguously on a screen."""


def _status(status: str) -> Text:
    return Text(_STATUS_TEXT.get(status, status), style=_STATUS_STYLE.get(status, "yellow"))


def render(report: ReportDocument, console: Console, unit: str = "mg/dL") -> None:
    """The readable report. `unit` (mg/dL or g/L, a site setting) is the unit of the value and limit columns;
    the machine output and the criteria's own text stay in mg/dL, with the unit always written."""
    diagnosis = report.diagnosis
    headline = Text(f"{label_words(diagnosis.label)}  ({diagnosis.certainty})", style="bold")
    entries = {c.id: c for c in report.criteria}
    decided = ", ".join(
        f"{entries[cid].title} ({entries[cid].outcome.replace('_', ' ')})" if cid in entries else cid
        for cid in diagnosis.decided_by
    )
    header = Group(
        headline,
        Text(diagnosis.summary),
        Text(f"Decided by: {decided or 'the pattern of results'}", style="dim"),
        Text(
            f"Profile: {report.profile.name} [{report.profile.id}]   "
            f"Reference set: {report.reference_set.name} [{report.reference_set.id}]   "
            f"As of {report.as_of}",
            style="dim",
        ),
    )
    console.print(Panel(header, title="sigmd assessment", expand=True))

    igm = report.igm
    if igm:
        table = Table(title="Latest IgM", show_header=False, box=None)
        table.add_row(
            "value", f"{igm.reported} = {measured(igm.comparator, igm.value_mg_dl, unit)} {unit} on {igm.date}"
        )
        table.add_row("status", _status(igm.status))
        if igm.not_judged_because:
            table.add_row("not judged because", igm.not_judged_because)
        table.add_row(f"mean - 2 SD ({unit})", in_unit(igm.minus_2sd_mg_dl, unit))
        table.add_row(f"published lower limit ({unit})", in_unit(igm.lower_limit_mg_dl, unit))
        table.add_row(
            f"limit used ({unit})", f"{in_unit(igm.limit_used_mg_dl, unit)} ({igm.limit_description or 'none'})"
        )
        bound = "bound " if igm.z_score_is_bound else ""
        table.add_row("z-score / percentile", f"{bound}{_num(igm.z_score)} / {_num(igm.percentile)}")
        if igm.interval:
            table.add_row("interval", igm.interval.description)
            table.add_row("interval source", _cite(igm.interval.source))
        console.print(table)

    results = Table(title="Results", show_lines=False)
    for column in ("date", "analyte", "reported", unit, f"limit ({unit})", "z", "status"):
        results.add_column(column)
    for r in report.results:
        results.add_row(
            str(r.date),
            r.analyte,
            r.reported,
            measured(r.comparator, r.value_mg_dl, unit),
            in_unit(r.limit_used_mg_dl, unit),
            _num(r.z_score),
            _status(r.status),
        )
    console.print(results)
    console.print(Text(f"Pattern: {report.pattern.id}: {report.pattern.reason}"))

    criteria = Table(title=f"Criteria ({report.profile.id})", show_lines=True)
    for column in ("criterion", "role", "outcome", "reason", "source"):
        criteria.add_column(column, overflow="fold")
    for c in report.criteria:
        criteria.add_row(c.title, c.role, Text(c.outcome, style=_OUTCOME_STYLE[c.outcome]), c.reason, c.source.title)
    console.print(criteria)

    if report.by_profile:
        side = Table(title="Verdict under each profile")
        for column in ("profile", "label", "certainty", "summary"):
            side.add_column(column, overflow="fold")
        for row in report.by_profile:
            side.add_row(row.profile, label_words(row.label), row.certainty, row.summary)
        console.print(side)
    course = report.igm_course
    console.print(Text(f"IgM course: {course.state}: {course.explanation}"))
    vaccine = report.vaccine_response
    if vaccine:
        console.print(
            Text(
                f"PPSV23 response: {vaccine.classification} ({vaccine.rule_set_name}): {vaccine.reason}; "
                f"protective {len(vaccine.serotypes_protective)} of {len(vaccine.serotypes_tested)} serotypes tested"
            )
        )
    clinical = report.clinical
    if clinical.recorded:
        console.print(
            Text(
                f"Clinical: {'symptomatic' if clinical.symptomatic else 'asymptomatic'}; recurrent infections: "
                f"{clinical.recurrent_infections} ({clinical.recurrence_reason.split(';')[0]})"
            )
        )
    for alert in report.alerts:
        console.print(Text(f"ALERT [{alert.id}] {alert.text}", style="bold red"))
    for title, items in (("Missing work-up", report.workup), ("Recommendations", report.management)):
        if items:
            console.print(Text(title, style="bold"))
            for item in items:
                console.print(f"  - [{item.id}] {item.text}  (source: {item.source.title})", markup=False)
    if report.secondary_causes:
        console.print(Text("Possible secondary causes", style="bold"))
        for m in report.secondary_causes:
            console.print(f"  - {m.name} ({m.matched_on} in {m.record.origin}): {m.mechanism}", markup=False)
    follow = report.follow_up
    if follow:
        console.print(
            Text(
                f"Next follow-up: {follow.next_follow_up} ({follow.interval}); tests: {', '.join(follow.tests)}",
                style="bold",
            )
        )
    console.print(Panel(Text(report.patient_summary), title="For the patient"))
    if report.warnings:
        console.print(Text("Warnings", style="bold yellow"))
        for warning in report.warnings:
            console.print(f"  - {warning}", markup=False)
    console.print(Text(report.disclaimer, style="italic"))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _cite(source: SourceRef) -> str:
    return f"{source.title} {source.url}".strip()
