"""The registry API on every backend (SQLite always, PostgreSQL when its server is installed)."""

from __future__ import annotations

import threading
from datetime import UTC, date
from pathlib import Path

import pytest

from sigmd.adapters.case_json import case_from_dict, validate_case
from sigmd.core.explain import DISCLAIMER
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.registry import Registry, RegistryError, Role
from tests.cases import NOT_GIVEN, build_case

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
AS_OF = date(2026, 1, 1)


def low_igm_case(knowledge: Knowledge, **extra: object) -> Case:
    """IgM low twice six months apart with normal IgG and IgA: partial SIgMD (provisional)."""
    return build_case(
        knowledge,
        ("IgM", 20, "mg/dL", "2025-06-01"),
        ("IgM", 18, "mg/dL", "2025-12-01"),
        ("IgG", 1000, "mg/dL", "2025-12-01"),
        ("IgA", 200, "mg/dL", "2025-12-01"),
        **extra,  # type: ignore[arg-type]
    )


def test_the_first_admin_can_log_in_and_a_wrong_password_cannot(registry: Registry) -> None:
    """A created user is listed, and the creation is audited without the password."""
    assert not registry.has_users()
    user = registry.create_user("ann", "correct horse battery", Role.ADMIN, actor="cli:root")
    assert (user.username, user.role, user.created_at.tzinfo) == ("ann", Role.ADMIN, UTC)
    assert registry.has_users()
    assert registry.get_user("ann") == user and registry.get_user("bob") is None
    assert registry.list_users() == [user]
    [entry] = registry.audit()
    assert (entry.actor, entry.action, entry.entity, entry.entity_id, entry.detail) == (
        "cli:root",
        "user.create",
        "user",
        "ann",
        {"role": "admin"},
    )


def test_bad_accounts_are_refused_with_field_and_value(registry: Registry) -> None:
    """A duplicate username, a short password and an unknown role each raise an error naming the field."""
    registry.create_user("ann", "correct horse battery", Role.VIEWER, actor="admin")
    with pytest.raises(RegistryError, match="username: 'ann' already exists"):
        registry.create_user("ann", "another long password", Role.VIEWER, actor="admin")
    with pytest.raises(RegistryError, match="password: a password of 5 characters is too short"):
        registry.create_user("bob", "short", Role.VIEWER, actor="admin")
    with pytest.raises(RegistryError, match="role: 'boss' is not one of viewer, clinician, admin"):
        registry.create_user("bob", "correct horse battery", "boss", actor="admin")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="username: 'bad name'"):
        registry.create_user("bad name", "correct horse battery", Role.VIEWER, actor="admin")
    assert [u.username for u in registry.list_users()] == ["ann"]


def test_recording_a_patient_stores_the_assessment_with_profile_reference_set_and_content_version(
    registry: Registry, knowledge: Knowledge
) -> None:
    """A recorded patient gets an assessment under the default profile with every profile's verdict beside it."""
    stored = registry.record(
        low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=AS_OF, display_name="A. Patient"
    )
    assert (stored.patient_id, stored.label, stored.certainty) == ("p-001", "partial_sigmd", "provisional")
    assert (stored.profile_id, stored.reference_set_id) == (knowledge.default_profile, knowledge.default_reference_set)
    assert stored.content_version == knowledge.content_version == stored.report.content_version
    assert stored.report.follow_up is not None
    assert stored.next_follow_up == date(2026, 7, 1) == stored.report.follow_up.next_follow_up
    assert stored.report.disclaimer == DISCLAIMER
    assert [p.profile for p in stored.report.by_profile] == list(knowledge.profiles)
    assert stored.created_at.tzinfo is UTC and stored.actor == "dr.a" and stored.source == "manual"
    detail = registry.patient("p-001")
    assert detail.assessments == [stored]
    assert set(detail.case.results) == set(low_igm_case(knowledge).results)
    assert (detail.summary.display_name, detail.summary.label, detail.summary.next_follow_up) == (
        "A. Patient",
        "partial_sigmd",
        date(2026, 7, 1),
    )


