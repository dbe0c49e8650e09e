"""HL7 v2 reader at every door: legal shapes read, bad messages refused on their own, limits and decoding."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest

from sigmd.adapters import hl7v2
from sigmd.adapters.hl7v2 import load_hl7v2, read_code_map
from sigmd.core.model import Analyte, InputNoteKind
from sigmd.errors import InputError

HEADER = "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|MSG{n}|P|2.5.1"


def message(n: int = 1, obx: str = "OBX|1|NM|2472-9^IgM^LN||18|mg/dL|40-230|L|||F", patient: str = "P100") -> str:
    """One synthetic ORU^R01 with one OBX, collected 2024-01-10 (OBR-7)."""
    return "\r".join(
        [
            HEADER.format(n=n),
            f"PID|1||{patient}^^^HOSP^MR||Synthetic^Ann||19800501|F",
            "OBR|1||ORD1|IG^Ig^L|||20240110083000",
            obx,
        ]
    )


def only_case(text: str | bytes, knowledge):
    [loaded] = load_hl7v2(text, knowledge)
    return loaded.require()


def skip_reason(text: str, knowledge) -> str:
    case = only_case(text, knowledge)
    assert case.results == ()
    [note] = case.input_notes
    assert note.kind is InputNoteKind.SKIPPED
    return note.reason


def test_a_bare_obx_3_code_is_skipped_for_want_of_a_coding_system(knowledge):
    """OBX-3 `2472-9` with no components is not read as LOINC: the note says the coding system is missing."""
    reason = skip_reason(message(obx="OBX|1|NM|2472-9||18|mg/dL|||||F"), knowledge)
    assert "no coding system" in reason and "2472-9" in reason


def test_a_loinc_code_under_a_local_coding_system_is_skipped(knowledge):
    """2472-9 marked as a local code (`^L`) is skipped with its coding system named; marked LN it is used."""
    reason = skip_reason(message(obx="OBX|1|NM|2472-9^IgM^L||18|mg/dL|||||F"), knowledge)
    assert "coding system 'L'" in reason
    assert len(only_case(message(), knowledge).results) == 1


def test_a_code_that_is_not_an_immunoglobulin_is_skipped_with_its_code(knowledge):
    """A glucose OBX is listed as not an immunoglobulin code, with the code as written."""
    reason = skip_reason(message(obx="OBX|1|NM|15074-8^Glucose^LN||6.3|mmol/L|||||F"), knowledge)
    assert "15074-8^LN" in reason and "not an immunoglobulin code" in reason


def test_an_igm_without_collection_time_is_skipped(knowledge):
    """An IgM with neither OBX-14 nor OBR-7 is skipped, saying it has no collection time."""
    text = message().replace("|||20240110083000", "|||")
    assert "no collection time" in skip_reason(text, knowledge)


def test_msh_9_without_a_trigger_event_is_read_with_a_warning(knowledge):
    """MSH-9 `ORU` (no trigger event) is read, and a warning names the message type."""
    case = only_case(message().replace("ORU^R01", "ORU"), knowledge)
    assert len(case.results) == 1 and any("is ORU^, not ORU^R01" in w for w in case.warnings)
    assert not any("not ORU^R01" in w for w in only_case(message(), knowledge).warnings)


@pytest.mark.parametrize(
    ("value", "expected"), [("18", (18.0, "=")), ("<^5", (5.0, "<")), ("^22", (22.0, "=")), (">=^300", (300.0, ">="))]
)
def test_structured_numeric_values_are_read(knowledge, value, expected):
    """SN values with and without components (`18`, `<^5`, `^22`) are read as one number."""
    case = only_case(message(obx=f"OBX|1|SN|2472-9^IgM^LN||{value}|mg/dL|||||F"), knowledge)
    assert [(r.quantity.value, r.quantity.comparator.value) for r in case.results] == [expected]


@pytest.mark.parametrize(
    ("value", "words"), [("^10^-^20", "range or ratio"), ("<>^5", "comparator '<>'"), ("18~19", "repetitions")]
)
def test_structured_values_that_are_not_one_number_are_skipped(knowledge, value, words):
    """An SN range, a not-equal comparator and repeated values are not one number: skipped with the reason."""
    assert words in skip_reason(message(obx=f"OBX|1|SN|2472-9^IgM^LN||{value}|mg/dL|||||F"), knowledge)


@pytest.mark.parametrize("value", ["-18", "18 mg/dL", "eighteen"])
def test_a_value_that_is_no_non_negative_number_is_skipped_saying_so(knowledge, value):
    """A negative number, a number with its unit and a word are skipped in the core's words for a value."""
    reason = skip_reason(message(obx=f"OBX|1|NM|2472-9^IgM^LN||{value}|mg/dL|||||F"), knowledge)
    assert f"its value {value!r} (NM) is not a non-negative number" in reason


