"""FHIR R4 input: Bundles and NDJSON become one case per patient, and nothing is dropped silently."""

from __future__ import annotations

import json
from datetime import date

import pytest

from sigmd.adapters.fhir import ICD10, load_fhir_json
from sigmd.core.assessment import assess
from sigmd.core.model import Analyte, Comparator, InputNoteKind, Sex
from sigmd.errors import InputError

from .conftest import bundle, low_igm_bundle, observation, patient


def test_bundle_results_are_converted_to_mg_dl_with_the_lab_range(knowledge):
    """IgM in g/L and mg/dL, the lab's referenceRange and effectivePeriod.start are all read."""
    [loaded] = load_fhir_json(json.dumps(low_igm_bundle()), knowledge)
    case = loaded.require()
    igm = [r for r in case.results if r.analyte is Analyte.IGM]
    assert [(r.collected, r.quantity.value) for r in igm] == [(date(2024, 1, 10), 15.0), (date(2024, 9, 1), 10.0)]
    assert igm[0].lab_range is not None and igm[0].lab_range.low_mg_dl == 40
    assert case.patient.sex is Sex.FEMALE and case.patient.birth_date == date(1980, 5, 1)


def test_entered_in_error_and_foreign_codes_are_reported_not_used(knowledge):
    """An entered-in-error IgM is listed as ignored and a glucose Observation as skipped, neither as a result."""
    case = load_fhir_json(json.dumps(low_igm_bundle()), knowledge)[0].require()
    assert "igm-error" not in {r.origin.split("/")[-1] for r in case.results}
    notes = {note.origin: note for note in case.input_notes}
    assert notes["Observation/igm-error"].kind is InputNoteKind.IGNORED
    assert "entered-in-error" in notes["Observation/igm-error"].reason
    assert (
        notes["Observation/glucose"].kind is InputNoteKind.SKIPPED and "15074-8" in notes["Observation/glucose"].reason
    )


def test_icd10_gm_condition_is_mapped_and_matches_a_secondary_cause(knowledge):
    """An ICD-10-GM leukaemia code is mapped to the ICD-10 URI the core matches, so the assessment finds it."""
    case = load_fhir_json(json.dumps(low_igm_bundle()), knowledge)[0].require()
    assert case.conditions is not None and case.conditions[0].system == ICD10
    result = assess(case, knowledge, as_of=date(2025, 1, 1))
    assert any(m.record.origin == "Condition/c1" for m in result.secondary_matches)


def test_unrecognised_medication_code_is_listed_and_text_kept(knowledge):
    """A SNOMED-only medication keeps its text and its code is named in a warning."""
    case = load_fhir_json(json.dumps(low_igm_bundle()), knowledge)[0].require()
    assert case.medications is not None and case.medications[0].text == "Aspirin"
    assert any("386849001" in w and "not in a system" in w for w in case.warnings)


def test_censored_value_keeps_its_comparator(knowledge):
    """valueQuantity.comparator '<' becomes a censored quantity."""
    obs = observation("igm", "2472-9", 5, "mg/dL", "2024-03-01")
    obs["valueQuantity"]["comparator"] = "<"
    case = load_fhir_json(json.dumps(bundle(patient("p1"), obs)), knowledge)[0].require()
    assert case.results[0].quantity.comparator is Comparator.LT


def test_two_patients_give_two_cases_with_bare_and_prefixed_references(knowledge):
    """Subjects `Patient/p1` and bare `p2` are grouped to their own patients."""
    doc = bundle(
        patient("p1"),
        patient("p2", "2015-02-03", "male"),
        observation("a", "2472-9", 20, "mg/dL", "2024-01-01", subject="Patient/p1"),
        observation("b", "2472-9", 30, "mg/dL", "2024-01-01", subject="p2"),
        bundle_type="searchset",
    )
    loaded = load_fhir_json(json.dumps(doc), knowledge)
    assert [(c.patient_key, len(c.require().results)) for c in loaded] == [("p1", 1), ("p2", 1)]


