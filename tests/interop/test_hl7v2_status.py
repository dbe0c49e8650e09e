"""HL7 v2 result status (OBX-11, table 0085): corrections replace, withdrawals remove, unfinished results wait."""

from __future__ import annotations

from datetime import date

import pytest

from sigmd.adapters.hl7v2 import load_hl7v2
from sigmd.core.model import Analyte, InputNoteKind

HEADER = "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|{id}|P|2.5.1"
PID = "PID|1||P100^^^HOSP^MR||Synthetic^Ann||19800501|F"


def message(number: int, *obx: str, obr_time: str = "20240110083000") -> str:
    """One synthetic ORU^R01 for patient P100 with the given OBX segments."""
    return "\r".join([HEADER.format(id=f"MSG{number}"), PID, f"OBR|1||ORD{number}|IG^Ig^L|||{obr_time}", *obx])


def igm(set_id: int, value: str, status: str, when: str = "202401100830") -> str:
    return f"OBX|{set_id}|NM|2472-9^IgM^LN||{value}|mg/dL|40-230||||{status}|||{when}"


def igm_values(text: str, knowledge) -> list[tuple[date, float]]:
    case = load_hl7v2(text, knowledge)[0].require()
    return [(r.collected, r.quantity.value) for r in case.results if r.analyte is Analyte.IGM]


def notes_of(text: str, knowledge) -> dict[str, tuple[InputNoteKind, str]]:
    case = load_hl7v2(text, knowledge)[0].require()
    return {note.origin: (note.kind, note.reason) for note in case.input_notes}


def test_a_corrected_igm_replaces_the_earlier_value_for_the_same_collection_time(knowledge):
    """A corrected IgM (OBX-11 C) replaces the earlier value for the same collection time, and says so."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, igm(1, "80", "C"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 80.0)]
    kind, reason = notes_of(batch, knowledge)["message 1 OBX 1"]
    assert kind is InputNoteKind.REPLACED and "message 2 OBX 1" in reason and "18" in reason and "80" in reason


def test_a_corrected_result_at_another_collection_time_is_a_new_result(knowledge):
    """A C result at another collection time is a new result: the earlier one stands beside it."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, igm(1, "80", "C", when="202402010900"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 18.0), (date(2024, 2, 1), 80.0)]
    assert "message 1 OBX 1" not in notes_of(batch, knowledge)


def test_a_correction_at_the_same_day_but_another_hour_is_a_new_result(knowledge):
    """Two draws on one day are two results: a correction of the 15:00 draw leaves the 08:30 one."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, igm(1, "80", "C", when="202401101500"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 18.0), (date(2024, 1, 10), 80.0)]


def test_a_correction_dated_to_the_day_matches_a_result_timed_that_day(knowledge):
    """A correction timed only to the day (OBR-7 20240110) replaces the 08:30 result of that day."""
    correction = message(2, "OBX|1|NM|2472-9^IgM^LN||80|mg/dL|||||C", obr_time="20240110")
    batch = "\r".join([message(1, igm(1, "18", "F")), correction])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 80.0)]


def test_a_correction_of_igm_does_not_touch_igg_of_the_same_draw(knowledge):
    """A corrected IgM replaces the IgM only; the IgG of the same collection time stands."""
    igg = "OBX|2|NM|2465-3^IgG^LN||1020|mg/dL|||||F|||202401100830"
    batch = "\r".join([message(1, igm(1, "18", "F"), igg), message(2, igm(1, "80", "C"))])
    case = load_hl7v2(batch, knowledge)[0].require()
    assert sorted((r.analyte.value, r.quantity.value) for r in case.results) == [("IgG", 1020.0), ("IgM", 80.0)]


def test_a_final_result_sent_after_its_correction_does_not_undo_it(knowledge):
    """An F that arrives after the C of the same result is listed as replaced; the correction stands."""
    batch = "\r".join([message(1, igm(1, "80", "C")), message(2, igm(1, "18", "F"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 80.0)]
    assert notes_of(batch, knowledge)["message 2 OBX 1"][0] is InputNoteKind.REPLACED


@pytest.mark.parametrize("status", ["D", "W"])
def test_a_deleted_or_wrong_result_removes_the_earlier_value(knowledge, status):
    """D (deleted) and W (posted as wrong) remove the earlier IgM of that collection time; both are listed."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, f"OBX|1|NM|2472-9^IgM^LN||||||||{status}")])
    assert igm_values(batch, knowledge) == []
    notes = notes_of(batch, knowledge)
    assert notes["message 1 OBX 1"][0] is InputNoteKind.IGNORED and "message 2 OBX 1" in notes["message 1 OBX 1"][1]
    assert notes["message 2 OBX 1"][0] is InputNoteKind.IGNORED and "removed 1" in notes["message 2 OBX 1"][1]


