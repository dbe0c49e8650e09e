"""The course over time: treatments that blind IgG and vaccine tests, IgM course, progression alerts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from sigmd.core.ages import has_reached
from sigmd.core.context import ContextRules, Modifier, fold, read_spans
from sigmd.core.interpret import Interpretation
from sigmd.core.knowledge import FeatureRules, Knowledge, SecondaryCause, VaccineRules
from sigmd.core.model import IGG_SUBCLASSES, Analyte, Case, CodedText, ProteinAntigenResponse, VaccineResponse
from sigmd.core.secondary import MatchStatus, match_secondary_causes
from sigmd.core.timeline import LOW_STATUSES, NOT_LOW_STATUSES, Persistence, by_analyte
from sigmd.core.vaccines import names_polysaccharide

if TYPE_CHECKING:
    from sigmd.core.patterns import PatternFinding

BLINDED = (Analyte.IGG, *IGG_SUBCLASSES)


@dataclass(frozen=True)
class BlindingWindow:
    """A period in which IgG, IgG-subclass and vaccine results cannot be interpreted."""

    start: date | None
    end: date | None
    """None: open-ended (ongoing treatment, or dates not given)."""
    reason: str

    def covers(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


def _mentions(record: CodedText, terms: tuple[str, ...], atc: tuple[str, ...], context: ContextRules) -> bool:
    """Whether the record names the treatment: by ATC code, or by a term its text does not negate or give to someone
    else ("no IVIG", "IVIG declined", "mother on IVIG" do not; "IVIG planned" and "previous IVIG" do, since the
    treatment may have been given and sigmd then sets the IgG aside rather than judge it)."""
    is_atc = record.code and record.system.strip().lower() in ("atc", "http://www.whocc.no/atc")
    if is_atc and any(record.code.upper().startswith(prefix) for prefix in atc):
        return True
    text = record.text
    folded = fold(text)
    spans = [
        (m.start(), m.end())
        for term in terms
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", folded)
    ]
    return any(
        span.with_modifier(Modifier.NEGATED) is None and span.with_modifier(Modifier.OTHER_PERSON) is None
        for span in read_spans(text, spans, context)
    )


def blinding_windows(case: Case, knowledge: Knowledge) -> tuple[BlindingWindow, ...]:
    """Immunoglobulin replacement (until its washout ends) and anti-CD20 therapy (within its window)."""
    rule = knowledge.thresholds.interference
    windows: list[BlindingWindow] = []
    anti_cd20 = tuple(c for c in knowledge.secondary_causes if c.id == "anti_cd20")
    for record in case.medications or ():
        if _mentions(record, rule.ig_replacement_terms, rule.ig_replacement_atc, knowledge.secondary_context):
            end = rule.ig_replacement_washout.reached_on(record.end) if record.end else None
            dates = "" if record.start or record.end else " (no dates given, so every result is treated as affected)"
            windows.append(
                BlindingWindow(
                    record.start,
                    end,
                    f"immunoglobulin replacement ({record.text or record.code}, {record.origin}) until "
                    f"{rule.ig_replacement_washout} after it ends{dates}: {rule.ig_replacement_source.note}",
                )
            )
        elif anti_cd20 and _matches_cause(record, anti_cd20, knowledge):
            last = record.end or record.start
            end = rule.anti_cd20_window.reached_on(last) if last else None
            dates = "" if last else " (no dates given, so every result is treated as affected)"
            windows.append(
                BlindingWindow(
                    record.start,
                    end,
                    f"anti-CD20 therapy ({record.text or record.code}, {record.origin}) and {rule.anti_cd20_window} "
                    f"after the last dose{dates}; window is a sigmd default with no published source",
                )
            )
    return tuple(windows)


def _matches_cause(record: CodedText, causes: tuple[SecondaryCause, ...], knowledge: Knowledge) -> bool:
    """Whether the record counts for one of the causes, or names it by a code alone (fail safe: the treatment
    may have been given); "no rituximab" and "consider rituximab" do not."""
    matches = match_secondary_causes((record,), causes, knowledge.secondary_context)
    return any(m.counts or (not m.mentions and m.status is not MatchStatus.DOES_NOT_COUNT) for m in matches)


def blinded_by(day: date, windows: tuple[BlindingWindow, ...]) -> str:
    return next((w.reason for w in windows if w.covers(day)), "")


def blinding_at(day: date, windows: tuple[BlindingWindow, ...]) -> BlindingWindow | None:
    """The window that covers `day` and lasts longest (an open-ended one first), if any."""
    covering = [w for w in windows if w.covers(day)]
    return max(covering, key=lambda w: w.end or date.max, default=None)


@dataclass(frozen=True)
class AntibodyData:
    """The vaccine-response summaries and protein-antigen results the criteria may use, and those set aside."""

    vaccine_responses: tuple[VaccineResponse, ...]
    protein_antigens: tuple[ProteinAntigenResponse, ...]
    not_used: tuple[str, ...]
    """One sentence per response set aside, naming it and the reason."""


def usable_antibody_data(
    case: Case, windows: tuple[BlindingWindow, ...], as_of: date, vaccines: VaccineRules | None = None
) -> AntibodyData:
    """Set aside antibody responses measured during immunoglobulin replacement, anti-CD20 therapy or their washout.

    Passively infused IgG carries the donors' antibodies, so a response measured then says nothing about the
    patient's own. A response without a date cannot be placed against the treatment and is set aside whenever
    the case records one (fail safe); one dated after the as-of date is not used either. With `vaccines`, a
    polysaccharide-response summary measured before the age the rules judge such responses from (2 years) is
    set aside too; an undated one counts as measured on the as-of date.
    """
    not_used: list[str] = []

    def too_young(r: VaccineResponse) -> bool:
        if vaccines is None or not names_polysaccharide(r.antigen):
            return False
        on = r.collected or as_of
        if has_reached(case.patient.birth_date, on, vaccines.min_age):
            return False
        not_used.append(
            f"vaccine response to {r.antigen} ({r.origin}) was not used: measured before the age of "
            f"{vaccines.min_age}; {vaccines.min_age_note}"
        )
        return True

    def usable(name: str, origin: str, collected: date | None) -> bool:
        where = f"{name} ({origin})" if origin else name
        if collected is not None and collected > as_of:
            not_used.append(f"{where} was not used: dated after the as-of date {as_of}")
            return False
        if collected is None and windows:
            not_used.append(
                f"{where} was not used: it has no date, so it may have been measured during {windows[0].reason}"
            )
            return False
        blinded = blinded_by(collected, windows) if collected is not None else ""
        if blinded:
            not_used.append(f"{where} on {collected} was not used: measured during {blinded}")
            return False
        return True

    responses = tuple(
        r
        for r in case.vaccine_responses
        if usable(f"vaccine response to {r.antigen}", r.origin, r.collected) and not too_young(r)
    )
    proteins = tuple(
        p for p in case.protein_antigens if usable(f"{p.antigen} antibody response", p.origin, p.collected)
    )
    return AntibodyData(responses, proteins, tuple(not_used))


class IgmCourse(StrEnum):
    NEVER_LOW = "never_low"
    SINGLE_LOW = "single_low"
    LOW_NOT_YET_PERSISTENT = "low_not_yet_persistent"
    PERSISTENT = "persistent"
    NORMALISED = "normalised"
    NOT_JUDGED = "not_judged"


def igm_course(series: list[Interpretation], state: Persistence) -> IgmCourse:
    if state.persistent:
        return IgmCourse.PERSISTENT
    if state.normalised:
        return IgmCourse.NORMALISED
    if not series or series[-1].status in NOT_LOW_STATUSES:
        return IgmCourse.NEVER_LOW
    if series[-1].status not in LOW_STATUSES:
        return IgmCourse.NOT_JUDGED
    return IgmCourse.SINGLE_LOW if len(state.low_run) <= 1 else IgmCourse.LOW_NOT_YET_PERSISTENT


@dataclass(frozen=True)
class Alert:
    id: str
    text: str
    facts: tuple[str, ...]


PatternOf = Callable[[tuple[Interpretation, ...]], "PatternFinding"]
"""Names the immunoglobulin pattern of a set of results (`sigmd.core.patterns.classify` with the thresholds)."""


def progression_alerts(
    interps: tuple[Interpretation, ...],
    case: Case,
    knowledge: Knowledge,
    first_igm: date | None,
    pattern_of: PatternOf | None = None,
) -> tuple[Alert, ...]:
    """IgG or IgA falling below its limit or trending down; a change to another immunoglobulin pattern; a reported
    T-cell defect; autoimmune disease new during follow-up."""
    alerts: list[Alert] = []
    trend = knowledge.thresholds.trend
    for analyte in (Analyte.IGG, Analyte.IGA):
        series = by_analyte(interps, analyte)
        if len(series) < 2:
            continue
        first, last = series[0], series[-1]
        facts = (
            f"{analyte} {first.result.quantity.describe()} on {first.result.collected}",
            f"{analyte} {last.result.quantity.describe()} on {last.result.collected}",
        )
        earlier_normal = any(i.status in NOT_LOW_STATUSES for i in series[:-1])
        if last.status in LOW_STATUSES and earlier_normal:
            alerts.append(
                Alert(
                    f"{analyte.value.lower()}_fell_below_limit",
                    f"{analyte} has fallen below its age-matched limit during follow-up",
                    facts,
                )
            )
        elif first.z_score is not None and last.z_score is not None and first.z_score - last.z_score >= trend.z_drop:
            alerts.append(
                Alert(
                    f"{analyte.value.lower()}_trending_down",
                    f"{analyte} fell by {first.z_score - last.z_score:.1f} SD during follow-up "
                    f"(threshold {trend.z_drop:g} SD, a sigmd default with no published source)",
                    facts,
                )
            )
    if pattern_of is not None:
        alerts.extend(_pattern_progression(interps, pattern_of))
    if case.t_cell_defect:
        alerts.append(
            Alert(
                "t_cell_defect",
                "a T-cell defect is reported: low IgM with a T-cell defect is not selective IgM deficiency (ESID "
                "requires the absence of T-cell defects) and needs evaluation for a combined immunodeficiency",
                ("t_cell_defect: true",),
            )
        )
    alerts.extend(_new_autoimmunity(case, knowledge.features, first_igm))
    return tuple(alerts)


_BASELINE_PATTERNS = ("isolated_low_igm", "igg_subclass_only", "normal")
"""Patterns from which a change to an antibody-deficiency pattern is a progression (values of `Pattern`)."""
_PROGRESSED_PATTERNS = (
    "cvid_pattern",
    "hyper_igm_pattern",
    "panhypogammaglobulinaemia",
    "selective_iga_deficiency",
    "other",
)


def _pattern_name(value: str) -> str:
    words = value.replace("_", " ")
    for lower, proper in (("igm", "IgM"), ("iga", "IgA"), ("igg", "IgG"), ("cvid", "CVID")):
        words = re.sub(rf"\b{lower}\b", proper, words)
    return words


def _pattern_progression(interps: tuple[Interpretation, ...], pattern_of: PatternOf) -> list[Alert]:
    """The first pattern that could be named, compared with the pattern of the latest results."""
    days = sorted({i.result.collected for i in interps})
    if len(days) < 2:
        return []
    now = pattern_of(interps)
    if now.pattern.value not in _PROGRESSED_PATTERNS:
        return []
    for day in days[:-1]:
        then = pattern_of(tuple(i for i in interps if i.result.collected <= day))
        if then.pattern.value == "incomplete":
            continue
        if then.pattern.value not in _BASELINE_PATTERNS:
            return []
        name_then, name_now = (_pattern_name(p.pattern.value) for p in (then, now))
        return [
            Alert(
                "pattern_progression",
                f"the immunoglobulin pattern has changed during follow-up from {name_then} (results up to {day}) to "
                f"{name_now} (latest results, {days[-1]}): refer to clinical immunology",
                (f"up to {day}: {then.reason}", f"latest: {now.reason}"),
            )
        ]
    return []


def _new_autoimmunity(case: Case, rules: FeatureRules, first_igm: date | None) -> list[Alert]:
    if first_igm is None:
        return []
    found: list[Alert] = []
    recorded = [
        (a.kind, a.text or a.kind, a.diagnosed, a.origin) for a in (case.features.autoimmune if case.features else ())
    ]
    for condition in case.conditions or ():
        kind = autoimmune_kind(condition.text, rules)
        if kind:
            recorded.append((kind, condition.text, condition.start, condition.origin))
    for kind, text, diagnosed, origin in recorded:
        if diagnosed is not None and diagnosed > first_igm:
            found.append(
                Alert(
                    "new_autoimmune_disease",
                    f"new autoimmune disease during follow-up: {text} ({kind}) diagnosed {diagnosed}, after the first IgM result on {first_igm}",
                    (f"{origin}: {text}",),
                )
            )
    return found


def autoimmune_kind(text: str, rules: FeatureRules) -> str:
    lowered = text.lower()
    for kind, terms in rules.autoimmune_terms.items():
        if any(re.search(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])", lowered) for t in terms):
            return kind
    return ""
