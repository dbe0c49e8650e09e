"""The FHIR reader uses a result only when it is this patient's serum or plasma result, in one unit, of one analyte,
against the laboratory's range for this patient; anything else is refused or skipped with the field and value named
(synthetic resources only)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sigmd.adapters.fhir import load_fhir_json
from sigmd.adapters.fhir_bulk import BulkReader
from sigmd.adapters.grouping import LoadedCase
from sigmd.core.assessment import assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case, InputNoteKind

from .conftest import bundle, observation, patient
from .test_cds_safety import full_prefetch, hook_request, post

IGM, IGG, IGA = "2472-9", "2465-3", "2458-8"
UCUM = "http://unitsofmeasure.org"
OTHER_SERVER = "https://other.example.org/fhir"
OWN_SERVER = "https://ehr.example.org/fhir"


def _load(*resources: dict[str, Any], knowledge: Knowledge) -> list[LoadedCase]:
    return load_fhir_json(json.dumps(bundle(*resources)), knowledge)


def _case(*resources: dict[str, Any], knowledge: Knowledge) -> Case:
    [loaded] = _load(*resources, knowledge=knowledge)
    return loaded.require()


def _low_igm_adult(*extra: dict[str, Any], **igm: Any) -> list[dict[str, Any]]:
    """An adult woman with IgM 15 mg/dL twice (January and June 2026, `igm` added to both), normal IgG and IgA."""
    return [
        patient("p1"),
        observation("m1", IGM, 15, "mg/dL", "2026-01-10", **igm),
        observation("m2", IGM, 15, "mg/dL", "2026-06-10", **igm),
        observation("g1", IGG, 1040, "mg/dL", "2026-01-10"),
        observation("a1", IGA, 210, "mg/dL", "2026-01-10"),
        *extra,
    ]


def _note(case: Case, origin: str) -> str:
    [note] = [n for n in case.input_notes if n.origin == origin]
    assert note.kind is InputNoteKind.SKIPPED
    return note.reason


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


# 1. A subject at another server


def test_an_absolute_subject_at_a_server_the_patient_is_not_known_to_be_on_refuses_the_patient(knowledge):
    """Patient p1 without a fullUrl and an IgM of 300 whose subject is p1 at another server: it may be another person
    with the same id, so the patient is refused as when the Patient's fullUrl names a different server (the foreign
    IgM used to be merged in and made the latest IgM normal)."""
    foreign = observation("q1", IGM, 300, "mg/dL", "2026-07-01", subject=f"{OTHER_SERVER}/Patient/p1")
    [loaded] = _load(*_low_igm_adult(foreign), knowledge=knowledge)
    assert loaded.case is None and loaded.error is not None
    assert loaded.error.field == "Observation/q1.subject"
    assert loaded.error.value == f"{OTHER_SERVER}/Patient/p1"
    assert loaded.error.problem == (
        f"names this patient at {OTHER_SERVER}/, but Patient/p1 has no fullUrl naming its server; "
        "sigmd cannot tell whether they are the same patient"
    )


def test_an_absolute_subject_at_the_server_of_the_patients_full_url_is_read(knowledge):
    """When the Patient's fullUrl names the server, an absolute subject on that server is the same patient."""
    doc = bundle(*_low_igm_adult(observation("m3", IGM, 16, "mg/dL", "2026-07-01", subject=f"{OWN_SERVER}/Patient/p1")))
    doc["entry"][0]["fullUrl"] = f"{OWN_SERVER}/Patient/p1"
    case = load_fhir_json(json.dumps(doc), knowledge)[0].require()
    assert "Observation/m3" in [r.origin for r in case.results]


# 2. A subject given by identifier


def _with_identifier(resource: dict[str, Any], system: str | None, value: str) -> dict[str, Any]:
    identifier = {"value": value} if system is None else {"system": system, "value": value}
    return {**resource, "identifier": [identifier]}


def _subject_identifier(system: str | None, value: str) -> dict[str, Any]:
    identifier = {"value": value} if system is None else {"system": system, "value": value}
    return {"identifier": identifier, "display": "Someone"}


