"""A patient's results over time: latest values and persistence of low results."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sigmd.core.ages import has_reached
from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import PersistenceRule
from sigmd.core.model import Analyte, Patient

LOW_STATUSES = (Status.LOW, Status.ABSENT)
NOT_LOW_STATUSES = (Status.NORMAL, Status.HIGH)


def agree_same_day(interps: tuple[Interpretation, ...]) -> tuple[Interpretation, ...]:
    """The interpretations, with the results of one analyte on one day made to agree.

    Results carry a date, not a time, so two results of one day have no order, and a verdict read from whichever
    came last in the input would change with the order of the input. So:
    - when one is low (or absent) and another is not, each of them becomes indeterminate: none decides;
    - when one is absent and another only low, the absent ones are read as low (complete SIgMD needs every result
      of the day below the absent threshold);
    - when one is high and another normal, the high ones are read as normal.
    Each changed result carries a note naming the results of the day."""
    days: dict[tuple[Analyte, date], list[Interpretation]] = {}
    for interp in interps:
        days.setdefault((interp.result.analyte, interp.result.collected), []).append(interp)
    changed: dict[int, Interpretation] = {}
    for (analyte, collected), day in days.items():
        if len(day) < 2:
            continue
        statuses = {i.status for i in day}
        if statuses & set(LOW_STATUSES) and statuses & set(NOT_LOW_STATUSES):
            agreed: dict[Status, Status] = {s: Status.INDETERMINATE for s in (*LOW_STATUSES, *NOT_LOW_STATUSES)}
            why = f"which is the latest cannot be told from the date, so none of them decides whether {analyte} is low"
        elif {Status.ABSENT, Status.LOW} <= statuses:
            agreed, why = {Status.ABSENT: Status.LOW}, "read as low, not absent, since not every one is absent"
        elif {Status.HIGH, Status.NORMAL} <= statuses:
            agreed, why = {Status.HIGH: Status.NORMAL}, "read as normal, not high, since not every one is high"
        else:
            continue
        ordered = sorted(day, key=lambda i: i.result.quantity.value)
        results = ", ".join(f"{i.result.quantity.describe()} {i.status.value}" for i in ordered)
        note = f"{analyte} results on {collected} disagree ({results}): {why}; ask the laboratory which is right"
        for interp in day:
            if interp.status in agreed:
                changed[id(interp)] = replace(interp, status=agreed[interp.status], notes=(*interp.notes, note))
    return tuple(changed.get(id(i), i) for i in interps) if changed else interps


def by_analyte(interps: tuple[Interpretation, ...], analyte: Analyte) -> list[Interpretation]:
    """Results of one analyte in date order (ties keep input order)."""
    return sorted((i for i in interps if i.result.analyte is analyte), key=lambda i: i.result.collected)


def latest(interps: tuple[Interpretation, ...], analyte: Analyte) -> Interpretation | None:
    series = by_analyte(interps, analyte)
    return series[-1] if series else None


def first_low(series: list[Interpretation]) -> Interpretation | None:
    """The first low (or absent) result of a series in date order: the index result of a research cohort."""
    return next((i for i in series if i.status in LOW_STATUSES), None)


@dataclass(frozen=True)
class Persistence:
    persistent: bool
    normalised: bool
    """The latest result is normal after an earlier low one."""
    low_run: tuple[Interpretation, ...]
    """The run of low results since the last result that was not low."""
    required_span: str
    explanation: str


def persistence(series: list[Interpretation], patient: Patient, rule: PersistenceRule) -> Persistence:
    """Low on at least `min_low_results` occasions, spanning at least the required time, with no
    normal result in between; a normal latest result after a low one is 'normalised'."""
    if not series:
        return Persistence(False, False, (), "", "no results")
    last = series[-1]
    child = not has_reached(patient.birth_date, last.result.collected, rule.child_below)
    span = rule.min_span_child if child else rule.min_span_adult
    span_text = f"{span} ({'child' if child else 'adult'} rule)"
    if last.status in NOT_LOW_STATUSES:
        had_low = any(i.status in LOW_STATUSES for i in series[:-1])
        text = "the latest result is not low" + (" after earlier low results (normalised)" if had_low else "")
        return Persistence(False, had_low, (), span_text, text)
    run: list[Interpretation] = []
    for interp in reversed(series):
        if interp.status in LOW_STATUSES:
            run.append(interp)
        elif interp.status in NOT_LOW_STATUSES:
            break
    run.reverse()
    if len(run) < rule.min_low_results:
        text = f"{len(run)} low result(s) in a row; {rule.min_low_results} needed at least {span_text} apart"
        return Persistence(False, False, tuple(run), span_text, text)
    first_date, last_date = run[0].result.collected, run[-1].result.collected
    if last_date < span.reached_on(first_date):
        text = f"{len(run)} low results from {first_date} to {last_date}, less than the required {span_text}"
        return Persistence(False, False, tuple(run), span_text, text)
    text = f"{len(run)} low results from {first_date} to {last_date}, spanning at least {span_text}"
    return Persistence(True, False, tuple(run), span_text, text)
