"""FHIR Observation status and corrections: what is used, what replaces what, and why the rest was set aside."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from sigmd.adapters.fhir import load_fhir_json, load_fhir_ndjson, observation_status_use
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case, InputNoteKind

from .conftest import bundle, observation, patient


def _case(knowledge: Knowledge, *resources: dict[str, Any]) -> Case:
    [loaded] = load_fhir_json(json.dumps(bundle(patient("p1"), *resources)), knowledge)
    return loaded.require()


def _igm(obs_id: str, value: float, when: str = "2024-03-01T09:30:00Z", status: str = "final", **extra: Any) -> dict:
    resource = observation(obs_id, "2472-9", value, "mg/dL", when, **extra)
    resource["status"] = status
    return resource


def _notes(case: Case) -> dict[str, tuple[InputNoteKind, str]]:
    return {note.origin: (note.kind, note.reason) for note in case.input_notes}


def _values(case: Case) -> list[tuple[str, float]]:
    return [(r.origin, r.quantity.value) for r in case.results]


@pytest.mark.parametrize("status", ["amended", "corrected"])
def test_an_amended_igm_replaces_the_earlier_igm_of_the_same_time(knowledge: Knowledge, status: str) -> None:
    """An amended or corrected IgM replaces the final IgM of the same analyte and effective time."""
    case = _case(knowledge, _igm("first", 15), _igm("fix", 45, status=status))
    assert _values(case) == [("Observation/fix", 45.0)]
    kind, reason = _notes(case)["Observation/first"]
    assert kind is InputNoteKind.REPLACED and "Observation/fix" in reason and status in reason


def test_an_amended_igm_at_another_time_is_a_separate_result(knowledge: Knowledge) -> None:
    """An amended IgM collected at another time does not replace anything: both results are used."""
    case = _case(knowledge, _igm("first", 15), _igm("fix", 45, when="2024-03-01T11:00:00Z", status="amended"))
    assert sorted(_values(case)) == [("Observation/first", 15.0), ("Observation/fix", 45.0)]
    assert case.input_notes == ()


def test_a_correction_before_the_original_in_the_input_still_replaces_it(knowledge: Knowledge) -> None:
    """Input order does not matter: a corrected IgM listed first still replaces the final one of the same time."""
    case = _case(knowledge, _igm("fix", 45, status="corrected"), _igm("first", 15))
    assert _values(case) == [("Observation/fix", 45.0)]


def test_a_correction_replaces_the_copy_with_the_same_id(knowledge: Knowledge) -> None:
    """Two versions of one Observation id: the amended one is used even when its time was also corrected."""
    case = _case(knowledge, _igm("x", 15), _igm("x", 45, when="2024-03-02", status="amended"))
    assert _values(case) == [("Observation/x", 45.0)]
    assert _notes(case)["Observation/x"][0] is InputNoteKind.REPLACED


def test_an_igm_of_another_analyte_at_the_same_time_is_not_replaced(knowledge: Knowledge) -> None:
    """An amended IgM does not replace an IgG taken at the same time."""
    igg = observation("igg", "2465-3", 900, "mg/dL", "2024-03-01T09:30:00Z")
    case = _case(knowledge, igg, _igm("fix", 45, status="amended"))
    assert sorted(_values(case)) == [("Observation/fix", 45.0), ("Observation/igg", 900.0)]


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_an_entered_in_error_igm_is_not_used_and_is_listed_as_ignored(knowledge: Knowledge, status: str) -> None:
    """An IgM withdrawn by its source is not a result and is listed as ignored with its status."""
    case = _case(knowledge, _igm("keep", 30, when="2024-01-01"), _igm("gone", 5, status=status))
    assert _values(case) == [("Observation/keep", 30.0)]
    kind, reason = _notes(case)["Observation/gone"]
    assert kind is InputNoteKind.IGNORED and status in reason


def test_a_withdrawn_copy_withdraws_every_copy_of_that_id(knowledge: Knowledge) -> None:
    """A final IgM whose other copy (same id) is entered-in-error is not used either: sigmd cannot trust it."""
    case = _case(knowledge, _igm("keep", 30, when="2024-01-01"), _igm("x", 5), _igm("x", 5, status="entered-in-error"))
    assert _values(case) == [("Observation/keep", 30.0)]
    assert [n.kind for n in case.input_notes if n.origin == "Observation/x"] == [
        InputNoteKind.IGNORED,
        InputNoteKind.IGNORED,
    ]


@pytest.mark.parametrize("status", ["preliminary", "registered", "unknown"])
def test_an_igm_not_released_as_final_is_skipped(knowledge: Knowledge, status: str) -> None:
    """Preliminary, registered and unknown IgM results are not used (they may change) and are listed as skipped."""
    case = _case(knowledge, _igm("keep", 30, when="2024-01-01"), _igm("early", 5, status=status))
    assert _values(case) == [("Observation/keep", 30.0)]
    kind, reason = _notes(case)["Observation/early"]
    assert kind is InputNoteKind.SKIPPED and status in reason


def test_the_status_rule_is_one_exported_table() -> None:
    """final, amended and corrected are used (the last two as corrections); everything else is not."""
    used = {
        s for s in ("final", "amended", "corrected", "preliminary", "unknown", "x") if observation_status_use(s).used
    }
    assert used == {"final", "amended", "corrected"}
    assert observation_status_use("amended").corrects and not observation_status_use("final").corrects
    assert observation_status_use("cancelled").note is InputNoteKind.IGNORED
    assert observation_status_use(None).note is InputNoteKind.SKIPPED


def test_two_differing_copies_of_one_id_refuse_the_patient(knowledge: Knowledge) -> None:
    """Two final versions of one IgM id with different values: the patient is refused, naming the Observation."""
    [loaded] = load_fhir_json(json.dumps(bundle(patient("p1"), _igm("x", 15), _igm("x", 45))), knowledge)
    assert loaded.error is not None and loaded.error.field == "Observation/x"


def test_an_identical_second_copy_is_skipped_not_counted_twice(knowledge: Knowledge) -> None:
    """The same IgM twice (same id, value and time) is one result; the copy is listed as skipped."""
    case = _case(knowledge, _igm("x", 15), _igm("x", 15))
    assert _values(case) == [("Observation/x", 15.0)]
    assert _notes(case)["Observation/x"][0] is InputNoteKind.SKIPPED


def test_a_correction_of_an_unreadable_result_lets_the_patient_be_read(knowledge: Knowledge) -> None:
    """A final IgM with a unit sigmd cannot read, corrected by an amended IgM, does not reject the patient."""
    bad = observation("x", "2472-9", 15, "mmol/L", "2024-03-01T09:30:00Z")
    case = _case(knowledge, bad, _igm("x", 45, status="amended"))
    assert _values(case) == [("Observation/x", 45.0)]
    assert "could not be read either" in _notes(case)["Observation/x"][1]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda o: o["code"]["coding"][0].pop("system"), "code 2472-9 (IgM) without the LOINC system"),
        (lambda o: o["code"]["coding"][0].update(system="http://snomed.info/sct"), "without the LOINC system"),
        (lambda o: (o.pop("effectiveDateTime"), o.update(issued="2024-03-02T10:00:00Z")), "only issued"),
        (lambda o: o.pop("effectiveDateTime"), "no collection time"),
        (lambda o: o.update(effectiveDateTime="2024-03"), "partial date"),
        (
            lambda o: o.update(component=[{"code": o["code"], "valueQuantity": o.pop("valueQuantity")}]),
            "only in component",
        ),
        (lambda o: (o.pop("valueQuantity"), o.update(valueString="low")), "valueString instead of valueQuantity"),
        (lambda o: o.update(code={"coding": [{"system": "http://loinc.org", "code": "15074-8"}]}), "not an immuno"),
    ],
)
def test_an_observation_that_cannot_be_used_keeps_its_reason(knowledge: Knowledge, edit: Any, reason: str) -> None:
    """Each way an IgM Observation can be unusable is listed as skipped with that reason, not as a result."""
    obs = _igm("odd", 15)
    edit(obs)
    case = _case(knowledge, _igm("keep", 30, when="2024-01-01"), obs)
    assert _values(case) == [("Observation/keep", 30.0)]
    kind, text = _notes(case)["Observation/odd"]
    assert kind is InputNoteKind.SKIPPED and reason in text


def test_a_usable_igm_is_not_listed_as_skipped(knowledge: Knowledge) -> None:
    """A final IgM with LOINC code, valueQuantity and effectiveDateTime is a result, with no input note."""
    case = _case(knowledge, _igm("ok", 30))
    assert _values(case) == [("Observation/ok", 30.0)] and case.input_notes == ()


def test_no_usable_igm_error_says_which_observations_were_set_aside(knowledge: Knowledge) -> None:
    """When no IgM is left, the error names each IgM Observation skipped and why, so the user can fix the input."""
    obs = _igm("nosys", 15)
    obs["code"]["coding"][0].pop("system")
    case = _case(knowledge, obs, _igm("gone", 5, status="entered-in-error"))
    with pytest.raises(AssessmentError) as caught:
        assess(case, knowledge, as_of=date(2025, 1, 1))
    message = str(caught.value)
    assert "no IgM result" in message
    assert "Observation/nosys skipped (code 2472-9 (IgM) without the LOINC system" in message
    assert "Observation/gone ignored" in message


def test_an_assessable_case_has_no_set_aside_summary_in_an_error(knowledge: Knowledge) -> None:
    """With a usable IgM, skipped Observations only appear as warnings of the assessment."""
    obs = _igm("nosys", 15)
    obs["code"]["coding"][0].pop("system")
    case = _case(knowledge, obs, _igm("ok", 30, when="2024-01-01"))
    result = assess(case, knowledge, as_of=date(2025, 1, 1))
    assert any(w.startswith("Observation/nosys was skipped") for w in result.warnings)


def test_ndjson_applies_the_same_status_rule(knowledge: Knowledge) -> None:
    """An amended IgM in NDJSON replaces the final IgM of the same time, as in a Bundle."""
    text = "\n".join(json.dumps(r) for r in (patient("p1"), _igm("a", 15), _igm("b", 45, status="amended")))
    [loaded] = load_fhir_ndjson(text, knowledge)
    assert _values(loaded.require()) == [("Observation/b", 45.0)]


def test_an_observation_with_a_null_code_is_skipped_with_the_reason(knowledge: Knowledge) -> None:
    """`"code": null` (accepted by the FHIR models) is listed as skipped, not an error inside the reader."""
    obs = _igm("nocode", 15)
    obs["code"] = None
    case = _case(knowledge, _igm("keep", 30, when="2024-01-01"), obs)
    assert _notes(case)["Observation/nocode"] == (
        InputNoteKind.SKIPPED,
        "it has no code, so sigmd cannot tell what was measured",
    )
