"""HL7 v2 results reach the right patient's verdict only: who the patient is (PID-3 with its assigning authority,
PID-5, PID-29), what the specimen is (OBR-15, SPM-4) and whether OBX-5 is a number at all."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from sigmd.adapters import hl7v2
from sigmd.adapters.hl7v2 import load_hl7v2
from sigmd.cli import app
from sigmd.core.model import Analyte, InputNoteKind

HEADER = "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20260715090000||ORU^R01|MSG{n}|P|2.5.1"
IGM_LOW = "OBX|1|NM|2472-9^IgM^LN||0.15|g/L|||||F"
IGM_NORMAL = "OBX|1|NM|2472-9^IgM^LN||1.40|g/L|||||F"


def message(
    n: int = 1,
    *obx: str,
    pid3: str = "P100^^^HOSP^MR",
    name: str = "Synthetic^Ann",
    obr: str = "OBR|1||ORD1|IG^Ig^L|||20260110083000",
    death: str = "",
    extra: tuple[str, ...] = (),
) -> str:
    """One synthetic ORU^R01 (one PID, one OBR), by default with one low IgM collected 2026-01-10 (OBR-7)."""
    pid = f"PID|1||{pid3}||{name}||19800501|F"
    if death:
        pid += "|" * 21 + death
    return "\r".join([HEADER.format(n=n), pid, obr, *(obx or (IGM_LOW,)), *extra])


def on(day: str, obx: str = IGM_LOW) -> str:
    """An OBX collected on `day` (OBX-14)."""
    return f"{obx}|||{day}083000"


def only_case(text: str, knowledge):
    [loaded] = load_hl7v2(text, knowledge)
    return loaded.require()


def skipped(case) -> list[str]:
    return [f"{n.origin}: {n.reason}" for n in case.input_notes if n.kind is InputNoteKind.SKIPPED]


# --- PID-3: the assigning authority is part of who the patient is ----------------------------------------------


def test_one_identifier_from_two_assigning_authorities_is_two_patients(knowledge):
    """SYN200 at SYNTHHOSP and SYN200 at OTHERHOSP are two patients, each with their own result (they were one)."""
    text = "\r".join(
        [
            message(1, pid3="SYN200^^^SYNTHHOSP^MR", name="Doe^Jane"),
            message(2, IGM_NORMAL, pid3="SYN200^^^OTHERHOSP^MR", name="Smith^Anna"),
        ]
    )
    loaded = load_hl7v2(text, knowledge)
    values = {item.patient_key: [r.quantity.value for r in item.require().results] for item in loaded}
    assert values == {"SYN200^^^SYNTHHOSP": [15.0], "SYN200^^^OTHERHOSP": [140.0]}


def test_the_single_patient_command_refuses_one_identifier_from_two_authorities(tmp_path: Path):
    """Without --batch, `sigmd assess` refuses a file whose one identifier comes from two authorities."""
    path = tmp_path / "two-authorities.hl7"
    path.write_text("\r".join([message(1, pid3="SYN200^^^A^MR"), message(2, pid3="SYN200^^^B^MR", name="")]))
    result = CliRunner().invoke(app, ["assess", "--json", "--as-of", "2026-11-27", str(path)])
    assert result.exit_code != 0 and "holds 2 patients; use --batch" in result.stderr


def test_an_identifier_with_one_authority_keeps_its_plain_key_and_its_messages_without_one(knowledge):
    """P100 at HOSP stays `P100` (as before); a message of P100 without PID-3.4 is the same patient's."""
    text = "\r".join([message(1), message(2, on("20260610", IGM_NORMAL), pid3="P100")])
    [loaded] = load_hl7v2(text, knowledge)
    assert loaded.patient_key == "P100"
    assert [r.quantity.value for r in loaded.require().results] == [15.0, 140.0]


def test_an_authority_given_as_a_universal_id_is_an_authority_too(knowledge):
    """PID-3.4 `&1.2.3&ISO` (universal ID only) tells the patient apart from the same identifier at HOSP."""
    text = "\r".join([message(1), message(2, pid3="P100^^^&1.2.3&ISO^MR")])
    assert sorted(item.patient_key for item in load_hl7v2(text, knowledge)) == ["P100^^^1.2.3", "P100^^^HOSP"]


