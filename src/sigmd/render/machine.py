"""The stable machine output of `sigmd assess --json` (documented in docs/output.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sigmd import __version__
from sigmd.core.ages import age_in_years
from sigmd.core.assessment import Assessment, assess
from sigmd.core.explain import DISCLAIMER, patient_summary
from sigmd.core.features import FeatureSummary
from sigmd.core.interpret import Interpretation
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case
from sigmd.core.plan import Recommendation
from sigmd.core.provenance import Source
from sigmd.core.secondary import SecondaryMatch
from sigmd.core.vaccines import PneumococcalResponse

OUTPUT_VERSION = 1


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def source_json(source: Source) -> dict[str, str]:
    data = {"id": source.id, "title": source.title}
    if source.url:
        data["url"] = source.url
    if not source.has_published_basis:
        data["note"] = "no published source: sigmd default"
    return data


def interpretation_json(interp: Interpretation) -> dict[str, Any]:
    result = interp.result
    interval = interp.interval
    return {
        "analyte": result.analyte.value,
        "date": result.collected.isoformat(),
        "origin": result.origin,
        "reported": f"{result.reported_value} {result.reported_unit}",
        "value_mg_dl": _round(result.quantity.value, 3),
        "comparator": result.quantity.comparator.value,
        "age_years": _round(interp.age_years),
        "status": interp.status.value,
        "lower_limit_mg_dl": _round(interval.lower_mg_dl if interval else None),
        "upper_limit_mg_dl": _round(interval.upper_mg_dl if interval else None),
        "minus_2sd_mg_dl": _round(interp.minus_2sd_mg_dl),
        "z_score": _round(interp.z_score),
        "z_score_is_bound": result.quantity.is_censored and interp.z_score is not None,
        "percentile": _round(interp.percentile, 1),
        "limit_used_mg_dl": _round(interp.low_limit.value_mg_dl) if interp.low_limit else None,
        "limit_basis": interp.low_limit.basis if interp.low_limit else None,
        "limit_description": interp.low_limit.description if interp.low_limit else None,
        "interval": None
        if interval is None
        else {
            "description": interval.description,
            "from_laboratory": interval.from_laboratory,
            "source": source_json(interval.source),
        },
        "not_judged_because": interp.no_interval_reason or interp.no_low_limit_reason or None,
        "notes": list(interp.notes),
    }


def _igm_block(assessment: Assessment) -> dict[str, Any] | None:
    interp = assessment.latest(Analyte.IGM)
    if interp is None:
        return None
    full = interpretation_json(interp)
    keys = (
        "value_mg_dl",
        "comparator",
        "reported",
        "date",
        "status",
        "lower_limit_mg_dl",
        "upper_limit_mg_dl",
        "minus_2sd_mg_dl",
        "z_score",
        "z_score_is_bound",
        "percentile",
        "limit_used_mg_dl",
        "limit_basis",
        "limit_description",
        "interval",
        "not_judged_because",
    )
    return {key: full[key] for key in keys}


def assessment_json(assessment: Assessment, case: Case, patient_id: str | None = None) -> dict[str, Any]:
    """The assessment as a JSON-ready dictionary."""
    diagnosis = assessment.diagnosis
    follow = assessment.follow_up
    reference_set = assessment.reference_set
    profile = assessment.profile
    return {
        "output_version": OUTPUT_VERSION,
        "sigmd_version": __version__,
        "content_version": assessment.content_version,
        "disclaimer": DISCLAIMER,
        "as_of": assessment.as_of.isoformat(),
        "patient": {
            "id": patient_id,
            "sex": case.patient.sex.value,
            "birth_date": case.patient.birth_date.isoformat(),
            "birth_date_is_estimated": case.patient.birth_date_is_estimated,
            "age_years": _round(age_in_years(case.patient.birth_date, assessment.as_of)),
        },
        "diagnosis": {
            "label": diagnosis.label.value,
            "certainty": diagnosis.certainty.value,
            "profile": diagnosis.profile,
            "summary": diagnosis.summary,
            "reasons": list(diagnosis.reasons),
            "decided_by": [criterion.value for criterion in diagnosis.decided_by],
        },
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "version": profile.version,
            "low_limit": profile.low_limit.value,
            "source": source_json(profile.source),
        },
        "reference_set": {
            "id": reference_set.id,
            "name": reference_set.name,
            "version": reference_set.version,
            "percentiles": reference_set.percentiles,
            "gap_fills": list(reference_set.gap_fills),
            "limitations": list(reference_set.limitations),
        },
        "igm": _igm_block(assessment),
        "pattern": {"id": assessment.pattern.pattern.value, "reason": assessment.pattern.reason},
        "criteria": [
            {
                "id": c.id,
                "version": c.version,
                "title": c.title,
                "role": c.role.value,
                "outcome": c.outcome.value,
                "reason": c.reason,
                "facts": list(c.facts),
                "requirement": c.requirement,
                "source": source_json(c.source),
            }
            for c in assessment.criteria
        ],
        "results": [
            interpretation_json(i)
            for i in sorted(assessment.interpretations, key=lambda i: (i.result.collected, i.result.analyte.value))
        ],
        "secondary_causes": [secondary_match_json(m) for m in assessment.secondary_matches],
        "secondary_causes_not_counted": [secondary_match_json(m) for m in assessment.other_secondary_matches],
        "workup": [
            {
                "id": w.advice.id,
                "text": w.advice.text,
                "reason": w.reason,
                "required_by_profile": w.required_by_profile,
                "source": source_json(w.advice.source),
            }
            for w in assessment.workup
        ],
        "recommendations": [recommendation_json(r) for r in assessment.recommendations],
        "follow_up": None
        if follow is None
        else {
            "next_follow_up": follow.next_date.isoformat(),
            "interval": str(follow.interval),
            "reason": follow.reason,
            "tests": list(follow.tests),
            "source": source_json(follow.advice.source),
        },
        "igm_course": {"state": assessment.igm_course.value, "explanation": assessment.igm_course_explanation},
        "alerts": [{"id": a.id, "text": a.text, "facts": list(a.facts)} for a in assessment.alerts],
        "clinical": clinical_json(assessment.features),
        "vaccine_response": vaccine_json(assessment.pneumococcal),
        "reviewed_secondary_causes": [
            {
                "id": m.cause.id,
                "name": m.cause.name,
                "record": m.record.text or m.record.code,
                "origin": m.record.origin,
                "review_note": m.record.review_note,
            }
            for m in assessment.reviewed_matches
        ],
        "results_not_used": [
            {
                "analyte": n.result.analyte.value,
                "date": n.result.collected.isoformat(),
                "origin": n.result.origin,
                "reason": n.reason,
            }
            for n in assessment.not_used
        ],
        "patient_summary": patient_summary(assessment),
        "warnings": list(assessment.warnings),
    }


def secondary_match_json(match: SecondaryMatch) -> dict[str, Any]:
    """A secondary-cause match: the cause, the record, what matched, and whether and why it counts."""
    return {
        "id": match.cause.id,
        "name": match.cause.name,
        "category": match.cause.category,
        "mechanism": match.cause.mechanism,
        "matched_on": match.matched_on,
        "status": match.status.value,
        "reason": match.reason,
        "text_matched": [
            {
                "text": m.text,
                "term": m.term,
                "status": m.status.value,
                "modifier": m.modifier.value if m.modifier else None,
                "trigger": m.trigger,
                "reason": m.reason,
            }
            for m in match.mentions
        ],
        "record": {
            "text": match.record.text,
            "code": match.record.code,
            "system": match.record.system,
            "origin": match.record.origin,
        },
        "evidence": match.cause.evidence,
        "source": source_json(match.cause.source),
    }


def recommendation_json(recommendation: Recommendation) -> dict[str, Any]:
    advice = recommendation.advice
    data: dict[str, Any] = {
        "id": advice.id,
        "text": advice.text,
        "reason": recommendation.reason,
        "source": source_json(advice.source),
    }
    if advice.see_also:
        data["see_also"] = [source_json(s) for s in advice.see_also]
    return data


def clinical_json(features: FeatureSummary) -> dict[str, Any]:
    return {
        "recorded": features.recorded,
        "symptomatic": features.symptomatic,
        "recurrent_infections": features.recurrent_infections,
        "severe_infection": features.severe_infection,
        "recurrence_reason": features.recurrence_reason,
        "infections_per_year": features.infections_per_year,
        "organisms": list(features.organisms),
        "allergies": list(features.allergies),
        "autoimmunity": list(features.autoimmunity),
    }


def vaccine_json(response: PneumococcalResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {
        "classification": response.classification.value,
        "rule_set": response.rule_set.id,
        "rule_set_name": response.rule_set.name,
        "serotypes_protective": list(response.serotypes_protective),
        "serotypes_tested": list(response.serotypes_tested),
        "serotypes_not_used": list(response.not_used),
        "reason": response.reason,
        "per_serotype": [
            {
                "serotype": o.serotype,
                "pre_ug_ml": None if o.pre is None else o.pre.describe("").strip(),
                "post_ug_ml": o.post.describe("").strip(),
                "protective": o.protective.value,
                "fold_rise": _round(o.fold_rise),
                "fold_rise_is_bound": o.fold_rise_is_bound,
                **({"fold_class": o.fold_class} if o.fold_class else {}),
            }
            for o in response.serotypes
        ],
        "source": source_json(response.rule_set.source),
        "note": response.rule_set.note,
    }


def profile_comparison_json(assessments: list[Assessment]) -> list[dict[str, Any]]:
    """The verdict under each profile, side by side (`--profile all`)."""
    return [
        {
            "profile": a.profile.id,
            "name": a.profile.name,
            "label": a.diagnosis.label.value,
            "certainty": a.diagnosis.certainty.value,
            "summary": a.diagnosis.summary,
            "criteria": {c.id: c.outcome.value for c in a.criteria},
        }
        for a in assessments
    ]


def report_under_every_profile(
    case: Case,
    knowledge: Knowledge,
    *,
    as_of: date,
    patient_id: str | None,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
    vaccine_rule_set: str | None = None,
) -> tuple[Assessment, dict[str, Any]]:
    """The assessment under `profile_id` (default profile if None) as machine JSON, with `by_profile`:
    the verdict under every profile. The CLI (`--profile all`), the registry and the web pages share it.

    Raises `AssessmentError` when the case cannot be assessed.
    """
    chosen = profile_id or knowledge.default_profile
    assessments = [
        assess(
            case,
            knowledge,
            as_of=as_of,
            profile_id=p,
            reference_set_id=reference_set_id,
            vaccine_rule_set=vaccine_rule_set,
        )
        for p in knowledge.profiles
    ]
    primary = next(a for a in assessments if a.profile.id == chosen)
    report = assessment_json(primary, case, patient_id=patient_id)
    report["by_profile"] = profile_comparison_json(assessments)
    return primary, report
