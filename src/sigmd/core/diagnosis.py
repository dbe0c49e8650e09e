"""From the criteria and the pattern to the diagnosis: the label, its certainty and the criteria that decided it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from sigmd.core.ages import AgeSpec
from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import CriterionId, Knowledge, Label, Role, RuleProfile
from sigmd.core.model import Analyte, Case
from sigmd.core.patterns import Pattern, PatternFinding
from sigmd.core.rules import CriterionResult, Outcome
from sigmd.core.timeline import LOW_STATUSES, by_analyte, latest, persistence


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


@dataclass(frozen=True)
class Decision:
    """The label, its certainty and the criteria that decided it: what `decide` returns."""

    label: Label
    certainty: Certainty
    decided_by: tuple[CriterionId, ...]
    overrides: tuple[CriterionId, ...] = ()
    """The confirming criteria not met that changed the label (empty unless one did)."""


class Judged(Protocol):
    """What `decide` reads of one criterion's result (a `CriterionResult` is one)."""

    @property
    def id(self) -> CriterionId: ...
    @property
    def role(self) -> Role: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def if_not_met(self) -> Label | None: ...


def decide(
    pattern: Pattern,
    criteria: Sequence[Judged],
    latest_igm: Status | None,
    abnormal_persistent: bool,
    latest_unit_doubt: bool = False,
    other_class_raised: bool = False,
    others_outdated: bool = False,
) -> Decision:
    """The decision procedure, on statuses alone: the pattern, each criterion's outcome with its role, the status
    of the latest IgM, whether every result that makes the pattern abnormal is persistently abnormal, whether the
    unit of the latest result of any analyte is in doubt (`unit_doubts`), whether the latest IgG or IgA is above its
    upper limit, and whether it was taken longer than the result horizon before the latest IgM (`outdated_others`).

    A decision that rests on a result whose unit is in doubt is at most provisional: an implausible value may be in
    another unit, and a unit error can hide a low result behind a high one ('5 g/dL' meant as 5 mg/dL) or make a
    normal one look absent (IgM 0.8 'mg/dL' meant as g/L). So is a low IgM beside a raised IgG or IgA
    (`raised_beside_low_igm`): a monoclonal protein of one class can suppress the others (myeloma); and one beside an
    IgG or IgA taken long before it: whether IgG and IgA are still normal, which makes the low IgM selective, is not
    known.

    `diagnose` words the decision for one patient; screening engines call this once per distinct input and join
    the answer back to their patients, so the procedure is defined here only.
    """
    decision = _decide(pattern, criteria, latest_igm, abnormal_persistent)
    beside_low_igm = (other_class_raised or others_outdated) and latest_igm in LOW_STATUSES
    if (latest_unit_doubt or beside_low_igm) and decision.certainty is Certainty.CONFIRMED:
        return replace(decision, certainty=Certainty.PROVISIONAL)
    return decision


def _decide(
    pattern: Pattern, criteria: Sequence[Judged], latest_igm: Status | None, abnormal_persistent: bool
) -> Decision:
    by_id = {c.id: c for c in criteria}
    igm_low = by_id.get(CriterionId.IGM_LOW)
    if pattern in _SIGMD_PATTERNS and igm_low is not None and igm_low.outcome is Outcome.MET:
        required = [c for c in criteria if c.role in (Role.ENTRY, Role.CONFIRM)]
        certainty = Certainty.CONFIRMED if all(c.outcome is Outcome.MET for c in required) else Certainty.PROVISIONAL
        overrides = [c for c in criteria if c.role is Role.CONFIRM and c.outcome is Outcome.NOT_MET and c.if_not_met]
        if overrides:
            label = min((c.if_not_met for c in overrides if c.if_not_met), key=_OVERRIDE_PRECEDENCE.index)
            entry_met = all(c.outcome is Outcome.MET for c in criteria if c.role is Role.ENTRY)
            persistence_result = by_id.get(CriterionId.IGM_PERSISTENTLY_LOW)
            persistent = persistence_result is None or persistence_result.outcome is Outcome.MET
            certainty = Certainty.CONFIRMED if entry_met and persistent else Certainty.PROVISIONAL
            deciding = tuple(c.id for c in overrides if c.if_not_met is label)
            return Decision(label, certainty, (CriterionId.IGM_LOW, *deciding), deciding)
        absent = by_id.get(CriterionId.IGM_ABSENT)
        complete = absent is not None and absent.outcome is Outcome.MET
        label = Label.COMPLETE_SIGMD if complete else Label.PARTIAL_SIGMD
        return Decision(label, certainty, (CriterionId.IGM_LOW, CriterionId.IGM_ABSENT))
    if pattern is Pattern.INCOMPLETE:
        if latest_igm in (Status.NORMAL, Status.HIGH):
            return Decision(Label.NORMAL, Certainty.PROVISIONAL, ())
        return Decision(Label.INSUFFICIENT_DATA, Certainty.PROVISIONAL, (CriterionId.IGM_LOW,))
    label = _PATTERN_LABELS[pattern]
    certainty = Certainty.CONFIRMED if abnormal_persistent else Certainty.PROVISIONAL
    deciders: tuple[CriterionId, ...] = ()
    if label is Label.NORMAL and igm_low is not None and igm_low.outcome is Outcome.NOT_MET:
        deciders = (CriterionId.IGM_LOW,)
    return Decision(label, certainty, deciders)


