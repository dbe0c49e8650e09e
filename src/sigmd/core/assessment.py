"""Assessment of one patient: the entry point of the pure core.

`assess` runs three steps: `case_facts` (facts.py: what every profile shares), `findings` (interpretations,
criteria from rules.py, pattern, and the diagnosis from diagnosis.py) and `complete` (work-up from workup.py,
course, alerts, recommendations, follow-up, warnings). The verdict names the criteria that decided it
(`Diagnosis.decided_by`), each defined once in rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sigmd.core.course import Alert, IgmCourse, igm_course, progression_alerts, usable_antibody_data
from sigmd.core.diagnosis import Certainty, Diagnosis, diagnose, raised_beside_low_igm
from sigmd.core.facts import AssessmentError, CaseFacts, NotUsed, case_facts
from sigmd.core.features import FeatureSummary, summarise_features
from sigmd.core.interpret import Interpretation, Status, interpret
from sigmd.core.intervals import ReferenceSet
from sigmd.core.knowledge import CriterionId, CriterionSpec, Knowledge, Label, Role, RuleProfile
from sigmd.core.model import Analyte, Case
from sigmd.core.patterns import Pattern, PatternFinding, classify, stale_results
from sigmd.core.plan import FollowUp, Recommendation, follow_up_plan, recommendations
from sigmd.core.rules import CriterionResult, Evidence, evaluate
from sigmd.core.secondary import SecondaryMatch
from sigmd.core.timeline import agree_same_day, by_analyte, latest, persistence
from sigmd.core.vaccines import PneumococcalResponse
from sigmd.core.workup import WorkupItem, workup

__all__ = [
    "Assessment",
    "AssessmentError",
    "CaseFacts",
    "Certainty",
    "Diagnosis",
    "Findings",
    "NotUsed",
    "WorkupItem",
    "assess",
    "case_facts",
    "complete",
    "findings",
    "labels_under_sets",
]


@dataclass(frozen=True)
class Assessment:
    as_of: date
    profile: RuleProfile
    reference_set: ReferenceSet
    diagnosis: Diagnosis
    pattern: PatternFinding
    interpretations: tuple[Interpretation, ...]
    not_used: tuple[NotUsed, ...]
    criteria: tuple[CriterionResult, ...]
    workup: tuple[WorkupItem, ...]
    recommendations: tuple[Recommendation, ...]
    follow_up: FollowUp | None
    igm_course: IgmCourse
    igm_course_explanation: str
    alerts: tuple[Alert, ...]
    features: FeatureSummary
    pneumococcal: PneumococcalResponse | None
    secondary_matches: tuple[SecondaryMatch, ...]
    reviewed_matches: tuple[SecondaryMatch, ...]
    warnings: tuple[str, ...]
    content_version: str
    other_secondary_matches: tuple[SecondaryMatch, ...] = ()
    """Causes the records name without counting: uncertain ones, then those negated, for someone else or local."""

    def latest(self, analyte: Analyte) -> Interpretation | None:
        return latest(self.interpretations, analyte)


@dataclass(frozen=True)
class Findings:
    """The judgement of a case under one profile and reference set: interpretations, criteria, pattern, diagnosis."""

    facts: CaseFacts
    profile: RuleProfile
    reference_set: ReferenceSet
    interpretations: tuple[Interpretation, ...]
    evidence: Evidence
    criteria: tuple[CriterionResult, ...]
    pattern: PatternFinding
    diagnosis: Diagnosis


def findings(
    facts: CaseFacts,
    knowledge: Knowledge,
    *,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
    beside: Findings | None = None,
) -> Findings:
    """Judge the case's facts under one rule profile and one reference set, up to the diagnosis.

    `beside` is the same facts' findings under another profile: when both profiles interpret results alike
    (same reference set, same low-limit basis, no IgM cut-offs), its interpretations and pattern are reused.
    """
    profile = knowledge.profiles[profile_id or knowledge.default_profile]
    reference_set = knowledge.reference_sets[reference_set_id or knowledge.default_reference_set]
    if beside is not None and beside.facts is facts and _interpret_alike(beside, profile, reference_set):
        return _judge(facts, knowledge, profile, reference_set, beside.interpretations, beside.pattern)
    return _judge(facts, knowledge, profile, reference_set, _interpret_all(facts, knowledge, profile, reference_set))


def labels_under_sets(
    facts: CaseFacts, knowledge: Knowledge, *, profile_id: str, reference_set_ids: Iterable[str], known: Findings | None
) -> dict[str, Label]:
    """The diagnosis label under each reference set, for comparing sets.

    The diagnosis reads the interpretations only through their statuses: the criteria, the pattern and the
    persistence rule look at statuses, dates and ages, never at limits or values. So under a set whose
    statuses equal those of a set already judged (or of `known`, findings of the same facts and profile), the
    label is that set's, and the criteria are not judged again.
    """
    profile = knowledge.profiles[profile_id]
    by_statuses: dict[tuple[Status, ...], Label] = {}
    if known is not None and known.facts is facts and known.profile is profile:
        by_statuses[tuple(i.status for i in known.interpretations)] = known.diagnosis.label
    labels: dict[str, Label] = {}
    for set_id in reference_set_ids:
        reference_set = knowledge.reference_sets[set_id]
        interps = _interpret_all(facts, knowledge, profile, reference_set)
        statuses = tuple(i.status for i in interps)
        if statuses not in by_statuses:
            by_statuses[statuses] = _judge(facts, knowledge, profile, reference_set, interps).diagnosis.label
        labels[set_id] = by_statuses[statuses]
    return labels


def _interpret_all(
    facts: CaseFacts, knowledge: Knowledge, profile: RuleProfile, reference_set: ReferenceSet
) -> tuple[Interpretation, ...]:
    patient = facts.case.patient
    return agree_same_day(
        tuple(interpret(r, patient, reference_set, profile, knowledge.thresholds) for r in facts.used)
    )


def _judge(
    facts: CaseFacts,
    knowledge: Knowledge,
    profile: RuleProfile,
    reference_set: ReferenceSet,
    interps: tuple[Interpretation, ...],
    pattern: PatternFinding | None = None,
) -> Findings:
    case = facts.case
    evidence = Evidence(
        case=case,
        interpretations=interps,
        secondary_matches=facts.secondary_matches,
        thresholds=knowledge.thresholds,
        reviewed_matches=facts.reviewed_matches,
        uncertain_matches=facts.uncertain_matches,
        uncounted_matches=facts.uncounted_matches,
        pneumococcal=facts.pneumococcal,
        antibody=facts.antibody,
        features=facts.features or summarise_features(case, knowledge.features),
    )
    criteria = tuple(evaluate(spec, evidence) for spec in (*profile.criteria, form_criterion(knowledge)))
    pattern = pattern if pattern is not None else classify(interps, knowledge.thresholds)
    diagnosis = diagnose(profile, pattern, criteria, interps, case, knowledge)
    return Findings(facts, profile, reference_set, interps, evidence, criteria, pattern, diagnosis)


def form_criterion(knowledge: Knowledge) -> CriterionSpec:
    """Partial versus complete, judged under every profile alike: IgM below the absent threshold is complete."""
    threshold = knowledge.thresholds.absent[Analyte.IGM]
    return CriterionSpec(
        CriterionId.IGM_ABSENT,
        Role.REPORT,
        f"IgM below {threshold.value:g} {threshold.unit} makes the deficiency complete; otherwise it is partial.",
        threshold.source,
    )


def _interpret_alike(found: Findings, profile: RuleProfile, reference_set: ReferenceSet) -> bool:
    """Whether `interpret` gives `found`'s interpretations under this profile and set: it reads a profile only
    for its low-limit basis and its IgM cut-offs (whose messages name the profile)."""
    return (
        found.reference_set is reference_set
        and found.profile.low_limit is profile.low_limit
        and not found.profile.igm_cutoffs
        and not profile.igm_cutoffs
    )


def assess(
    case: Case,
    knowledge: Knowledge,
    *,
    as_of: date,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
    vaccine_rule_set: str | None = None,
) -> Assessment:
    """Assess one patient under one rule profile and one reference set, as of a date."""
    facts = case_facts(case, knowledge, as_of=as_of, vaccine_rule_set=vaccine_rule_set)
    return complete(findings(facts, knowledge, profile_id=profile_id, reference_set_id=reference_set_id), knowledge)


def complete(found: Findings, knowledge: Knowledge) -> Assessment:
    """The whole assessment from the findings: work-up, course, alerts, recommendations, follow-up, warnings."""
    facts, profile, interps, pattern, criteria = (
        found.facts,
        found.profile,
        found.interpretations,
        found.pattern,
        found.criteria,
    )
    case, as_of, pneumococcal = facts.case, facts.as_of, facts.pneumococcal
    warnings = list(case.warnings)
    warnings.extend(note.describe() for note in case.input_notes)
    for item in facts.not_used:
        warnings.append(
            f"{item.result.analyte} on {item.result.collected} ({item.result.origin}) was not used: {item.reason}"
        )
    for interp in interps:
        warnings.extend(interp.notes)
        if interp.status is Status.NO_INTERVAL:
            warnings.append(
                f"{interp.result.analyte} on {interp.result.collected} was not judged: {interp.no_interval_reason}"
            )
    if pneumococcal is not None:
        warnings.extend(pneumococcal.notes)
    warnings.extend(stale_results(interps, case.patient, as_of, knowledge.thresholds.result_horizon))
    antibody = facts.antibody or usable_antibody_data(case, facts.windows, as_of, knowledge.vaccines)
    warnings.extend(antibody.not_used)

    igm_series = by_analyte(interps, Analyte.IGM)
    igm_state = persistence(igm_series, case.patient, knowledge.thresholds.persistence)
    course = igm_course(igm_series, igm_state)
    alerts = progression_alerts(
        interps,
        case,
        knowledge,
        igm_series[0].result.collected if igm_series else None,
        lambda some: classify(some, knowledge.thresholds),
    )
    features = facts.features or summarise_features(case, knowledge.features)

    items = workup(profile, pattern, criteria, found.evidence, knowledge, facts)
    implausible = any(i.implausible for i in interps)
    latest_igm = latest(interps, Analyte.IGM)
    recs = recommendations(
        found.diagnosis.label,
        tuple(w.advice for w in items),
        features,
        pneumococcal,
        any(r.result.value == "impaired" for r in antibody.vaccine_responses),
        alerts,
        implausible,
        knowledge,
        isolated_low_igm=pattern.pattern is Pattern.ISOLATED_LOW_IGM,
        raised_igm=latest_igm is not None and latest_igm.markedly_raised,
        raised_beside_low_igm=bool(raised_beside_low_igm(interps)),
    )
    follow = follow_up_plan(
        found.diagnosis.label,
        found.diagnosis.certainty is Certainty.PROVISIONAL,
        course,
        features,
        alerts,
        tuple(w.advice.id for w in items),
        as_of,
        knowledge,
    )
    if follow is not None:
        recs = (
            *recs,
            Recommendation(follow.advice, f"next review {follow.next_date} ({follow.interval}): {follow.reason}"),
        )
    for match in facts.reviewed_matches:
        warnings.append(
            f"{match.record.text or match.record.code} ({match.record.origin}) matches {match.cause.name} "
            f"but was marked reviewed and not causal{f': {match.record.review_note}' if match.record.review_note else ''}"
        )
    return Assessment(
        as_of=as_of,
        profile=profile,
        reference_set=found.reference_set,
        diagnosis=found.diagnosis,
        pattern=pattern,
        interpretations=interps,
        not_used=facts.not_used,
        criteria=criteria,
        workup=items,
        recommendations=recs,
        follow_up=follow,
        igm_course=course,
        igm_course_explanation=igm_state.explanation,
        alerts=alerts,
        features=features,
        pneumococcal=pneumococcal,
        secondary_matches=facts.secondary_matches,
        reviewed_matches=facts.reviewed_matches,
        warnings=tuple(dict.fromkeys(warnings)),
        content_version=knowledge.content_version,
        other_secondary_matches=facts.uncertain_matches + facts.uncounted_matches,
    )
