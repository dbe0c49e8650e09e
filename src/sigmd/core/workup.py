"""The work-up still missing for a verdict: one item per criterion the evidence leaves unknown."""

from __future__ import annotations

from dataclasses import dataclass

from sigmd.core.facts import CaseFacts
from sigmd.core.interpret import Status
from sigmd.core.knowledge import Advice, CriterionId, CriterionSpec, Knowledge, Role, RuleProfile
from sigmd.core.model import Analyte
from sigmd.core.patterns import Pattern, PatternFinding
from sigmd.core.plan import vaccine_challenge_workup
from sigmd.core.rules import CriterionResult, Evidence, Outcome, evaluate
from sigmd.core.timeline import latest


@dataclass(frozen=True)
class WorkupItem:
    advice: Advice
    reason: str
    required_by_profile: bool


WORKUP_FOR_CRITERION: dict[CriterionId, str] = {
    CriterionId.IGG_NORMAL: "measure_igg",
    CriterionId.IGA_NORMAL: "measure_iga",
    CriterionId.IGM_PERSISTENTLY_LOW: "repeat_igm",
    CriterionId.IGG_SUBCLASSES_NORMAL: "measure_igg_subclasses",
    CriterionId.VACCINE_RESPONSE_NORMAL: "pneumococcal_vaccine_challenge",
    CriterionId.SECONDARY_CAUSES_EXCLUDED: "rule_out_secondary_causes",
    CriterionId.NO_T_CELL_DEFECT: "assess_t_cells",
    CriterionId.INFECTIONS_RECORDED: "record_infection_history",
}
_ALWAYS_WORKED_UP = (
    CriterionId.IGG_NORMAL,
    CriterionId.IGA_NORMAL,
    CriterionId.IGM_PERSISTENTLY_LOW,
    CriterionId.IGG_SUBCLASSES_NORMAL,
    CriterionId.VACCINE_RESPONSE_NORMAL,
    CriterionId.SECONDARY_CAUSES_EXCLUDED,
)


def workup(
    profile: RuleProfile,
    pattern: PatternFinding,
    criteria: tuple[CriterionResult, ...],
    evidence: Evidence,
    knowledge: Knowledge,
    facts: CaseFacts | None = None,
) -> tuple[WorkupItem, ...]:
    igm = latest(evidence.interpretations, Analyte.IGM)
    igm_not_normal = igm is not None and igm.status not in (Status.NORMAL, Status.HIGH)
    if not igm_not_normal and pattern.pattern is not Pattern.INCOMPLETE:
        return ()
    in_profile = {c.id: c for c in criteria}
    ids = list(dict.fromkeys([*in_profile, *_ALWAYS_WORKED_UP]))
    items: list[WorkupItem] = []
    for criterion_id in ids:
        advice_id = WORKUP_FOR_CRITERION.get(criterion_id)
        if advice_id is None:
            continue
        result = in_profile.get(criterion_id)
        if result is None:
            result = evaluate(CriterionSpec(criterion_id, Role.REPORT, "", profile.source), evidence)
        lists_missing = evidence.case.conditions is None or evidence.case.medications is None
        if (
            criterion_id is CriterionId.SECONDARY_CAUSES_EXCLUDED
            and not lists_missing
            and not evidence.uncertain_matches
        ):
            continue  # only the blood count is missing: asked for below
        if result.outcome is Outcome.UNKNOWN:
            required = criterion_id in in_profile and in_profile[criterion_id].role is not Role.REPORT
            advice, reason = knowledge.advice[advice_id], result.reason
            if advice_id == "pneumococcal_vaccine_challenge" and facts is not None:
                advice, reason = vaccine_challenge_workup(
                    evidence.case.patient, facts.as_of, facts.windows, knowledge
                ) or (advice, reason)
            items.append(WorkupItem(advice, reason, required))
    if igm_not_normal and evidence.case.blood_count is None:
        secondary = in_profile.get(CriterionId.SECONDARY_CAUSES_EXCLUDED)
        required = secondary is not None and secondary.role is not Role.REPORT
        items.append(
            WorkupItem(
                knowledge.advice["rule_out_leukaemia_lymphoma"], "no blood count or differential was given", required
            )
        )
    return tuple(items)