def test_a_subject_identifier_that_names_someone_else_is_refused(knowledge):
    """IgM whose subject is the identifier MRN-OTHER, beside a Patient with MRN-P1: it names another person and is
    refused (it used to be assigned to the only patient, with a warning, and made a partial SIgMD)."""
    resources = _low_igm_adult()
    resources[0] = _with_identifier(resources[0], "urn:oid:1.2.3", "MRN-P1")
    for igm in resources[1:3]:
        igm["subject"] = _subject_identifier("urn:oid:1.2.3", "MRN-OTHER")
    [loaded] = _load(*resources, knowledge=knowledge)
    assert loaded.case is None and loaded.error is not None
    assert loaded.error.field == "Observation/m1.subject.identifier"
    assert loaded.error.value == "urn:oid:1.2.3|MRN-OTHER"
    assert "matches no identifier of any Patient in the input" in loaded.error.problem
    assert "MRN" not in loaded.error.problem  # the problem text (logged by CDS Hooks) holds no patient data


def test_a_subject_identifier_that_matches_the_patient_is_read(knowledge):
    """The same system and value, or the same value when the subject gives no system, is the patient: read with no
    warning about a missing subject."""
    resources = _low_igm_adult()
    resources[0] = _with_identifier(resources[0], "urn:oid:1.2.3", "MRN-P1")
    resources[1]["subject"] = _subject_identifier("urn:oid:1.2.3", "MRN-P1")
    resources[2]["subject"] = _subject_identifier(None, "MRN-P1")
    case = _case(*resources, knowledge=knowledge)
    assert {"Observation/m1", "Observation/m2"} <= {r.origin for r in case.results}
    assert not any("has no subject" in w for w in case.warnings)


def test_a_subject_identifier_in_another_system_is_not_the_patient(knowledge):
    """The value MRN-P1 in another identifier system names another register's patient: refused."""
    resources = _low_igm_adult()
    resources[0] = _with_identifier(resources[0], "urn:oid:1.2.3", "MRN-P1")
    resources[1]["subject"] = _subject_identifier("urn:oid:9.9.9", "MRN-P1")
    [loaded] = _load(*resources, knowledge=knowledge)
    assert loaded.error is not None and loaded.error.field == "Observation/m1.subject.identifier"


def test_a_subject_identifier_finds_its_patient_among_several(knowledge):
    """With two patients, an IgM whose subject is p2's identifier is p2's (it used to be refused as having no
    subject)."""
    p1 = _with_identifier(patient("p1"), "urn:oid:1.2.3", "MRN-P1")
    p2 = _with_identifier(patient("p2", "1990-01-01", "male"), "urn:oid:1.2.3", "MRN-P2")
    igm = {
        **observation("m9", IGM, 15, "mg/dL", "2026-01-10"),
        "subject": _subject_identifier("urn:oid:1.2.3", "MRN-P2"),
    }
    loaded = {c.patient_key: c for c in _load(p1, p2, igm, knowledge=knowledge)}
    assert [r.origin for r in loaded["p2"].require().results] == ["Observation/m9"]
    assert loaded["p1"].require().results == ()


def test_a_reference_with_a_contradicting_identifier_is_refused(knowledge):
    """subject Patient/p1 with the identifier of someone else: the two disagree, and the resource is refused."""
    resources = _low_igm_adult()
    resources[0] = _with_identifier(resources[0], "urn:oid:1.2.3", "MRN-P1")
    resources[1]["subject"] = {"reference": "Patient/p1", **_subject_identifier("urn:oid:1.2.3", "MRN-OTHER")}
    [loaded] = _load(*resources, knowledge=knowledge)
    assert loaded.error is not None and loaded.error.field == "Observation/m1.subject.identifier"
    assert "the Patient its reference names" in loaded.error.problem


def test_cds_hooks_and_the_reader_both_refuse_a_subject_identifier_of_someone_else(knowledge):
    """The CDS Hooks service refuses the foreign identifier with 412, and so does the FHIR reader for the same data."""
    foreign = observation("x", IGM, 15, "mg/dL", "2024-01-10")
    foreign["subject"] = _subject_identifier("urn:oid:1.2.3", "MRN-OTHER")
    response = post(hook_request(full_prefetch(immunoglobulins=bundle(foreign, bundle_type="searchset"))))
    assert response.status_code == 412
    [loaded] = _load(_with_identifier(patient("p1"), "urn:oid:1.2.3", "MRN-P1"), foreign, knowledge=knowledge)
    assert loaded.error is not None and loaded.error.field == "Observation/x.subject.identifier"


