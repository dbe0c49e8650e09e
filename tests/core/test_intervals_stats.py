"""Reference-interval lookup and the log-normal statistics derived from it."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigmd.core.ages import AgeSpec, ExactAge, add_months, has_reached
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import IGG_SUBCLASSES, Analyte, Patient, Sex
from sigmd.core.stats import LogNormalFit

BIRTH = date(1990, 1, 31)


def test_mayo_adult_igm_minus_2sd_matches_the_worked_example() -> None:
    """Mayo adult IgM 37-286 mg/dL gives a geometric mean of 103 and mean - 2 SD of 36.2 mg/dL."""
    fit = LogNormalFit.from_interval(37, 286)
    assert fit.geometric_mean == pytest.approx(102.9, abs=0.1)
    assert fit.minus_2sd == pytest.approx(36.2, abs=0.05)
    assert fit.percentile(37) == pytest.approx(2.5, abs=0.01)
    assert fit.z_score(fit.minus_2sd) == pytest.approx(-2.0)


def test_a_fit_needs_a_positive_lower_limit() -> None:
    """An interval starting at 0 cannot define a log-normal distribution."""
    with pytest.raises(ValueError, match="0 < lower < upper"):
        LogNormalFit.from_interval(0, 145)


@given(days=st.integers(min_value=0, max_value=int(120 * 365.2425) - 1))
def test_default_set_covers_igm_igg_iga_from_birth_and_subclasses_from_one_month(
    knowledge: Knowledge, days: int
) -> None:
    """The default set has IgM, IgG and IgA intervals at every age below 120 years, IgG subclasses from 1 month."""
    reference = knowledge.reference_sets[knowledge.default_reference_set]
    patient = Patient(Sex.UNKNOWN, BIRTH)
    on = BIRTH + timedelta(days=days)
    first_month = not has_reached(BIRTH, on, AgeSpec.parse("1mo"))
    for analyte in Analyte:
        lookup = reference.lookup(analyte, patient, on)
        if first_month and analyte in IGG_SUBCLASSES:
            assert lookup.interval is None, (analyte, days)
            assert "no interval applies at age" in lookup.reason_missing
        else:
            assert lookup.interval is not None, (analyte, days, lookup.reason_missing)


def test_no_interval_beyond_120_years_is_said_plainly(knowledge: Knowledge) -> None:
    """At 120 years or more the lookup says why there is no interval."""
    reference = knowledge.reference_sets["mayo"]
    lookup = reference.lookup(Analyte.IGM, Patient(Sex.FEMALE, date(1900, 1, 1)), date(2026, 1, 1))
    assert lookup.interval is None
    assert "beyond 120 years" in lookup.reason_missing


def test_sex_specific_intervals_follow_the_patient_sex(knowledge: Knowledge) -> None:
    """Bozeman publishes a higher lower limit for girls (56) than boys (47) aged 3-17."""
    reference = knowledge.reference_sets["bozeman_sex"]
    on = date(2026, 1, 1)
    girl = reference.lookup(Analyte.IGM, Patient(Sex.FEMALE, date(2016, 1, 1)), on).interval
    boy = reference.lookup(Analyte.IGM, Patient(Sex.MALE, date(2016, 1, 1)), on).interval
    assert girl is not None and boy is not None
    assert (girl.lower_mg_dl, boy.lower_mg_dl) == (56, 47)
    unknown = reference.lookup(Analyte.IGM, Patient(Sex.UNKNOWN, date(2016, 1, 1)), on)
    assert unknown.interval is None and "sex-specific" in unknown.reason_missing


def test_a_set_without_an_analyte_says_so(knowledge: Knowledge) -> None:
    """Exeter publishes no IgG-subclass intervals and the lookup says so."""
    lookup = knowledge.reference_sets["exeter_nhs"].lookup(Analyte.IGG2, Patient(Sex.MALE, BIRTH), date(2026, 1, 1))
    assert lookup.interval is None
    assert "no intervals for IgG2" in lookup.reason_missing


def test_age_band_boundaries_are_calendar_exact(knowledge: Knowledge) -> None:
    """A baby is in the 5-9 month band from the day it turns 5 months old."""
    reference = knowledge.reference_sets["mayo"]
    birth = date(2026, 1, 31)
    patient = Patient(Sex.FEMALE, birth)
    five_months = add_months(birth, 5)
    before = reference.lookup(Analyte.IGM, patient, five_months - timedelta(days=1)).interval
    on_day = reference.lookup(Analyte.IGM, patient, five_months).interval
    assert before is not None and on_day is not None
    assert (before.lower_mg_dl, on_day.lower_mg_dl) == (26, 32)


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    """31 January plus one month is 28 February."""
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert AgeSpec.parse("18y") == AgeSpec(months=216, days=0)
    with pytest.raises(ValueError, match="not of the form"):
        AgeSpec.parse("18 years")


def test_every_reference_row_has_a_source_and_positive_limits(knowledge: Knowledge) -> None:
    """Each bundled interval names a source and has sensible limits."""
    for reference in knowledge.reference_sets.values():
        for row in reference.intervals:
            assert row.source.title and row.source.url, row
            assert row.upper_mg_dl is not None and row.upper_mg_dl > 0
            assert row.lower_mg_dl is None or (row.lower_mg_dl >= 0 and not math.isnan(row.lower_mg_dl))


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=45_000),
    st.sampled_from(["0d", "1d", "14d", "2w", "1mo", "5mo", "11mo", "1y", "2y", "18y", "120y"]),
)
def test_comparing_a_whole_age_agrees_with_calendar_date_arithmetic(birth: date, days: int, text: str) -> None:
    """Reaching an age band judged from whole months and days agrees with adding the band to the birth date."""
    on = birth + timedelta(days=days)
    spec = AgeSpec.parse(text)
    assert spec.reached_at(ExactAge.between(birth, on)) == has_reached(birth, on, spec)


def _first_covering(knowledge: Knowledge, set_id: str, analyte: Analyte, patient: Patient, on: date) -> object:
    """The plain definition of the lookup: the first covering row of the patient's sex, else the first pooled row."""
    exact = ExactAge.between(patient.birth_date, on)
    rows = [r for r in knowledge.reference_sets[set_id].intervals if r.analyte is analyte and r.covers_age(exact)]
    same_sex = [r for r in rows if r.sex.value == patient.sex.value]
    pooled = [r for r in rows if r.sex.value == "any"]
    return (same_sex or pooled or [None])[0]


