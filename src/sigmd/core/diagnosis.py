"""From the criteria and the pattern to the diagnosis: the label, its certainty and the criteria that decided it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import CriterionId, Knowledge, Label, Role, RuleProfile
from sigmd.core.model import Analyte, Case
from sigmd.core.patterns import Pattern, PatternFinding
from sigmd.core.rules import CriterionResult, Outcome
from sigmd.core.timeline import by_analyte, latest, persistence


class Certainty(StrEnum):
    PROVISIONAL = "provisional"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Diagnosis:
    label: Label
    certainty: Certainty
    profile: str
    summary: str
    reasons: tuple[str, ...]
    decided_by: tuple[CriterionId, ...] = ()
    """The criteria that decided the label (each in the assessment's criteria list); () when the pattern of
    results decided it alone."""


_SIGMD_PATTERNS = (Pattern.ISOLATED_LOW_IGM, Pattern.INCOMPLETE)
_PATTERN_LABELS = {
    Pattern.SELECTIVE_IGA_DEFICIENCY: Label.SELECTIVE_IGA_DEFICIENCY,
    Pattern.CVID: Label.CVID_PATTERN,
    Pattern.HYPER_IGM: Label.HYPER_IGM_PATTERN,
    Pattern.PANHYPOGAMMAGLOBULINAEMIA: Label.OTHER_ABNORMAL,
    Pattern.IGG_SUBCLASS_ONLY: Label.OTHER_ABNORMAL,
    Pattern.OTHER: Label.OTHER_ABNORMAL,
    Pattern.NORMAL: Label.NORMAL,
}
_OVERRIDE_PRECEDENCE = (
    Label.SECONDARY_LOW_IGM,
    Label.OTHER_ABNORMAL,
    Label.UNCLASSIFIED_ANTIBODY_DEFICIENCY,
    Label.ISOLATED_LOW_IGM,
)


def diagnose(
    profile: RuleProfile,
    pattern: PatternFinding,
    criteria: tuple[CriterionResult, ...],
    interps: tuple[Interpretation, ...],
    case: Case,
    knowledge: Knowledge,
) -> Diagnosis:
    by_id = {c.id: c for c in criteria}
    igm = latest(interps, Analyte.IGM)
    igm_low = by_id.get(CriterionId.IGM_LOW)

    if pattern.pattern in _SIGMD_PATTERNS and igm_low is not None and igm_low.outcome is Outcome.MET:
        overrides = [c for c in criteria if c.role is Role.CONFIRM and c.outcome is Outcome.NOT_MET and c.if_not_met]
        reasons = [f"{c.title}: {c.outcome.value} ({c.reason})" for c in criteria]
        required = [c for c in criteria if c.role in (Role.ENTRY, Role.CONFIRM)]
        open_items = [c.title for c in required if c.outcome is not Outcome.MET]
        certainty = Certainty.CONFIRMED if not open_items else Certainty.PROVISIONAL
        if overrides:
            label = min((c.if_not_met for c in overrides if c.if_not_met), key=_OVERRIDE_PRECEDENCE.index)
            cause = "; ".join(c.reason for c in overrides if c.if_not_met is label)
            entry_open = [c.title for c in criteria if c.role is Role.ENTRY and c.outcome is not Outcome.MET]
            persistence_result = by_id.get(CriterionId.IGM_PERSISTENTLY_LOW)
            confirmed = not entry_open and (persistence_result is None or persistence_result.outcome is Outcome.MET)
            certainty = Certainty.CONFIRMED if confirmed else Certainty.PROVISIONAL
            summary = f"Low IgM, but {cause}: {label.value.replace('_', ' ')} under profile '{profile.id}'"
            decided = (CriterionId.IGM_LOW, *(c.id for c in overrides if c.if_not_met is label))
            return Diagnosis(label, certainty, profile.id, summary, tuple(reasons), decided)
        absent = by_id.get(CriterionId.IGM_ABSENT)
        complete = absent is not None and absent.outcome is Outcome.MET
        label = Label.COMPLETE_SIGMD if complete else Label.PARTIAL_SIGMD
        kind = "Complete" if complete else "Partial"
        pending = f"; still open: {', '.join(open_items)}" if open_items else ""
        subclasses = by_id.get(CriterionId.IGG_SUBCLASSES_NORMAL)
        with_subclass = (
            f" with IgG-subclass deficiency ({subclasses.reason})"
            if subclasses is not None and subclasses.outcome is Outcome.NOT_MET
            else ""
        )
        summary = (
            f"{kind} selective IgM deficiency{with_subclass} ({certainty.value}) under profile '{profile.id}'{pending}"
        )
        decided_form = (CriterionId.IGM_LOW, CriterionId.IGM_ABSENT)
        return Diagnosis(label, certainty, profile.id, summary, tuple(reasons), decided_form)

    reasons = [f"pattern {pattern.pattern.value}: {pattern.reason}"]
    if igm_low is not None:
        reasons.append(f"{igm_low.title}: {igm_low.outcome.value} ({igm_low.reason})")
    if pattern.pattern is Pattern.INCOMPLETE:
        if igm is not None and igm.status in (Status.NORMAL, Status.HIGH):
            return Diagnosis(
                Label.NORMAL,
                Certainty.PROVISIONAL,
                profile.id,
                "IgM is not low; IgG or IgA was not measured or could not be judged",
                tuple(reasons),
            )
        return Diagnosis(
            Label.INSUFFICIENT_DATA,
            Certainty.PROVISIONAL,
            profile.id,
            f"insufficient data: IgM could not be judged under profile '{profile.id}'",
            tuple(reasons),
            (CriterionId.IGM_LOW,),
        )
    label = _PATTERN_LABELS[pattern.pattern]
    rule = knowledge.thresholds.persistence
    persistent = all(
        persistence(by_analyte(interps, analyte), case.patient, rule).persistent for analyte in pattern.abnormal
    )
    confirmed = persistent if pattern.abnormal else True
    summary = f"{pattern.pattern.value.replace('_', ' ')}: {pattern.reason}"
    deciders: tuple[CriterionId, ...] = ()
    if label is Label.NORMAL and igm_low is not None and igm_low.outcome is Outcome.NOT_MET:
        deciders = (CriterionId.IGM_LOW,)
        igm_series = by_analyte(interps, Analyte.IGM)
        normalised = persistence(igm_series, case.patient, rule).normalised
        transient = "IgM was low earlier and has normalised (transient, not SIgMD); " if normalised else ""
        summary = f"{transient}IgM is not low under profile '{profile.id}'; {pattern.reason}"
    certainty = Certainty.CONFIRMED if confirmed else Certainty.PROVISIONAL
    return Diagnosis(label, certainty, profile.id, summary, tuple(reasons), deciders)