# 3. The laboratory's range


def _range(low: float, high: float, **more: Any) -> dict[str, Any]:
    return {"low": _quantity(low, "mg/dL"), "high": _quantity(high, "mg/dL"), **more}


CHILD = {"age": {"low": {"value": 1, "unit": "a", "system": UCUM, "code": "a"}, "high": {"value": 3, "code": "a"}}}
MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


def test_a_childs_range_listed_first_is_not_an_adults_range(knowledge):
    """An adult's IgM of 30 mg/dL with a range for ages 1-3 (20-100) first and the plain range (40-230) second: the
    plain range is used and the child's range is named in a warning (IgM 30 used to be judged normal by 20-100)."""
    ranges = [_range(20, 100, **CHILD), _range(40, 230)]
    case = _case(*_low_igm_adult(referenceRange=ranges), knowledge=knowledge)
    igm = next(r for r in case.results if r.origin == "Observation/m1")
    assert igm.lab_range is not None and (igm.lab_range.low_mg_dl, igm.lab_range.high_mg_dl) == (40, 230)
    assert (
        "Observation/m1.referenceRange[0] (20-100 mg/dL) was not used as the laboratory's range: it is restricted "
        "to age 1-3 a; Observation/m1.referenceRange[1] was used"
    ) in case.warnings


def test_a_treatment_range_for_a_population_is_set_aside_for_the_reference_set(knowledge):
    """A range of type treatment that appliesTo a population is not the patient's normal range: none is used, the
    warning says why, and IgM 30 mg/dL in an adult is judged low by the reference set rather than normal."""
    treatment = _range(
        20,
        200,
        type={"coding": [{"system": MEANING, "code": "treatment"}]},
        appliesTo=[{"text": "male"}],
    )
    resources = _low_igm_adult()
    for igm in resources[1:3]:
        igm["valueQuantity"] = _quantity(30, "mg/dL")
        igm["referenceRange"] = [treatment]
    case = _case(*resources, knowledge=knowledge)
    assert all(r.lab_range is None for r in case.results)
    [warning] = [w for w in case.warnings if w.startswith("Observation/m1.referenceRange[0]")]
    assert "it applies only to 'male' (appliesTo)" in warning and "its type is 'treatment'" in warning
    assert warning.endswith("the result is judged against sigmd's reference set")
    assert assess(case, knowledge, as_of=date(2026, 11, 27)).diagnosis.label.value != "normal"


def test_plain_ranges_that_differ_give_no_laboratory_range(knowledge):
    """Two ranges with no restriction that differ: sigmd cannot tell which applies, uses none and says so; ranges of
    type normal that agree count as one."""
    normal = {"type": {"coding": [{"system": MEANING, "code": "normal"}]}}
    differing = _low_igm_adult(referenceRange=[_range(20, 100), _range(40, 230)])
    case = _case(*differing, knowledge=knowledge)
    assert all(r.lab_range is None for r in case.results)
    assert any("referenceRange: the ranges [0] 20-100 mg/dL, [1] 40-230 mg/dL differ" in w for w in case.warnings)
    agreeing = _low_igm_adult(referenceRange=[_range(40, 230, **normal), _range(40, 230)])
    igm = next(r for r in _case(*agreeing, knowledge=knowledge).results if r.origin == "Observation/m1")
    assert igm.lab_range is not None and igm.lab_range.high_mg_dl == 230


# 4. Unit text and code


def test_a_unit_text_and_code_naming_different_units_skip_the_result(knowledge):
    """valueQuantity 0.15 with unit 'g/L' and code 'mg/dL': 15 mg/dL or 0.15 mg/dL, sigmd cannot tell, so both IgM
    are skipped naming both fields and values (they used to be read as 0.15 mg/dL, a complete SIgMD)."""
    resources = _low_igm_adult()
    for igm in resources[1:3]:
        igm["valueQuantity"] = {"value": 0.15, "unit": "g/L", "system": UCUM, "code": "mg/dL"}
    case = _case(*resources, knowledge=knowledge)
    assert [r.analyte.value for r in case.results] == ["IgA", "IgG"]
    assert (
        "Observation/m1.valueQuantity.unit 'g/L' and Observation/m1.valueQuantity.code 'mg/dL' name different units"
        in _note(case, "Observation/m1")
    )