def test_every_change_is_audited_in_the_same_transaction(registry: Registry, knowledge: Knowledge) -> None:
    """Creating a patient writes patient, results and assessment audit rows with one actor and one timestamp."""
    stored = registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=AS_OF)
    entries = registry.audit(patient_id="p-001")
    assert [e.action for e in entries] == ["assessment.create", "results.add", "patient.create"]
    assert {e.actor for e in entries} == {"dr.a"} and len({e.at for e in entries}) == 1
    assert entries[0].entity_id == str(stored.id) and entries[0].detail["label"] == "partial_sigmd"
    assert len(entries[1].detail["added"]) == 4 and entries[1].detail["duplicates_ignored"] == 0
    assert registry.audit(patient_id="someone-else") == []
    assert len(registry.audit(limit=2)) == 2


def test_a_second_record_appends_new_results_and_ignores_exact_duplicates(
    registry: Registry, knowledge: Knowledge
) -> None:
    """Recording the same results plus a new one stores only the new one and a second assessment."""
    registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=AS_OF)
    again = build_case(
        knowledge,
        ("IgM", 20, "mg/dL", "2025-06-01"),
        ("IgM", 0.18, "g/L", "2025-12-01"),
        ("IgM", 17, "mg/dL", "2026-05-01"),
    )
    second = registry.record(again, patient_id="p-001", actor="dr.b", as_of=date(2026, 6, 1))
    detail = registry.patient("p-001")
    assert len(detail.case.results) == 6
    assert [a.id for a in detail.assessments] == [second.id, second.id - 1]
    added = registry.audit(patient_id="p-001")[1]
    assert (added.action, len(added.detail["added"]), added.detail["duplicates_ignored"]) == ("results.add", 2, 1)


def test_stated_parts_replace_the_stored_ones_and_unstated_parts_are_kept(
    registry: Registry, knowledge: Knowledge
) -> None:
    """New medications replace the stored list; conditions the new case does not mention stay as they were."""
    first = low_igm_case(knowledge, conditions=["asthma"], medications=["salbutamol"], t_cell_defect=False)
    registry.record(first, patient_id="p-001", actor="dr.a", as_of=AS_OF)
    second = build_case(knowledge, ("IgM", 18, "mg/dL", "2025-12-01"), conditions=NOT_GIVEN, medications=["clozapine"])
    stored = registry.record(second, patient_id="p-001", actor="dr.a", as_of=AS_OF)
    case = registry.patient("p-001").case
    assert [c.text for c in case.conditions or ()] == ["asthma"]
    assert [m.text for m in case.medications or ()] == ["clozapine"]
    assert case.t_cell_defect is False
    assert stored.label == "secondary_low_igm"
    update = next(e for e in registry.audit(patient_id="p-001") if e.action == "patient.update")
    assert update.detail["replaced"] == ["medications"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sex": "male"}, "patient.sex: 'male' contradicts the stored sex 'female' of patient 'p-001'"),
        ({"birth_date": "1981-05-01"}, "patient.birth_date: '1981-05-01' contradicts the stored birth date 1980-05-01"),
    ],
)
def test_contradicting_demographics_are_refused_and_nothing_is_stored(
    registry: Registry, knowledge: Knowledge, changes: dict[str, str], message: str
) -> None:
    """A record whose sex or birth date contradicts the stored patient raises and changes nothing."""
    registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=AS_OF)
    before = registry.audit()
    contradicting = build_case(knowledge, ("IgM", 10, "mg/dL", "2025-12-20"), **changes)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match=message):
        registry.record(contradicting, patient_id="p-001", actor="dr.a", as_of=AS_OF)
    assert registry.audit() == before
    assert len(registry.patient("p-001").case.results) == 4


