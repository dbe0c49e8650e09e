"""Clinical safety at the edges: immunoglobulin replacement and antibody responses, follow-up while an alert is
open, ESID's clinical criterion, and no polysaccharide challenge before the age it can be judged."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from sigmd.core.assessment import Assessment
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import VaccineResponse, VaccineResult
from tests.cases import NORMAL_BLOOD_COUNT, adult_normal_igg_iga, build_case, normal_subclasses, outcome, run
from tests.core.test_workup_followup import challenge

JAN, JUL = "2026-01-10", "2026-07-14"
VERY_LOW_IGM_TWICE = [("IgM", 12, "mg/dL", JAN), ("IgM", 11, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]
RECURRENT_PNEUMONIA = {
    "clinical_features": {
        "infections": [{"type": "pneumonia", "date": "2025-02-01"}, {"type": "pneumonia", "date": "2025-09-01"}]
    }
}
NO_INFECTIONS: dict[str, Any] = {"clinical_features": {}}
ESID_COMPLETE: dict[str, Any] = {"t_cell_defect": False, "conditions": [], **NORMAL_BLOOD_COUNT}
IVIG_STOPPED_NOV_2025 = [{"text": "Privigen IVIG", "start": "2024-01-01", "end": "2025-11-20"}]
"""Within the 6-month washout until 2026-05-20: the challenge of March 2026 falls inside it."""
IVIG_STOPPED_2024 = [{"text": "Privigen IVIG", "start": "2023-01-01", "end": "2024-12-01"}]
"""Washout over by June 2025: the challenge of March 2026 comes a year and more after replacement stopped."""
SCIG_ONGOING = [{"text": "Hizentra SCIG", "start": "2025-06-01"}]


def ids(assessment: Assessment, kind: str) -> set[str]:
    items = assessment.workup if kind == "workup" else assessment.recommendations
    return {i.advice.id for i in items}


def outcome_reason(assessment: Assessment, criterion_id: str) -> str:
    return next(c.reason for c in assessment.criteria if c.id == criterion_id)


def esid(knowledge: Knowledge, *results: tuple[Any, ...], **fields: Any) -> Assessment:
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, *normal_subclasses(JUL), *results, **fields)
    return run(knowledge, case, "esid")


# --- 4. immunoglobulin replacement blocks antibody-response data -------------------------------------------------


def test_ppsv23_titres_drawn_within_the_washout_after_ivig_are_not_used(knowledge: Knowledge) -> None:
    """PPSV23 titres drawn about four months after the last IVIG dose are not used, and the output says why."""
    assessment = esid(knowledge, medications=IVIG_STOPPED_NOV_2025, **challenge(20, 20))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.classification == "not_assessed"
    assert "immunoglobulin replacement" in assessment.pneumococcal.reason
    assert outcome(assessment, "vaccine_response_normal") == "unknown"


def test_ppsv23_titres_drawn_a_year_after_replacement_stopped_are_used(knowledge: Knowledge) -> None:
    """PPSV23 titres drawn more than a year after immunoglobulin replacement stopped are classified and used."""
    assessment = esid(knowledge, medications=IVIG_STOPPED_2024, **challenge(20, 20))
    assert assessment.pneumococcal is not None
    assert assessment.pneumococcal.classification == "normal"
    assert outcome(assessment, "vaccine_response_normal") == "met"


def test_a_pre_vaccination_titre_drawn_during_replacement_blocks_the_challenge(knowledge: Knowledge) -> None:
    """A baseline titre drawn during IVIG carries donor antibody, so the fold rise from it is not judged."""
    meds = [{"text": "IVIG", "start": "2025-01-01", "end": "2025-08-01"}]
    during = challenge(20, 20, vaccinated="2026-03-01", post_date="2026-04-05")
    for titre in during["pneumococcal_challenge"]["titres"]:
        if titre["date"] == "2026-02-20":
            titre["date"] = "2026-01-20"  # within the washout, which ends 2026-02-01
    assessment = esid(knowledge, medications=meds, **during)
    assert assessment.pneumococcal is not None and assessment.pneumococcal.classification == "not_assessed"
    after = esid(knowledge, medications=meds, **challenge(20, 20))  # baseline on 2026-02-20, after the washout
    assert after.pneumococcal is not None and after.pneumococcal.classification == "normal"


def test_a_protein_antigen_response_measured_on_scig_is_not_used(knowledge: Knowledge) -> None:
    """A low tetanus antibody level measured during SCIG is set aside with its reason, and ESID is not confirmed."""
    low_tetanus = {"protein_antigens": [{"antigen": "tetanus", "result": "low", "date": "2026-06-01"}]}
    on_scig = esid(knowledge, medications=SCIG_ONGOING, **low_tetanus, **RECURRENT_PNEUMONIA, **ESID_COMPLETE)
    assert outcome(on_scig, "vaccine_response_normal") == "unknown"
    assert any("tetanus" in w and "immunoglobulin replacement" in w for w in on_scig.warnings)
    assert on_scig.diagnosis.certainty == "provisional"
    untreated = esid(knowledge, **low_tetanus, **RECURRENT_PNEUMONIA, **ESID_COMPLETE)
    assert outcome(untreated, "vaccine_response_normal") == "not_met"


def test_an_undated_vaccine_summary_is_not_used_when_replacement_is_recorded(knowledge: Knowledge) -> None:
    """A normal vaccine-response summary without a date cannot be placed before IVIG, so ESID cannot be confirmed."""
    summary = [{"antigen": "pneumococcal_polysaccharide", "result": "normal"}]
    with_ivig = esid(
        knowledge, medications=IVIG_STOPPED_2024, vaccine_responses=summary, **RECURRENT_PNEUMONIA, **ESID_COMPLETE
    )
    assert outcome(with_ivig, "vaccine_response_normal") == "unknown"
    assert "no date" in outcome_reason(with_ivig, "vaccine_response_normal")
    assert with_ivig.diagnosis.certainty == "provisional"
    without = esid(knowledge, vaccine_responses=summary, **RECURRENT_PNEUMONIA, **ESID_COMPLETE)
    assert (without.diagnosis.label, without.diagnosis.certainty) == ("partial_sigmd", "confirmed")


@pytest.mark.parametrize(("measured", "used"), [(date(2025, 12, 1), False), (date(2026, 9, 1), True)])
def test_a_dated_vaccine_summary_counts_only_outside_the_washout(
    knowledge: Knowledge, measured: date, used: bool
) -> None:
    """An impaired summary dated 2 weeks after IVIG stopped is not used; one dated 9 months after it is."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, *normal_subclasses(JUL), medications=IVIG_STOPPED_NOV_2025)
    impaired = VaccineResponse("pneumococcal_polysaccharide", VaccineResult.IMPAIRED, "test", measured)
    assessment = run(knowledge, replace(case, vaccine_responses=(impaired,)), "esid")
    assert outcome(assessment, "vaccine_response_normal") == ("not_met" if used else "unknown")