def test_spellings_of_one_unit_are_no_conflict(knowledge):
    """unit 'milligram per deciliter' is not a unit sigmd recognises, 'mg/dl' is mg/dL: both are read by the code."""
    resources = _low_igm_adult()
    resources[1]["valueQuantity"]["unit"] = "mg/dl"
    resources[2]["valueQuantity"]["unit"] = "milligram per deciliter"
    case = _case(*resources, knowledge=knowledge)
    assert [r.quantity.value for r in case.results if r.analyte.value == "IgM"] == [15, 15]


# 5. Specimen


def _contained_specimen(specimen_type: dict[str, Any]) -> dict[str, Any]:
    return {
        "specimen": {"reference": "#s1"},
        "contained": [{"resourceType": "Specimen", "id": "s1", "type": specimen_type}],
    }


CSF_SNOMED = {"coding": [{"system": "http://snomed.info/sct", "code": "258450006", "display": "Cerebrospinal fluid"}]}


def test_a_contained_csf_specimen_skips_the_result(knowledge):
    """IgM measured in cerebrospinal fluid (a contained Specimen) is not serum IgM: skipped, naming the specimen
    field and value (CSF IgM 0.3 mg/dL used to give a complete SIgMD)."""
    case = _case(*_low_igm_adult(**_contained_specimen(CSF_SNOMED)), knowledge=knowledge)
    assert not any(r.analyte.value == "IgM" for r in case.results)
    reason = _note(case, "Observation/m1")
    assert "Observation/m1.specimen (#s1) Specimen.type.coding[0] is 'http://snomed.info/sct|258450006" in reason
    assert "not serum or plasma" in reason


def test_a_urine_specimen_in_the_bundle_skips_the_result(knowledge):
    """A Specimen of the Bundle with HL7 v2 table 0487 type UR, referred to as Specimen/u1: skipped."""
    urine = {
        "resourceType": "Specimen",
        "id": "u1",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0487", "code": "UR"}]},
    }
    case = _case(*_low_igm_adult(urine, specimen={"reference": "Specimen/u1"}), knowledge=knowledge)
    assert not any(r.analyte.value == "IgM" for r in case.results)
    assert "Specimen.type.coding[0] is 'http://terminology.hl7.org/CodeSystem/v2-0487|UR'" in _note(
        case, "Observation/m2"
    )


def test_a_specimen_display_naming_csf_skips_the_result(knowledge):
    """Observation.specimen.display 'CSF' without a resource is enough to see it is not serum."""
    case = _case(*_low_igm_adult(specimen={"display": "CSF"}), knowledge=knowledge)
    assert "Observation/m1.specimen.display is 'CSF'" in _note(case, "Observation/m1")


def test_a_serum_specimen_is_used_and_an_unknown_one_is_used_with_a_warning(knowledge):
    """A serum specimen is read silently; a type sigmd does not recognise, or a Specimen not in the input, keeps the
    result with a warning asking to confirm the specimen."""
    serum = _case(*_low_igm_adult(**_contained_specimen({"text": "Serum"})), knowledge=knowledge)
    assert len(serum.results) == 4 and not any("specimen" in w for w in serum.warnings)
    odd = _case(*_low_igm_adult(**_contained_specimen({"text": "Tube 7"})), knowledge=knowledge)
    assert len(odd.results) == 4
    assert any(w.startswith("Observation/m1: Observation/m1.specimen (#s1) has 'Tube 7'") for w in odd.warnings)
    missing = _case(*_low_igm_adult(specimen={"reference": "Specimen/x"}), knowledge=knowledge)
    assert len(missing.results) == 4
    assert any("specimen 'Specimen/x' is not in the input" in w for w in missing.warnings)


