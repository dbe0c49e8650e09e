"""Registry import of a file's bytes: HL7 v2 decoded message by message as MSH-18 declares, as the readers do."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, RegistryError
from sigmd.registry.imports import read_import

AS_OF = date(2025, 1, 1)
LATIN1 = "||||||8859/1"
"""MSH-18 (after MSH-12 and five empty fields): the message is ISO 8859-1."""


def message(n: int, patient: str, name: str = "Synthetic^Ann", charset: str = "") -> str:
    """One synthetic ORU^R01: IgM low twice, IgG and IgA normal (a selective IgM deficiency verdict)."""
    return "\r".join(
        [
            f"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240901120000||ORU^R01|MSG{n}|P|2.5.1{charset}",
            f"PID|1||{patient}^^^HOSP^MR||{name}||19800501|F",
            "OBR|1||ORD1|IG^Ig^L|||20240110083000",
            "OBX|1|NM|2472-9^IgM^LN||15|mg/dL|40-230|L|||F|||20240110",
            "OBX|2|NM|2472-9^IgM^LN||12|mg/dL|40-230|L|||F|||20240901",
            "OBX|3|NM|2465-3^IgG^LN||1000|mg/dL|700-1600|N|||F|||20240110",
            "OBX|4|NM|2458-8^IgA^LN||200|mg/dL|70-400|N|||F|||20240110",
        ]
    )


def test_an_iso_8859_1_hl7_file_imports_with_its_names_as_written(registry: Registry) -> None:
    """Latin-1 bytes whose MSH-18 declares 8859/1 are decoded as Latin-1: the patient is stored as MÜLLER-7, not
    as mojibake, and the file is not refused for not being UTF-8."""
    data = message(1, "MÜLLER-7", "Müller^Jürgen", LATIN1).encode("latin-1")
    assert b"\xdc" in data and b"\xc3" not in data  # Latin-1, not UTF-8
    [outcome] = registry.import_text(data, actor="dr.a", as_of=AS_OF, filename="lab.hl7")
    assert outcome.patient_id == "MÜLLER-7" and outcome.error is None and outcome.assessment is not None
    assert [p.patient_id for p in registry.list_patients()] == ["MÜLLER-7"]


def test_a_byte_that_is_not_text_refuses_its_message_and_the_others_are_imported(registry: Registry) -> None:
    """In a batch, message 2 holds a Latin-1 byte without declaring 8859/1: its patient is not stored, the reason
    naming the message and the byte's position; message 1's patient is stored. No exception leaves the import."""
    data = (message(1, "P100") + "\r" + message(2, "P200", "Ren\xe9e^Ann")).encode("latin-1")
    outcomes = {o.patient_id: o for o in registry.import_text(data, actor="dr.a", as_of=AS_OF)}
    assert outcomes["P100"].error is None and outcomes["P100"].assessment is not None
    refused = outcomes["P200"]
    assert refused.assessment is None and refused.error is not None
    position = data.index(b"\xe9")
    assert f"message 2 byte {position}" in refused.error and "is not UTF-8 text" in refused.error
    assert [p.patient_id for p in registry.list_patients()] == ["P100"]


def test_utf8_hl7_bytes_import_like_the_same_text(knowledge: Knowledge) -> None:
    """UTF-8 bytes (MSH-18 empty) read as the text they encode: same format, same patient, same results."""
    text = message(1, "MÜLLER-7", "Müller^Jürgen")
    from_bytes, from_text = read_import(text.encode("utf-8"), knowledge), read_import(text, knowledge)
    assert from_bytes[0] == from_text[0] == "hl7v2"
    [a], [b] = from_bytes[1], from_text[1]
    assert a.patient_key == b.patient_key == "MÜLLER-7" and a.require().results == b.require().results


def test_other_formats_given_as_bytes_must_be_utf8_as_a_whole(knowledge: Knowledge) -> None:
    """A long-format CSV as UTF-8 bytes (with a byte-order mark) imports; in Latin-1 it is refused, naming the
    byte offset, as a RegistryError rather than a crash."""
    csv = (
        "patient_id,sex,birth_date,collected_date,loinc,value,unit\nMÜLLER-7,F,1980-05-01,2024-01-10,2472-9,15,mg/dL\n"
    )
    file_format, [loaded] = read_import(b"\xef\xbb\xbf" + csv.encode("utf-8"), knowledge)
    assert file_format == "csv-long" and loaded.patient_key == "MÜLLER-7"
    position = csv.encode("latin-1").index(b"\xdc")
    with pytest.raises(RegistryError, match=f"at byte {position} is not UTF-8 text"):
        read_import(csv.encode("latin-1"), knowledge)


def test_sigmd_registry_import_reads_an_iso_8859_1_hl7_file(tmp_path: Path) -> None:
    """`sigmd registry import lab.hl7` with a Latin-1 file declaring 8859/1 stores the patient under its own id."""
    from sigmd.cli import app

    lab = tmp_path / "lab.hl7"
    lab.write_bytes(message(1, "MÜLLER-7", "Müller^Jürgen", LATIN1).encode("latin-1"))
    data_dir = str(tmp_path / "data")
    args = ["registry", "--data-dir", data_dir, "import", str(lab), "--as-of", "2025-01-01", "--actor", "dr.a"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "stored MÜLLER-7:" in result.stdout and "not stored: 0" in result.stdout