def test_an_identifier_without_authority_beside_two_authorities_is_refused(knowledge):
    """When P100 comes from A and from B, a message of P100 without authority could be either's: it is refused
    on its own, naming PID-3 and both authorities, and the two patients are read."""
    text = "\r".join([message(1, pid3="P100^^^A"), message(2, pid3="P100^^^B"), message(3, pid3="P100")])
    loaded = {item.patient_key: item for item in load_hl7v2(text, knowledge)}
    assert set(loaded) == {"P100^^^A", "P100^^^B", "P100"}
    error = loaded["P100"].error
    assert loaded["P100"].case is None and error is not None
    assert error.field == "message 3 PID-3" and "A, B" in error.problem
    assert loaded["P100^^^A"].case is not None and loaded["P100^^^B"].case is not None


def test_an_unreadable_message_refuses_the_patient_of_its_own_authority(knowledge):
    """A message that cannot be parsed refuses P100 at B, the patient its PID-3 names, not P100 at A."""
    text = "\r".join([message(1, pid3="P100^^^A"), message(2, pid3="P100^^^B"), "MSH\rPID|1||P100^^^B"])
    loaded = {item.patient_key: item for item in load_hl7v2(text, knowledge)}
    assert loaded["P100^^^A"].case is not None
    assert loaded["P100^^^B"].case is None and "not a parsable" in str(loaded["P100^^^B"].error)


def test_an_identifier_written_like_another_patients_key_stays_a_patient_of_its_own(knowledge):
    """PID-3.1 `P100^^^A` (escaped `^`) does not join P100 at A: the two keys differ."""
    text = "\r".join(
        [message(1, pid3="P100^^^A"), message(2, pid3="P100^^^B"), message(3, pid3="P100\\S\\\\S\\\\S\\A")]
    )
    keys = [item.patient_key for item in load_hl7v2(text, knowledge)]
    assert len(keys) == len(set(keys)) == 3 and "P100^^^A" in keys


# --- PID-5: two names under one identifier are two people -------------------------------------------------------


def test_two_names_under_a_placeholder_identifier_refuse_the_patient(knowledge, caplog):
    """Twin^Anna and Twin^Bella under PID-3 `UNKNOWN` are refused, naming PID-5, the disagreeing name as the value
    and the patient id (the problem text holds no name);
    nothing is logged. Before, their results gave one 'normal' verdict."""
    caplog.set_level(logging.DEBUG)
    text = "\r".join(
        [
            message(1, pid3="UNKNOWN^^^HOSP", name="Twin^Anna"),
            message(2, on("20260610", IGM_NORMAL), pid3="UNKNOWN^^^HOSP", name="Twin^Bella"),
        ]
    )
    [loaded] = load_hl7v2(text, knowledge)
    assert loaded.case is None and loaded.error is not None
    assert loaded.error.field == "message 2 PID-5" and loaded.error.value == "Twin^Bella"
    assert "the name in message 1 PID-5" in loaded.error.problem and "Twin" not in loaded.error.problem
    assert "UNKNOWN" in loaded.error.problem
    assert caplog.records == []


def test_names_are_compared_without_case_or_spaces_and_a_missing_name_does_not_conflict(knowledge):
    """`SYNTHETIC^ann `, `Synthetic^Ann` and a message without PID-5 are one patient, with both results."""
    text = "\r".join(
        [
            message(1, name="SYNTHETIC^ ann "),
            message(2, on("20260610", IGM_NORMAL), name=""),
            message(3, on("20260710", IGM_NORMAL), name="Synthetic"),
        ]
    )
    assert len(only_case(text, knowledge).results) == 3


def test_a_given_name_that_disagrees_after_a_surname_only_message_is_refused(knowledge):
    """Twin, then Twin^Anna, then Twin^Bella: the third disagrees with the second's given name."""
    text = "\r".join(
        [message(1, name="Twin"), message(2, name="Twin^Anna"), message(3, on("20260610"), name="Twin^Bella")]
    )
    [loaded] = load_hl7v2(text, knowledge)
    assert loaded.error is not None and loaded.error.field == "message 3 PID-5"
    assert "the name in message 2 PID-5" in loaded.error.problem


