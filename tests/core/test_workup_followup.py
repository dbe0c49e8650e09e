"""Work-up and follow-up: secondary-cause review, PPSV23 response, time course, features, plan."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sigmd.core.assessment import assess
from sigmd.core.explain import patient_summary
from sigmd.core.knowledge import Knowledge
from tests.cases import NORMAL_BLOOD_COUNT, adult_normal_igg_iga, build_case, normal_subclasses, outcome, run

JAN, JUL = "2026-01-10", "2026-07-14"
LOW_IGM_TWICE = [("IgM", 12, "mg/dL", JAN), ("IgM", 11, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]
PPSV23 = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6B",
    "7F",
    "8",
    "9N",
    "9V",
    "10A",
    "11A",
    "12F",
    "14",
    "15B",
    "17F",
    "18C",
    "19A",
    "19F",
    "20",
    "22F",
    "23F",
    "33F",
]


def challenge(
    protected: int,
    risen: int,
    *,
    post: float = 2.0,
    vaccinated: str = "2026-03-01",
    post_date: str = "2026-04-05",
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A PPSV23 challenge over the 23 serotypes: `protected` at `post` ug/mL, `risen` of them at least 2-fold."""
    titres: list[dict[str, Any]] = []
    for i, serotype in enumerate(PPSV23):
        post_value = post if i < protected else 0.5
        pre_value = post_value / 4 if i < risen else post_value / 1.2
        titres += [
            {"serotype": serotype, "value": round(pre_value, 3), "date": "2026-02-20"},
            {"serotype": serotype, "value": post_value, "date": post_date},
        ]
    return {"pneumococcal_challenge": {"vaccinated": vaccinated, "titres": titres + (extra or [])}}


def vaccine(knowledge: Knowledge, birth_date: str = "1980-05-01", profile: str = "idf", **fields: Any) -> Any:
    case = build_case(knowledge, *LOW_IGM_TWICE, birth_date=birth_date, **fields)
    return run(knowledge, case, profile)


# --- secondary causes reviewed by a clinician ---------------------------------------------------------


def test_a_match_reviewed_as_not_causal_is_recorded_but_not_counted(knowledge: Knowledge) -> None:
    """A clinician can mark clozapine as reviewed and not causal; the output records it and SIgMD stands."""
    meds = [
        {
            "text": "clozapine",
            "code": "N05AH02",
            "system": "ATC",
            "reviewed_not_causal": True,
            "review_note": "IgM low before clozapine",
        }
    ]
    assessment = run(knowledge, build_case(knowledge, *LOW_IGM_TWICE, medications=meds, **NORMAL_BLOOD_COUNT))
    assert assessment.diagnosis.label == "partial_sigmd"
    assert [m.cause.id for m in assessment.reviewed_matches] == ["clozapine"]
    assert any("reviewed and not causal: IgM low before clozapine" in w for w in assessment.warnings)


def test_a_malignancy_reviewed_as_not_causal_is_still_not_excluded(knowledge: Knowledge) -> None:
    """CLL coded C91.1 and marked reviewed, not causal: the clinician's review is shown, but primary SIgMD needs
    leukaemia and lymphoma excluded, which a review does not do, so the verdict stays provisional (a reviewed drug,
    above, still lets it be confirmed)."""
    conditions = [{"text": "CLL, watch and wait", "code": "C91.1", "system": "ICD-10", "reviewed_not_causal": True}]
    assessment = run(
        knowledge, build_case(knowledge, *LOW_IGM_TWICE, conditions=conditions, medications=[], **NORMAL_BLOOD_COUNT)
    )
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("partial_sigmd", "provisional")
    excluded = next(c for c in assessment.criteria if c.id == "secondary_causes_excluded")
    assert excluded.outcome == "unknown" and "malignancy on record is not excluded by a review" in excluded.reason


@pytest.mark.parametrize("brand", ["Clozaril", "LEPONEX 100 mg", "Mabthera", "Tegretol retard", "Cellcept"])
def test_brand_names_are_recognised(knowledge: Knowledge, brand: str) -> None:
    """Common brand names of causative drugs are matched in free text."""
    assessment = run(knowledge, build_case(knowledge, *LOW_IGM_TWICE, medications=[brand]))
    assert assessment.diagnosis.label == "secondary_low_igm"