def test_no_vaccine_challenge_is_offered_while_replacement_continues(knowledge: Knowledge) -> None:
    """On ongoing SCIG the work-up defers the vaccine challenge, and the follow-up orders no PPSV23 titres."""
    on_scig = esid(knowledge, medications=SCIG_ONGOING)
    assert "pneumococcal_vaccine_challenge" not in ids(on_scig, "workup")
    assert "defer_vaccine_challenge" in ids(on_scig, "workup")
    assert on_scig.follow_up is not None
    assert not any("PPSV23" in t for t in on_scig.follow_up.tests)
    untreated = esid(knowledge)
    assert "pneumococcal_vaccine_challenge" in ids(untreated, "workup")
    assert "defer_vaccine_challenge" not in ids(untreated, "workup")


def test_the_challenge_is_offered_again_once_the_washout_has_passed(knowledge: Knowledge) -> None:
    """Within the washout the challenge is deferred to a named date; after it the challenge is offered."""
    within = esid(knowledge, medications=[{"text": "IVIG", "start": "2025-01-01", "end": "2026-08-01"}])
    deferred = next(w for w in within.workup if w.advice.id == "defer_vaccine_challenge")
    assert "before 2027-02-01" in deferred.reason
    after = esid(knowledge, medications=IVIG_STOPPED_2024)
    assert "pneumococcal_vaccine_challenge" in ids(after, "workup")


# --- 5. follow-up never stops while something is open --------------------------------------------------------------

CVID_PROGRESSION = [
    ("IgM", 12, "mg/dL", JAN),
    ("IgG", 950, "mg/dL", JAN),
    ("IgA", 160, "mg/dL", JAN),
    ("IgM", 11, "mg/dL", JUL),
    ("IgG", 380, "mg/dL", JUL),
    ("IgA", 20, "mg/dL", JUL),
]