@given(
    birth=st.dates(date(1920, 1, 1), date(2025, 12, 31)),
    days=st.integers(0, 120 * 365),
    sex=st.sampled_from(list(Sex)),
    analyte=st.sampled_from(list(Analyte)),
)
def test_the_cached_interval_lookup_equals_a_plain_scan_in_every_set(
    knowledge: Knowledge, birth: date, days: int, sex: Sex, analyte: Analyte
) -> None:
    """Looked up twice (the second time from the cache), every set gives the row a plain scan of its table gives."""
    on = birth + timedelta(days=days)
    patient = Patient(sex, birth)
    for set_id, reference_set in knowledge.reference_sets.items():
        expected = _first_covering(knowledge, set_id, analyte, patient, on)
        for _ in range(2):
            assert reference_set.lookup(analyte, patient, on).interval is expected, set_id


def test_the_day_horizon_is_the_largest_age_in_days_and_refuses_mixed_ages() -> None:
    """Ages written in days set the horizon; one that mixes months and days makes whole-age keys unsound."""
    from sigmd.core.ages import day_horizon

    assert day_horizon([AgeSpec.parse("14d"), AgeSpec.parse("13w"), AgeSpec.parse("18y")]) == 91
    assert day_horizon([AgeSpec.parse("5mo"), AgeSpec.parse("18y")]) == 0
    assert day_horizon([AgeSpec(months=1, days=3)]) is None
