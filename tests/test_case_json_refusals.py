"""Case JSON that sigmd cannot read is refused naming the field and value; nothing else leaves the reader."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from sigmd.adapters import case_json
from sigmd.adapters.case_json import case_from_dict, load_case
from sigmd.adapters.limits import MAX_JSON_DEPTH
from sigmd.core.assessment import assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError


def _document(**patient: Any) -> dict[str, Any]:
    return {
        "patient": {"sex": "female", **(patient or {"birth_date": "1980-05-01"})},
        "results": [{"analyte": "IgM", "value": 20, "unit": "mg/dL", "date": "2024-01-10"}],
    }


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_age_years_that_is_not_a_number_is_refused_in_text(knowledge: Knowledge, literal: str) -> None:
    """`age_years: NaN` (which Python's JSON parser accepts) is refused, naming the literal."""
    text = json.dumps(_document(age_years=46)).replace("46", literal)
    with pytest.raises(InputError) as caught:
        load_case(text, knowledge)
    assert caught.value.value == literal


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_age_years_that_is_not_finite_is_refused_in_a_document(knowledge: Knowledge, value: float) -> None:
    """A document built in Python (a web form) with a non-finite age is refused naming patient.age_years."""
    with pytest.raises(InputError) as caught:
        case_from_dict(_document(age_years=value), knowledge)
    assert caught.value.field == "patient.age_years"


def test_a_finite_age_is_read_as_an_estimated_birth_date(knowledge: Knowledge) -> None:
    """An ordinary age in years still gives an estimated birth date."""
    assert case_from_dict(_document(age_years=46.5), knowledge).patient.birth_date_is_estimated


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["patient"].update(birth_date="0001-01-01"), "patient.birth_date"),
        (lambda d: d["results"][0].update(date="9999-12-31"), "results[0].date"),
        (lambda d: d["results"][0].update(date="1899-12-31"), "results[0].date"),
        (lambda d: d.update(blood_count={"date": "9999-12-31", "result": "normal"}), "blood_count.date"),
    ],
)
def test_dates_outside_the_readable_range_are_refused(knowledge: Knowledge, edit: Any, field: str) -> None:
    """Dates before 1900 or after 2199 are refused with the field named, before the core's date arithmetic."""
    document = _document()
    edit(document)
    with pytest.raises(InputError) as caught:
        case_from_dict(document, knowledge)
    assert caught.value.field == field and "1900-01-01 to 2199-12-31" in caught.value.problem


def test_a_patient_born_in_1900_is_read_and_assessed(knowledge: Knowledge) -> None:
    """A birth date on the first readable day is within range and the case can be assessed."""
    case = case_from_dict(_document(birth_date="1900-01-01"), knowledge)
    assert assess(case, knowledge, as_of=date(2025, 1, 1)).diagnosis is not None


def test_a_value_that_overflows_on_conversion_is_refused(knowledge: Knowledge) -> None:
    """1e308 g/L overflows to infinity in mg/dL and is refused naming results[0].value."""
    document = _document()
    document["results"][0].update(value=1e308, unit="g/L")
    with pytest.raises(InputError) as caught:
        case_from_dict(document, knowledge)
    assert caught.value.field == "results[0].value" and "too large" in caught.value.problem


def test_a_huge_integer_value_is_refused(knowledge: Knowledge) -> None:
    """An integer too large to be a float (10**400) is refused, not raised as OverflowError."""
    document = _document()
    document["results"][0]["value"] = 10**400
    with pytest.raises(InputError) as caught:
        case_from_dict(document, knowledge)
    assert caught.value.field == "results[0].value"


def test_a_huge_integer_in_text_is_refused_by_its_length(knowledge: Knowledge) -> None:
    """A 5000-digit integer in JSON text is refused at the parser, not by Python's conversion limit."""
    text = json.dumps(_document()).replace('"value": 20', '"value": ' + "9" * 5000)
    with pytest.raises(InputError, match="longer number than sigmd reads"):
        load_case(text, knowledge)