def test_an_exact_birth_date_replaces_an_estimate(registry: Registry, knowledge: Knowledge) -> None:
    """A patient first known by age in years gets the exact birth date when a later record states it."""
    estimated = case_from_dict(
        {
            "patient": {"age_years": 45, "sex": "female"},
            "results": [{"analyte": "IgM", "value": 20, "unit": "mg/dL", "date": "2025-06-01"}],
        },
        knowledge,
    )
    registry.record(estimated, patient_id="p-001", actor="dr.a", as_of=AS_OF)
    assert registry.patient("p-001").case.patient.birth_date_is_estimated
    registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=AS_OF)
    patient = registry.patient("p-001").case.patient
    assert (patient.birth_date, patient.birth_date_is_estimated) == (date(1980, 5, 1), False)


def test_a_case_that_cannot_be_assessed_is_not_stored(registry: Registry, knowledge: Knowledge) -> None:
    """A new patient whose only IgM is after the as-of date raises, and no patient or audit row is left behind."""
    late = build_case(knowledge, ("IgM", 20, "mg/dL", "2026-03-01"))
    with pytest.raises(
        RegistryError, match="patient 'p-001': results: no IgM result on or before the as-of date 2026-01-01"
    ):
        registry.record(late, patient_id="p-001", actor="dr.a", as_of=AS_OF)
    assert registry.list_patients() == [] and registry.audit() == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"profile_id": "nope"}, "profile_id: 'nope' is not a profile"),
        ({"reference_set_id": "nope"}, "reference_set_id: 'nope' is not a reference set"),
        ({"actor": " "}, "actor: ' ' is empty"),
        ({"patient_id": ""}, "patient_id: '' must be 1-200 characters"),
    ],
)
def test_bad_record_arguments_name_the_field_and_value(
    registry: Registry, knowledge: Knowledge, arguments: dict[str, str], message: str
) -> None:
    """An unknown profile or reference set, an empty actor or patient id raise an error naming it."""
    call = {"patient_id": "p-001", "actor": "dr.a", **arguments}
    with pytest.raises(RegistryError, match=message):
        registry.record(low_igm_case(knowledge), as_of=AS_OF, **call)


def test_a_chosen_profile_and_reference_set_are_stored(registry: Registry, knowledge: Knowledge) -> None:
    """The profile and reference set asked for are the ones stored and named in the report."""
    stored = registry.record(
        low_igm_case(knowledge),
        patient_id="p-001",
        actor="dr.a",
        as_of=AS_OF,
        profile_id="esid",
        reference_set_id="exeter_nhs",
    )
    assert (stored.profile_id, stored.reference_set_id) == ("esid", "exeter_nhs")
    assert (stored.report.profile.id, stored.report.reference_set.id) == ("esid", "exeter_nhs")
    summary = registry.list_patients()[0]
    assert (summary.profile_id, summary.reference_set_id) == ("esid", "exeter_nhs")


