"""Clinical vignettes: every criterion of every profile, met and not met."""

from __future__ import annotations

from typing import Any

import pytest

from sigmd.core.knowledge import Knowledge, Role
from tests.cases import NORMAL_BLOOD_COUNT, NOT_GIVEN, adult_normal_igg_iga, build_case, normal_subclasses, outcome, run

JAN, JUL = "2026-01-10", "2026-07-14"
LOW_IGM_TWICE = [("IgM", 25, "mg/dL", JAN), ("IgM", 24, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]
ALL_PROFILES = ["idf", "esid", "medscape_40", "medscape_20", "spanish_2024", "wenzhou_2020"]
VERY_LOW_IGM_TWICE = [("IgM", 12, "mg/dL", JAN), ("IgM", 11, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]


def profile_has(knowledge: Knowledge, profile: str, criterion: str) -> bool:
    return knowledge.profiles[profile].criterion(criterion) is not None


# --- igm_low ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_igm_far_below_every_cutoff_meets_igm_low(knowledge: Knowledge, profile: str) -> None:
    """IgM 11 mg/dL in an adult is low under every profile."""
    assert outcome(run(knowledge, build_case(knowledge, *VERY_LOW_IGM_TWICE), profile), "igm_low") == "met"


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_normal_igm_does_not_meet_igm_low(knowledge: Knowledge, profile: str) -> None:
    """IgM 120 mg/dL in an adult is not low under any profile, and the verdict is normal."""
    case = build_case(knowledge, ("IgM", 120, "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    assessment = run(knowledge, case, profile)
    assert outcome(assessment, "igm_low") == "not_met"
    assert assessment.diagnosis.label == "normal"


def test_idf_partial_threshold_is_the_age_matched_minus_2sd(knowledge: Knowledge) -> None:
    """IgM 36 mg/dL is just below the adult mean - 2 SD (36.2) and 37 just above it."""
    below = run(knowledge, build_case(knowledge, ("IgM", 36, "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    above = run(knowledge, build_case(knowledge, ("IgM", 37, "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    assert (outcome(below, "igm_low"), outcome(above, "igm_low")) == ("met", "not_met")


def test_absolute_cutoffs_differ_from_the_age_matched_limit(knowledge: Knowledge) -> None:
    """IgM 30 mg/dL is low for IDF (limit 36.2) and Medscape 40, but not for the 20 mg/dL cut-off."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    results = {
        p: outcome(run(knowledge, case, p), "igm_low") for p in ("idf", "medscape_40", "medscape_20", "wenzhou_2020")
    }
    assert results == {"idf": "met", "medscape_40": "met", "medscape_20": "not_met", "wenzhou_2020": "not_met"}


def test_adult_cutoff_does_not_apply_to_a_child(knowledge: Knowledge) -> None:
    """The Medscape 40 mg/dL cut-off is published for adults, so a child's IgM is unknown under it."""
    case = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", JUL),
        ("IgG", 900, "mg/dL", JUL),
        ("IgA", 120, "mg/dL", JUL),
        birth_date="2016-02-01",
    )
    assessment = run(knowledge, case, "medscape_40")
    assert outcome(assessment, "igm_low") == "unknown"
    assert any(
        "other ages" in c.reason or "could not be judged" in c.reason for c in assessment.criteria if c.id == "igm_low"
    )


def test_spanish_cutoffs_depend_on_age(knowledge: Knowledge) -> None:
    """IgM 25 mg/dL is low for an adult (< 30) but not for a child (< 20) under the Spanish 2024 cut-offs."""
    adult = build_case(knowledge, ("IgM", 25, "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    child = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", JUL),
        ("IgG", 900, "mg/dL", JUL),
        ("IgA", 120, "mg/dL", JUL),
        birth_date="2016-02-01",
    )
    assert outcome(run(knowledge, adult, "spanish_2024"), "igm_low") == "met"
    assert outcome(run(knowledge, child, "spanish_2024"), "igm_low") == "not_met"


# --- igg_normal / iga_normal ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize(("analyte", "low_value", "criterion"), [("IgG", 300, "igg_normal"), ("IgA", 20, "iga_normal")])
def test_low_igg_or_iga_fails_the_normal_criterion(
    knowledge: Knowledge, profile: str, analyte: str, low_value: float, criterion: str
) -> None:
    """A low IgG or IgA is not normal under any profile, and the verdict is not SIgMD."""
    others = {"IgG": 1000, "IgA": 180}
    others[analyte] = low_value
    case = build_case(
        knowledge,
        ("IgM", 12, "mg/dL", JAN),
        ("IgM", 11, "mg/dL", JUL),
        ("IgG", others["IgG"], "mg/dL", JUL),
        ("IgA", others["IgA"], "mg/dL", JUL),
    )
    assessment = run(knowledge, case, profile)
    assert outcome(assessment, criterion) == "not_met"
    assert assessment.diagnosis.label not in ("partial_sigmd", "complete_sigmd")


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_missing_igg_and_iga_leave_sigmd_provisional(knowledge: Knowledge, profile: str) -> None:
    """Without IgG and IgA the normal criteria are unknown, the label provisional, and both are asked for."""
    case = build_case(knowledge, ("IgM", 12, "mg/dL", JAN), ("IgM", 11, "mg/dL", JUL))
    assessment = run(knowledge, case, profile)
    assert outcome(assessment, "igg_normal") == outcome(assessment, "iga_normal") == "unknown"
    assert assessment.diagnosis.label == "partial_sigmd"
    assert assessment.diagnosis.certainty == "provisional"
    assert {"measure_igg", "measure_iga"} <= {w.advice.id for w in assessment.workup}


# --- igm_persistently_low --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES])
def test_two_low_results_six_months_apart_are_persistent(knowledge: Knowledge, profile: str) -> None:
    """IgM below the limit on two occasions six months apart is persistent."""
    if not profile_has(knowledge, profile, "igm_persistently_low"):
        pytest.fail(f"profile {profile} lacks the persistence criterion")
    assert outcome(run(knowledge, build_case(knowledge, *VERY_LOW_IGM_TWICE), profile), "igm_persistently_low") == "met"


def test_a_single_low_result_is_provisional(knowledge: Knowledge) -> None:
    """One low IgM makes SIgMD provisional and asks for a repeat."""
    assessment = run(knowledge, build_case(knowledge, ("IgM", 25, "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    assert outcome(assessment, "igm_persistently_low") == "unknown"
    assert assessment.diagnosis.certainty == "provisional"
    assert "repeat_igm" in {w.advice.id for w in assessment.workup}


def test_two_low_results_six_weeks_apart_are_not_yet_persistent(knowledge: Knowledge) -> None:
    """Two low results closer than three months do not make IgM persistently low."""
    case = build_case(
        knowledge, ("IgM", 25, "mg/dL", "2026-06-01"), ("IgM", 24, "mg/dL", "2026-07-14"), *adult_normal_igg_iga(JUL)
    )
    assert outcome(run(knowledge, case), "igm_persistently_low") == "unknown"


def test_a_child_needs_six_months_of_low_results(knowledge: Knowledge) -> None:
    """In a child, two low results four months apart are not enough; eight months apart are."""
    child = {"birth_date": "2016-02-01"}
    day1 = ("IgM", 15, "mg/dL", "2026-01-10")
    others = [("IgG", 900, "mg/dL", "2026-09-10"), ("IgA", 120, "mg/dL", "2026-09-10")]
    four = build_case(knowledge, day1, ("IgM", 15, "mg/dL", "2026-05-10"), *others, **child)
    eight = build_case(knowledge, day1, ("IgM", 15, "mg/dL", "2026-09-10"), *others, **child)
    assert outcome(run(knowledge, four), "igm_persistently_low") == "unknown"
    assert outcome(run(knowledge, eight), "igm_persistently_low") == "met"


def test_normalised_igm_is_not_sigmd(knowledge: Knowledge) -> None:
    """A low IgM followed by a normal one is transient: normal, and persistence not met."""
    case = build_case(knowledge, ("IgM", 25, "mg/dL", JAN), ("IgM", 80, "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    assessment = run(knowledge, case)
    assert outcome(assessment, "igm_persistently_low") == "not_met"
    assert assessment.diagnosis.label == "normal"
    assert "normalised" in next(c.reason for c in assessment.criteria if c.id == "igm_low")


# --- secondary_causes_excluded ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES])
def test_clozapine_makes_low_igm_secondary(knowledge: Knowledge, profile: str) -> None:
    """A patient on clozapine with low IgM has secondary low IgM, naming clozapine."""
    case = build_case(
        knowledge, *VERY_LOW_IGM_TWICE, medications=[{"text": "Clozaril 200 mg", "code": "N05AH02", "system": "ATC"}]
    )
    assessment = run(knowledge, case, profile)
    assert outcome(assessment, "secondary_causes_excluded") == "not_met"
    assert assessment.diagnosis.label == "secondary_low_igm"
    assert [m.cause.id for m in assessment.secondary_matches] == ["clozapine"]


@pytest.mark.parametrize(
    ("record", "cause"),
    [
        ({"text": "CLL", "code": "C91.1", "system": "ICD-10"}, "cll"),
        ({"text": "diffuse large B-cell lymphoma"}, "lymphoma"),
        ({"text": "rituximab infusion"}, "anti_cd20"),
        ({"code": "C90.00", "system": "http://hl7.org/fhir/sid/icd-10-cm"}, "myeloma"),
    ],
)
def test_conditions_and_drugs_match_by_code_or_text(knowledge: Knowledge, record: dict[str, str], cause: str) -> None:
    """Secondary causes are recognised by ICD-10 or ATC prefix or by their name in free text."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, conditions=[record])
    assert [m.cause.id for m in run(knowledge, case).secondary_matches] == [cause]


def test_unrelated_conditions_exclude_secondary_causes(knowledge: Knowledge) -> None:
    """Recorded conditions and medications without a secondary cause meet the exclusion."""
    case = build_case(
        knowledge, *VERY_LOW_IGM_TWICE, conditions=["asthma"], medications=["salbutamol inhaler"], **NORMAL_BLOOD_COUNT
    )
    assessment = run(knowledge, case)
    assert outcome(assessment, "secondary_causes_excluded") == "met"
    assert assessment.diagnosis.label == "partial_sigmd"


def test_missing_blood_count_leaves_leukaemia_and_lymphoma_unexcluded(knowledge: Knowledge) -> None:
    """Without a blood count, leukaemia and lymphoma are not excluded and a full blood count is asked for."""
    assessment = run(knowledge, build_case(knowledge, *VERY_LOW_IGM_TWICE, conditions=["asthma"]))
    assert outcome(assessment, "secondary_causes_excluded") == "unknown"
    workup = {w.advice.id for w in assessment.workup}
    assert "rule_out_leukaemia_lymphoma" in workup
    assert "rule_out_secondary_causes" not in workup


def test_abnormal_blood_count_keeps_the_exclusion_open(knowledge: Knowledge) -> None:
    """An abnormal blood count leaves leukaemia or lymphoma open, so SIgMD stays provisional."""
    case = build_case(
        knowledge, *VERY_LOW_IGM_TWICE, blood_count={"date": JUL, "result": "abnormal", "note": "lymphocytosis"}
    )
    assessment = run(knowledge, case)
    assert outcome(assessment, "secondary_causes_excluded") == "unknown"
    assert assessment.diagnosis.certainty == "provisional"


def test_unrecorded_medications_leave_the_exclusion_unknown(knowledge: Knowledge) -> None:
    """When the case says nothing about medications, secondary causes cannot be excluded."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, medications=NOT_GIVEN)
    assessment = run(knowledge, case)
    assert outcome(assessment, "secondary_causes_excluded") == "unknown"
    assert assessment.diagnosis.certainty == "provisional"
    assert "rule_out_secondary_causes" in {w.advice.id for w in assessment.workup}


# --- igg_subclasses_normal / vaccine_response_normal / no_t_cell_defect -----------------------------------

COMPLETE_ESID: dict[str, Any] = {
    "vaccine_responses": [{"antigen": "pneumococcal_polysaccharide", "result": "normal"}],
    "t_cell_defect": False,
    "clinical_features": {"infections": [{"type": "meningitis", "date": "2025-03-01", "organism": "S. pneumoniae"}]},
    **NORMAL_BLOOD_COUNT,
}


def test_esid_all_criteria_met_is_confirmed(knowledge: Knowledge) -> None:
    """Repeatedly low IgM after an invasive infection, with every ESID test done and normal, is confirmed SIgMD."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, *normal_subclasses(JUL), **COMPLETE_ESID)
    assessment = run(knowledge, case, "esid")
    required = [c for c in assessment.criteria if c.role is not Role.REPORT]
    assert {c.id: c.outcome.value for c in required} == dict.fromkeys([c.id for c in required], "met")
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("partial_sigmd", "confirmed")


def test_low_subclass_is_sigmd_for_idf_but_unclassified_for_esid(knowledge: Knowledge) -> None:
    """Low IgM with low IgG2 is SIgMD under IDF and unclassified antibody deficiency under ESID."""
    subclasses = [r if r[0] != "IgG2" else ("IgG2", 60, "mg/dL", JUL) for r in normal_subclasses(JUL)]
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, *subclasses, **COMPLETE_ESID)
    idf, esid = run(knowledge, case, "idf"), run(knowledge, case, "esid")
    assert outcome(idf, "igg_subclasses_normal") == outcome(esid, "igg_subclasses_normal") == "not_met"
    assert idf.diagnosis.label == "partial_sigmd"
    assert esid.diagnosis.label == "unclassified_antibody_deficiency"


def test_impaired_vaccine_response_is_sigmd_for_idf_but_unclassified_for_esid(knowledge: Knowledge) -> None:
    """An impaired pneumococcal response does not exclude SIgMD under IDF but does under ESID."""
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        *normal_subclasses(JUL),
        vaccine_responses=[{"antigen": "pneumococcal_polysaccharide", "result": "impaired"}],
        t_cell_defect=False,
    )
    idf, esid = run(knowledge, case, "idf"), run(knowledge, case, "esid")
    assert outcome(esid, "vaccine_response_normal") == "not_met"
    assert (idf.diagnosis.label, esid.diagnosis.label) == ("partial_sigmd", "unclassified_antibody_deficiency")


def test_untested_subclasses_and_vaccines_make_esid_possible_not_met(knowledge: Knowledge) -> None:
    """Untested ESID items leave SIgMD provisional ('possible'), never 'not met'."""
    assessment = run(knowledge, build_case(knowledge, *VERY_LOW_IGM_TWICE), "esid")
    assert {
        outcome(assessment, c) for c in ("igg_subclasses_normal", "vaccine_response_normal", "no_t_cell_defect")
    } == {"unknown"}
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("partial_sigmd", "provisional")
    assert {"measure_igg_subclasses", "pneumococcal_vaccine_challenge", "assess_t_cells"} <= {
        w.advice.id for w in assessment.workup
    }


def test_t_cell_defect_fails_esid(knowledge: Knowledge) -> None:
    """A known T-cell defect fails the ESID criterion and the verdict is not SIgMD."""
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        *normal_subclasses(JUL),
        vaccine_responses=COMPLETE_ESID["vaccine_responses"],
        t_cell_defect=True,
    )
    assessment = run(knowledge, case, "esid")
    assert outcome(assessment, "no_t_cell_defect") == "not_met"
    assert assessment.diagnosis.label == "other_abnormal"


# --- complete versus partial, censored values --------------------------------------------------------------


def test_igm_below_5_is_complete(knowledge: Knowledge) -> None:
    """IgM 3 mg/dL (twice) is complete SIgMD."""
    case = build_case(knowledge, ("IgM", 3, "mg/dL", JAN), ("IgM", 2, "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    assert run(knowledge, case).diagnosis.label == "complete_sigmd"


def test_censored_below_20_is_partial_and_says_complete_is_unknown(knowledge: Knowledge) -> None:
    """`<20 mg/dL` is low, but the output says whether it is below 5 mg/dL cannot be told."""
    case = build_case(knowledge, ("IgM", 25, "mg/dL", JAN), ("IgM", "<20", "mg/dL", JUL), *adult_normal_igg_iga(JUL))
    assessment = run(knowledge, case)
    assert assessment.diagnosis.label == "partial_sigmd"
    assert any("below 5 mg/dL (absent) cannot be told" in w for w in assessment.warnings)


def test_censored_value_straddling_the_limit_is_indeterminate(knowledge: Knowledge) -> None:
    """`<50 mg/dL` may lie either side of the limit, so IgM is not called low."""
    assessment = run(knowledge, build_case(knowledge, ("IgM", "<50", "mg/dL", JUL), *adult_normal_igg_iga(JUL)))
    assert outcome(assessment, "igm_low") == "unknown"
    assert assessment.diagnosis.label not in ("partial_sigmd", "complete_sigmd", "normal")


def test_laboratory_range_takes_precedence_and_is_named(knowledge: Knowledge) -> None:
    """A lab range of 60-300 mg/dL makes IgM 45 low although the Mayo adult limit is 36."""
    case = build_case(knowledge, ("IgM", 45, "mg/dL", JUL, {"low": 60, "high": 300}), *adult_normal_igg_iga(JUL))
    assessment = run(knowledge, case)
    igm = assessment.latest(assessment.interpretations[0].result.analyte)
    assert igm is not None and igm.interval is not None and igm.interval.from_laboratory
    assert outcome(assessment, "igm_low") == "met"
    assert "laboratory's own range" in igm.interval.description


# --- other antibody-deficiency patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("igm", "igg", "iga", "birth", "label", "pattern"),
    [
        (120, 1000, 3, "1980-05-01", "selective_iga_deficiency", "selective_iga_deficiency"),
        (120, 1000, 3, "2024-01-01", "other_abnormal", "other"),
        (20, 300, 20, "1980-05-01", "cvid_pattern", "cvid_pattern"),
        (400, 300, 20, "1980-05-01", "hyper_igm_pattern", "hyper_igm_pattern"),
        (20, 200, 5, "2024-01-01", "other_abnormal", "panhypogammaglobulinaemia"),
        (120, 300, 180, "1980-05-01", "other_abnormal", "other"),
    ],
)
def test_immunoglobulin_patterns(
    knowledge: Knowledge, igm: float, igg: float, iga: float, birth: str, label: str, pattern: str
) -> None:
    """Other antibody-deficiency patterns are named and are not called SIgMD."""
    case = build_case(
        knowledge, ("IgM", igm, "mg/dL", JUL), ("IgG", igg, "mg/dL", JUL), ("IgA", iga, "mg/dL", JUL), birth_date=birth
    )
    assessment = run(knowledge, case)
    assert (assessment.diagnosis.label, assessment.pattern.pattern) == (label, pattern)


def test_subclass_only_pattern(knowledge: Knowledge) -> None:
    """Normal IgM, IgG and IgA with low IgG2 is the IgG-subclass-only pattern."""
    subclasses = [r if r[0] != "IgG2" else ("IgG2", 60, "mg/dL", JUL) for r in normal_subclasses(JUL)]
    case = build_case(knowledge, ("IgM", 120, "mg/dL", JUL), *adult_normal_igg_iga(JUL), *subclasses)
    assert run(knowledge, case).pattern.pattern == "igg_subclass_only"