def test_progression_to_a_cvid_pattern_is_its_own_alert_with_a_referral(knowledge: Knowledge) -> None:
    """Isolated low IgM that becomes low IgG and IgA is a pattern-progression alert, referred to immunology."""
    assessment = run(knowledge, build_case(knowledge, *CVID_PROGRESSION))
    assert assessment.diagnosis.label == "cvid_pattern"
    progression = next(a for a in assessment.alerts if a.id == "pattern_progression")
    assert "from isolated low IgM" in progression.text and "to CVID pattern" in progression.text
    assert "refer_clinical_immunology" in ids(assessment, "recommendations")
    assert assessment.follow_up is not None
    assert assessment.follow_up.next_date <= date(2027, 5, 1)
    assert "B-cell subsets with switched memory B cells" in assessment.follow_up.tests


def test_a_stable_isolated_low_igm_raises_no_progression_alert(knowledge: Knowledge) -> None:
    """Low IgM with IgG and IgA normal at both visits is no progression and needs no referral."""
    stable = [*CVID_PROGRESSION[:3], ("IgM", 11, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]
    assessment = run(knowledge, build_case(knowledge, *stable))
    assert assessment.alerts == ()
    assert "refer_clinical_immunology" not in ids(assessment, "recommendations")


def test_an_open_alert_keeps_follow_up_when_igm_has_normalised(knowledge: Knowledge) -> None:
    """IgM back to normal but IgG falling by more than 1 SD still gets a review within 6 months."""
    results = [("IgM", 25, "mg/dL", JAN), ("IgG", 1500, "mg/dL", JAN), ("IgM", 90, "mg/dL", JUL)]
    falling = run(knowledge, build_case(knowledge, *results, ("IgG", 800, "mg/dL", JUL), ("IgA", 150, "mg/dL", JUL)))
    assert falling.diagnosis.label == "normal"
    assert [a.id for a in falling.alerts] == ["igg_trending_down"]
    assert falling.follow_up is not None and falling.follow_up.next_date == date(2027, 5, 1)
    assert "igg_trending_down" in falling.follow_up.reason
    steady = run(knowledge, build_case(knowledge, *results, ("IgG", 1450, "mg/dL", JUL), ("IgA", 150, "mg/dL", JUL)))
    assert (steady.alerts, steady.follow_up) == ((), None)


@pytest.mark.parametrize("profile", ["idf", "esid"])
def test_a_reported_t_cell_defect_is_an_alert_with_a_dated_plan(knowledge: Knowledge, profile: str) -> None:
    """A T-cell defect opens an alert under every profile: referral, a review within 6 months, lymphocyte subsets."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, t_cell_defect=True)
    assessment = run(knowledge, case, profile)
    assert [a.id for a in assessment.alerts] == ["t_cell_defect"]
    assert "refer_clinical_immunology" in ids(assessment, "recommendations")
    assert assessment.follow_up is not None and assessment.follow_up.next_date <= date(2027, 5, 1)
    assert "lymphocyte subsets (T, B and NK cells)" in assessment.follow_up.tests
    cleared = run(knowledge, build_case(knowledge, *VERY_LOW_IGM_TWICE, t_cell_defect=False), profile)
    assert "t_cell_defect" not in {a.id for a in cleared.alerts}


# --- 6. ESID's clinical criterion ------------------------------------------------------------------------------------


def test_esid_with_recurrent_infections_and_every_test_normal_is_confirmed(knowledge: Knowledge) -> None:
    """Two pneumonias in a year meet ESID's clinical criterion; with every test normal SIgMD is confirmed."""
    summary = [{"antigen": "pneumococcal_polysaccharide", "result": "normal"}]
    assessment = esid(knowledge, vaccine_responses=summary, **RECURRENT_PNEUMONIA, **ESID_COMPLETE)
    assert outcome(assessment, "infections_recorded") == "met"
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("partial_sigmd", "confirmed")


def test_esid_is_not_met_without_infections(knowledge: Knowledge) -> None:
    """With clinical features recorded and no invasive or recurrent infection, ESID's SIgMD is not met."""
    summary = [{"antigen": "pneumococcal_polysaccharide", "result": "normal"}]
    assessment = esid(knowledge, vaccine_responses=summary, **NO_INFECTIONS, **ESID_COMPLETE)
    assert outcome(assessment, "infections_recorded") == "not_met"
    assert assessment.diagnosis.label == "isolated_low_igm"
    assert "evaluate_other_antibody_deficiency" not in ids(assessment, "recommendations")
    assert assessment.follow_up is not None


def test_esid_without_clinical_data_is_unknown_and_never_confirmed(knowledge: Knowledge) -> None:
    """Without clinical features the infection criterion is unknown, the verdict provisional, and the history asked."""
    summary = [{"antigen": "pneumococcal_polysaccharide", "result": "normal"}]
    assessment = esid(knowledge, vaccine_responses=summary, **ESID_COMPLETE)
    assert outcome(assessment, "infections_recorded") == "unknown"
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("partial_sigmd", "provisional")
    assert "record_infection_history" in ids(assessment, "workup")


def test_idf_does_not_ask_for_infections(knowledge: Knowledge) -> None:
    """The IDF definition has no clinical criterion: an asymptomatic patient can still have SIgMD under IDF."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, *normal_subclasses(JUL), **NO_INFECTIONS, **ESID_COMPLETE)
    idf = run(knowledge, case, "idf")
    assert "infections_recorded" not in {c.id for c in idf.criteria}
    assert idf.diagnosis.label == "partial_sigmd"


# --- 1. no polysaccharide challenge before 2 years -----------------------------------------------------------------


def test_an_infant_is_offered_no_polysaccharide_challenge(knowledge: Knowledge) -> None:
    """At 1 year the work-up offers protein-antigen responses and names the 2nd birthday, never a PPSV23 challenge."""
    case = build_case(knowledge, ("IgM", 3, "mg/dL", JUL), *adult_normal_igg_iga(JUL), birth_date="2025-08-01")
    assessment = run(knowledge, case)
    assert "pneumococcal_vaccine_challenge" not in ids(assessment, "workup")
    infant = next(w for w in assessment.workup if w.advice.id == "vaccine_responses_under_two")
    assert "2027-08-01" in infant.reason
    assert assessment.follow_up is not None
    assert not any("PPSV23" in t for t in assessment.follow_up.tests)
    assert "tetanus and diphtheria antibody responses (protein antigens)" in assessment.follow_up.tests


def test_a_three_year_old_is_offered_the_polysaccharide_challenge(knowledge: Knowledge) -> None:
    """From 2 years the PPSV23 challenge can be judged, so the work-up offers it."""
    case = build_case(knowledge, ("IgM", 3, "mg/dL", JUL), *adult_normal_igg_iga(JUL), birth_date="2023-06-01")
    assessment = run(knowledge, case)
    assert "pneumococcal_vaccine_challenge" in ids(assessment, "workup")
    assert "vaccine_responses_under_two" not in ids(assessment, "workup")


@pytest.mark.parametrize(("birth_date", "used"), [("2025-08-01", False), ("2023-06-01", True)])
def test_a_polysaccharide_summary_counts_only_from_two_years(knowledge: Knowledge, birth_date: str, used: bool) -> None:
    """An impaired polysaccharide-response summary at 1 year is not used; at 3 years it fails ESID's criterion."""
    case = build_case(
        knowledge,
        ("IgM", 3, "mg/dL", JUL),
        *adult_normal_igg_iga(JUL),
        birth_date=birth_date,
        vaccine_responses=[{"antigen": "pneumococcal_polysaccharide", "result": "impaired"}],
    )
    assessment = run(knowledge, case, "esid")
    assert outcome(assessment, "vaccine_response_normal") == ("not_met" if used else "unknown")
    assert any("before the age of 2 years" in w for w in assessment.warnings) is not used


def test_an_infant_protein_antigen_response_is_used(knowledge: Knowledge) -> None:
    """A low tetanus response at 1 year is a protein-antigen response and counts as impaired."""
    case = build_case(
        knowledge,
        ("IgM", 3, "mg/dL", JUL),
        *adult_normal_igg_iga(JUL),
        birth_date="2025-08-01",
        protein_antigens=[{"antigen": "tetanus", "result": "low", "date": "2026-07-14"}],
    )
    assert outcome(run(knowledge, case, "esid"), "vaccine_response_normal") == "not_met"


@pytest.mark.parametrize(("measured", "used"), [("2025-12-01", False), ("2026-09-01", True)])
def test_a_dated_vaccine_summary_in_case_json_is_placed_against_replacement(
    knowledge: Knowledge, measured: str, used: bool
) -> None:
    """Read from case JSON, an impaired summary dated during the washout after IVIG is set aside; dated after it,
    it counts (the reader passes the summary's date on to the core)."""
    summary = [{"antigen": "pneumococcal_polysaccharide", "result": "impaired", "date": measured}]
    assessment = esid(
        knowledge,
        medications=IVIG_STOPPED_NOV_2025,
        vaccine_responses=summary,
        **RECURRENT_PNEUMONIA,
        **ESID_COMPLETE,
    )
    assert outcome(assessment, "vaccine_response_normal") == ("not_met" if used else "unknown")
