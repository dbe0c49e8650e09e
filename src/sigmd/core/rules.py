"""Criteria: each defined once, with an id and a version; profiles choose and cite them.

A criterion looks at the evidence in an `Evidence` bundle and answers met, not met or unknown,
with the reason and the facts it used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sigmd.core import explain
from sigmd.core.course import AntibodyData
from sigmd.core.features import FeatureSummary
from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import CriterionId, CriterionSpec, Label, Role, Thresholds
from sigmd.core.model import IGG_SUBCLASSES, Analyte, Case, VaccineResult
from sigmd.core.provenance import Source
from sigmd.core.secondary import MatchStatus, SecondaryMatch
from sigmd.core.timeline import LOW_STATUSES, NOT_LOW_STATUSES, by_analyte, latest, persistence
from sigmd.core.vaccines import IMPAIRED, Classification, PneumococcalResponse


class Outcome(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    """What the criteria look at."""

    case: Case
    interpretations: tuple[Interpretation, ...]
    secondary_matches: tuple[SecondaryMatch, ...]
    """Matches that count: those a clinician has not marked as reviewed and not causal."""
    thresholds: Thresholds
    reviewed_matches: tuple[SecondaryMatch, ...] = ()
    uncertain_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named but not settled (suspected, planned, or coded without confirming text): not excluded."""
    uncounted_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named only to be negated, for someone else, or by a local route: shown, never counted."""
    pneumococcal: PneumococcalResponse | None = None
    antibody: AntibodyData | None = None
    """The vaccine responses that may be used (None: all of the case's, unscreened)."""
    features: FeatureSummary | None = None
    """The clinical features as summarised (None: not summarised, so the infection criterion is unknown)."""


@dataclass(frozen=True)
class Finding:
    outcome: Outcome
    reason: str
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class CriterionResult:
    id: CriterionId
    version: int
    title: str
    role: Role
    outcome: Outcome
    reason: str
    facts: tuple[str, ...]
    requirement: str
    source: Source
    if_not_met: Label | None


@dataclass(frozen=True)
class Criterion:
    id: CriterionId
    version: int
    title: str
    evaluate: Callable[[Evidence], Finding]


def _latest_is_normal(analyte: Analyte) -> Callable[[Evidence], Finding]:
    def evaluate(evidence: Evidence) -> Finding:
        interp = latest(evidence.interpretations, analyte)
        if interp is None:
            return Finding(Outcome.UNKNOWN, explain.not_measured(analyte))
        fact = (explain.describe_result(interp),)
        if interp.status in NOT_LOW_STATUSES:
            return Finding(Outcome.MET, f"latest {analyte} is {interp.status.value}", fact)
        if interp.status in LOW_STATUSES:
            return Finding(Outcome.NOT_MET, f"latest {analyte} is {interp.status.value}", fact)
        return Finding(Outcome.UNKNOWN, f"latest {analyte} could not be judged ({interp.status.value})", fact)

    return evaluate


def _igm_low(evidence: Evidence) -> Finding:
    interp = latest(evidence.interpretations, Analyte.IGM)
    if interp is None:
        return Finding(Outcome.UNKNOWN, explain.not_measured(Analyte.IGM))
    facts = (explain.describe_result(interp), *interp.notes)
    if interp.status in LOW_STATUSES:
        return Finding(Outcome.MET, f"latest IgM is {interp.status.value}", facts)
    if interp.status in NOT_LOW_STATUSES:
        earlier = [i for i in by_analyte(evidence.interpretations, Analyte.IGM)[:-1] if i.status in LOW_STATUSES]
        extra = f"; IgM was low earlier ({len(earlier)} result(s)) and has normalised" if earlier else ""
        return Finding(Outcome.NOT_MET, f"latest IgM is {interp.status.value}{extra}", facts)
    return Finding(Outcome.UNKNOWN, f"latest IgM could not be judged ({interp.status.value})", facts)


def _igm_absent(evidence: Evidence) -> Finding:
    """Partial versus complete: the latest IgM below the absent threshold (with its source) makes it complete."""
    interp = latest(evidence.interpretations, Analyte.IGM)
    threshold = evidence.thresholds.absent[Analyte.IGM]
    limit = f"below {threshold.value:g} {threshold.unit} ({threshold.source.cite()})"
    if interp is None:
        return Finding(Outcome.UNKNOWN, explain.not_measured(Analyte.IGM), (limit,))
    facts = (explain.describe_result(interp), f"absent means {limit}")
    if interp.status is Status.ABSENT:
        return Finding(Outcome.MET, f"latest IgM is {limit}: the complete form", facts)
    if interp.status in LOW_STATUSES or interp.status in NOT_LOW_STATUSES:
        return Finding(Outcome.NOT_MET, f"latest IgM is not {limit}", facts)
    return Finding(Outcome.UNKNOWN, f"latest IgM could not be judged ({interp.status.value})", facts)


def _igm_persistently_low(evidence: Evidence) -> Finding:
    series = by_analyte(evidence.interpretations, Analyte.IGM)
    if not series:
        return Finding(Outcome.UNKNOWN, explain.not_measured(Analyte.IGM))
    rule = evidence.thresholds.persistence
    state = persistence(series, evidence.case.patient, rule)
    facts = tuple(explain.describe_result(i) for i in series)
    heuristic = "; sigmd default rule, no published interval" if not rule.source.has_published_basis else ""
    if state.persistent:
        return Finding(Outcome.MET, state.explanation + heuristic, facts)
    if state.normalised or series[-1].status in NOT_LOW_STATUSES:
        return Finding(Outcome.NOT_MET, state.explanation, facts)
    return Finding(Outcome.UNKNOWN, state.explanation + heuristic, facts)


def _secondary_causes_excluded(evidence: Evidence) -> Finding:
    case = evidence.case
    reviewed = tuple(
        f"{m.record.text or m.record.code} ({m.record.origin}) matches {m.cause.name} but was reviewed as not causal"
        + (f": {m.record.review_note}" if m.record.review_note else "")
        for m in evidence.reviewed_matches
    ) + tuple(m.describe() for m in evidence.uncertain_matches + evidence.uncounted_matches)
    if evidence.secondary_matches:
        facts = tuple(
            f"{m.record.text or m.record.code} ({m.record.origin}) matches {m.cause.name} by {m.matched_on}: "
            f"{m.cause.mechanism}"
            for m in evidence.secondary_matches
        )
        names = ", ".join(sorted({m.cause.name for m in evidence.secondary_matches}))
        return Finding(Outcome.NOT_MET, f"possible secondary cause: {names}", facts + reviewed)
    malignant = sorted(
        {
            m.cause.name
            for m in evidence.reviewed_matches
            if m.cause.category == "malignancy" and m.status is not MatchStatus.DOES_NOT_COUNT
        }
    )
    if malignant:
        # A clinician may set a misread record aside, but not a malignancy: the IDF requires leukaemia and lymphoma
        # to be excluded before a low IgM is called primary, which a review that it is "not causal" does not do.
        verb = "was" if len(malignant) == 1 else "were"
        return Finding(
            Outcome.UNKNOWN,
            f"{'; '.join(malignant)} {verb} reviewed as not causal, but a malignancy on record is not excluded by a "
            "review: primary SIgMD needs leukaemia, lymphoma and myeloma excluded, so the verdict stays provisional",
            reviewed,
        )
    missing = [
        name for name, value in (("conditions", case.conditions), ("medications", case.medications)) if value is None
    ]
    if missing:
        return Finding(
            Outcome.UNKNOWN, f"no secondary cause found, but the case does not list {' or '.join(missing)}", reviewed
        )
    if evidence.uncertain_matches:
        names = ", ".join(sorted({m.cause.name for m in evidence.uncertain_matches}))
        return Finding(
            Outcome.UNKNOWN,
            f"not excluded: {names} (suspected, planned, or coded without text that confirms it); review the record",
            reviewed,
        )
    if case.blood_count is None:
        return Finding(
            Outcome.UNKNOWN,
            "no secondary cause among the recorded conditions and medications, but no blood count or differential "
            "was given, so leukaemia or lymphoma is not excluded",
            reviewed,
        )
    if case.blood_count.abnormal:
        note = f" ({case.blood_count.note})" if case.blood_count.note else ""
        return Finding(
            Outcome.UNKNOWN,
            f"the blood count of {case.blood_count.collected} is abnormal{note}: leukaemia or lymphoma is not excluded",
            reviewed,
        )
    counted = f"{len(case.conditions or ())} condition(s) and {len(case.medications or ())} medication(s)"
    return Finding(Outcome.MET, f"no secondary cause among the {counted} recorded", reviewed)


def _igg_subclasses_normal(evidence: Evidence) -> Finding:
    latest_by_subclass = {a: latest(evidence.interpretations, a) for a in IGG_SUBCLASSES}
    measured = {a: i for a, i in latest_by_subclass.items() if i is not None}
    facts = tuple(explain.describe_result(i) for i in measured.values())
    low = [a for a, i in measured.items() if i.status in LOW_STATUSES]
    if low:
        return Finding(Outcome.NOT_MET, f"low IgG subclass(es): {', '.join(low)}", facts)
    if not measured:
        return Finding(Outcome.UNKNOWN, "IgG subclasses were not measured")
    unjudged = [a for a, i in measured.items() if i.status not in NOT_LOW_STATUSES]
    missing = [a for a in IGG_SUBCLASSES if a not in measured]
    if unjudged or missing:
        gaps = [f"{a} not measured" for a in missing] + [f"{a} could not be judged" for a in unjudged]
        return Finding(Outcome.UNKNOWN, "; ".join(gaps), facts)
    return Finding(Outcome.MET, "IgG1-4 all normal", facts)


def _vaccine_response_normal(evidence: Evidence) -> Finding:
    case = evidence.case
    usable = (
        evidence.antibody
        if evidence.antibody is not None
        else AntibodyData(case.vaccine_responses, case.protein_antigens, ())
    )
    judged: list[tuple[str, bool]] = [(r.antigen, r.result is VaccineResult.NORMAL) for r in usable.vaccine_responses]
    judged += [(f"{p.antigen} (protein antigen)", p.result.value == "normal") for p in usable.protein_antigens]
    facts = [f"{r.antigen}: {r.result.value} ({r.origin})" for r in usable.vaccine_responses]
    facts += [
        f"{p.antigen}: {p.result.value}{f' ({p.detail})' if p.detail else ''} ({p.origin})"
        for p in usable.protein_antigens
    ]
    facts += usable.not_used
    pneumo = evidence.pneumococcal
    if pneumo is not None:
        facts.append(f"PPSV23 ({pneumo.rule_set.name}): {pneumo.classification.value}: {pneumo.reason}")
        if pneumo.classification is not Classification.NOT_ASSESSED:
            judged.append(("pneumococcal polysaccharide (PPSV23)", pneumo.classification not in IMPAIRED))
    if not judged:
        why = f"; the PPSV23 challenge was not assessed: {pneumo.reason}" if pneumo is not None else ""
        set_aside = (
            f"; {len(usable.not_used)} recorded response(s) could not be used: {'; '.join(usable.not_used)}"
            if usable.not_used
            else ""
        )
        recorded = "usable vaccine response" if usable.not_used else "vaccine response was recorded"
        return Finding(Outcome.UNKNOWN, f"no {recorded}{set_aside}{why}", tuple(facts))
    impaired = [name for name, normal in judged if not normal]
    if impaired:
        return Finding(Outcome.NOT_MET, f"impaired response to {', '.join(impaired)}", tuple(facts))
    return Finding(Outcome.MET, "all recorded vaccine responses are normal", tuple(facts))


def _infections_recorded(evidence: Evidence) -> Finding:
    """ESID's clinical criterion: infections, invasive or recurrent (usually bacterial)."""
    features = evidence.features
    if features is None or not features.recorded:
        return Finding(
            Outcome.UNKNOWN,
            "no clinical features were recorded, so whether there are invasive or recurrent infections is unknown",
        )
    facts = (
        *(
            f"{year}: {', '.join(f'{n} {kind}' for kind, n in kinds.items())}"
            for year, kinds in features.infections_per_year.items()
        ),
        features.recurrence_reason,
    )
    counted = features.recurrence_reason.split("; rule:")[0]
    if features.severe_infection or features.recurrent_infections:
        return Finding(Outcome.MET, f"invasive or recurrent infections: {counted}", facts)
    return Finding(Outcome.NOT_MET, f"no invasive or recurrent infection is recorded ({counted})", facts)


def _no_t_cell_defect(evidence: Evidence) -> Finding:
    defect = evidence.case.t_cell_defect
    if defect is None:
        return Finding(Outcome.UNKNOWN, "T-cell immunity was not reported")
    if defect:
        return Finding(Outcome.NOT_MET, "a T-cell defect is reported")
    return Finding(Outcome.MET, "no T-cell defect is reported")


CRITERIA: dict[CriterionId, Criterion] = {
    c.id: c
    for c in (
        Criterion(CriterionId.IGM_LOW, 1, "IgM below the limit", _igm_low),
        Criterion(CriterionId.IGM_ABSENT, 1, "IgM absent (complete form)", _igm_absent),
        Criterion(CriterionId.IGG_NORMAL, 1, "IgG normal", _latest_is_normal(Analyte.IGG)),
        Criterion(CriterionId.IGA_NORMAL, 1, "IgA normal", _latest_is_normal(Analyte.IGA)),
        Criterion(CriterionId.IGM_PERSISTENTLY_LOW, 1, "IgM persistently low", _igm_persistently_low),
        Criterion(CriterionId.SECONDARY_CAUSES_EXCLUDED, 1, "Secondary causes excluded", _secondary_causes_excluded),
        Criterion(CriterionId.IGG_SUBCLASSES_NORMAL, 1, "IgG subclasses normal", _igg_subclasses_normal),
        Criterion(CriterionId.VACCINE_RESPONSE_NORMAL, 1, "Vaccine responses normal", _vaccine_response_normal),
        Criterion(CriterionId.NO_T_CELL_DEFECT, 1, "No T-cell defect", _no_t_cell_defect),
        Criterion(CriterionId.INFECTIONS_RECORDED, 1, "Invasive or recurrent infections", _infections_recorded),
    )
}


def evaluate(spec: CriterionSpec, evidence: Evidence) -> CriterionResult:
    criterion = CRITERIA[spec.id]
    finding = criterion.evaluate(evidence)
    return CriterionResult(
        id=criterion.id,
        version=criterion.version,
        title=criterion.title,
        role=spec.role,
        outcome=finding.outcome,
        reason=finding.reason,
        facts=finding.facts,
        requirement=spec.requirement,
        source=spec.source,
        if_not_met=spec.if_not_met,
    )