def test_a_value_too_long_for_a_number_is_skipped_quickly(knowledge):
    """A 90,000-digit OBX-5 is skipped as too long, in well under a second (no regular-expression blow-up)."""
    text = message(obx=f"OBX|1|NM|2472-9^IgM^LN||{'1' * 90_000}x|mg/dL|{'2' * 5_000}x||||F")
    start = time.perf_counter()
    reason = skip_reason(text, knowledge)
    assert "too long" in reason and time.perf_counter() - start < 1.0


def test_a_value_that_overflows_after_conversion_refuses_the_patient(knowledge):
    """1e308 g/L is infinite in mg/dL: the patient is refused, naming the value; 1e3 g/L is read."""
    [loaded] = load_hl7v2(message(obx="OBX|1|NM|2472-9^IgM^LN||1e308|g/L|||||F"), knowledge)
    assert loaded.case is None and loaded.error is not None and loaded.error.value == "1e308"
    assert only_case(message(obx="OBX|1|NM|2472-9^IgM^LN||1e3|g/L|||||F"), knowledge).results[0].quantity.value == 1e5


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [("19800501", "00010101", "message 1 PID-7"), ("20240110083000", "99991231", "message 1 OBX 1.date")],
)
def test_dates_near_year_1_or_9999_refuse_the_patient(knowledge, old, new, field):
    """A birth date in year 1 or a collection date in year 9999 refuses the patient, naming the field."""
    [loaded] = load_hl7v2(message().replace(old, new), knowledge)
    assert loaded.error is not None and loaded.error.field == field
    assert load_hl7v2(message(), knowledge)[0].error is None


def test_bare_carriage_returns_and_blank_lines_between_segments_are_ignored(knowledge):
    """Empty segments (bare CR, blank lines) do not change what is read; a lone CR holds no message."""
    assert only_case(message().replace("\r", "\r\r\n\r"), knowledge).results == only_case(message(), knowledge).results
    with pytest.raises(InputError, match="no HL7 v2 message"):
        load_hl7v2("\r", knowledge)


def test_one_unparsable_message_refuses_its_patient_and_the_batch_goes_on(knowledge):
    """A message whose MSH is cut short is refused for the patient in its PID-3; the other patient is read."""
    broken = "MSH\rPID|1||P200^^^HOSP^MR||Synthetic^Bo||19900101|M"
    loaded = load_hl7v2("\r".join([message(1), broken]), knowledge)
    by_key = {item.patient_key: item for item in loaded}
    assert by_key["P100"].case is not None and by_key["P200"].case is None
    assert by_key["P200"].error is not None and by_key["P200"].error.field == "message 2"


def test_an_unreadable_message_of_a_known_patient_refuses_that_patient(knowledge):
    """A patient's second message that cannot be parsed refuses the patient: no verdict from part of the data."""
    loaded = load_hl7v2("\r".join([message(1), "MSH\rPID|1||P100"]), knowledge)
    assert [(item.patient_key, item.case) for item in loaded] == [("P100", None)]


def test_whatever_the_reader_raises_becomes_an_input_error_naming_the_field(knowledge, monkeypatch):
    """An unexpected exception inside the reading of an OBX refuses that patient with an InputError, not a crash."""

    def explode(self, obx, place, obr_time, part):
        self.get(obx, "message 1 OBX 1", 5)
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(hl7v2._MessageReader, "_obx", explode)
    loaded = load_hl7v2("\r".join([message(1), message(2, patient="P200")]), knowledge)
    assert all(isinstance(item.error, InputError) for item in loaded)
    assert loaded[0].error is not None and loaded[0].error.field == "message 1 OBX 1 OBX-5"
    assert "ZeroDivisionError" in loaded[0].error.problem


def test_segments_before_the_first_msh_are_refused_on_their_own(knowledge):
    """An OBX before any MSH is refused as its own entry; the message after it is read."""
    loaded = load_hl7v2("OBX|1|NM|2472-9^IgM^LN||18\r" + message(), knowledge)
    assert [item.patient_key for item in loaded] == ["message 0", "P100"]
    assert loaded[0].case is None and loaded[1].case is not None


def test_an_obx_before_any_pid_is_refused(knowledge):
    """An OBX that comes before the PID of its message cannot be given to a patient: the message is refused."""
    text = "\r".join([HEADER.format(n=1), "OBX|1|NM|2472-9^IgM^LN||18|mg/dL|||||F", message().split("\r", 1)[1]])
    [loaded] = load_hl7v2(text, knowledge)
    assert loaded.case is None and loaded.error is not None and "before any PID" in loaded.error.problem


