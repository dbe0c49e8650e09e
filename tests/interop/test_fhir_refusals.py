"""FHIR input that sigmd cannot read is refused naming where and what; one bad record rejects one patient."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from sigmd.adapters.detect import load_cases
from sigmd.adapters.fhir import load_fhir_json, load_fhir_ndjson, resources_from_ndjson
from sigmd.adapters.grouping import LoadedCase
from sigmd.adapters.limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS
from sigmd.core.assessment import assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError

from .conftest import bundle, observation, patient


def _two_patients(bad: Any) -> dict[str, Any]:
    """p1 with one IgM and a bad extra entry; p2 with one IgM."""
    doc = bundle(
        patient("p1"),
        patient("p2", "2010-02-03", "male"),
        observation("a", "2472-9", 20, "mg/dL", "2024-01-01"),
        observation("b", "2472-9", 30, "mg/dL", "2024-01-01", subject="Patient/p2"),
    )
    doc["entry"].append(bad)
    return doc


def _by_key(loaded: list[LoadedCase]) -> dict[str, LoadedCase]:
    return {item.patient_key: item for item in loaded}


@pytest.mark.parametrize(
    ("resource", "field", "value"),
    [
        ({"resourceType": "Foo", "subject": {"reference": "Patient/p1"}}, "resourceType", "Foo"),
        ({"resourceType": "Quantity", "subject": {"reference": "Patient/p1"}}, "resourceType", "Quantity"),
        (
            {**observation("c", "2472-9", 20, "mg/dL", "2024-01-01"), "status": 7},
            "status",
            7,
        ),
        ({**observation("c", "2472-9", 20, "mg/dL", "2024-01-01"), "valueQuantity": "20 mg/dL"}, "valueQuantity", None),
    ],
)
def test_a_bad_resource_rejects_its_patient_only(knowledge: Knowledge, resource: Any, field: str, value: Any) -> None:
    """A resource that cannot be read rejects the patient it names; the other patient is read."""
    loaded = _by_key(load_fhir_json(json.dumps(_two_patients({"resource": resource})), knowledge))
    error = loaded["p1"].error
    assert loaded["p1"].case is None and error is not None and field in error.field
    assert value is None or error.value == value
    assert loaded["p2"].require().results[0].origin == "Observation/b"


@pytest.mark.parametrize("entry", [[1], "text", {"resource": "text"}, {"resource": {"resourceType": 5}}, {}])
def test_an_entry_of_the_wrong_type_is_refused_on_its_own(knowledge: Knowledge, entry: Any) -> None:
    """An entry that is not a resource, in a Bundle of two patients, is refused alone; both patients are read."""
    loaded = load_fhir_json(json.dumps(_two_patients(entry)), knowledge)
    assert [c.patient_key for c in loaded if c.case is not None] == ["p1", "p2"]
    [refused] = [c for c in loaded if c.case is None]
    assert refused.error is not None and refused.error.field.startswith("Bundle.entry[4]")


def test_an_unreadable_entry_in_a_one_patient_bundle_rejects_that_patient(knowledge: Knowledge) -> None:
    """With one patient, an entry that belongs to no one rejects that patient rather than being guessed away."""
    doc = bundle(patient("p1"), observation("a", "2472-9", 20, "mg/dL", "2024-01-01"))
    doc["entry"].append({"resource": "text"})
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert loaded.error is not None and loaded.error.field == "Bundle.entry[2].resource"


def test_a_resource_type_sigmd_does_not_read_is_listed_not_refused(knowledge: Knowledge) -> None:
    """A valid FHIR type sigmd does not read (Encounter) is named in the warnings and the patient is read."""
    doc = bundle(
        patient("p1"),
        observation("a", "2472-9", 20, "mg/dL", "2024-01-01"),
        {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}},
    )
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assert any("Encounter/e1 was not used" in w for w in case.warnings)


def test_a_bad_ndjson_line_rejects_its_patient_and_the_rest_is_read(knowledge: Knowledge) -> None:
    """A line that is not JSON is refused on its own (named by line number); the patients are still read."""
    lines = [
        json.dumps(patient("p1")),
        json.dumps(patient("p2", gender="male")),
        '{"resourceType": "Observation", "id": ',
        json.dumps(observation("a", "2472-9", 20, "mg/dL", "2024-01-01")),
        json.dumps(observation("b", "2472-9", 30, "mg/dL", "2024-01-01", subject="Patient/p2")),
    ]
    loaded = load_fhir_ndjson("\n".join(lines), knowledge)
    assert [c.patient_key for c in loaded if c.case is not None] == ["p1", "p2"]
    [refused] = [c for c in loaded if c.case is None]
    assert refused.error is not None and refused.error.field == "line 3"
    warned = [w for c in loaded if c.case is not None for w in c.case.warnings if "line 3 of the input" in w]
    assert len(warned) == 2, "every patient is told that an unreadable line may hold one of its results"


def test_a_broken_ndjson_line_that_names_a_patient_refuses_that_patient(knowledge: Knowledge) -> None:
    """A result split over two lines by a stray line break: the half that names Patient/p1 refuses p1 (its later
    normal IgM would otherwise be missing from its verdict), not Patient/p10; the other half names no one."""
    later = json.dumps(observation("late", "2472-9", 150, "mg/dL", "2024-06-01"))
    cut = later.index('"subject"')
    lines = [
        json.dumps(patient("p1")),
        json.dumps(patient("p10", gender="male")),
        json.dumps(observation("early", "2472-9", 20, "mg/dL", "2024-01-01")),
        later[:cut],
        later[cut:],
        json.dumps(observation("b", "2472-9", 30, "mg/dL", "2024-01-01", subject="Patient/p10")),
    ]
    by_key = _by_key(load_fhir_ndjson("\n".join(lines), knowledge))
    assert by_key["p1"].case is None and by_key["p1"].error is not None and by_key["p1"].error.field == "line 5"
    assert by_key["p10"].case is not None


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\r"])
def test_ndjson_lines_may_end_with_lf_crlf_or_a_bare_cr(separator: str) -> None:
    """Each line ending gives one resource per line."""
    text = separator.join(json.dumps(patient(p)) for p in ("a", "b", "c")) + separator
    assert [raw.data["id"] for raw in resources_from_ndjson(text)] == ["a", "b", "c"]


def test_a_unicode_line_separator_inside_a_json_string_does_not_split_a_line() -> None:
    """U+2028 inside a string is text, not a line break (JSON allows it raw)."""
    resource = {**patient("a"), "name": [{"text": "Ann\u2028Lee"}]}
    text = json.dumps(resource, ensure_ascii=False) + "\n" + json.dumps(patient("b"))
    assert [raw.data["id"] for raw in resources_from_ndjson(text)] == ["a", "b"]


def test_json_nested_beyond_the_limit_is_refused(knowledge: Knowledge) -> None:
    """JSON nested deeper than the limit is refused before any reader sees it, however deep it goes."""
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        text = '{"resourceType": "Patient", "x": ' + "[" * depth + "]" * depth + "}"
        with pytest.raises(InputError, match="deeper than sigmd reads"):
            load_cases(text, knowledge)


def test_json_nested_within_the_limit_is_read(knowledge: Knowledge) -> None:
    """An extension nested a few levels deep is within the limit and the patient is read."""
    nested: dict[str, Any] = {"url": "http://example.org/x", "valueString": "y"}
    for _ in range(10):
        nested = {"url": "http://example.org/x", "extension": [nested]}
    doc = bundle({**patient("p1"), "extension": [nested]}, observation("a", "2472-9", 20, "mg/dL", "2024-01-01"))
    assert load_cases(json.dumps(doc), knowledge)[0].case is not None


@pytest.mark.parametrize("number", ["9" * 5000, "1" + "0" * MAX_NUMBER_CHARS, "NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_that_are_not_measurements_are_refused(knowledge: Knowledge, number: str) -> None:
    """Huge integers, NaN, Infinity and overflowing numbers are refused, naming the number."""
    text = json.dumps(bundle(patient("p1"), observation("a", "2472-9", 20, "mg/dL", "2024-01-01")))
    text = text.replace('"value": 20', f'"value": {number}')
    with pytest.raises(InputError) as caught:
        load_cases(text, knowledge)
    assert str(caught.value.value).startswith(number[:20])


def test_a_long_but_ordinary_number_is_read(knowledge: Knowledge) -> None:
    """A value written with many decimals is still a number sigmd reads."""
    text = json.dumps(bundle(patient("p1"), observation("a", "2472-9", 20, "mg/dL", "2024-01-01")))
    [loaded] = load_cases(text.replace('"value": 20', '"value": 20.000000000000001'), knowledge)
    assert loaded.require().results[0].quantity.value == pytest.approx(20)


def test_a_value_that_overflows_on_conversion_is_refused(knowledge: Knowledge) -> None:
    """1e308 g/L is infinite in mg/dL: the patient is refused naming the value."""
    doc = bundle(patient("p1"), observation("a", "2472-9", 1e308, "g/L", "2024-01-01"))
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert loaded.error is not None and loaded.error.field == "Observation/a.valueQuantity.value"
    assert "too large" in loaded.error.problem


@pytest.mark.parametrize(
    ("birth", "when", "field"),
    [
        ("0001-01-01", "2024-01-01", "Patient/p1.birthDate"),
        ("1980-01-01", "9999-12-31", "Observation/a.effectiveDateTime"),
        ("1899-12-31", "2024-01-01", "Patient/p1.birthDate"),
        ("1980-01-01", "2200-01-01", "Observation/a.effectiveDateTime"),
    ],
)
def test_dates_outside_the_readable_range_are_refused(knowledge: Knowledge, birth: str, when: str, field: str) -> None:
    """Dates before 1900 or after 2199 are refused, naming the field, before they reach date arithmetic."""
    doc = bundle(patient("p1", birth=birth), observation("a", "2472-9", 20, "mg/dL", when))
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert (
        loaded.error is not None and loaded.error.field == field and "1900-01-01 to 2199-12-31" in loaded.error.problem
    )


def test_dates_at_the_edges_of_the_range_are_read(knowledge: Knowledge) -> None:
    """A birth on 1900-01-01 and a result on 2199-12-31 are read."""
    doc = bundle(patient("p1", birth="1900-01-01"), observation("a", "2472-9", 20, "mg/dL", "2199-12-31"))
    assert load_fhir_json(json.dumps(doc), knowledge)[0].case is not None


def test_an_observation_without_subject_among_several_patients_is_refused_alone(knowledge: Knowledge) -> None:
    """An IgM with no subject cannot be given to one of two patients: it is refused, and both patients are read."""
    orphan = observation("o", "2472-9", 20, "mg/dL", "2024-01-01")
    del orphan["subject"]
    loaded = load_fhir_json(json.dumps(_two_patients({"resource": orphan})), knowledge)
    assert [c.patient_key for c in loaded if c.case is not None] == ["p1", "p2"]
    [refused] = [c for c in loaded if c.case is None]
    assert refused.error is not None and refused.error.field == "Observation/o.subject"


def test_an_error_message_shows_a_huge_value_cut_short() -> None:
    """A huge value is named in the message by its first characters only; the error keeps the value itself."""
    error = InputError("results[0].value", "9" * 10_000, "is not a number")
    assert len(str(error)) < 200 and str(error).startswith("results[0].value: '999") and len(error.value) == 10_000


def test_an_error_message_shows_a_short_value_whole() -> None:
    """A short value is shown exactly as its repr."""
    assert (
        str(InputError("patient.sex", "f", "is not one of female, male"))
        == "patient.sex: 'f' is not one of female, male"
    )


@pytest.mark.parametrize("contained_type", ["Foo", 5])
def test_a_contained_resource_of_no_fhir_type_rejects_its_patient(knowledge: Knowledge, contained_type: Any) -> None:
    """A contained resource whose type is not FHIR (the models raise KeyError or TypeError) is refused by name."""
    obs = {**observation("c", "2472-9", 20, "mg/dL", "2024-01-01"), "contained": [{"resourceType": contained_type}]}
    loaded = _by_key(load_fhir_json(json.dumps(_two_patients({"resource": obs})), knowledge))
    error = loaded["p1"].error
    assert error is not None and error.field == "Bundle.entry[4].resource.contained[0].resourceType"
    assert loaded["p2"].case is not None


def test_a_contained_medication_is_read(knowledge: Knowledge) -> None:
    """A MedicationStatement whose medication is a contained Medication is read with the contained code."""
    statement = {
        "resourceType": "MedicationStatement",
        "id": "m1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "#med"},
        "contained": [{"resourceType": "Medication", "id": "med", "code": {"text": "clozapine"}}],
    }
    doc = bundle(patient("p1"), observation("a", "2472-9", 20, "mg/dL", "2024-01-01"), statement)
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assert case.medications is not None and case.medications[0].text == "clozapine"


@pytest.mark.parametrize(
    ("status", "read"),
    [("completed", True), ("in-progress", True), ("stopped", True), ("not-done", False), ("entered-in-error", False)],
)
def test_a_medication_administration_is_read_unless_it_did_not_happen(
    knowledge: Knowledge, status: str, read: bool
) -> None:
    """Immunoglobulin infusions are often recorded only as MedicationAdministration: one given (completed, in
    progress or stopped part-way) is a medication on record, so the core sets the IgG aside; one not done or
    entered in error is listed as not used and leaves the IgG judged."""
    given = {
        "resourceType": "MedicationAdministration",
        "id": "ivig",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-01-05",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "J06BA02"}],
            "text": "immunoglobulin, normal human, for intravascular administration",
        },
    }
    doc = bundle(
        patient("p1"),
        observation("m", "2472-9", 12, "mg/dL", "2024-01-01"),
        observation("g", "2465-3", 1000, "mg/dL", "2024-01-01"),
        given,
    )
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assessment = assess(case, knowledge, as_of=date(2025, 1, 1))
    igg_normal = next(c.outcome.value for c in assessment.criteria if c.id.value == "igg_normal")
    if read:
        assert case.medications is not None and [m.code for m in case.medications] == ["J06BA02"]
        assert igg_normal == "unknown"
    else:
        assert not case.medications
        assert [n.origin for n in case.input_notes] == ["MedicationAdministration/ivig"]
        assert igg_normal == "met"


@pytest.mark.parametrize(
    "where", ['"valueQuantity": {"value": 20, "unit": "\\ud800"', '"valueQuantity": {"\\udfff": 1']
)
def test_an_unpaired_surrogate_is_refused_as_not_text(knowledge: Knowledge, where: str) -> None:
    """A JSON escape for half a UTF-16 pair (valid syntax, not text) is refused naming where it was."""
    text = json.dumps(bundle(patient("p1"), observation("a", "2472-9", 20, "mg/dL", "2024-01-01")))
    text = text.replace('"valueQuantity": {"value": 20, "unit": "mg/dL"', where, 1)
    with pytest.raises(InputError, match="unpaired UTF-16 surrogate") as caught:
        load_cases(text, knowledge)
    assert caught.value.field.startswith("entry[1].resource.valueQuantity")


def test_a_paired_surrogate_escape_is_ordinary_text(knowledge: Knowledge) -> None:
    """An escaped emoji (a surrogate pair) is text like any other, and the patient is read."""
    doc = bundle(
        {**patient("p1"), "name": [{"text": "\U0001f600"}]}, observation("a", "2472-9", 20, "mg/dL", "2024-01-01")
    )
    assert load_cases(json.dumps(doc, ensure_ascii=True), knowledge)[0].case is not None