# --- PPSV23 response ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protected", "risen", "classification"),
    [(20, 20, "normal"), (20, 10, "mild"), (12, 12, "moderate"), (2, 2, "severe")],
)
def test_aaaai_phenotypes_in_an_adult(knowledge: Knowledge, protected: int, risen: int, classification: str) -> None:
    """An adult's PPSV23 response is classified by the share of serotypes at 1.3 ug/mL and the 2-fold rise."""
    assessment = vaccine(knowledge, **challenge(protected, risen))
    response = assessment.pneumococcal
    assert response is not None
    assert response.classification == classification
    assert len(response.serotypes_tested) == 23
    assert len(response.serotypes_protective) == protected


def test_children_under_six_need_only_half_of_serotypes(knowledge: Knowledge) -> None:
    """13 of 23 protective serotypes is adequate at 4 years (50% rule) but moderate for an adult (70% rule)."""
    child = vaccine(knowledge, birth_date="2022-01-01", **challenge(13, 13))
    adult = vaccine(knowledge, **challenge(13, 13))
    assert child.pneumococcal is not None and adult.pneumococcal is not None
    assert (child.pneumococcal.classification, adult.pneumococcal.classification) == ("normal", "moderate")


def test_under_two_years_is_not_assessed(knowledge: Knowledge) -> None:
    """A polysaccharide challenge before 2 years of age is not assessed, and the reason says so."""
    assessment = vaccine(knowledge, birth_date="2025-01-01", **challenge(20, 20))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.classification == "not_assessed"
    assert "2 years" in assessment.pneumococcal.reason


def test_loss_of_response_within_six_months_is_the_memory_phenotype(knowledge: Knowledge) -> None:
    """Protective titres that are lost within six months give the memory phenotype."""
    later = [{"serotype": s, "value": 0.4, "date": "2026-08-01"} for s in PPSV23]
    assessment = vaccine(knowledge, **challenge(20, 20, extra=later))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.classification == "memory"


def test_rule_sets_differ_in_their_protective_titre(knowledge: Knowledge) -> None:
    """Titres of 1.1 ug/mL protect under Mayo's 1.0 threshold but not under AAAAI's 1.3."""
    case = build_case(knowledge, *LOW_IGM_TWICE, **challenge(20, 20, post=1.1))
    aaaai = run(knowledge, case).pneumococcal
    mayo = assess(case, knowledge, as_of=date(2026, 11, 1), vaccine_rule_set="mayo_1_0").pneumococcal
    assert aaaai is not None and mayo is not None
    assert (aaaai.classification, mayo.classification) == ("severe", "normal")


def test_fold_rise_rule_set_reports_classes(knowledge: Knowledge) -> None:
    """The ARUP rule set classifies each serotype by fold rise (4-fold is good)."""
    case = build_case(knowledge, *LOW_IGM_TWICE, **challenge(20, 20))
    response = assess(case, knowledge, as_of=date(2026, 11, 1), vaccine_rule_set="arup_fold_rise").pneumococcal
    assert response is not None
    assert {o.fold_class for o in response.serotypes} == {"good", "non_responder"}
    assert response.classification == "normal"


def test_non_ppsv23_serotypes_are_reported_not_used(knowledge: Knowledge) -> None:
    """Serotype 6A is not in PPSV23: it is listed as not used, never counted."""
    assessment = vaccine(knowledge, **challenge(20, 20, extra=[{"serotype": "6A", "value": 5, "date": "2026-04-05"}]))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.not_used == ("6A",)


def test_impaired_ppsv23_fails_esid_and_is_allowed_by_idf(knowledge: Knowledge) -> None:
    """A severe PPSV23 phenotype fails ESID's vaccine criterion; IDF still calls it SIgMD."""
    esid = vaccine(knowledge, profile="esid", **challenge(2, 2))
    idf = vaccine(knowledge, profile="idf", **challenge(2, 2))
    assert outcome(esid, "vaccine_response_normal") == "not_met"
    assert esid.diagnosis.label == "unclassified_antibody_deficiency"
    assert idf.diagnosis.label == "partial_sigmd"


def test_protein_antigen_responses_are_reported(knowledge: Knowledge) -> None:
    """A low tetanus response is reported and counts as an impaired vaccine response."""
    assessment = vaccine(
        knowledge, profile="esid", protein_antigens=[{"antigen": "tetanus", "result": "low", "detail": "0.05 IU/mL"}]
    )
    assert outcome(assessment, "vaccine_response_normal") == "not_met"


# --- treatments that blind IgG and vaccine tests --------------------------------------------------------------


