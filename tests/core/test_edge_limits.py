"""Clinical safety at the edges: newborns, laboratory ranges, unit slips, old results, honest summaries and labels."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sigmd.core.ages import AgeSpec
from sigmd.core.explain import patient_summary
from sigmd.core.intervals import apply_coverage
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte
from tests.cases import adult_normal_igg_iga, build_case, outcome, run

NEWBORN = "2026-10-20"
"""Born 10 days before the results of 2026-10-30 (the tests assess as of 2026-11-01)."""


# --- 1. newborns and young infants ----------------------------------------------------------------------------


def test_a_ten_day_olds_igm_is_not_called_low_under_a_set_measured_from_one_month(knowledge: Knowledge) -> None:
    """A healthy 10-day-old's IgM of 5 mg/dL is not called low under a set measured from 1 month (Garcia-Prat 0-2 y)."""
    case = build_case(knowledge, ("IgM", 5, "mg/dL", "2026-10-30"), birth_date=NEWBORN)
    assessment = run(knowledge, case, reference="garcia_prat_optilite")
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None
    assert igm.status == "no_interval"
    assert "no interval applies at age 10 days" in igm.no_interval_reason
    assert "apply from 1 month" in igm.no_interval_reason
    assert assessment.diagnosis.label == "insufficient_data"


def test_a_ten_day_olds_igm_is_judged_under_a_set_with_a_neonatal_band(knowledge: Knowledge) -> None:
    """Under a set with a neonatal band (Exeter, 0-2 weeks 0.05-0.20 g/L) the same IgM is judged: 5 mg/dL is normal."""
    normal = run(
        knowledge, build_case(knowledge, ("IgM", 5, "mg/dL", "2026-10-30"), birth_date=NEWBORN), "idf", "exeter_nhs"
    )
    igm = normal.latest(Analyte.IGM)
    assert igm is not None and igm.interval is not None
    assert igm.status == "normal"
    assert "birth to 2 weeks" in igm.interval.description
    low = run(
        knowledge, build_case(knowledge, ("IgM", 2, "mg/dL", "2026-10-30"), birth_date=NEWBORN), "idf", "exeter_nhs"
    )
    assert low.interpretations[0].status in ("low", "absent")


def test_the_default_set_judges_a_ten_day_old_against_its_neonatal_gap_fill(knowledge: Knowledge) -> None:
    """Mayo's first month is filled with the Exeter neonatal band: a 10-day-old's IgM of 5 mg/dL is normal there."""
    case = build_case(knowledge, ("IgM", 5, "mg/dL", "2026-10-30"), birth_date=NEWBORN)
    igm = run(knowledge, case, reference="mayo").interpretations[0]
    assert igm.status == "normal"
    assert igm.interval is not None and igm.interval.row is not None
    assert igm.interval.row.gap_fill
    assert igm.interval.source.id == "exeter_ig"


def test_the_default_set_does_not_judge_a_ten_day_olds_igg_subclass(knowledge: Knowledge) -> None:
    """No neonatal IgG-subclass interval is published: a 10-day-old's IgG2 is not judged under Mayo."""
    case = build_case(
        knowledge, ("IgM", 10, "mg/dL", "2026-10-30"), ("IgG2", 5, "mg/dL", "2026-10-30"), birth_date=NEWBORN
    )
    igg2 = run(knowledge, case, reference="mayo").latest(Analyte.IGG2)
    assert igg2 is not None and igg2.status == "no_interval"
    assert "no interval applies at age 10 days" in igg2.no_interval_reason


def test_a_first_band_not_measured_on_newborns_still_judges_a_two_month_old(knowledge: Knowledge) -> None:
    """Mayo's 0-5 month band applies from 1 month: a 2-month-old's IgM of 10 mg/dL is low and the band says so."""
    case = build_case(knowledge, ("IgM", 10, "mg/dL", "2026-10-30"), birth_date="2026-08-25")
    igm = run(knowledge, case, reference="mayo").interpretations[0]
    assert igm.status == "low"
    assert igm.interval is not None
    assert "1 month to 5 months (published from birth)" in igm.interval.description