def test_in_a_batch_a_name_conflict_refuses_that_patient_and_the_others_are_read(knowledge):
    """P100 with two names is refused; P200 in the same input is assessed."""
    text = "\r".join(
        [message(1, name="Twin^Anna"), message(2, pid3="P200^^^HOSP", name="Other^Pat"), message(3, name="Twin^Bella")]
    )
    loaded = {item.patient_key: item for item in load_hl7v2(text, knowledge)}
    assert loaded["P100"].case is None and "PID-5" in str(loaded["P100"].error)
    assert loaded["P200"].case is not None and len(loaded["P200"].case.results) == 1


# --- OBX-5: an escape sequence other than a separator makes the value text --------------------------------------


def test_a_formatting_escape_in_the_value_is_skipped_not_joined_into_a_number(knowledge):
    """OBX-5 `0\\.br\\15` was read as 015 (1500 mg/dL); it is now skipped, naming OBX-5 and the value as written."""
    case = only_case(message(1, "OBX|1|NM|2472-9^IgM^LN||0\\.br\\15|g/L|||||F", on("20260610")), knowledge)
    assert [r.quantity.value for r in case.results] == [15.0]
    [reason] = skipped(case)
    assert "OBX-5" in reason and "0\\\\.br\\\\15" in reason and "escape sequence" in reason


def test_a_hex_escape_in_the_value_is_skipped(knowledge):
    """OBX-5 `\\X30\\.14` (a character code for 0) is not read as 0.14."""
    case = only_case(message(1, "OBX|1|NM|2472-9^IgM^LN||\\X30\\.14|g/L|||||F", on("20260610")), knowledge)
    assert [r.collected for r in case.results] == [date(2026, 6, 10)]
    assert "\\\\X30\\\\" in skipped(case)[0]


