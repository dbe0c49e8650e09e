"""The documented JSON case format and its error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sigmd.adapters.case_json import case_from_dict, case_schema
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Comparator
from sigmd.errors import InputError

ROOT = Path(__file__).parents[1]
ISSUE_EXAMPLE: dict[str, Any] = json.loads((ROOT / "examples" / "minimal-issue-example.json").read_text())


def test_docs_schema_is_the_package_schema() -> None:
    """docs/case.schema.json is the same contract the package enforces."""
    assert json.loads((ROOT / "docs" / "case.schema.json").read_text()) == case_schema()


def test_the_contract_example_is_accepted(knowledge: Knowledge) -> None:
    """The example from the case-format contract reads into two IgM results, a condition and a drug."""
    case = case_from_dict(ISSUE_EXAMPLE, knowledge)
    assert [r.quantity.comparator for r in case.results] == [Comparator.EQ, Comparator.LT]
    assert case.results[1].lab_range is not None and case.results[1].lab_range.low_mg_dl == 40
    assert case.conditions is not None and case.conditions[0].code == "C91.1"
    assert case.medications is not None and case.medications[0].system == "ATC"


def test_age_years_replaces_birth_date_with_a_warning(knowledge: Knowledge) -> None:
    """An age in years gives an estimated birth date and says so."""
    doc = {"patient": {"age_years": 46, "sex": "unknown"}, "results": ISSUE_EXAMPLE["results"]}
    case = case_from_dict(doc, knowledge)
    assert case.patient.birth_date_is_estimated
    assert any("estimated" in w for w in case.warnings)


def test_loinc_code_and_separate_comparator(knowledge: Knowledge) -> None:
    """An analyte may be a LOINC code and the comparator may be a separate field."""
    doc = {
        "patient": {"birth_date": "1980-05-01", "sex": "male"},
        "results": [{"analyte": "2472-9", "value": 5, "comparator": "<", "unit": "mg/dL", "date": "2026-01-10"}],
    }
    result = case_from_dict(doc, knowledge).results[0]
    assert (result.analyte, result.quantity.comparator, result.quantity.value) == ("IgM", Comparator.LT, 5.0)


@pytest.mark.parametrize(
    ("edit", "field", "value"),
    [
        (lambda d: d["results"][0].update(value=-4), "results[0].value", -4),
        (lambda d: d["results"][0].update(value="abc"), "results[0].value", "abc"),
        (lambda d: d["results"][0].update(unit="mmol/L"), "results[0].unit", "mmol/L"),
        (lambda d: d["results"][0].update(analyte="IgE"), "results[0].analyte", "IgE"),
        (lambda d: d["results"][1].update(date="10/07/2026"), "results[1].date", "10/07/2026"),
        (lambda d: d["patient"].update(sex="f"), "patient.sex", "f"),
        (lambda d: d.update(medication=[]), "medication", []),
        (lambda d: d["results"][1].update(comparator=">"), "results[1].comparator", ">"),
        (lambda d: d["results"][1].update(comparator="="), "results[1].comparator", "="),
        (lambda d: d["results"][0].update(date="1970-01-01"), "results[0].date", "1970-01-01"),
    ],
)
def test_bad_input_names_the_field_and_value(knowledge: Knowledge, edit: Any, field: str, value: Any) -> None:
    """Each kind of bad input is an error naming the field and the value."""
    doc = json.loads(json.dumps(ISSUE_EXAMPLE))
    edit(doc)
    with pytest.raises(InputError) as raised:
        case_from_dict(doc, knowledge)
    assert raised.value.field == field
    assert raised.value.value == value or str(value) in str(raised.value)


def test_both_birth_date_and_age_is_an_error(knowledge: Knowledge) -> None:
    """A patient needs exactly one of birth_date and age_years."""
    doc = {"patient": {"birth_date": "1980-05-01", "age_years": 3, "sex": "male"}, "results": ISSUE_EXAMPLE["results"]}
    with pytest.raises(InputError, match="exactly one of birth_date or age_years"):
        case_from_dict(doc, knowledge)