def test_an_absolute_cutoff_does_not_judge_an_infant_younger_than_it_applies_to(knowledge: Knowledge) -> None:
    """The 20 mg/dL cut-off applies from 6 months: a 3-month-old's IgM of 15 mg/dL is not judged under it."""
    case = build_case(knowledge, ("IgM", 15, "mg/dL", "2026-10-30"), birth_date="2026-07-25")
    assessment = run(knowledge, case, profile="medscape_20")
    igm = assessment.interpretations[0]
    assert igm.status == "no_interval"
    assert "only at other ages" in igm.no_interval_reason
    assert "from 6 months" in igm.no_interval_reason
    assert assessment.diagnosis.label == "insufficient_data"


def test_an_absolute_cutoff_judges_an_infant_old_enough(knowledge: Knowledge) -> None:
    """An 8-month-old's IgM of 15 mg/dL is below the 20 mg/dL cut-off, which applies from 6 months."""
    case = build_case(knowledge, ("IgM", 15, "mg/dL", "2026-10-30"), birth_date="2026-02-25")
    igm = run(knowledge, case, profile="medscape_20").interpretations[0]
    assert igm.status == "low"
    assert igm.low_limit is not None and igm.low_limit.basis == "absolute_cutoff"


# --- 3. laboratory ranges and unit slips ---------------------------------------------------------------------


def test_an_implausible_laboratory_range_does_not_replace_the_age_matched_interval(knowledge: Knowledge) -> None:
    """An IgM range of 0.4-2.3 stated as mg/dL (a g/L range) is reported and the reference set decides."""
    rng = {"low": 0.4, "high": 2.3, "unit": "mg/dL"}
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01", rng), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None and igm.interval is not None and igm.low_limit is not None
    assert not igm.interval.from_laboratory
    assert igm.status == "low"
    assert "reference set 'mayo'" in igm.low_limit.description
    assert any("0.4-2.3 mg/dL was not used" in w and "implausible" in w for w in assessment.warnings)


def test_a_plausible_laboratory_range_is_used_and_named_as_the_deciding_limit(knowledge: Knowledge) -> None:
    """A laboratory IgM range of 40-230 mg/dL is used, and the limit names it: mean - 2 SD of the laboratory's range."""
    rng = {"low": 40, "high": 230, "unit": "mg/dL"}
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01", rng), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None and igm.interval is not None and igm.low_limit is not None
    assert igm.interval.from_laboratory
    assert "mean - 2 SD of the laboratory's own range 40-230 mg/dL" in igm.low_limit.description
    assert not any("was not used" in w for w in assessment.warnings)


