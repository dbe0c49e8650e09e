"""Interpretation of single results: monotonic statuses, warnings, and what is not judged."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigmd.core.assessment import AssessmentError
from sigmd.core.interpret import SEVERITY, interpret
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Comparator, LabResult, Patient, Quantity, Sex
from tests.cases import adult_normal_igg_iga, build_case, run


def _igm(value: float, birth: date, on: date) -> LabResult:
    return LabResult(Analyte.IGM, on, Quantity(value, Comparator.EQ), str(value), "mg/dL")


@given(
    a=st.floats(min_value=0, max_value=2000, allow_nan=False),
    b=st.floats(min_value=0, max_value=2000, allow_nan=False),
    days=st.integers(min_value=0, max_value=43000),
    profile=st.sampled_from(["idf", "esid", "medscape_40", "medscape_20", "spanish_2024", "wenzhou_2020"]),
)
def test_a_lower_igm_never_yields_a_milder_status(
    knowledge: Knowledge, a: float, b: float, days: int, profile: str
) -> None:
    """For the same patient and date, a lower IgM is never judged milder than a higher one."""
    birth = date(1906, 1, 1)
    on = date.fromordinal(birth.toordinal() + days)
    patient = Patient(Sex.FEMALE, birth)
    reference = knowledge.reference_sets["mayo"]
    low, high = sorted((a, b))
    rule = knowledge.profiles[profile]
    s_low = interpret(_igm(low, birth, on), patient, reference, rule, knowledge.thresholds).status
    s_high = interpret(_igm(high, birth, on), patient, reference, rule, knowledge.thresholds).status
    assert SEVERITY[s_low] >= SEVERITY[s_high]


def test_implausible_value_raises_a_warning(knowledge: Knowledge) -> None:
    """IgM 9000 mg/dL (likely g/L entered as mg/dL or vice versa) is flagged, with the heuristic named."""
    assessment = run(
        knowledge, build_case(knowledge, ("IgM", 9000, "mg/dL", "2026-07-01"), *adult_normal_igg_iga("2026-07-01"))
    )
    assert any(
        "physiologically implausible" in w and "no published plausibility limit" in w for w in assessment.warnings
    )
    assert "check_unit" in {r.advice.id for r in assessment.recommendations}


def test_unverified_iu_factor_is_warned(knowledge: Knowledge) -> None:
    """A result converted from IU/mL carries a warning that the WHO factor was not verified."""
    assessment = run(
        knowledge, build_case(knowledge, ("IgM", 100, "IU/mL", "2026-07-01"), *adult_normal_igg_iga("2026-07-01"))
    )
    assert any("not verified" in w for w in assessment.warnings)


def test_results_after_as_of_are_listed_not_dropped(knowledge: Knowledge) -> None:
    """A result dated after the as-of date is not used, and the output says which one."""
    case = build_case(
        knowledge,
        ("IgM", 25, "mg/dL", "2026-07-01"),
        ("IgM", 80, "mg/dL", "2026-12-01"),
        *adult_normal_igg_iga("2026-07-01"),
    )
    assessment = run(knowledge, case)
    assert assessment.diagnosis.label == "partial_sigmd"
    assert any("2026-12-01" in w and "not used" in w for w in assessment.warnings)


def test_no_igm_result_is_an_error(knowledge: Knowledge) -> None:
    """A case without any IgM result cannot be assessed, and the error says so."""
    with pytest.raises(AssessmentError, match="no IgM result"):
        run(knowledge, build_case(knowledge, *adult_normal_igg_iga("2026-07-01")))


def test_medscape_first_year_band_cannot_call_low(knowledge: Knowledge) -> None:
    """The Medscape 0-1 year band starts at 0 mg/dL, so a baby's IgM is not judged and the reason is given."""
    case = build_case(knowledge, ("IgM", 10, "mg/dL", "2026-07-01"), birth_date="2026-01-01")
    assessment = run(knowledge, case, reference="medscape_2013")
    igm = assessment.interpretations[0]
    assert igm.status == "no_interval"
    assert assessment.diagnosis.label == "insufficient_data"
    assert "no positive lower limit" in igm.no_low_limit_reason