def test_each_obx_belongs_to_the_pid_before_it(knowledge):
    """A message with two patients gives each the results that follow their own PID."""
    second = "\r".join(message(patient="P200").split("\r")[1:]).replace("||18|", "||55|")
    loaded = load_hl7v2(message() + "\r" + second, knowledge)
    assert {item.patient_key: [r.quantity.value for r in item.require().results] for item in loaded} == {
        "P100": [18.0],
        "P200": [55.0],
    }


def test_non_utf8_bytes_refuse_their_message_naming_the_byte_position(knowledge):
    """A Latin-1 byte in message 2 refuses that message (its position named); message 1 is read."""
    data = (message(1) + "\r" + message(2, patient="P200").replace("Ann", "Ren\xe9e")).encode("latin-1")
    loaded = {item.patient_key: item for item in load_hl7v2(data, knowledge)}
    assert loaded["P100"].case is not None
    error, position = loaded["P200"].error, data.index(b"\xe9")
    assert error is not None and error.field == f"message 2 byte {position}" and error.value == "0xe9"


def test_latin1_bytes_are_read_when_msh_18_declares_8859_1(knowledge):
    """The same Latin-1 bytes are read when MSH-18 declares 8859/1; UTF-8 bytes read like text."""
    declared = message().replace("|P|2.5.1", "|P|2.5.1||||||8859/1").replace("Ann", "Ren\xe9e")
    assert len(only_case(declared.encode("latin-1"), knowledge).results) == 1
    assert only_case(message().encode("utf-8"), knowledge).results == only_case(message(), knowledge).results


def test_a_message_over_the_length_limit_is_refused_on_its_own(knowledge, monkeypatch):
    """A message longer than MAX_MESSAGE_CHARS is refused; a shorter one in the same batch is read."""
    monkeypatch.setattr(hl7v2, "MAX_MESSAGE_CHARS", len(message()) + 10)
    long_one = message(2, patient="P200") + "\rNTE|1||" + "x" * 100
    loaded = {item.patient_key: item for item in load_hl7v2(message() + "\r" + long_one, knowledge)}
    assert loaded["P100"].case is not None
    assert loaded["P200"].error is not None and "longer than" in loaded["P200"].error.problem


def test_an_input_over_the_message_count_limit_is_refused(knowledge, monkeypatch):
    """More than MAX_MESSAGES messages refuse the input with the count; exactly the limit is read."""
    monkeypatch.setattr(hl7v2, "MAX_MESSAGES", 3)
    assert len(load_hl7v2("\r".join(message(n) for n in range(3)), knowledge)) == 1
    with pytest.raises(InputError, match="more than 3 messages"):
        load_hl7v2("\r".join(message(n) for n in range(4)), knowledge)


def test_escape_sequences_are_decoded_without_logging_or_expanding(knowledge, caplog):
    """`\\F\\` in a unit is decoded; an unknown or oversized escape (`\\.sp999999999\\`) in a unit is dropped
    and nothing is logged (the hl7 library would log the field's text). In OBX-5 such an escape makes the value
    text, not a number (tests/interop/test_hl7v2_identity.py)."""
    caplog.set_level(logging.DEBUG)
    text = message(obx="OBX|1|NM|2472-9^IgM^LN||18|mg/dL\\.sp999999999\\\\Zzz\\|||||F")
    case = only_case(text, knowledge)
    assert [r.quantity.value for r in case.results] == [18.0] and caplog.records == []
    assert hl7v2._unescape(_Separators(), "a\\F\\b\\S\\c\\X41\\\\E\\") == "a|b^cA\\"


class _Separators:
    esc = "\\"
    separators = "\r|~^&"


def test_a_code_map_row_without_an_analyte_is_refused(knowledge):
    """A code map line missing its analyte is an InputError naming the line; a full row maps the code."""
    with pytest.raises(InputError, match="line 2"):
        read_code_map("code,analyte\nIGMLOC\n", knowledge)
    assert read_code_map("code,analyte\nIGMLOC,IgM\n", knowledge) == {"IGMLOC": Analyte.IGM}


def test_the_valid_message_is_read_in_full(knowledge):
    """The control message of this file gives one IgM of 18 mg/dL on 2024-01-10 and no notes."""
    case = only_case(message(), knowledge)
    assert [(r.collected, r.quantity.value) for r in case.results] == [(date(2024, 1, 10), 18.0)]
    assert case.input_notes == ()


def test_text_with_a_lone_surrogate_is_refused_naming_the_character(knowledge):
    """Text holding a lone surrogate (bytes decoded loosely by a caller) refuses that message; clean text is read."""
    loaded = load_hl7v2(message().replace("Ann", "An\udcffn") + "\r" + message(2, patient="P200"), knowledge)
    by_key = {item.patient_key: item for item in loaded}
    error = by_key["P100"].error
    assert error is not None and error.value == "U+DCFF" and error.field.startswith("message 1 character ")
    assert by_key["P200"].case is not None