def test_a_document_nested_too_deeply_is_refused(knowledge: Knowledge) -> None:
    """A deeply nested value (text or document) is refused by the depth limit, not by a RecursionError."""
    deep: Any = []
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    document = _document()
    document["allergies"] = deep
    with pytest.raises(InputError, match="deeper than sigmd reads"):
        case_from_dict(document, knowledge)
    with pytest.raises(InputError, match="deeper than sigmd reads"):
        load_case('{"patient": ' + "[" * 50_000 + "]" * 50_000 + "}", knowledge)


@pytest.mark.parametrize("document", [[], "text", 5, None, {"patient": [], "results": {}}])
def test_a_document_of_the_wrong_shape_is_refused(knowledge: Knowledge, document: Any) -> None:
    """A document that is not an object of the case format is an InputError."""
    with pytest.raises(InputError):
        case_from_dict(document, knowledge)


def test_a_byte_order_mark_before_case_json_is_accepted(knowledge: Knowledge) -> None:
    """A UTF-8 byte-order mark at the start of the text is not an error."""
    assert load_case("\ufeff" + json.dumps(_document()), knowledge).results[0].quantity.value == 20


def test_an_unexpected_error_in_a_section_is_refused_naming_that_section(
    knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last-resort boundary turns any exception into an InputError naming the section being converted."""

    def broken(document: dict[str, Any]) -> None:
        raise ZeroDivisionError("synthetic")

    monkeypatch.setitem(case_json._SECTIONS, "blood_count", broken)
    document = {**_document(), "blood_count": {"date": "2024-01-10", "result": "normal"}}
    with pytest.raises(InputError) as caught:
        case_from_dict(document, knowledge)
    assert caught.value.field == "blood_count" and "ZeroDivisionError" in caught.value.problem
    assert caught.value.value == {"date": "2024-01-10", "result": "normal"}


def test_a_blood_count_is_read_when_nothing_goes_wrong(knowledge: Knowledge) -> None:
    """Without a fault the same section is read normally."""
    document = {**_document(), "blood_count": {"date": "2024-01-10", "result": "abnormal"}}
    count = case_from_dict(document, knowledge).blood_count
    assert count is not None and count.abnormal


@pytest.mark.parametrize("text", ["19800501", "1980-W18-4", "1980-122", "1980-05-01\u00a0", "1980-5-1"])
def test_dates_in_forms_other_than_yyyy_mm_dd_are_refused(knowledge: Knowledge, text: str) -> None:
    """Only an ISO date `YYYY-MM-DD` (or an ISO date-time) is read, as screening reads it: Python's
    `date.fromisoformat` alone would take the basic form and week or ordinal dates (1980-W18-4 is 1980-05-01)."""
    with pytest.raises(InputError) as caught:
        case_from_dict(_document(birth_date=text), knowledge)
    assert caught.value.field == "patient.birth_date" and caught.value.value == text
    assert "is not an ISO date (YYYY-MM-DD)" in str(caught.value)


def test_a_name_given_twice_in_one_object_is_refused(knowledge: Knowledge) -> None:
    """`"value": 150, ..., "value": 15` would read as 15 (Python keeps the last): refused, naming the name."""
    text = json.dumps(_document(birth_date="1980-05-01")).replace('"value": 20', '"value": 150, "value": 15')
    with pytest.raises(InputError) as caught:
        load_case(text, knowledge)
    assert caught.value.value == "value"
    assert "given twice" in str(caught.value)


def test_a_fhir_observation_with_two_statuses_is_refused(knowledge: Knowledge) -> None:
    """An Observation reading `"status": "entered-in-error", "status": "final"` must not be read as final."""
    from sigmd.adapters.detect import load_cases

    observation = (
        '{"resourceType": "Observation", "id": "o1", "status": "entered-in-error", "status": "final",'
        ' "code": {"coding": [{"system": "http://loinc.org", "code": "2472-9"}]}, "subject": {"reference": "Patient/p1"},'
        ' "effectiveDateTime": "2024-01-10", "valueQuantity": {"value": 20, "unit": "mg/dL",'
        ' "system": "http://unitsofmeasure.org", "code": "mg/dL"}}'
    )
    patient = '{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-05-01"}'
    bundle = (
        '{"resourceType": "Bundle", "type": "collection", "entry": ['
        f'{{"resource": {patient}}}, {{"resource": {observation}}}]}}'
    )
    with pytest.raises(InputError) as caught:
        load_cases(bundle, knowledge)
    assert caught.value.value == "status"
