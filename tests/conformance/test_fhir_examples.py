"""FHIR R4 specification examples and Bulk Data samples read by the FHIR reader."""

from __future__ import annotations

import json
from datetime import date

from sigmd.adapters.fhir import load_fhir_json, load_fhir_ndjson
from sigmd.core.model import Sex
from tests.interop.conftest import bundle, patient

from .conftest import FIXTURES

assert FIXTURES is not None  # the module is collected only when the fixtures exist


def test_spec_patient_example_gives_sex_and_birth_date(knowledge):
    """The R4 spec Patient example (with a _birthDate extension) is read."""
    [loaded] = load_fhir_json((FIXTURES / "fhir" / "patient-example.json").read_text(), knowledge)
    case = loaded.require()
    assert (case.patient.sex, case.patient.birth_date, case.results) == (Sex.MALE, date(1974, 12, 25), ())


def test_spec_searchset_of_patients_without_birth_dates_is_rejected_per_patient(knowledge):
    """The fhirpath.js patient searchset has no birthDate, so each patient carries an error naming it."""
    loaded = load_fhir_json((FIXTURES / "fhir" / "patient-bundle.json").read_text(), knowledge)
    assert len(loaded) == 3
    assert all(c.case is None and c.error is not None and c.error.field.endswith(".birthDate") for c in loaded)


def test_glucose_example_without_its_patient_is_reported(knowledge):
    """The glucose example (effectivePeriod, mmol/l) is not an immunoglobulin, and its patient f001 is absent."""
    [loaded] = load_fhir_json((FIXTURES / "fhir" / "observation-example-f001-glucose.json").read_text(), knowledge)
    assert loaded.patient_key == "f001" and loaded.error is not None and "birth date" in loaded.error.problem


def test_recoded_spec_observation_uses_the_pound_unit_and_fails_clearly(knowledge):
    """The R4 weight example re-coded to IgM keeps its '[lb_av]' unit, which is rejected by name."""
    obs = json.loads((FIXTURES / "fhir" / "observation-example.json").read_text())
    obs["code"] = {"coding": [{"system": "http://loinc.org", "code": "2472-9"}]}
    doc = bundle(patient("example"), obs)
    [loaded] = load_fhir_json(json.dumps(doc), knowledge)
    assert loaded.error is not None and loaded.error.value == "[lb_av]"


def test_condition_and_medication_statement_examples_become_coded_text(knowledge):
    """The R4 Condition (SNOMED fever) and MedicationStatement (contained Medication) examples are kept as text."""
    condition = json.loads((FIXTURES / "fhir" / "condition-example-f201-fever.json").read_text())
    statement = json.loads((FIXTURES / "fhir" / "medicationstatementexample1.json").read_text())
    statement["subject"] = {"reference": "Patient/f201"}
    doc = bundle(patient("f201"), condition, statement)
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assert case.conditions is not None and case.conditions[0].text == "Fever"
    assert case.medications is not None and case.medications[0].origin == "MedicationStatement/example001"
    assert any("Condition/f201" in w and "snomed" in w for w in case.warnings)


def test_bulk_patient_ndjson_gives_one_case_per_patient(knowledge):
    """The 13 Synthea Patients of the bulk sample give 13 cases, keyed by id."""
    loaded = load_fhir_ndjson((FIXTURES / "bulk" / "Patient.000.ndjson").read_text(), knowledge)
    assert len(loaded) == 13 and len({c.patient_key for c in loaded}) == 13
    assert all(c.case is not None for c in loaded)


def test_bulk_coded_lab_ndjson_with_bare_uuid_subject_is_reported(knowledge):
    """Cumulus lab NDJSON: coded SARS-CoV-2 results are not used and their bare-UUID patient has no Patient."""
    loaded = load_fhir_ndjson((FIXTURES / "bulk" / "fhir_labs.ndjson").read_text(), knowledge)
    assert loaded and all(c.error is not None and c.error.field.startswith("patient ") for c in loaded)


def test_bulk_event_log_is_not_fhir(knowledge):
    """The bulk export event log has no resourceType: each of its lines is refused on its own, naming the line."""
    loaded = load_fhir_ndjson((FIXTURES / "bulk" / "log.ndjson").read_text(), knowledge)
    assert loaded and all(item.case is None and item.error is not None for item in loaded)
    assert [item.error.field for item in loaded if item.error is not None][:2] == ["line 1", "line 2"]