def diagnose(
    profile: RuleProfile,
    pattern: PatternFinding,
    criteria: tuple[CriterionResult, ...],
    interps: tuple[Interpretation, ...],
    case: Case,
    knowledge: Knowledge,
) -> Diagnosis:
    """The decision of `decide` for one patient, with its summary and reasons in words."""
    rule = knowledge.thresholds.persistence
    abnormal_persistent = all(
        persistence(by_analyte(interps, analyte), case.patient, rule).persistent for analyte in pattern.abnormal
    )
    igm = latest(interps, Analyte.IGM)
    doubts = unit_doubts(interps)
    raised = raised_beside_low_igm(interps)
    horizon = knowledge.thresholds.result_horizon.horizon
    outdated = outdated_others(interps, horizon)
    decision = decide(
        pattern.pattern,
        criteria,
        None if igm is None else igm.status,
        abnormal_persistent,
        bool(doubts),
        bool(raised_others(interps)),
        bool(outdated),
    )
    label, certainty, decided = decision.label, decision.certainty, decision.decided_by
    factor = knowledge.thresholds.implausible_factor.value
    limits = [_unit_check(doubts, factor)] if doubts else []
    limits += [_suppression(raised)] if raised else []
    if outdated and igm is not None and igm.status in LOW_STATUSES:
        limits.append(_outdated(outdated, igm, horizon))
    caveat = "".join(f"; provisional while {why}" for why in limits)
    caveats = tuple(f"at most provisional: {why}" for why in limits)
    by_id = {c.id: c for c in criteria}
    igm_low = by_id.get(CriterionId.IGM_LOW)
    if label in (Label.PARTIAL_SIGMD, Label.COMPLETE_SIGMD) or decision.overrides:
        reasons = tuple(f"{c.title}: {c.outcome.value} ({c.reason})" for c in criteria)
        if decision.overrides:
            cause = "; ".join(by_id[i].reason for i in decision.overrides)
            summary = f"Low IgM, but {cause}: {label.value.replace('_', ' ')} under profile '{profile.id}'"
            return Diagnosis(label, certainty, profile.id, summary + caveat, reasons + caveats, decided)
        open_items = [
            c.title for c in criteria if c.role in (Role.ENTRY, Role.CONFIRM) and c.outcome is not Outcome.MET
        ]
        kind = "Complete" if label is Label.COMPLETE_SIGMD else "Partial"
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
        return Diagnosis(label, certainty, profile.id, summary + caveat, reasons + caveats, decided)

    words = [f"pattern {pattern.pattern.value}: {pattern.reason}"]
    if igm_low is not None:
        words.append(f"{igm_low.title}: {igm_low.outcome.value} ({igm_low.reason})")
    if pattern.pattern is Pattern.INCOMPLETE:
        summary = (
            "IgM is not low; IgG or IgA was not measured or could not be judged"
            if label is Label.NORMAL
            else f"insufficient data: IgM could not be judged under profile '{profile.id}'"
        )
        return Diagnosis(label, certainty, profile.id, summary + caveat, (*words, *caveats), decided)
    summary = f"{pattern.pattern.value.replace('_', ' ')}: {pattern.reason}"
    if decided == (CriterionId.IGM_LOW,):
        normalised = persistence(by_analyte(interps, Analyte.IGM), case.patient, rule).normalised
        transient = "IgM was low earlier and has normalised (transient, not SIgMD); " if normalised else ""
        summary = f"{transient}IgM is not low under profile '{profile.id}'; {pattern.reason}"
    return Diagnosis(label, certainty, profile.id, summary + caveat, (*words, *caveats), decided)


