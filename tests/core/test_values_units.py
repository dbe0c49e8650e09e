"""Reported values, comparators and unit conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Comparator, Quantity, Truth
from sigmd.core.units import UnitError
from sigmd.core.values import ValueFormatError, parse_reported_value


@pytest.mark.parametrize(
    ("text", "comparator", "number"),
    [
        ("30", Comparator.EQ, 30.0),
        ("<5", Comparator.LT, 5.0),
        ("< 0.05", Comparator.LT, 0.05),
        (">=200", Comparator.GE, 200.0),
        ("≤7", Comparator.LE, 7.0),
        (12.5, Comparator.EQ, 12.5),
    ],
)
def test_reported_values_split_into_comparator_and_number(
    text: str | float, comparator: Comparator, number: float
) -> None:
    """Censored results keep their comparator."""
    assert parse_reported_value(text) == (comparator, number)


@pytest.mark.parametrize(
    ("text", "problem"), [("-3", "negative"), ("abc", "not a number"), ("1,200", "comma"), (-1, "negative")]
)
def test_bad_values_are_rejected_with_the_reason(text: str | float, problem: str) -> None:
    """Negative, non-numeric and comma-formatted values are refused, never guessed."""
    with pytest.raises(ValueFormatError, match=problem):
        parse_reported_value(text)


def test_a_bound_is_never_taken_as_the_value() -> None:
    """`<20` is below 40 for certain, but whether it is below 5 is unknown."""
    below_twenty = Quantity(20, Comparator.LT)
    assert below_twenty.below(40) is Truth.YES
    assert below_twenty.below(5) is Truth.UNKNOWN
    assert Quantity(200, Comparator.GT).below(40) is Truth.NO
    assert Quantity(200, Comparator.GT).above(300) is Truth.UNKNOWN


@pytest.mark.parametrize(
    ("value", "unit", "analyte", "mg_dl"),
    [
        (0.5, "g/L", Analyte.IGM, 50.0),
        (500, "mg/L", Analyte.IGG, 50.0),
        (1.2, "g/dL", Analyte.IGG, 1200.0),
        (40, "MG/DL", Analyte.IGM, 40.0),
        (10, "IU/mL", Analyte.IGM, 8.47),
        (10, "[IU]/mL", Analyte.IGG, 80.4),
        (10, "kIU/L", Analyte.IGA, 14.2),
    ],
)
def test_units_convert_to_mg_dl(knowledge: Knowledge, value: float, unit: str, analyte: Analyte, mg_dl: float) -> None:
    """Mass units share one factor; IU/mL uses the analyte's WHO factor."""
    assert knowledge.units.to_mg_dl(value, unit, analyte) == pytest.approx(mg_dl)


def test_unknown_unit_is_an_error(knowledge: Knowledge) -> None:
    """A unit sigmd does not know is refused."""
    with pytest.raises(UnitError, match="unknown unit 'mmol/L'"):
        knowledge.units.find("mmol/L")


def test_iu_has_no_factor_for_subclasses(knowledge: Knowledge) -> None:
    """IU/mL has no published factor for IgG subclasses, so it cannot be used for them."""
    with pytest.raises(UnitError, match="IgG1"):
        knowledge.units.to_mg_dl(1, "IU/mL", Analyte.IGG1)


@given(
    value=st.floats(min_value=1e-3, max_value=1e5, allow_nan=False),
    unit=st.sampled_from(["mg/dL", "g/L", "mg/L", "g/dL", "IU/mL"]),
    analyte=st.sampled_from([Analyte.IGM, Analyte.IGG, Analyte.IGA]),
)
def test_unit_round_trip(knowledge: Knowledge, value: float, unit: str, analyte: Analyte) -> None:
    """Converting to mg/dL and back gives the reported value."""
    there = knowledge.units.to_mg_dl(value, unit, analyte)
    assert knowledge.units.from_mg_dl(there, unit, analyte) == pytest.approx(value, rel=1e-12)