def test_igg_taken_on_ig_replacement_is_not_used(knowledge: Knowledge) -> None:
    """IgG measured during immunoglobulin replacement is not used, and the output says why."""
    meds = [{"text": "Privigen IVIG", "start": "2026-05-01"}]
    case = build_case(
        knowledge,
        ("IgM", 12, "mg/dL", JAN),
        ("IgG", 500, "mg/dL", JAN),
        ("IgM", 11, "mg/dL", JUL),
        ("IgG", 1200, "mg/dL", JUL),
        ("IgA", 150, "mg/dL", JUL),
        medications=meds,
    )
    assessment = run(knowledge, case)
    assert [(n.result.analyte.value, n.result.collected.isoformat()) for n in assessment.not_used] == [("IgG", JUL)]
    assert "immunoglobulin replacement" in assessment.not_used[0].reason


def test_vaccine_challenge_after_rituximab_is_not_assessed(knowledge: Knowledge) -> None:
    """A PPSV23 challenge within the anti-CD20 window is not assessed."""
    meds = [{"text": "rituximab", "start": "2025-11-01", "end": "2025-12-01", "reviewed_not_causal": True}]
    assessment = vaccine(knowledge, medications=meds, **challenge(20, 20))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.classification == "not_assessed"
    assert "anti-CD20" in assessment.pneumococcal.reason


# --- time course and progression --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "state"),
    [
        ([("IgM", 25, "mg/dL", JUL)], "single_low"),
        ([("IgM", 25, "mg/dL", JAN), ("IgM", 24, "mg/dL", JUL)], "persistent"),
        ([("IgM", 25, "mg/dL", JAN), ("IgM", 90, "mg/dL", JUL)], "normalised"),
        ([("IgM", 90, "mg/dL", JUL)], "never_low"),
    ],
)
def test_igm_course_states(knowledge: Knowledge, results: list[tuple[Any, ...]], state: str) -> None:
    """Single low is provisional, repeated low is persistent, low then normal is normalised."""
    assessment = run(knowledge, build_case(knowledge, *results, *adult_normal_igg_iga(JUL)))
    assert assessment.igm_course == state


def test_igg_falling_below_its_limit_raises_a_progression_alert(knowledge: Knowledge) -> None:
    """IgG normal at first and low later during follow-up raises an alert to evaluate for CVID."""
    case = build_case(
        knowledge,
        ("IgM", 12, "mg/dL", JAN),
        ("IgG", 900, "mg/dL", JAN),
        ("IgM", 11, "mg/dL", JUL),
        ("IgG", 500, "mg/dL", JUL),
        ("IgA", 150, "mg/dL", JUL),
    )
    assessment = run(knowledge, case)
    assert [a.id for a in assessment.alerts] == ["igg_fell_below_limit"]
    assert "evaluate_progression" in {r.advice.id for r in assessment.recommendations}


def test_igg_trending_down_raises_an_alert(knowledge: Knowledge) -> None:
    """IgG falling from 1500 to 800 mg/dL (still normal) is a downward trend."""
    case = build_case(
        knowledge,
        ("IgM", 12, "mg/dL", JAN),
        ("IgG", 1500, "mg/dL", JAN),
        ("IgM", 11, "mg/dL", JUL),
        ("IgG", 800, "mg/dL", JUL),
        ("IgA", 150, "mg/dL", JUL),
    )
    assert [a.id for a in run(knowledge, case).alerts] == ["igg_trending_down"]


def test_new_autoimmune_disease_is_flagged(knowledge: Knowledge) -> None:
    """An autoimmune disease diagnosed after the first low IgM is flagged."""
    features = {"clinical_features": {"autoimmune": [{"condition": "sle", "text": "lupus", "date": "2026-05-01"}]}}
    assessment = run(knowledge, build_case(knowledge, *LOW_IGM_TWICE, **features))
    assert [a.id for a in assessment.alerts] == ["new_autoimmune_disease"]
    assert "autoimmunity_review" in {r.advice.id for r in assessment.recommendations}


# --- clinical features ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("infections", "recurrent"),
    [
        ([{"type": "sinusitis", "date": d} for d in ("2025-02-01", "2025-05-01", "2025-08-01", "2025-11-01")], True),
        ([{"type": "sinusitis", "date": d} for d in ("2024-02-01", "2025-05-01", "2025-08-01")], False),
        ([{"type": "pneumonia", "date": "2025-01-01"}, {"type": "pneumonia", "date": "2025-10-01"}], True),
        ([{"type": "meningitis", "date": "2020-01-01", "organism": "N. meningitidis"}], True),
        ([{"type": "bronchitis", "count": 5, "period_months": 12}], True),
        ([], False),
    ],
)
def test_recurrent_infections_follow_the_documented_rule(
    knowledge: Knowledge, infections: list[dict[str, Any]], recurrent: bool
) -> None:
    """Four respiratory infections or two pneumonias in 12 months, or any invasive infection, are recurrent."""
    assessment = run(knowledge, build_case(knowledge, *LOW_IGM_TWICE, clinical_features={"infections": infections}))
    assert assessment.features.recurrent_infections is recurrent
    assert assessment.features.symptomatic is bool(infections)


