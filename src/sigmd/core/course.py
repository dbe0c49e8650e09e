"""The course over time: treatments that blind IgG and vaccine tests, IgM course, progression alerts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sigmd.core.interpret import Interpretation
from sigmd.core.knowledge import FeatureRules, Knowledge, SecondaryCause
from sigmd.core.model import IGG_SUBCLASSES, Analyte, Case, CodedText
from sigmd.core.secondary import match_secondary_causes
from sigmd.core.timeline import LOW_STATUSES, NOT_LOW_STATUSES, Persistence, by_analyte

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


def _mentions(record: CodedText, terms: tuple[str, ...], atc: tuple[str, ...]) -> bool:
    is_atc = record.code and record.system.strip().lower() in ("atc", "http://www.whocc.no/atc")
    if is_atc and any(record.code.upper().startswith(prefix) for prefix in atc):
        return True
    text = record.text.lower()
    return any(re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text) for term in terms)


def blinding_windows(case: Case, knowledge: Knowledge) -> tuple[BlindingWindow, ...]:
    """Immunoglobulin replacement (until its washout ends) and anti-CD20 therapy (within its window)."""
    rule = knowledge.thresholds.interference
    windows: list[BlindingWindow] = []
    anti_cd20 = tuple(c for c in knowledge.secondary_causes if c.id == "anti_cd20")
    for record in case.medications or ():
        if _mentions(record, rule.ig_replacement_terms, rule.ig_replacement_atc):
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
        elif anti_cd20 and _matches_cause(record, anti_cd20):
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


def _matches_cause(record: CodedText, causes: tuple[SecondaryCause, ...]) -> bool:
    return bool(match_secondary_causes((record,), causes))


def blinded_by(day: date, windows: tuple[BlindingWindow, ...]) -> str:
    return next((w.reason for w in windows if w.covers(day)), "")


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


def progression_alerts(
    interps: tuple[Interpretation, ...], case: Case, knowledge: Knowledge, first_igm: date | None
) -> tuple[Alert, ...]:
    """IgG or IgA falling below its limit or trending down; autoimmune disease new during follow-up."""
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
    alerts.extend(_new_autoimmunity(case, knowledge.features, first_igm))
    return tuple(alerts)


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