def test_formatting_escapes_are_found_but_separator_escapes_are_not(knowledge):
    """`\\H\\`, `\\.sp2\\` and `\\X41\\` are formatting or character codes; `\\F\\`, `\\S\\`, `\\T\\`, `\\R\\`, `\\E\\`
    stand for separators and leave a field as it is."""
    assert [hl7v2._text_escape(None, t) for t in ("1\\H\\2", "3\\.sp2\\", "\\X41\\")] == [
        "\\H\\",
        "\\.sp2\\",
        "\\X41\\",
    ]
    assert hl7v2._text_escape(None, "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\") == ""


def test_a_reference_range_with_a_formatting_escape_is_not_used(knowledge):
    """OBX-7 `0.4\\.br\\-2.3` is not read as a range: the result is used with the reference set, and a warning
    names OBX-7."""
    case = only_case(message(1, "OBX|1|NM|2472-9^IgM^LN||0.15|g/L|0.4\\.br\\-2.3||||F"), knowledge)
    assert case.results[0].lab_range is None
    assert any("OBX-7" in w and "escape sequence" in w for w in case.warnings)


# --- OBR-15 and SPM-4: sigmd judges serum or plasma IgM only ----------------------------------------------------


def test_csf_in_obr_15_is_skipped_naming_the_field_and_value(knowledge):
    """IgM measured in CSF (OBR-15 `CSF^Cerebrospinal fluid^HL70070`) is skipped; it gave 'complete SIgMD'."""
    obr = "OBR|1||ORD1|IG^Ig^L|||20260110083000||||||||CSF^Cerebrospinal fluid^HL70070"
    case = only_case(message(1, IGM_LOW, obr=obr) + "\r" + message(2, on("20260610", IGM_NORMAL)), knowledge)
    assert [r.quantity.value for r in case.results] == [140.0]
    [reason] = skipped(case)
    assert "'CSF^Cerebrospinal fluid^HL70070' (OBR-15) is not serum, plasma or blood" in reason
    assert "sigmd judges serum IgM only" in reason


def test_csf_in_an_spm_after_the_obx_is_skipped(knowledge):
    """SPM follows the OBX of its OBR in ORU^R01 (v2.5+): SPM-4 `CSF` applies to them all."""
    text = message(
        1, IGM_LOW, "OBX|2|NM|2465-3^IgG^LN||10.4|g/L|||||F", extra=("SPM|1|||CSF^Cerebrospinal fluid^HL70487",)
    )
    case = only_case(text, knowledge)
    assert case.results == () and len(skipped(case)) == 2
    assert all("(SPM-4) is not serum, plasma or blood" in reason for reason in skipped(case))


def test_urine_is_skipped_by_code_and_by_the_test_name(knowledge):
    """OBR-15 `UR^Urine` is skipped; so is a LOINC IgM whose OBX-3 text says `IgM Urine` with no specimen given."""
    urine = only_case(message(obr="OBR|1||ORD1|IG^Ig^L|||20260110083000||||||||UR^Urine"), knowledge)
    assert urine.results == () and "'UR^Urine' (OBR-15)" in skipped(urine)[0]
    text_only = only_case(message(1, "OBX|1|NM|2472-9^IgM Urine^LN||0.01|g/L|||||F"), knowledge)
    assert text_only.results == () and "'IgM Urine' (OBX-3)" in skipped(text_only)[0]


def test_serum_plasma_and_no_specimen_are_used_without_a_warning(knowledge):
    """OBR-15 `SER`, SPM-4 `PLAS` and no specimen at all: the result is used, with no specimen warning."""
    obr = "OBR|1||ORD1|IG^Ig^L|||20260110083000||||||||SER"
    for text in (message(obr=obr), message(extra=("SPM|1|||PLAS^Plasma^HL70487",)), message()):
        case = only_case(text, knowledge)
        assert len(case.results) == 1 and not any("specimen" in w for w in case.warnings)


def test_an_unknown_specimen_code_is_used_with_a_warning_naming_it(knowledge):
    """A local specimen code sigmd cannot classify (SPM-4 `XYZ`) keeps the result and warns, naming SPM-4 and it."""
    case = only_case(message(extra=("SPM|1|||XYZ^Local thing^L",)), knowledge)
    assert len(case.results) == 1
    assert any("'XYZ^Local thing^L' (SPM-4)" in w and "0487" in w for w in case.warnings)


def test_a_specimen_applies_to_its_own_obr_only(knowledge):
    """CSF under the first OBR does not touch the serum IgM under the second OBR of the same message."""
    text = "\r".join(
        [
            message(obr="OBR|1||ORD1|IG^Ig^L|||20260110083000||||||||CSF"),
            "OBR|2||ORD2|IG^Ig^L|||20260610083000||||||||SER",
            IGM_NORMAL,
        ]
    )
    case = only_case(text, knowledge)
    assert [(r.collected, r.quantity.value) for r in case.results] == [(date(2026, 6, 10), 140.0)]


# --- PID-29: results dated after death are not this patient's ----------------------------------------------------


def test_results_after_the_date_of_death_are_skipped_naming_pid_29(knowledge):
    """PID-29 2020-03-01: the 2019 result is used, the 2026 one is skipped naming PID-29 and both dates."""
    text = message(1, on("20190110"), on("20260110", IGM_NORMAL), death="20200301")
    case = only_case(text, knowledge)
    assert [r.collected for r in case.results] == [date(2019, 1, 10)]
    [reason] = skipped(case)
    assert "PID-29" in reason and "2026-01-10" in reason and "20200301" in reason


def test_a_date_of_death_in_another_message_applies_to_the_patient(knowledge):
    """The date of death from message 1 skips the later result sent in message 2 for the same patient."""
    text = "\r".join([message(1, on("20190110"), death="2020"), message(2, on("20260110"))])
    case = only_case(text, knowledge)
    assert [r.collected for r in case.results] == [date(2019, 1, 10)] and "message 1 PID-29" in skipped(case)[0]


def test_a_death_date_to_the_year_keeps_results_of_that_year(knowledge):
    """PID-29 `2020` allows any day of 2020: a result of 2020-12-31 is used."""
    case = only_case(message(1, on("20201231"), death="2020"), knowledge)
    assert [r.collected for r in case.results] == [date(2020, 12, 31)]


def test_a_date_of_death_that_is_not_a_date_refuses_the_patient(knowledge):
    """PID-29 `soon` is refused, naming the field and the value."""
    [loaded] = load_hl7v2(message(death="soon"), knowledge)
    assert loaded.case is None and loaded.error is not None
    assert loaded.error.field == "message 1 PID-29" and loaded.error.value == "soon"


def test_a_result_on_the_day_of_death_is_used(knowledge):
    """A result collected on the day of death is the patient's own."""
    case = only_case(message(1, on("20200301"), death="202003011200"), knowledge)
    assert [r.analyte for r in case.results] == [Analyte.IGM]