def test_a_limit_from_the_laboratory_range_that_differs_from_the_laboratory_flag_is_explained(
    knowledge: Knowledge,
) -> None:
    """IgM 39.5 mg/dL is below the laboratory's limit of 40 but above its mean - 2 SD (39.3): the output says why."""
    rng = {"low": 40, "high": 230, "unit": "mg/dL"}
    case = build_case(knowledge, ("IgM", 39.5, "mg/dL", "2026-10-01", rng), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    assert assessment.interpretations[0].status == "normal"
    assert any("the laboratory flags it low" in w and "so it is not low" in w for w in assessment.warnings)
    agreeing = build_case(knowledge, ("IgM", 35, "mg/dL", "2026-10-01", rng), *adult_normal_igg_iga("2026-10-01"))
    assert not any("the laboratory flags it" in w for w in run(knowledge, agreeing).warnings)


def test_an_igg_whose_size_suggests_a_unit_slip_is_not_judged_as_low(knowledge: Knowledge) -> None:
    """An adult's IgG of 10 'mg/dL' (10 g/L would be normal) gets a warning and is not a confident low."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"), ("IgG", 10, "mg/dL", "2026-10-01"))
    assessment = run(knowledge, case)
    igg = assessment.latest(Analyte.IGG)
    assert igg is not None
    assert igg.status == "no_interval"
    assert outcome(assessment, "igg_normal") == "unknown"
    assert any("suggests a unit slip" in w and "profoundly low" in w for w in assessment.warnings)


def test_a_profoundly_low_igg_that_is_no_unit_slip_is_judged_low(knowledge: Knowledge) -> None:
    """An adult's IgG of 50 mg/dL (5000 mg/dL if read as g/L, no normal value) is judged low without a unit warning."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"), ("IgG", 50, "mg/dL", "2026-10-01"))
    assessment = run(knowledge, case)
    igg = assessment.latest(Analyte.IGG)
    assert igg is not None and igg.status == "low"
    assert not any("unit slip" in w for w in assessment.warnings)


def test_an_igm_in_g_per_l_written_as_mg_dl_is_judged_as_reported_with_a_warning(knowledge: Knowledge) -> None:
    """An adult's IgM of 0.8 'mg/dL' (0.8 g/L would be normal) reads as absent IgM: the verdict stands as reported,
    since IgM this low is a real finding, but a warning names the possible slip so it is not acted on unchecked."""
    case = build_case(knowledge, ("IgM", 0.8, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None and igm.status == "absent"
    assert assessment.diagnosis.label == "complete_sigmd"
    slips = [w for w in assessment.warnings if "suggests a unit slip" in w]
    assert len(slips) == 1 and "IgM on 2026-10-01" in slips[0] and "judged as reported" in slips[0]


def test_an_igm_near_zero_that_is_no_unit_slip_carries_no_unit_warning(knowledge: Knowledge) -> None:
    """IgM 3 mg/dL read as g/L would be 300 mg/dL, above the adult interval: no slip, so no warning."""
    case = build_case(knowledge, ("IgM", 3, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    assert assessment.diagnosis.label == "complete_sigmd"
    assert not any("unit slip" in w for w in assessment.warnings)


def test_an_iga_in_g_per_l_written_as_mg_dl_is_judged_as_reported_with_a_warning(knowledge: Knowledge) -> None:
    """IgA 1.5 'mg/dL' (1.5 g/L would be normal) is judged as reported, with the same warning as IgM's."""
    case = build_case(
        knowledge,
        ("IgM", 30, "mg/dL", "2026-10-01"),
        ("IgG", 1000, "mg/dL", "2026-10-01"),
        ("IgA", 1.5, "mg/dL", "2026-10-01"),
    )
    assessment = run(knowledge, case)
    iga = assessment.latest(Analyte.IGA)
    assert iga is not None and iga.status in ("low", "absent")
    assert any("IgA on 2026-10-01" in w and "suggests a unit slip" in w for w in assessment.warnings)


def test_a_persistent_iga_deficiency_resting_on_a_possible_unit_slip_is_never_confirmed(knowledge: Knowledge) -> None:
    """IgA 1.9 and 2.1 'mg/dL' months apart (g/L written as mg/dL would be normal) with IgM and IgG normal: the pattern
    alone would confirm selective IgA deficiency, but the verdict rests on results whose unit is in doubt, so it is
    provisional and its summary asks for the unit to be confirmed."""
    case = build_case(
        knowledge,
        *(("IgM", 100, "mg/dL", day) for day in ("2025-10-01", "2026-06-01")),
        *(("IgG", 1000, "mg/dL", day) for day in ("2025-10-01", "2026-06-01")),
        ("IgA", 1.9, "mg/dL", "2025-10-01"),
        ("IgA", 2.1, "mg/dL", "2026-06-01"),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert (diagnosis.label, diagnosis.certainty) == ("selective_iga_deficiency", "provisional")
    assert "the latest IgA 2.1 mg/dL on 2026-06-01 looks like g/L written as mg/dL" in diagnosis.summary


def test_an_earlier_possible_unit_slip_does_not_hold_back_a_later_verdict(knowledge: Knowledge) -> None:
    """Only the latest result of each analyte decides the pattern, so only a latest result in doubt caps it."""
    case = build_case(
        knowledge,
        ("IgA", 1.9, "mg/dL", "2025-10-01"),
        ("IgM", 100, "mg/dL", "2026-06-01"),
        ("IgG", 1000, "mg/dL", "2026-06-01"),
        ("IgA", 200, "mg/dL", "2026-06-01"),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert (diagnosis.label, diagnosis.certainty) == ("normal", "confirmed")


def test_an_implausible_latest_igm_leaves_the_verdict_provisional(knowledge: Knowledge) -> None:
    """IgM '50 g/dL' is 50,000 mg/dL, more than ten times the upper limit: a monoclonal IgM can be real, so it is
    judged as reported, but a unit error could hide a low IgM behind it ('5 g/dL' meant as 5 mg/dL). The verdict is
    never confirmed from it, and says why."""
    case = build_case(knowledge, ("IgM", 50, "g/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None and igm.implausible and igm.status == "high"
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("normal", "provisional")
    assert "provisional while the latest IgM 50000 mg/dL on 2026-10-01" in assessment.diagnosis.summary
    assert "check the unit" in assessment.diagnosis.summary
    assert any(r.startswith("at most provisional") for r in assessment.diagnosis.reasons)


def test_an_implausible_earlier_result_does_not_hold_back_a_later_plausible_verdict(knowledge: Knowledge) -> None:
    """Only the latest result of each analyte decides the pattern, so only an implausible latest one caps it."""
    case = build_case(
        knowledge,
        ("IgM", 50, "g/dL", "2025-10-01"),
        ("IgM", 120, "mg/dL", "2026-10-01"),
        *adult_normal_igg_iga("2026-10-01"),
    )
    assessment = run(knowledge, case)
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("normal", "confirmed")
    assert "check the unit" not in assessment.diagnosis.summary


def test_an_implausible_latest_igg_names_itself_beside_a_low_igm(knowledge: Knowledge) -> None:
    """Low IgM beside an IgG of 1,000 g/L: the IgG cannot be trusted to be normal, and the verdict says so."""
    case = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", "2026-01-10"),
        ("IgM", 22, "mg/dL", "2026-08-10"),
        ("IgG", 1000, "g/L", "2026-08-10"),
        ("IgA", 180, "mg/dL", "2026-08-10"),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert diagnosis.label == "partial_sigmd" and diagnosis.certainty == "provisional"
    assert "the latest IgG 100000 mg/dL on 2026-08-10 is more than 10 times" in diagnosis.summary


@pytest.mark.parametrize(
    ("first", "second", "label", "status"),
    [
        (22, 120, "insufficient_data", "indeterminate"),
        (3, 20, "partial_sigmd", "low"),
        (120, 400, "normal", "normal"),
    ],
)
def test_results_of_one_day_give_the_same_verdict_in_either_order(
    knowledge: Knowledge, first: float, second: float, label: str, status: str
) -> None:
    """Two IgM results of one day have no order (results carry a date, not a time). Low against normal: none
    decides (the verdict was partial SIgMD or normal confirmed by input order); absent against low: low; normal
    against high: normal. A warning names the day's results either way."""
    verdicts = set()
    for pair in ((first, second), (second, first)):
        case = build_case(
            knowledge,
            ("IgM", 25, "mg/dL", "2025-10-10"),
            *[("IgM", value, "mg/dL", "2026-05-10") for value in pair],
            *adult_normal_igg_iga("2026-05-10"),
        )
        assessment = run(knowledge, case)
        igm = assessment.latest(Analyte.IGM)
        assert igm is not None
        verdicts.add((assessment.diagnosis.label, assessment.diagnosis.certainty, igm.status))
        assert any(w.startswith("IgM results on 2026-05-10 disagree") for w in assessment.warnings)
    assert len(verdicts) == 1 and next(iter(verdicts))[0] == label and next(iter(verdicts))[2] == status


def test_results_of_one_day_that_agree_are_left_alone(knowledge: Knowledge) -> None:
    """Two low IgM results of one day (a repeat of the sample) agree: both stay low, with no warning."""
    case = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", "2025-10-10"),
        ("IgM", 22, "mg/dL", "2026-05-10"),
        ("IgM", 24, "mg/dL", "2026-05-10"),
        *adult_normal_igg_iga("2026-05-10"),
    )
    assessment = run(knowledge, case)
    assert [i.status for i in assessment.interpretations if i.result.analyte is Analyte.IGM] == ["low"] * 3
    assert assessment.diagnosis.label == "partial_sigmd"
    assert not any("disagree" in w for w in assessment.warnings)


# --- 8. old results --------------------------------------------------------------------------------------------


def test_a_verdict_resting_on_results_older_than_the_horizon_names_them(knowledge: Knowledge) -> None:
    """IgG and IgA from 2023 behind a recent low IgM are named with their age in a warning."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2023-03-01"))
    warnings = run(knowledge, case).warnings
    stale = [w for w in warnings if "beyond the 1 year horizon" in w]
    assert [w.split(" ")[0] for w in stale] == ["IgG", "IgA"]
    assert "3.7 years old" in stale[0]


def test_recent_results_carry_no_old_result_warning(knowledge: Knowledge) -> None:
    """Results from the last months are not called old."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-06-01"))
    assert not any("horizon" in w for w in run(knowledge, case).warnings)


def test_an_infancy_result_behind_an_adult_verdict_says_the_age_it_was_taken_at(knowledge: Knowledge) -> None:
    """An IgA taken at 8 months of age, the only IgA of a 26-year-old, is named with that age."""
    case = build_case(
        knowledge,
        ("IgM", 30, "mg/dL", "2026-10-01"),
        ("IgG", 1000, "mg/dL", "2026-10-01"),
        ("IgA", 30, "mg/dL", "2001-01-01"),
        birth_date="2000-05-01",
    )
    assert any(w.startswith("IgA on 2001-01-01 (taken at age 0.7 years)") for w in run(knowledge, case).warnings)


# --- 9. the patient summary says only what is true -------------------------------------------------------------


def test_the_summary_does_not_call_unmeasured_igg_and_iga_normal(knowledge: Knowledge) -> None:
    """Low IgM with no IgG or IgA measured: the summary says they have not been measured, not that they are normal."""
    summary = patient_summary(run(knowledge, build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"))))
    assert "are normal" not in summary
    assert "Your IgG has not been measured yet." in summary


def test_the_summary_calls_measured_normal_igg_and_iga_normal(knowledge: Knowledge) -> None:
    """Low IgM with normal IgG and IgA: the summary says IgG and IgA are normal."""
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assert "IgG and IgA, are normal" in patient_summary(run(knowledge, case))


def test_a_raised_igm_is_not_in_the_expected_range_and_electrophoresis_is_suggested(knowledge: Knowledge) -> None:
    """IgM 900 mg/dL is above the range: the summary says so and the report suggests electrophoresis."""
    case = build_case(knowledge, ("IgM", 900, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    summary = patient_summary(assessment)
    assert "expected range" not in summary
    assert "higher than the usual range" in summary
    assert any("serum protein electrophoresis with immunofixation" in w for w in assessment.warnings)


def test_a_raised_igm_is_not_called_normal_in_the_pattern(knowledge: Knowledge) -> None:
    """IgM 900 mg/dL fits the not-low pattern, but its words say "not low", never "IgM, IgG and IgA normal"."""
    case = build_case(knowledge, ("IgM", 900, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    assert assessment.pattern.reason.startswith("IgM, IgG and IgA not low (IgM high")
    assert "IgA normal (" not in assessment.diagnosis.summary


def test_a_normal_igm_is_in_the_expected_range_without_electrophoresis(knowledge: Knowledge) -> None:
    """IgM 100 mg/dL is in the expected range and no electrophoresis is suggested."""
    case = build_case(knowledge, ("IgM", 100, "mg/dL", "2026-10-01"), *adult_normal_igg_iga("2026-10-01"))
    assessment = run(knowledge, case)
    assert "in the expected range" in patient_summary(assessment)
    assert not any("electrophoresis" in w for w in assessment.warnings)


# --- 10. labels mean one thing ----------------------------------------------------------------------------------


def test_an_igm_that_could_not_be_judged_is_insufficient_data_not_other_abnormal(knowledge: Knowledge) -> None:
    """An IgM not judged (no interval for a 10-day-old under Garcia-Prat) is insufficient data, not other_abnormal."""
    case = build_case(knowledge, ("IgM", 5, "mg/dL", "2026-10-30"), birth_date=NEWBORN)
    assessment = run(knowledge, case, reference="garcia_prat_optilite")
    assert assessment.diagnosis.label == "insufficient_data"
    assert "could not be judged" in patient_summary(assessment)


def test_a_real_abnormal_pattern_keeps_other_abnormal(knowledge: Knowledge) -> None:
    """An adult with low IgG and normal IgM and IgA has an abnormal pattern sigmd does not name: other_abnormal."""
    case = build_case(
        knowledge,
        ("IgM", 120, "mg/dL", "2026-10-01"),
        ("IgG", 300, "mg/dL", "2026-10-01"),
        ("IgA", 180, "mg/dL", "2026-10-01"),
    )
    assert run(knowledge, case).diagnosis.label == "other_abnormal"


def test_a_toddlers_low_igg_and_iga_with_normal_igm_names_transient_hypogammaglobulinaemia(
    knowledge: Knowledge,
) -> None:
    """A 2-year-old with low IgG and IgA and normal IgM: THI is named as the commoner explanation, with its source."""
    day = "2026-10-01"
    case = build_case(
        knowledge,
        ("IgM", 80, "mg/dL", day),
        ("IgG", 150, "mg/dL", day),
        ("IgA", 10, "mg/dL", day),
        birth_date="2024-06-01",
    )
    assessment = run(knowledge, case)
    assert assessment.pattern.pattern == "hyper_igm_pattern"
    assert "transient hypogammaglobulinaemia of infancy is the commoner explanation" in assessment.diagnosis.summary
    assert "UpToDate" in assessment.diagnosis.summary


def test_an_older_childs_low_igg_and_iga_with_normal_igm_does_not_name_thi(knowledge: Knowledge) -> None:
    """A 6-year-old with low IgG and IgA and normal IgM has a CVID pattern; THI is not named."""
    day = "2026-10-01"
    case = build_case(
        knowledge,
        ("IgM", 80, "mg/dL", day),
        ("IgG", 150, "mg/dL", day),
        ("IgA", 10, "mg/dL", day),
        birth_date="2020-06-01",
    )
    assessment = run(knowledge, case)
    assert assessment.pattern.pattern == "cvid_pattern"
    assert "transient hypogammaglobulinaemia" not in assessment.diagnosis.summary


def test_a_laboratory_range_for_a_newborn_is_used_but_said_to_be_unchecked(knowledge: Knowledge) -> None:
    """A 10-day-old's laboratory IgM range is used where the set has no interval, and the output says it is unchecked."""
    rng = {"low": 5, "high": 20, "unit": "mg/dL"}
    case = build_case(knowledge, ("IgM", 8, "mg/dL", "2026-10-30", rng), birth_date=NEWBORN)
    assessment = run(knowledge, case, reference="garcia_prat_optilite")
    igm = assessment.latest(Analyte.IGM)
    assert igm is not None and igm.interval is not None
    assert igm.interval.from_laboratory
    assert igm.status == "normal"
    assert any("is used unchecked" in w for w in assessment.warnings)


def test_a_band_is_applied_from_its_coverage_age_and_a_band_entirely_before_it_is_refused(
    knowledge: Knowledge,
) -> None:
    """Coverage moves a band that began earlier, keeps a neonatal gap fill, and refuses a band that applies at no age."""
    mayo = knowledge.reference_sets["mayo"]
    first = next(r for r in mayo.intervals if r.analyte is Analyte.IGM and r.published_from is not None)
    coverage = mayo.coverage_of(Analyte.IGM)
    assert coverage is not None
    assert first.age_from == coverage.applies_from == AgeSpec.parse("1mo")
    unmoved = replace(first, age_from=AgeSpec.parse("0d"), age_to=AgeSpec.parse("2w"), published_from=None)
    with pytest.raises(ValueError, match="ends before the age 1 month"):
        apply_coverage((unmoved,), (coverage,))
    later = replace(first, age_from=AgeSpec.parse("5mo"), age_to=AgeSpec.parse("9mo"), published_from=None)
    assert apply_coverage((later,), (coverage,)) == (later,)
    neonatal_gap_fill = replace(unmoved, gap_fill="a published neonatal band from another source")
    assert apply_coverage((neonatal_gap_fill,), (coverage,)) == (neonatal_gap_fill,)


# --- a raised IgG or IgA beside a low IgM ---------------------------------------------------------------------


def test_a_low_igm_beside_a_raised_igg_is_never_confirmed_and_asks_for_electrophoresis(knowledge: Knowledge) -> None:
    """IgG 4,200 mg/dL with IgA and IgM low, persistently: the pattern alone would confirm 'other abnormal', but a
    monoclonal IgG (myeloma) suppresses the other classes, so the verdict is provisional, names the IgG, and serum
    protein electrophoresis is recommended rather than a vaccine challenge alone."""
    case = build_case(
        knowledge,
        *(("IgM", 18, "mg/dL", day) for day in ("2025-11-01", "2026-06-01")),
        *(("IgG", 4200, "mg/dL", day) for day in ("2025-11-01", "2026-06-01")),
        *(("IgA", 35, "mg/dL", day) for day in ("2025-11-01", "2026-06-01")),
    )
    assessment = run(knowledge, case)
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("other_abnormal", "provisional")
    assert "the latest IgG 4200 mg/dL on 2026-06-01 is above the upper reference limit beside a low IgM" in (
        assessment.diagnosis.summary
    )
    assert "electrophoresis_for_suppression" in {r.advice.id for r in assessment.recommendations}


def test_a_raised_iga_beside_an_isolated_low_igm_says_why_the_verdict_waits(knowledge: Knowledge) -> None:
    """Low IgM twice with a raised IgA and a normal IgG: partial SIgMD stays provisional with the IgA named."""
    case = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", "2025-11-01"),
        ("IgM", 24, "mg/dL", "2026-06-01"),
        ("IgG", 1000, "mg/dL", "2026-06-01"),
        ("IgA", 900, "mg/dL", "2026-06-01"),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert (diagnosis.label, diagnosis.certainty) == ("partial_sigmd", "provisional")
    assert any(r.startswith("at most provisional: the latest IgA 900 mg/dL") for r in diagnosis.reasons)


def test_a_raised_igg_beside_a_normal_igm_changes_nothing(knowledge: Knowledge) -> None:
    """A raised IgG alone (IgM normal) is no reason to doubt a normal verdict, and asks for no electrophoresis."""
    case = build_case(
        knowledge,
        ("IgM", 120, "mg/dL", "2026-06-01"),
        ("IgG", 2600, "mg/dL", "2026-06-01"),
        ("IgA", 200, "mg/dL", "2026-06-01"),
    )
    assessment = run(knowledge, case)
    assert (assessment.diagnosis.label, assessment.diagnosis.certainty) == ("normal", "confirmed")
    assert "electrophoresis_for_suppression" not in {r.advice.id for r in assessment.recommendations}


def test_a_laboratory_range_given_only_as_text_is_named_as_not_used(knowledge: Knowledge) -> None:
    """`reference_range: {text: "60-300 mg/dL"}` has no numeric limits: sigmd does not parse free text, so the range
    is not used, and a warning says so (the same result with numeric limits would be judged against them)."""
    from sigmd.adapters.case_json import case_from_dict

    document = {
        "patient": {"sex": "male", "birth_date": "1975-03-02"},
        "results": [
            {
                "analyte": "IgM",
                "value": 45,
                "unit": "mg/dL",
                "date": "2026-08-12",
                "reference_range": {"text": "60-300"},
            },
            {"analyte": "IgG", "value": 1000, "unit": "mg/dL", "date": "2026-08-12"},
            {"analyte": "IgA", "value": 180, "unit": "mg/dL", "date": "2026-08-12"},
        ],
    }
    assessment = run(knowledge, case_from_dict(document, knowledge))
    assert any("the laboratory range is given only as text ('60-300')" in w for w in assessment.warnings)


def test_a_low_igm_long_after_the_latest_igg_and_iga_is_not_confirmed_as_selective(knowledge: Knowledge) -> None:
    """IgG and IgA low twice in 2023 (a persistent CVID pattern with the low IgM of 2026) but not measured since: the
    IgM is more than the 12-month horizon after them, so the verdict is provisional and asks for them again."""
    case = build_case(
        knowledge,
        *(("IgG", 300, "mg/dL", day) for day in ("2023-01-10", "2023-07-10")),
        *(("IgA", 20, "mg/dL", day) for day in ("2023-01-10", "2023-07-10")),
        *(("IgM", 15, "mg/dL", day) for day in ("2023-01-10", "2023-07-10", "2026-01-10", "2026-07-10")),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert (diagnosis.label, diagnosis.certainty) == ("cvid_pattern", "provisional")
    assert "measure IgG and IgA again" in diagnosis.summary


def test_igg_and_iga_within_the_horizon_of_the_igm_leave_the_verdict_confirmed(knowledge: Knowledge) -> None:
    """The same pattern with IgG and IgA measured beside the latest IgM is confirmed."""
    case = build_case(
        knowledge,
        *(("IgG", 300, "mg/dL", day) for day in ("2026-01-10", "2026-07-10")),
        *(("IgA", 20, "mg/dL", day) for day in ("2026-01-10", "2026-07-10")),
        *(("IgM", 15, "mg/dL", day) for day in ("2026-01-10", "2026-07-10")),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert (diagnosis.label, diagnosis.certainty) == ("cvid_pattern", "confirmed")