def test_infections_are_counted_per_year(knowledge: Knowledge) -> None:
    """Infections are counted by calendar year and type."""
    infections = [
        {"type": "sinusitis", "date": "2025-02-01"},
        {"type": "sinusitis", "date": "2025-03-01"},
        {"type": "pneumonia", "date": "2026-01-05"},
    ]
    assessment = run(
        knowledge,
        build_case(knowledge, *LOW_IGM_TWICE, clinical_features={"infections": infections, "allergies": ["asthma"]}),
    )
    assert assessment.features.infections_per_year == {"2025": {"sinusitis": 2}, "2026": {"pneumonia": 1}}
    assert assessment.features.allergies == ("asthma",)


# --- management and follow-up ----------------------------------------------------------------------------------------


def test_ig_replacement_needs_infections_and_impaired_response(knowledge: Knowledge) -> None:
    """Ig replacement is considered only with recurrent infections and an impaired vaccine response."""
    infections = {
        "clinical_features": {
            "infections": [{"type": "pneumonia", "date": "2025-01-01"}, {"type": "pneumonia", "date": "2025-06-01"}]
        }
    }
    both = vaccine(knowledge, **challenge(2, 2), **infections)
    no_infection = vaccine(knowledge, **challenge(2, 2), clinical_features={})
    good_response = vaccine(knowledge, **challenge(20, 20), **infections)
    ids = [{r.advice.id for r in a.recommendations} for a in (both, no_infection, good_response)]
    assert ["consider_ig_replacement" in i for i in ids] == [True, False, False]


def test_follow_up_is_six_months_while_provisional(knowledge: Knowledge) -> None:
    """A provisional SIgMD is reviewed in 6 months, with the missing tests ordered for that visit."""
    assessment = run(knowledge, build_case(knowledge, ("IgM", 25, "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    assert assessment.follow_up is not None
    assert assessment.follow_up.next_date == date(2027, 5, 1)
    assert "IgG subclasses (IgG1-4)" in assessment.follow_up.tests


def test_follow_up_is_annual_when_confirmed_and_asymptomatic(knowledge: Knowledge) -> None:
    """A confirmed, asymptomatic SIgMD without alerts is reviewed annually."""
    case = build_case(
        knowledge,
        *LOW_IGM_TWICE,
        *normal_subclasses(JUL),
        conditions=[],
        medications=[],
        clinical_features={},
        **NORMAL_BLOOD_COUNT,
    )
    assessment = run(knowledge, case)
    assert assessment.diagnosis.certainty == "confirmed"
    assert assessment.follow_up is not None and assessment.follow_up.next_date == date(2027, 11, 1)


def test_antibiotic_prophylaxis_advice_names_the_disagreement(knowledge: Knowledge) -> None:
    """The prophylaxis recommendation cites the sources that disagree."""
    assessment = run(knowledge, build_case(knowledge, *LOW_IGM_TWICE))
    advice = next(r.advice for r in assessment.recommendations if r.advice.id == "no_routine_antibiotic_prophylaxis")
    assert {s.id for s in advice.see_also} == {"taietti_2023", "perez_2017_table1"}
    assert "disagree" in advice.text


def test_every_required_recommendation_id_exists(knowledge: Knowledge) -> None:
    """The stable recommendation ids promised to integrators are all defined."""
    required = {
        "repeat_igm",
        "measure_igg_subclasses",
        "pneumococcal_vaccine_challenge",
        "rule_out_secondary_causes",
        "consider_ig_replacement",
        "no_routine_antibiotic_prophylaxis",
        "follow_up",
    }
    assert required <= set(knowledge.advice)


def test_patient_summary_is_plain(knowledge: Knowledge) -> None:
    """The patient summary uses short sentences, avoids jargon and says when the next check-up is."""
    assessment = run(knowledge, build_case(knowledge, ("IgM", 25, "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    text = patient_summary(assessment)
    for jargon in ("z-score", "criteri", "SD", "provisional", "percentile", "ESID"):
        assert jargon not in text
    assert "next check-up is due around 01 May 2027" in text
    sentences = [s for s in text.split(". ") if s]
    assert max(len(s.split()) for s in sentences) <= 40
