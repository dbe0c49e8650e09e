"""HL7 v2 ORU^R01 input: line endings, MLLP framing, values, ranges, flags and batches."""

from __future__ import annotations

from datetime import date

import pytest

from sigmd.adapters.hl7v2 import load_hl7v2, read_code_map, split_messages
from sigmd.core.model import Analyte, Comparator, InputNoteKind, Sex

MESSAGE = "\r".join(
    [
        "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|MSG1|P|2.5.1",
        "PID|1||P100^^^HOSP^MR||Synthetic^Ann||19800501|F",
        "OBR|1||ORD1|IGPANEL^Immunoglobulins^L|||20240110083000",
        "OBX|1|NM|2472-9^IgM^LN||18|mg/dL^milligram per deciliter^UCUM|40-230|L|||F",
        "OBX|2|SN|2472-9^IgM^LN||<^5|mg/dL|40-230|L|||F|||20240301",
        "OBX|3|NM|2465-3^IgG^LN||10.2|g/L|7.0-16.0|N|||F",
        "OBX|4|ST|2458-8^IgA^LN||see comment||||||F",
        "OBX|5|NM|IGMLOC^IgM local^99LAB||22|mg/dL|||||F|||20240401",
        "OBX|6|NM|2472-9^IgM^LN||25|mg/dL|||||W|||20240402",
    ]
)


def test_values_units_ranges_and_dates_are_read(knowledge):
    """NM and SN values, OBX-6 units, OBX-7 ranges and OBX-14/OBR-7 dates become results."""
    [loaded] = load_hl7v2(MESSAGE, knowledge)
    case = loaded.require()
    assert (case.patient.sex, case.patient.birth_date) == (Sex.FEMALE, date(1980, 5, 1))
    igm = [r for r in case.results if r.analyte is Analyte.IGM]
    assert [(r.collected, r.quantity.value, r.quantity.comparator) for r in igm] == [
        (date(2024, 1, 10), 18.0, Comparator.EQ),
        (date(2024, 3, 1), 5.0, Comparator.LT),
    ]
    igg = next(r for r in case.results if r.analyte is Analyte.IGG)
    assert (
        igg.quantity.value == pytest.approx(1020.0) and igg.lab_range is not None and igg.lab_range.low_mg_dl == 700.0
    )
    assert "lab flag L" in igm[0].origin


def test_non_numeric_local_and_withdrawn_obx_are_reported(knowledge):
    """An ST IgA, an unmapped local code and a withdrawn (W) IgM are listed as not used, each with its reason."""
    case = load_hl7v2(MESSAGE, knowledge)[0].require()
    assert len(case.results) == 3
    notes = {note.origin: note for note in case.input_notes}
    assert (
        notes["message 1 OBX 4"].kind is InputNoteKind.SKIPPED
        and "not a non-negative number" in notes["message 1 OBX 4"].reason
    )
    assert notes["message 1 OBX 5"].kind is InputNoteKind.SKIPPED and "IGMLOC" in notes["message 1 OBX 5"].reason
    assert (
        notes["message 1 OBX 6"].kind is InputNoteKind.IGNORED
        and "W (posted as wrong)" in notes["message 1 OBX 6"].reason
    )
    assert not any(note.origin.endswith(("OBX 1", "OBX 2", "OBX 3")) for note in case.input_notes)


def test_local_code_mapping_from_csv(knowledge):
    """A caller's CSV maps the local code IGMLOC to IgM, so OBX 5 is used."""
    codes = read_code_map("code,analyte\nIGMLOC,2472-9\n", knowledge)
    case = load_hl7v2(MESSAGE, knowledge, codes)[0].require()
    assert any(r.collected == date(2024, 4, 1) and r.analyte is Analyte.IGM for r in case.results)


def test_lf_crlf_and_mllp_framing_give_the_same_case(knowledge):
    """LF, CRLF and MLLP-framed copies parse to the same results as CR."""
    expected = load_hl7v2(MESSAGE, knowledge)[0].require().results
    for variant in (MESSAGE.replace("\r", "\n"), MESSAGE.replace("\r", "\r\n"), f"\x0b{MESSAGE}\x1c\r"):
        assert load_hl7v2(variant, knowledge)[0].require().results == expected


def test_batch_gives_one_case_per_patient(knowledge):
    """A batch with FHS/BHS envelopes and three messages for two patients gives two cases."""
    second = MESSAGE.replace("P100", "P200").replace("19800501|F", "20150203|M")
    batch = "\n".join(["FHS|^~\\&", "BHS|^~\\&", MESSAGE, second, MESSAGE.replace("MSG1", "MSG3"), "BTS|3", "FTS|1"])
    assert len(split_messages(batch)) == 3
    loaded = load_hl7v2(batch, knowledge)
    assert [c.patient_key for c in loaded] == ["P100", "P200"]
    assert len(loaded[0].require().results) == 6


def test_invalid_birth_date_names_pid_7(knowledge):
    """The GHH-style invalid date 196203520 in PID-7 rejects the patient with the field and value."""
    [loaded] = load_hl7v2(MESSAGE.replace("19800501", "196203520"), knowledge)
    assert loaded.error is not None and (loaded.error.field, loaded.error.value) == ("message 1 PID-7", "196203520")
