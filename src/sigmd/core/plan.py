"""Management and follow-up plan: recommendations with stable ids, and the next review date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sigmd.core.ages import AgeSpec
from sigmd.core.course import Alert, IgmCourse
from sigmd.core.features import FeatureSummary
from sigmd.core.knowledge import Advice, Knowledge, Label
from sigmd.core.vaccines import IMPAIRED, PneumococcalResponse

SIGMD_LABELS = (Label.PARTIAL_SIGMD, Label.COMPLETE_SIGMD)
FOLLOWED_LABELS = (*SIGMD_LABELS, Label.SECONDARY_LOW_IGM, Label.UNCLASSIFIED_ANTIBODY_DEFICIENCY)


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
    """Every 6 months while provisional, symptomatic or alerted; otherwise annually (IDF: 6-12 months)."""
    if label not in FOLLOWED_LABELS and course not in (IgmCourse.SINGLE_LOW, IgmCourse.LOW_NOT_YET_PERSISTENT):
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
        reasons.append("an alert is open")
    interval = rule.short if reasons else rule.long
    reason = "; ".join(reasons) if reasons else "confirmed, asymptomatic and no alert"
    tests = ["serum IgM", "serum IgG", "serum IgA"]
    tests += [t for advice_id, t in _FOLLOW_UP_TESTS if advice_id in workup_ids]
    return FollowUp(
        next_date=interval.reached_on(as_of),
        interval=interval,
        reason=f"{reason}; the IDF advises review every 6 months or annually",
        tests=tuple(tests),
        advice=knowledge.advice["follow_up"],
    )


_FOLLOW_UP_TESTS = (
    ("measure_igg_subclasses", "IgG subclasses (IgG1-4)"),
    ("pneumococcal_vaccine_challenge", "pneumococcal serotype titres before and 4-6 weeks after PPSV23"),
    ("rule_out_leukaemia_lymphoma", "full blood count with differential"),
    ("assess_t_cells", "lymphocyte subsets"),
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
) -> tuple[Recommendation, ...]:
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
    if label in (
        Label.CVID_PATTERN,
        Label.HYPER_IGM_PATTERN,
        Label.SELECTIVE_IGA_DEFICIENCY,
        Label.UNCLASSIFIED_ANTIBODY_DEFICIENCY,
        Label.OTHER_ABNORMAL,
    ):
        items.append(Recommendation(advice["evaluate_other_antibody_deficiency"], f"pattern: {label.value}"))
    for alert in alerts:
        target = "autoimmunity_review" if alert.id == "new_autoimmune_disease" else "evaluate_progression"
        if target not in {r.advice.id for r in items}:
            items.append(Recommendation(advice[target], alert.text))
    if implausible:
        items.append(Recommendation(advice["check_unit"], "implausible value"))
    return tuple(items)