def outdated_others(interps: tuple[Interpretation, ...], horizon: AgeSpec) -> tuple[Interpretation, ...]:
    """The latest IgG and IgA results taken longer than `horizon` (the result horizon) before the latest IgM."""
    igm = latest(interps, Analyte.IGM)
    if igm is None:
        return ()
    found = (latest(interps, analyte) for analyte in (Analyte.IGG, Analyte.IGA))
    return tuple(i for i in found if i is not None and igm.result.collected > horizon.reached_on(i.result.collected))


def _outdated(outdated: tuple[Interpretation, ...], igm: Interpretation, horizon: AgeSpec) -> str:
    verb = "was" if len(outdated) == 1 else "were"
    return (
        f"the latest {_listed(list(outdated))} {verb} taken more than {horizon} before the latest IgM "
        f"({igm.result.collected}): measure IgG and IgA again to show the low IgM is selective"
    )


def raised_others(interps: tuple[Interpretation, ...]) -> tuple[Interpretation, ...]:
    """The latest IgG and IgA results when they are above their upper limit (whatever the IgM)."""
    found = (latest(interps, analyte) for analyte in (Analyte.IGG, Analyte.IGA))
    return tuple(i for i in found if i is not None and i.status is Status.HIGH)


def raised_beside_low_igm(interps: tuple[Interpretation, ...]) -> tuple[Interpretation, ...]:
    """`raised_others` when the latest IgM is low or absent: a monoclonal IgG or IgA (myeloma) can suppress the
    other classes, so the low IgM may be secondary to it; serum protein electrophoresis tells."""
    igm = latest(interps, Analyte.IGM)
    return raised_others(interps) if igm is not None and igm.status in LOW_STATUSES else ()


def _suppression(raised: tuple[Interpretation, ...]) -> str:
    verb = "is" if len(raised) == 1 else "are"
    return (
        f"the latest {_listed(list(raised))} {verb} above the upper reference limit beside a low IgM: a monoclonal protein "
        "(myeloma) can suppress the other immunoglobulins, so request serum protein electrophoresis with "
        "immunofixation"
    )


def unit_doubts(interps: tuple[Interpretation, ...]) -> tuple[Interpretation, ...]:
    """The latest result of each analyte when its unit is in doubt: implausible for its unit
    (`Interpretation.implausible`), or judged as reported although its size suggests a unit slip
    (`Interpretation.possible_unit_slip`)."""
    found = (latest(interps, analyte) for analyte in Analyte)
    return tuple(i for i in found if i is not None and (i.implausible or i.possible_unit_slip))


def _unit_check(doubts: tuple[Interpretation, ...], factor: float) -> str:
    """Why the unit of each latest result in doubt should be confirmed."""
    implausible = [i for i in doubts if i.implausible]
    slipped = [i for i in doubts if not i.implausible]
    parts = []
    if implausible:
        verb = "is" if len(implausible) == 1 else "are"
        parts.append(
            f"the latest {_listed(implausible)} {verb} more than {factor:g} times the upper reference limit: "
            "physiologically implausible, check the unit with the laboratory"
        )
    if slipped:
        verb = "looks" if len(slipped) == 1 else "look"
        parts.append(
            f"the latest {_listed(slipped)} {verb} like g/L written as mg/dL (100 times the value lies inside the "
            "reference interval): confirm the unit with the laboratory"
        )
    return "; and ".join(parts)


def _listed(interps: list[Interpretation]) -> str:
    return " and ".join(f"{i.result.analyte} {i.result.quantity.describe()} on {i.result.collected}" for i in interps)
