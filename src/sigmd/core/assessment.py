"""Assessment of one patient: the entry point of the pure core."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from sigmd.core.course import (
    BLINDED,
    Alert,
    AntibodyData,
    BlindingWindow,
    IgmCourse,
    blinded_by,
    blinding_windows,
    igm_course,
    progression_alerts,
    usable_antibody_data,
)
from sigmd.core.features import FeatureSummary, summarise_features
from sigmd.core.interpret import Interpretation, Status, interpret
from sigmd.core.intervals import ReferenceSet
from sigmd.core.knowledge import Advice, CriterionSpec, Knowledge, Label, Role, RuleProfile
from sigmd.core.model import Analyte, Case, LabResult
from sigmd.core.patterns import Pattern, PatternFinding, classify, stale_results
from sigmd.core.plan import FollowUp, Recommendation, follow_up_plan, recommendations, vaccine_challenge_workup
from sigmd.core.rules import CriterionResult, Evidence, Outcome, evaluate
from sigmd.core.secondary import MatchStatus, SecondaryMatch, match_secondary_causes
from sigmd.core.timeline import by_analyte, latest, persistence
from sigmd.core.vaccines import PneumococcalResponse, assess_pneumococcal


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


@dataclass(frozen=True)
class WorkupItem:
    advice: Advice
    reason: str
    required_by_profile: bool


@dataclass(frozen=True)
class NotUsed:
    result: LabResult
    reason: str


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


class AssessmentError(ValueError):
    """The case cannot be assessed (for example it has no IgM result on or before the as-of date)."""


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
WORKUP_FOR_CRITERION = {
    "igg_normal": "measure_igg",
    "iga_normal": "measure_iga",
    "igm_persistently_low": "repeat_igm",
    "igg_subclasses_normal": "measure_igg_subclasses",
    "vaccine_response_normal": "pneumococcal_vaccine_challenge",
    "secondary_causes_excluded": "rule_out_secondary_causes",
    "no_t_cell_defect": "assess_t_cells",
    "infections_recorded": "record_infection_history",
}
_ALWAYS_WORKED_UP = (
    "igg_normal",
    "iga_normal",
    "igm_persistently_low",
    "igg_subclasses_normal",
    "vaccine_response_normal",
    "secondary_causes_excluded",
)


@dataclass(frozen=True)
class CaseFacts:
    """What every assessment of a case as of a date shares, whatever the profile and reference set."""

    case: Case
    as_of: date
    used: tuple[LabResult, ...]
    not_used: tuple[NotUsed, ...]
    pneumococcal: PneumococcalResponse | None
    secondary_matches: tuple[SecondaryMatch, ...]
    """Matches to secondary causes, except those reviewed and marked not causal."""
    reviewed_matches: tuple[SecondaryMatch, ...]
    windows: tuple[BlindingWindow, ...] = ()
    """Treatments during which IgG and antibody responses cannot be interpreted."""
    uncertain_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named but not settled (suspected, planned, coded without confirming text), not reviewed."""
    uncounted_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named only to be negated, for someone else, or by a local route."""
    antibody: AntibodyData | None = None
    """The vaccine responses that may be used, and those set aside with the reason."""
    features: FeatureSummary | None = None


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


def case_facts(case: Case, knowledge: Knowledge, *, as_of: date, vaccine_rule_set: str | None = None) -> CaseFacts:
    """Sort the results into used and not used, and judge the vaccine challenge and secondary causes.

    Raises `AssessmentError` when no IgM result is left to assess.
    """
    windows = blinding_windows(case, knowledge)
    used: list[LabResult] = []
    not_used: list[NotUsed] = []
    for result in case.results:
        blinded = blinded_by(result.collected, windows) if result.analyte in BLINDED else ""
        if result.collected > as_of:
            not_used.append(NotUsed(result, f"dated after the as-of date {as_of}"))
        elif blinded:
            not_used.append(NotUsed(result, f"not used for IgG interpretation: taken during {blinded}"))
        else:
            used.append(result)
    if not any(r.analyte is Analyte.IGM for r in used):
        raise AssessmentError(
            f"results: no IgM result on or before the as-of date {as_of}; sigmd needs at least one"
            + _input_notes_summary(case)
        )
    pneumococcal = _pneumococcal(
        case, knowledge, windows_reason=_challenge_blinded(case, windows), as_of=as_of, rule_set=vaccine_rule_set
    )
    records = (case.conditions or ()) + (case.medications or ())
    matches = match_secondary_causes(records, knowledge.secondary_causes, knowledge.secondary_context)
    named = tuple(m for m in matches if m.status is not MatchStatus.DOES_NOT_COUNT)
    return CaseFacts(
        case=case,
        as_of=as_of,
        used=tuple(used),
        not_used=tuple(not_used),
        pneumococcal=pneumococcal,
        secondary_matches=tuple(m for m in named if m.counts and not m.record.reviewed_not_causal),
        reviewed_matches=tuple(m for m in named if m.record.reviewed_not_causal),
        windows=windows,
        uncertain_matches=tuple(m for m in named if not m.counts and not m.record.reviewed_not_causal),
        uncounted_matches=tuple(m for m in matches if m.status is MatchStatus.DOES_NOT_COUNT),
        antibody=usable_antibody_data(case, windows, as_of, knowledge.vaccines),
        features=summarise_features(case, knowledge.features),
    )


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
    return tuple(interpret(r, patient, reference_set, profile, knowledge.thresholds) for r in facts.used)


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
    criteria = tuple(evaluate(spec, evidence) for spec in profile.criteria)
    pattern = pattern if pattern is not None else classify(interps, knowledge.thresholds)
    diagnosis = _diagnose(profile, pattern, criteria, interps, case, knowledge)
    return Findings(facts, profile, reference_set, interps, evidence, criteria, pattern, diagnosis)


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

    workup = _workup(profile, pattern, criteria, found.evidence, knowledge, facts)
    implausible = any("physiologically implausible" in note for i in interps for note in i.notes)
    recs = recommendations(
        found.diagnosis.label,
        tuple(w.advice for w in workup),
        features,
        pneumococcal,
        any(r.result.value == "impaired" for r in antibody.vaccine_responses),
        alerts,
        implausible,
        knowledge,
        isolated_low_igm=pattern.pattern is Pattern.ISOLATED_LOW_IGM,
    )
    follow = follow_up_plan(
        found.diagnosis.label,
        found.diagnosis.certainty is Certainty.PROVISIONAL,
        course,
        features,
        alerts,
        tuple(w.advice.id for w in workup),
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
        workup=workup,
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


def _input_notes_summary(case: Case, limit: int = 5) -> str:
    """What the reader did not pass on, IgM first, for the message that says no IgM result is left."""
    notes = sorted(case.input_notes, key=lambda note: Analyte.IGM.value not in note.reason)
    if not notes:
        return ""
    listed = "; ".join(f"{note.origin} {note.kind.value} ({note.reason})" for note in notes[:limit])
    more = f"; and {len(notes) - limit} more in the warnings" if len(notes) > limit else ""
    return f". Not used from the input: {listed}{more}"


def _challenge_blinded(case: Case, windows: tuple[BlindingWindow, ...]) -> str:
    challenge = case.pneumococcal
    if challenge is None:
        return ""
    days = (challenge.vaccinated, *(t.collected for t in challenge.titres))
    reason = next((blinded_by(day, windows) for day in days if blinded_by(day, windows)), "")
    return f"the vaccination or its samples fall during {reason}" if reason else ""


def _pneumococcal(
    case: Case, knowledge: Knowledge, *, windows_reason: str, as_of: date, rule_set: str | None
) -> PneumococcalResponse | None:
    challenge = case.pneumococcal
    if challenge is None or challenge.vaccinated > as_of:
        return None
    titres = tuple(t for t in challenge.titres if t.collected <= as_of)
    return assess_pneumococcal(
        replace(challenge, titres=titres), case.patient, knowledge.vaccines, rule_set, windows_reason
    )


def _diagnose(
    profile: RuleProfile,
    pattern: PatternFinding,
    criteria: tuple[CriterionResult, ...],
    interps: tuple[Interpretation, ...],
    case: Case,
    knowledge: Knowledge,
) -> Diagnosis:
    by_id = {c.id: c for c in criteria}
    igm = latest(interps, Analyte.IGM)
    igm_low = by_id.get("igm_low")

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
            persistence_result = by_id.get("igm_persistently_low")
            confirmed = not entry_open and (persistence_result is None or persistence_result.outcome is Outcome.MET)
            certainty = Certainty.CONFIRMED if confirmed else Certainty.PROVISIONAL
            summary = f"Low IgM, but {cause}: {label.value.replace('_', ' ')} under profile '{profile.id}'"
            return Diagnosis(label, certainty, profile.id, summary, tuple(reasons))
        complete = igm is not None and igm.status is Status.ABSENT
        label = Label.COMPLETE_SIGMD if complete else Label.PARTIAL_SIGMD
        kind = "Complete" if complete else "Partial"
        pending = f"; still open: {', '.join(open_items)}" if open_items else ""
        subclasses = by_id.get("igg_subclasses_normal")
        with_subclass = (
            f" with IgG-subclass deficiency ({subclasses.reason})"
            if subclasses is not None and subclasses.outcome is Outcome.NOT_MET
            else ""
        )
        summary = (
            f"{kind} selective IgM deficiency{with_subclass} ({certainty.value}) under profile '{profile.id}'{pending}"
        )
        return Diagnosis(label, certainty, profile.id, summary, tuple(reasons))

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
        )
    label = _PATTERN_LABELS[pattern.pattern]
    rule = knowledge.thresholds.persistence
    persistent = all(
        persistence(by_analyte(interps, analyte), case.patient, rule).persistent for analyte in pattern.abnormal
    )
    confirmed = persistent if pattern.abnormal else True
    summary = f"{pattern.pattern.value.replace('_', ' ')}: {pattern.reason}"
    if label is Label.NORMAL and any(c.outcome is Outcome.NOT_MET and c.id == "igm_low" for c in criteria):
        igm_series = by_analyte(interps, Analyte.IGM)
        normalised = persistence(igm_series, case.patient, rule).normalised
        transient = "IgM was low earlier and has normalised (transient, not SIgMD); " if normalised else ""
        summary = f"{transient}IgM is not low under profile '{profile.id}'; {pattern.reason}"
    return Diagnosis(
        label, Certainty.CONFIRMED if confirmed else Certainty.PROVISIONAL, profile.id, summary, tuple(reasons)
    )


def _workup(
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
        if criterion_id == "secondary_causes_excluded" and not lists_missing and not evidence.uncertain_matches:
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
        secondary = in_profile.get("secondary_causes_excluded")
        required = secondary is not None and secondary.role is not Role.REPORT
        items.append(
            WorkupItem(
                knowledge.advice["rule_out_leukaemia_lymphoma"], "no blood count or differential was given", required
            )
        )
    return tuple(items)
