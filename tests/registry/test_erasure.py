"""Erasing a patient (their right): everything stored about them goes, and the audit keeps no patient data."""

from __future__ import annotations

import json
from datetime import date

import pytest

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, RegistryError
from tests.cases import build_case

AS_OF = date(2026, 1, 1)
MRN = "MRN-ERASE-4711"
NAME = "Erin Erasable"
BORN = "1971-03-09"
CSV = f"""patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high
{MRN},F,{BORN},2025-06-01,2472-9,19,mg/dL,,,
{MRN},F,{BORN},2025-12-01,2472-9,17,mg/dL,,,
keep-1,F,1980-05-01,2025-06-01,2472-9,20,mg/dL,,,
keep-1,F,1980-05-01,2025-12-01,2472-9,18,mg/dL,,,
"""


@pytest.fixture
def two_patients(registry: Registry, knowledge: Knowledge) -> Registry:
    """MRN imported from a CSV and then given results by hand with a name; keep-1 imported beside them."""
    registry.import_text(CSV, actor="dr.a", as_of=AS_OF, filename="labs.csv")
    case = build_case(
        knowledge,
        ("IgM", 16, "mg/dL", "2025-12-20"),
        ("IgG", 1000, "mg/dL", "2025-12-20"),
        ("IgA", 200, "mg/dL", "2025-12-20"),
        birth_date=BORN,
    )
    registry.record(case, patient_id=MRN, actor="dr.a", as_of=AS_OF, display_name=NAME)
    return registry


def test_erasure_removes_the_patient_and_everything_stored_about_them(two_patients: Registry) -> None:
    """After erasure the patient, their results, assessments and plan are gone; the other patient is untouched."""
    ref = two_patients.patient(MRN).summary.ref
    kept = two_patients.patient("keep-1")
    receipt = two_patients.erase_patient(MRN, actor="ann")
    assert (receipt.results, receipt.assessments, receipt.follow_up_plans) == (5, 2, 2)
    assert [p.patient_id for p in two_patients.list_patients()] == ["keep-1"]
    assert [d.patient_id for d in two_patients.due_for_follow_up(AS_OF, within_days=3650)] == ["keep-1"]
    with pytest.raises(RegistryError, match="is not in the registry"):
        two_patients.patient(MRN)
    with pytest.raises(RegistryError, match="no patient in the registry has this reference"):
        two_patients.patient_id_for(ref)
    assert two_patients.patient("keep-1") == kept


def test_after_erasure_the_audit_holds_no_patient_data(two_patients: Registry) -> None:
    """No audit entry names the erased patient, their name or birth date; one entry records who erased and when."""
    before = json.dumps([e.__dict__ for e in two_patients.audit()], default=str)
    assert MRN in before and NAME in before and BORN in before
    receipt = two_patients.erase_patient(MRN, actor="ann")
    entries = two_patients.audit()
    after = json.dumps([e.__dict__ for e in entries], default=str)
    assert MRN not in after and NAME not in after and BORN not in after
    erase = entries[0]
    assert (erase.action, erase.actor, erase.entity_id, erase.patient_id) == (
        "patient.erase",
        "ann",
        receipt.reference,
        None,
    )
    assert erase.detail == {"results": 5, "assessments": 2, "follow_up_plans": 2, "audit_entries_scrubbed": 7}
    assert two_patients.audit(patient_id=MRN) == []
    [imported] = [e for e in entries if e.action == "import"]
    assert imported.detail["stored"] == ["keep-1"] and imported.detail["erased"] == 1
    assert "keep-1" in after and len(two_patients.audit(patient_id="keep-1")) == 3


def test_erasing_a_patient_not_in_the_registry_changes_nothing(two_patients: Registry) -> None:
    """An unknown identifier is an error naming it, and no audit entry is written."""
    count = len(two_patients.audit())
    with pytest.raises(RegistryError, match="patient_id: 'nobody' is not in the registry"):
        two_patients.erase_patient("nobody", actor="ann")
    assert len(two_patients.audit()) == count and len(two_patients.list_patients()) == 2


def test_a_patient_can_be_recorded_again_after_erasure_with_a_new_reference(
    two_patients: Registry, knowledge: Knowledge
) -> None:
    """The identifier is free after erasure; the new record has none of the old results and a different reference."""
    old_ref = two_patients.patient(MRN).summary.ref
    two_patients.erase_patient(MRN, actor="ann")
    case = build_case(knowledge, ("IgM", 30, "mg/dL", "2025-12-20"), birth_date=BORN)
    two_patients.record(case, patient_id=MRN, actor="dr.a", as_of=AS_OF)
    again = two_patients.patient(MRN)
    assert len(again.case.results) == 1 and again.summary.ref != old_ref