def test_a_character_set_sigmd_does_not_decode_is_refused_when_it_matters(knowledge):
    """MSH-18 8859/2 with a non-ASCII byte is refused naming MSH-18's charset; the same message in ASCII is read."""
    declared = message().replace("|P|2.5.1", "|P|2.5.1||||||8859/2")
    [loaded] = load_hl7v2(declared.replace("Ann", "An\xf1").encode("latin-1"), knowledge)
    assert loaded.error is not None and "8859/2" in loaded.error.problem
    assert len(only_case(declared.encode("ascii"), knowledge).results) == 1


def test_a_collection_time_given_to_the_month_is_skipped_and_a_malformed_one_refused(knowledge):
    """OBX-14 `202401` (a valid time to the month) is skipped as not precise to the day; `20241340` refuses."""
    reason = skip_reason(message(obx="OBX|1|NM|2472-9^IgM^LN||18|mg/dL|||||F|||202401"), knowledge)
    assert "'202401' (OBX-14) is not precise to the day" in reason
    [loaded] = load_hl7v2(message(obx="OBX|1|NM|2472-9^IgM^LN||18|mg/dL|||||F|||20241340"), knowledge)
    assert loaded.error is not None and (loaded.error.field, loaded.error.value) == (
        "message 1 OBX 1 OBX-14",
        "20241340",
    )


def test_a_preliminary_result_with_a_bad_date_is_skipped_not_refused(knowledge):
    """A preliminary IgM is not used, so its malformed OBX-14 does not refuse the patient."""
    reason = skip_reason(message(obx="OBX|1|NM|2472-9^IgM^LN||18|mg/dL|||||P|||20241340"), knowledge)
    assert "preliminary" in reason


def test_the_obr_time_of_one_patient_does_not_date_the_next_patients_results(knowledge):
    """A second PID without its own OBR leaves its OBX without a collection time instead of borrowing one."""
    second = "\r".join(["PID|2||P200^^^HOSP^MR||Synthetic^Bo||19900101|M", "OBX|1|NM|2472-9^IgM^LN||30|mg/dL|||||F"])
    loaded = {item.patient_key: item.require() for item in load_hl7v2(message() + "\r" + second, knowledge)}
    assert len(loaded["P100"].results) == 1 and loaded["P200"].results == ()
    assert "no collection time" in loaded["P200"].input_notes[0].reason


def test_a_patient_with_more_results_than_the_limit_is_refused(knowledge, monkeypatch):
    """More immunoglobulin results than MAX_RESULTS_PER_PATIENT refuse the patient; exactly the limit is read."""
    monkeypatch.setattr(hl7v2, "MAX_RESULTS_PER_PATIENT", 2)
    obx = [f"OBX|{n}|NM|2472-9^IgM^LN||{18 + n}|mg/dL|||||F|||2024011{n}" for n in range(1, 4)]
    assert len(only_case(message(obx="\r".join(obx[:2])), knowledge).results) == 2
    [loaded] = load_hl7v2(message(obx="\r".join(obx)), knowledge)
    assert loaded.error is not None and loaded.error.value == "3 immunoglobulin results"


def test_notes_beyond_the_limit_are_counted_in_one_note(knowledge, monkeypatch):
    """Past MAX_NOTES_PER_PATIENT skipped records, the rest are counted in one last note; below it all are listed."""
    monkeypatch.setattr(hl7v2, "MAX_NOTES_PER_PATIENT", 2)
    glucose = [f"OBX|{n}|NM|15074-8^Glucose^LN||6|mmol/L|||||F" for n in range(1, 6)]
    case = only_case(message(obx="\r".join(glucose)), knowledge)
    assert [n.origin for n in case.input_notes][-1] == "3 more records" and len(case.input_notes) == 3
    assert len(only_case(message(obx="\r".join(glucose[:2])), knowledge).input_notes) == 2


def test_obx_set_ids_that_restart_under_each_obr_are_told_apart(knowledge):
    """Two OBX 1 under two OBR segments give two notes, the second naming its segment; unique set IDs do not."""
    glucose = "OBX|1|NM|15074-8^Glucose^LN||6|mmol/L|||||F"
    text = message(obx=glucose) + "\rOBR|2||ORD2|IG^Ig^L|||20240110083000\r" + glucose
    assert [n.origin for n in only_case(text, knowledge).input_notes] == [
        "message 1 OBX 1",
        "message 1 OBX 1 (segment 6)",
    ]
    assert [n.origin for n in only_case(message(obx=glucose), knowledge).input_notes] == ["message 1 OBX 1"]
