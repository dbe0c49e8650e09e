"""Management and follow-up plan: recommendations with stable ids, and the next review date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sigmd.core.ages import AgeSpec, has_reached
from sigmd.core.course import Alert, BlindingWindow, IgmCourse, blinding_at
from sigmd.core.features import FeatureSummary
from sigmd.core.knowledge import Advice, Knowledge, Label
from sigmd.core.model import Patient
from sigmd.core.vaccines import IMPAIRED, PneumococcalResponse

SIGMD_LABELS = (Label.PARTIAL_SIGMD, Label.COMPLETE_SIGMD)


@dataclass(frozen=True)
class FollowUp:
    next_date: date
    interval: AgeSpec
    reason: str
    tests: tuple[str, ...]
    advice: Advice


@dataclass(frozen=True)
class Recommendation:
    advice: Advice
    reason: str


def follow_up_plan(
    label: Label,
    provisional: bool,
    course: IgmCourse,
    features: FeatureSummary,
    alerts: tuple[Alert, ...],
    workup_ids: tuple[str, ...],
    as_of: date,
    knowledge: Knowledge,
) -> FollowUp | None:
    """Every 6 months while provisional, symptomatic or alerted; otherwise annually (IDF: 6-12 months).

    Follow-up never stops while something is open: any label other than normal, a low IgM course, or an open
    alert (whatever the label) gives a next date, and each alert adds the tests it needs.
    """
    low_course = course in (IgmCourse.SINGLE_LOW, IgmCourse.LOW_NOT_YET_PERSISTENT)
    if label is Label.NORMAL and not low_course and not alerts:
        return None
    rule = knowledge.thresholds.follow_up
    reasons = []
    if provisional:
        reasons.append("the diagnosis is provisional")
    if features.symptomatic:
        reasons.append("the patient is symptomatic")
    if features.symptomatic is None:
        reasons.append("symptoms were not recorded")
    if alerts:
        ids = ", ".join(dict.fromkeys(a.id for a in alerts))
        reasons.append(f"{'an alert is' if len(alerts) == 1 else 'alerts are'} open ({ids})")
    interval = rule.short if reasons else rule.long
    reason = "; ".join(reasons) if reasons else "confirmed, asymptomatic and no alert"
    tests = ["serum IgM", "serum IgG", "serum IgA"]
    tests += [t for advice_id, t in _FOLLOW_UP_TESTS if advice_id in workup_ids]
    for alert in alerts:
        tests += [t for t in _ALERT_TESTS.get(alert.id, ()) if t not in tests]
    return FollowUp(
        next_date=interval.reached_on(as_of),
        interval=interval,
        reason=f"{reason}; the IDF advises review every 6 months or annually",
        tests=tuple(dict.fromkeys(tests)),
        advice=knowledge.advice["follow_up"],
    )


_FOLLOW_UP_TESTS = (
    ("measure_igg_subclasses", "IgG subclasses (IgG1-4)"),
    ("pneumococcal_vaccine_challenge", "pneumococcal serotype titres before and 4-6 weeks after PPSV23"),
    ("vaccine_responses_under_two", "tetanus and diphtheria antibody responses (protein antigens)"),
    ("rule_out_leukaemia_lymphoma", "full blood count with differential"),
    ("assess_t_cells", "lymphocyte subsets"),
    ("record_infection_history", "infection history since the last review (type, date, organism)"),
)
_PROGRESSION_TESTS = ("IgG subclasses (IgG1-4)", "B-cell subsets with switched memory B cells")
"""What the ESID CVID definition looks at beyond IgG and IgA (perez_2017_table1): low switched memory B cells."""
_ALERT_TESTS: dict[str, tuple[str, ...]] = {
    "igg_fell_below_limit": _PROGRESSION_TESTS,
    "iga_fell_below_limit": _PROGRESSION_TESTS,
    "igg_trending_down": _PROGRESSION_TESTS,
    "iga_trending_down": _PROGRESSION_TESTS,
    "pattern_progression": _PROGRESSION_TESTS,
    "t_cell_defect": ("lymphocyte subsets (T, B and NK cells)",),
}


def vaccine_challenge_workup(
    patient: Patient, as_of: date, windows: tuple[BlindingWindow, ...], knowledge: Knowledge
) -> tuple[Advice, str] | None:
    """The work-up item that replaces the PPSV23 challenge when a challenge now could not be judged, with why.

    Under the age from which the vaccine rules judge polysaccharide responses (2 years), or while immunoglobulin
    replacement or anti-CD20 therapy (or its washout) lasts, no challenge is offered; None when one can be judged.
    """
    rules = knowledge.vaccines
    if not has_reached(patient.birth_date, as_of, rules.min_age):
        from_date = rules.min_age.reached_on(patient.birth_date)
        return (
            knowledge.advice["vaccine_responses_under_two"],
            f"polysaccharide responses are judged from the age of {rules.min_age} ({from_date}); {rules.min_age_note}",
        )
    window = blinding_at(as_of, windows)
    if window is None:
        return None
    until = (
        "while it continues, and until the washout after its last dose has passed"
        if window.end is None
        else f"before {window.end}"
    )
    return (
        knowledge.advice["defer_vaccine_challenge"],
        f"a vaccine response cannot be interpreted {until}: {window.reason}",
    )


def recommendations(
    label: Label,
    workup: tuple[Advice, ...],
    features: FeatureSummary,
    pneumococcal: PneumococcalResponse | None,
    impaired_summary: bool,
    alerts: tuple[Alert, ...],
    implausible: bool,
    knowledge: Knowledge,
    isolated_low_igm: bool = False,
    raised_igm: bool = False,
    raised_beside_low_igm: bool = False,
) -> tuple[Recommendation, ...]:
    """Management advice. `isolated_low_igm`: the latest pattern is isolated low IgM, so a label `other_abnormal`
    comes from a profile criterion (a T-cell defect), not from another antibody deficiency's pattern, and
    evaluation for one is not advised on that ground."""
    advice = knowledge.advice
    items: list[Recommendation] = [Recommendation(a, "missing work-up") for a in workup]
    if label in SIGMD_LABELS or label is Label.UNCLASSIFIED_ANTIBODY_DEFICIENCY:
        impaired = impaired_summary or (pneumococcal is not None and pneumococcal.classification in IMPAIRED)
        infected = bool(features.recurrent_infections) or features.severe_infection
        if impaired and infected:
            items.append(
                Recommendation(
                    advice["consider_ig_replacement"],
                    f"recurrent or severe infections ({features.recurrence_reason.split(';')[0]}) and an impaired vaccine response",
                )
            )
    if label in SIGMD_LABELS:
        items.append(Recommendation(advice["no_routine_antibiotic_prophylaxis"], "SIgMD"))
    if label is Label.SECONDARY_LOW_IGM:
        items.append(Recommendation(advice["review_secondary_cause"], "possible secondary cause"))
    pattern_labels = (
        Label.CVID_PATTERN,
        Label.HYPER_IGM_PATTERN,
        Label.SELECTIVE_IGA_DEFICIENCY,
        Label.UNCLASSIFIED_ANTIBODY_DEFICIENCY,
    )
    if label in pattern_labels or (label is Label.OTHER_ABNORMAL and not isolated_low_igm):
        items.append(Recommendation(advice["evaluate_other_antibody_deficiency"], f"pattern: {label.value}"))
    for alert in alerts:
        target = _ALERT_ADVICE.get(alert.id, "evaluate_progression")
        if target not in {r.advice.id for r in items}:
            items.append(Recommendation(advice[target], alert.text))
    if implausible:
        items.append(Recommendation(advice["check_unit"], "implausible value"))
    if raised_igm:
        items.append(Recommendation(advice["serum_protein_electrophoresis"], "IgM above the upper reference limit"))
    if raised_beside_low_igm:
        items.append(
            Recommendation(advice["electrophoresis_for_suppression"], "IgG or IgA above the upper limit, IgM low")
        )
    return tuple(items)


_ALERT_ADVICE = {
    "new_autoimmune_disease": "autoimmunity_review",
    "pattern_progression": "refer_clinical_immunology",
    "t_cell_defect": "refer_clinical_immunology",
}