@pytest.mark.parametrize(
    ("example", "patient_id", "file_format"),
    [
        ("partial-sigmd-persistent.json", "example-partial", "case-json"),
        ("fhir-bundle-low-igm.json", "p1", "fhir-json"),
        ("oru-low-igm.hl7", "SYN100", "hl7v2"),
    ],
)
def test_importing_an_example_file_stores_its_patient(
    registry: Registry, example: str, patient_id: str, file_format: str
) -> None:
    """Case JSON, a FHIR Bundle and an HL7 v2 message each import as one stored, assessed patient."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    [outcome] = registry.import_text(text, actor="dr.a", as_of=date(2026, 11, 1), filename=example)
    assert (outcome.patient_id, outcome.error) == (patient_id, None)
    assert outcome.assessment is not None and outcome.assessment.source == f"import {file_format} {example}"
    entry = registry.audit()[0]
    assert (entry.action, entry.entity_id, entry.detail["stored"], entry.detail["format"]) == (
        "import",
        example,
        [patient_id],
        file_format,
    )


def test_fhir_condition_origins_survive_storage(registry: Registry) -> None:
    """A condition read from a FHIR Condition keeps its resource id as its origin after storage."""
    registry.import_text((EXAMPLES / "fhir-bundle-low-igm.json").read_text(), actor="dr.a", as_of=date(2026, 11, 1))
    stored = registry.patient("p1")
    assert [c.origin for c in stored.case.conditions or ()] == ["Condition/c1"]
    assert stored.assessments[0].report.secondary_causes[0].record.origin == "Condition/c1"


CSV = """patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high
c1,F,1980-05-01,2025-06-01,2472-9,20,mg/dL,,,
c1,F,1980-05-01,2025-12-01,2472-9,0.18,g/L,,0.4,2.3
c2,M,1975-01-01,2025-12-01,2472-9,abc,mg/dL,,,
c3,female,1990-02-02,2025-11-01,2472-9,<5,mg/dL,,,
,F,1990-02-02,2025-11-01,2472-9,30,mg/dL,,,
"""


def test_a_long_format_csv_imports_every_patient_or_says_why_not(registry: Registry) -> None:
    """Each CSV patient is stored or gets an error naming the row, field and value; none is dropped."""
    outcomes = registry.import_text(CSV, actor="dr.a", as_of=AS_OF, filename="labs.csv")
    by_id = {o.patient_id: o for o in outcomes}
    assert list(by_id) == ["c1", "c2", "c3", "(row 6)"]
    assert by_id["c1"].assessment is not None and by_id["c1"].assessment.label == "partial_sigmd"
    assert by_id["c2"].error is not None and by_id["c2"].error.startswith("row 4.value: 'abc' is not a number")
    assert by_id["c3"].error is None
    assert by_id["(row 6)"].error == "row 6.patient_id: '' is empty; the row belongs to no patient"
    assert [p.patient_id for p in registry.list_patients()] == ["c1", "c3"]
    assert registry.audit()[0].detail["not_stored"].keys() == {"c2", "(row 6)"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patient_id,sex\nx,F\n", "CSV header: 'patient_id,sex' lacks the column\\(s\\) birth_date"),
        ("not a case", "\\(file\\): 'not a case' is not FHIR JSON"),
        ('{"patient": {"sex": "female", "birth_date": "1980-01-01"}, "results": []}', "patient.id: None is needed"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(registry: Registry, text: str, message: str) -> None:
    """A file with a bad CSV header, an unknown format, or a case without an id raises and stores nothing."""
    with pytest.raises(RegistryError, match=message):
        registry.import_text(text, actor="dr.a", as_of=AS_OF)
    assert registry.list_patients() == []


def test_the_case_json_export_is_valid_and_reads_back_to_the_stored_case(
    registry: Registry, knowledge: Knowledge
) -> None:
    """The exported case document passes the case schema and reads back into the stored case."""
    registry.import_text((EXAMPLES / "full-workup-adult.json").read_text(), actor="dr.a", as_of=date(2026, 11, 1))
    document = registry.export_case_json("example-full-workup")
    validate_case(document)
    assert document["patient"]["id"] == "example-full-workup"
    assert case_from_dict(document, knowledge) == registry.patient("example-full-workup").case


def test_the_fhir_export_is_a_bundle_about_the_patient(registry: Registry) -> None:
    """The FHIR export of the latest assessment is a Bundle whose RiskAssessment is about Patient/<id>."""
    registry.import_text((EXAMPLES / "oru-low-igm.hl7").read_text(), actor="dr.a", as_of=date(2026, 11, 1))
    bundle = registry.export_fhir("SYN100")
    risk = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RiskAssessment")
    assert (bundle["resourceType"], risk["subject"]["reference"]) == ("Bundle", "Patient/SYN100")


def test_an_unknown_patient_is_an_error(registry: Registry) -> None:
    """Asking for a patient who is not stored raises an error naming the id."""
    for call in (registry.patient, registry.export_case_json, registry.export_fhir):
        with pytest.raises(RegistryError, match="patient_id: 'ghost' is not in the registry"):
            call("ghost")


def test_the_due_list_holds_overdue_and_due_patients_soonest_first(registry: Registry, knowledge: Knowledge) -> None:
    """Patients past their review date are overdue, those within the window are due, later ones are left out."""
    registry.record(
        low_igm_case(knowledge), patient_id="early", actor="dr.a", as_of=date(2026, 1, 1)
    )  # review 2026-07-01
    registry.record(
        low_igm_case(knowledge), patient_id="soon", actor="dr.a", as_of=date(2026, 2, 1)
    )  # review 2026-08-01
    registry.record(
        low_igm_case(knowledge), patient_id="later", actor="dr.a", as_of=date(2026, 6, 1)
    )  # review 2026-12-01
    due = registry.due_for_follow_up(date(2026, 7, 15), within_days=30)
    assert [(d.patient_id, d.days_until, d.status) for d in due] == [("early", -14, "overdue"), ("soon", 17, "due")]
    assert due[0].tests[:3] == ["serum IgM", "serum IgG", "serum IgA"] and due[0].label == "partial_sigmd"
    assert due[0].profile_id == knowledge.default_profile and due[0].reason
    assert [d.patient_id for d in registry.due_for_follow_up(date(2026, 7, 15))] == ["early", "soon"]
    with pytest.raises(RegistryError, match="within_days: -1 is negative"):
        registry.due_for_follow_up(date(2026, 7, 15), within_days=-1)


def test_only_the_latest_plan_counts_for_the_due_list(registry: Registry, knowledge: Knowledge) -> None:
    """A patient reassessed after the first plan's date is due on the new plan's date, not the old one."""
    registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=date(2026, 1, 1))
    registry.record(low_igm_case(knowledge), patient_id="p-001", actor="dr.a", as_of=date(2026, 7, 1))
    assert registry.due_for_follow_up(date(2026, 7, 15), within_days=30) == []
    [entry] = registry.due_for_follow_up(date(2027, 1, 1), within_days=0)
    assert (entry.next_follow_up, entry.status) == (date(2027, 1, 1), "due")


def test_a_normal_patient_has_no_plan_and_is_never_due(registry: Registry, knowledge: Knowledge) -> None:
    """A patient whose latest assessment plans no review is listed without a date and not on the due list."""
    normal = build_case(
        knowledge,
        ("IgM", 120, "mg/dL", "2025-06-01"),
        ("IgG", 1000, "mg/dL", "2025-06-01"),
        ("IgA", 200, "mg/dL", "2025-06-01"),
    )
    stored = registry.record(normal, patient_id="n-1", actor="dr.a", as_of=AS_OF)
    assert (stored.label, stored.next_follow_up) == ("normal", None)
    assert registry.due_for_follow_up(date(2030, 1, 1), within_days=365) == []
    assert registry.list_patients()[0].next_follow_up is None


def test_threads_recording_at_once_lose_nothing(registry: Registry, knowledge: Knowledge) -> None:
    """Eight threads recording (two per patient) all succeed; duplicates are merged, every assessment is kept."""
    case = low_igm_case(knowledge)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            registry.record(case, patient_id=f"t-{number % 4}", actor=f"thread-{number}", as_of=AS_OF)
            registry.list_patients()
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    patients = registry.list_patients()
    assert [p.patient_id for p in patients] == ["t-0", "t-1", "t-2", "t-3"]
    assert all(len(registry.patient(p.patient_id).case.results) == 4 for p in patients)
    assessments = sum(len(registry.patient(p.patient_id).assessments) for p in patients)
    assert assessments == 8
    assert len([e for e in registry.audit(limit=1000) if e.action == "assessment.create"]) == assessments


def test_a_stored_report_that_is_not_machine_output_is_refused_naming_the_assessment(
    registry: Registry, knowledge: Knowledge, database_url: str
) -> None:
    """A stored report that does not read as output version 1 is an error naming the assessment and the key."""
    from sqlalchemy import create_engine, update

    from sigmd.registry.models import Assessment as AssessmentRow

    stored = registry.record(low_igm_case(knowledge), patient_id="p-1", actor="clin", as_of=AS_OF)
    damaged = stored.report.to_json()
    del damaged["diagnosis"]["summary"]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(update(AssessmentRow).where(AssessmentRow.id == stored.id).values(report=damaged))
    engine.dispose()
    message = f"assessment {stored.id}: the stored report cannot be read \\(report.diagnosis.summary: is missing\\)"
    with pytest.raises(RegistryError, match=message):
        registry.patient("p-1")