def test_a_withdrawal_at_another_collection_time_leaves_the_result(knowledge):
    """A W for the February draw does not remove the January IgM."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, igm(1, "18", "W", when="20240201"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 18.0)]
    assert "no earlier result matched" in notes_of(batch, knowledge)["message 2 OBX 1"][1]


def test_a_result_sent_again_after_its_withdrawal_is_used(knowledge):
    """After a W, a new final result for the same draw (the right value) is used."""
    batch = "\r".join([message(1, igm(1, "18", "F")), message(2, igm(1, "18", "W")), message(3, igm(1, "75", "F"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 75.0)]


def test_a_withdrawal_without_collection_time_refuses_the_patient(knowledge):
    """A W with no OBX-14 and no OBR-7 cannot be placed, so the patient is refused rather than keep a wrong value."""
    withdrawal = message(2, "OBX|1|NM|2472-9^IgM^LN||||||||W", obr_time="")
    [loaded] = load_hl7v2("\r".join([message(1, igm(1, "18", "F")), withdrawal]), knowledge)
    assert loaded.case is None and loaded.error is not None and loaded.error.field == "message 2 OBX 1 OBX-14"


@pytest.mark.parametrize(("status", "meaning"), [("P", "preliminary"), ("R", "not verified"), ("S", "partial")])
def test_a_result_that_is_not_final_is_not_used(knowledge, status, meaning):
    """A preliminary, unverified or partial IgM is not used: the laboratory may still change it."""
    text = message(1, igm(1, "18", status))
    assert igm_values(text, knowledge) == []
    kind, reason = notes_of(text, knowledge)["message 1 OBX 1"]
    assert kind is InputNoteKind.SKIPPED and meaning in reason and "final (F)" in reason


@pytest.mark.parametrize("status", ["F", "U", "V", "B"])
def test_final_statuses_are_used(knowledge, status):
    """F, U (changed to final), V (verified) and B (appended, values unchanged) are final results and used."""
    text = message(1, igm(1, "18", status))
    assert igm_values(text, knowledge) == [(date(2024, 1, 10), 18.0)]
    assert notes_of(text, knowledge) == {}


@pytest.mark.parametrize("status", ["I", "O", "N", "X", "", "Q"])
def test_pending_empty_and_unknown_statuses_are_not_used(knowledge, status):
    """Pending, order-only, not-asked, cannot-be-obtained, empty and unknown statuses give no result, with a note."""
    text = message(1, igm(1, "18", status))
    assert igm_values(text, knowledge) == []
    assert notes_of(text, knowledge)["message 1 OBX 1"][0] is InputNoteKind.SKIPPED


def test_preliminary_then_final_keeps_the_final_value(knowledge):
    """A preliminary 18 followed by the final 22 of the same draw gives one result: 22."""
    batch = "\r".join([message(1, igm(1, "18", "P")), message(2, igm(1, "22", "F"))])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 22.0)]


def test_corrections_apply_within_one_patient_only(knowledge):
    """A correction for patient P200 does not replace P100's result of the same time."""
    other = message(2, igm(1, "80", "C")).replace("P100", "P200")
    loaded = load_hl7v2("\r".join([message(1, igm(1, "18", "F")), other]), knowledge)
    values = {item.patient_key: [r.quantity.value for r in item.require().results] for item in loaded}
    assert values == {"P100": [18.0], "P200": [80.0]}


def test_a_preliminary_result_made_final_by_u_without_a_value_is_used(knowledge):
    """OBX-11 U without a value (HL7: final, not sent again) makes the earlier preliminary IgM of that draw final."""
    batch = "\r".join([message(1, igm(1, "18", "P")), message(2, "OBX|1|NM|2472-9^IgM^LN||||||||U|||202401100830")])
    assert igm_values(batch, knowledge) == [(date(2024, 1, 10), 18.0)]
    assert notes_of(batch, knowledge) == {}


def test_u_without_a_value_and_no_preliminary_result_is_skipped(knowledge):
    """A U without a value for a draw whose preliminary result is not in the input gives no result, with a note."""
    text = message(1, "OBX|1|NM|2472-9^IgM^LN||||||||U|||202401100830")
    assert igm_values(text, knowledge) == []
    kind, reason = notes_of(text, knowledge)["message 1 OBX 1"]
    assert kind is InputNoteKind.SKIPPED and "no preliminary result" in reason


def test_an_unusable_preliminary_result_refuses_no_one_but_a_final_one_does(knowledge):
    """A preliminary IgM in an unknown unit is skipped; the same IgM as final refuses the patient, naming the unit."""
    preliminary = message(1, "OBX|1|NM|2472-9^IgM^LN||18|furlongs|||||P|||202401100830")
    assert igm_values(preliminary, knowledge) == []
    [loaded] = load_hl7v2(preliminary.replace("|||||P|||", "|||||F|||"), knowledge)
    assert loaded.error is not None and loaded.error.value == "furlongs"


def test_when_no_igm_can_be_used_the_refusal_names_each_obx_set_aside(knowledge):
    """With only a preliminary IgM and a bare-coded IgM, the core's refusal lists both OBX and why; a final IgM
    beside them is assessed."""
    from sigmd.core.assessment import AssessmentError, assess

    set_aside = [igm(1, "18", "P"), "OBX|2|NM|2472-9||20|mg/dL|||||F|||202401100830"]
    case = load_hl7v2(message(1, *set_aside), knowledge)[0].require()
    with pytest.raises(AssessmentError) as refusal:
        assess(case, knowledge, as_of=date(2025, 1, 1))
    assert "message 1 OBX 1" in str(refusal.value) and "preliminary" in str(refusal.value)
    assert "message 1 OBX 2" in str(refusal.value) and "no coding system" in str(refusal.value)
    usable = load_hl7v2(message(1, *set_aside, igm(3, "18", "F")), knowledge)[0].require()
    assessed = assess(usable, knowledge, as_of=date(2025, 1, 1))
    assert [i.result.origin.split(" (")[0] for i in assessed.interpretations] == ["message 1 OBX 3"]
    assert any("message 1 OBX 1 was skipped" in w for w in assessed.warnings)