def test_transaction_bundle_resolves_urn_uuid_subjects(knowledge):
    """In a transaction Bundle a subject `urn:uuid:...` refers to the Patient entry's fullUrl."""
    doc = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1c7e",
                "resource": {"resourceType": "Patient", "birthDate": "1990-01-01", "gender": "male"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": observation("x", "2472-9", 25, "mg/dL", "2024-01-01", subject="urn:uuid:1c7e"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert loaded.patient_key == "urn:uuid:1c7e" and len(loaded.require().results) == 1


def test_bad_unit_rejects_only_that_patient_naming_the_field(knowledge):
    """An unknown unit on one patient's IgM is an InputError for that patient; the other patient is read."""
    doc = bundle(
        patient("p1"),
        patient("p2"),
        observation("bad", "2472-9", 20, "mmol/L", "2024-01-01"),
        observation("ok", "2472-9", 20, "mg/dL", "2024-01-01", subject="Patient/p2"),
    )
    first, second = load_fhir_json(json.dumps(doc), knowledge)
    assert first.case is None and first.error is not None
    assert first.error.field == "Observation/bad.valueQuantity.unit" and first.error.value == "mmol/L"
    assert second.require().results[0].origin == "Observation/ok"


def test_a_unit_text_that_contradicts_its_ucum_code_is_skipped_naming_both(knowledge):
    """valueQuantity unit 'mg/dL' with UCUM code 'g/L': one of them is wrong and the value may be 100 times off, so the
    result is skipped with both named; a spelling of the same unit ('mg/dl', 'milligram per deciliter') is no
    conflict."""
    conflicting = observation("m1", "2472-9", 0.3, "g/L", "2024-01-10")
    conflicting["valueQuantity"]["unit"] = "mg/dL"
    spelled = observation("m2", "2472-9", 30, "mg/dL", "2024-02-10")
    spelled["valueQuantity"]["unit"] = "mg/dl"
    case = load_fhir_json(json.dumps(bundle(patient("p1"), conflicting, spelled)), knowledge)[0].require()
    assert [r.origin for r in case.results] == ["Observation/m2"]
    [note] = case.input_notes
    assert note.origin == "Observation/m1" and note.kind is InputNoteKind.SKIPPED
    assert "Observation/m1.valueQuantity.unit 'mg/dL' and Observation/m1.valueQuantity.code 'g/L'" in note.reason


def test_one_patient_id_at_two_fhir_servers_refuses_the_patient_rather_than_merging(knowledge):
    """Patient p1 at server A and an Observation of p1 at server B may be two people: the patient is refused, naming
    both servers. The same server, or a relative reference beside an absolute one, is one patient."""
    at_b = "http://b.example/fhir/Patient/p1"
    doc = bundle(patient("p1"), observation("m1", "2472-9", 20, "mg/dL", "2024-01-10", subject=at_b))
    doc["entry"][0]["fullUrl"] = "http://a.example/fhir/Patient/p1"
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert loaded.case is None and loaded.error is not None
    assert loaded.error.field == "Observation/m1.subject"
    assert "at http://b.example/fhir/" in loaded.error.problem
    assert "Bundle.entry[0].fullUrl names it at http://a.example/fhir/" in loaded.error.problem
    doc["entry"][0]["fullUrl"] = "http://b.example/fhir/Patient/p1"
    doc["entry"].append({"resource": observation("m2", "2472-9", 22, "mg/dL", "2024-07-10")})
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assert [r.origin for r in case.results] == ["Observation/m1", "Observation/m2"]


def test_invalid_fhir_names_the_resource_and_element(knowledge):
    """A birthDate that is not a FHIR date is rejected by the R4 model with its location, for that patient."""
    [loaded] = load_fhir_json(json.dumps(bundle(patient("p1", birth="01/05/1980"))), knowledge)
    assert loaded.case is None and loaded.error is not None
    assert "Bundle.entry[0].resource.birthDate" in loaded.error.field


def test_unsupported_bundle_type_is_rejected(knowledge):
    """A history Bundle is refused with the field named."""
    with pytest.raises(InputError) as caught:
        load_fhir_json(json.dumps(bundle(patient("p1"), bundle_type="history")), knowledge)
    assert caught.value.field == "Bundle.type"