def test_an_observation_code_naming_csf_skips_the_result(knowledge):
    """code.text 'IgM, CSF' beside LOINC 2472-9 (a serum or plasma code) and a local code: skipped, naming
    code.text (it used to be read as serum IgM)."""
    resources = _low_igm_adult()
    resources[1]["code"] = {
        "coding": [
            {"system": "http://acme.example/codes", "code": "IGM-CSF", "display": "IgM CSF"},
            {"system": "http://loinc.org", "code": IGM},
        ],
        "text": "IgM, CSF",
    }
    resources[2]["code"]["coding"][0]["display"] = "IgM in urine"
    case = _case(*resources, knowledge=knowledge)
    assert not any(r.analyte.value == "IgM" for r in case.results)
    assert "Observation/m1.code.text is 'IgM, CSF'" in _note(case, "Observation/m1")
    assert "Observation/m2.code.coding[0].display is 'IgM in urine'" in _note(case, "Observation/m2")


# 6. Two analytes in one code


def test_codings_of_two_analytes_skip_the_result(knowledge):
    """code.coding with LOINC IgM and LOINC IgG: sigmd cannot tell which was measured (it used to read IgM)."""
    resources = _low_igm_adult()
    resources[1]["code"]["coding"].append({"system": "http://loinc.org", "code": IGG})
    case = _case(*resources, knowledge=knowledge)
    assert "Observation/m1" not in [r.origin for r in case.results]
    reason = _note(case, "Observation/m1")
    assert reason.startswith("Observation/m1.code has codings for different analytes")
    assert "http://loinc.org|2472-9 (IgM), http://loinc.org|2465-3 (IgG)" in reason


# 7. After death


def test_results_collected_after_the_recorded_death_are_skipped(knowledge):
    """Patient.deceasedDateTime 2020-03-01 and results of 2026: none can be this patient's; each is skipped naming
    the field and both dates (they used to give a verdict)."""
    resources = _low_igm_adult()
    resources[0]["deceasedDateTime"] = "2020-03-01T10:00:00Z"
    resources.append(observation("m0", IGM, 20, "mg/dL", "2019-05-01"))
    case = _case(*resources, knowledge=knowledge)
    assert [r.origin for r in case.results] == ["Observation/m0"]
    assert _note(case, "Observation/m1").startswith(
        "IgM: collected on 2026-01-10, after Patient/p1.deceasedDateTime 2020-03-01;"
    )


def test_a_partial_date_of_death_skips_only_what_is_after_its_last_day(knowledge):
    """deceasedDateTime '2020-03' may mean any day of March 2020: a result of 2020-03-31 is kept, one of April is
    skipped."""
    resources = [
        {**patient("p1"), "deceasedDateTime": "2020-03"},
        observation("m1", IGM, 15, "mg/dL", "2020-03-31"),
        observation("m2", IGM, 15, "mg/dL", "2020-04-01"),
    ]
    case = _case(*resources, knowledge=knowledge)
    assert [r.origin for r in case.results] == ["Observation/m1"]
    assert "after Patient/p1.deceasedDateTime 2020-03-31" in _note(case, "Observation/m2")


# Bulk screening reads through the same code


def test_bulk_screening_rejects_the_same_observations_with_the_same_reasons(knowledge):
    """A Bulk export's CSF IgM, an IgM after death and a foreign subject identifier are rejected rows with the
    reasons `sigmd assess` gives; the serum IgM before death is a used row."""
    reader = BulkReader(knowledge)
    dead = {**_with_identifier(patient("p1"), "urn:oid:1.2.3", "MRN-P1"), "deceasedDateTime": "2025-12-31"}
    lines = [
        observation("csf", IGM, 0.3, "mg/dL", "2025-01-10", **_contained_specimen(CSF_SNOMED)),
        observation("late", IGM, 15, "mg/dL", "2026-01-10"),
        {**observation("other", IGM, 15, "mg/dL", "2025-02-10"), "subject": _subject_identifier("urn:oid:1.2.3", "X")},
        observation("ok", IGM, 15, "mg/dL", "2025-03-10"),
        dead,
    ]
    for number, resource in enumerate(lines, start=1):
        reader.read_line(json.dumps(resource).encode(), f"line {number}")
    rows = {row.where: row for row in reader.rows()}
    assert "Specimen.type.coding[0] is 'http://snomed.info/sct|258450006" in rows["line 1"].reason
    assert "after Patient/p1.deceasedDateTime 2025-12-31" in rows["line 2"].reason
    assert "Observation/other.subject.identifier" in rows["line 3"].reason
    assert rows["line 4"].reason == "" and rows["line 4"].value == "15"
