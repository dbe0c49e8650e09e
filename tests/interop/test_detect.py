"""Format detection: one entry point for FHIR JSON, FHIR NDJSON, sigmd case JSON and HL7 v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmd.adapters import limits
from sigmd.adapters.detect import InputFormat, detect_format, load_cases, read_input
from sigmd.cli import app
from sigmd.errors import InputError

from .conftest import low_igm_bundle, observation, patient
from .test_hl7v2 import MESSAGE

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps(low_igm_bundle()), InputFormat.FHIR_JSON),
        (json.dumps(patient("a")) + "\n" + json.dumps(patient("b")) + "\n", InputFormat.FHIR_NDJSON),
        (MESSAGE, InputFormat.HL7V2),
        ("\x0b" + MESSAGE + "\x1c\r", InputFormat.HL7V2),
        ((EXAMPLES / "partial-sigmd-persistent.json").read_text(), InputFormat.CASE_JSON),
    ],
)
def test_formats_are_recognised(text, expected):
    """Each kind of input is recognised from its content."""
    assert detect_format(text) is expected


def test_load_cases_reads_every_format(knowledge):
    """load_cases gives one case per patient whatever the format."""
    assert [c.patient_key for c in load_cases(json.dumps(low_igm_bundle()), knowledge)] == ["p1"]
    assert [c.patient_key for c in load_cases(MESSAGE, knowledge)] == ["P100"]
    ndjson = "\n".join(
        json.dumps(resource)
        for resource in (
            patient("n1"),
            patient("n2", gender="male"),
            observation("m1", "2472-9", 20, "mg/dL", "2024-01-10", subject="Patient/n1"),
            observation("m2", "2472-9", 90, "mg/dL", "2024-01-10", subject="Patient/n2"),
        )
    )
    assert [c.patient_key for c in load_cases(ndjson, knowledge)] == ["n1", "n2"]
    native = load_cases((EXAMPLES / "partial-sigmd-persistent.json").read_text(), knowledge)
    assert len(native) == 1 and native[0].case is not None


def test_other_json_is_refused_with_a_reason():
    """JSON that is neither FHIR nor a sigmd case is refused, naming what was expected."""
    with pytest.raises(InputError) as caught:
        detect_format('{"hello": 1}')
    assert "neither a FHIR resource" in caught.value.problem


def test_a_file_that_is_not_utf8_is_refused_naming_the_byte_offset(tmp_path: Path) -> None:
    """A Latin-1 byte in a case file is refused with its offset, not raised as UnicodeDecodeError."""
    data = json.dumps(patient("a")).encode("utf-8").replace(b'"a"', b'"\xe9"')
    path = tmp_path / "latin1.json"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_input(path)
    offset = data.index(b"\xe9")
    assert caught.value.field == "latin1.json" and f"at byte {offset} " in caught.value.problem


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """UTF-8 with a byte-order mark is read, the mark dropped."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(patient("a")).encode("utf-8"))
    assert read_input(path).startswith("{")


def test_the_command_line_refuses_a_non_utf8_file_with_exit_status_2(tmp_path: Path) -> None:
    """`sigmd assess` on a file with a stray byte exits 2 and names the byte offset."""
    path = tmp_path / "bad.json"
    data = b'{"patient": {"sex": "female", "birth_date": "1980-05-01"}, "results": []}\xff'
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["assess", str(path)])
    assert result.exit_code == 2 and f"at byte {len(data) - 1} is not UTF-8" in result.output


def test_input_larger_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch, knowledge) -> None:
    """An input above the size limit is refused before it is parsed; one at the limit is read."""
    text = json.dumps(low_igm_bundle())
    monkeypatch.setattr(limits, "MAX_INPUT_CHARS", len(text) - 1)
    with pytest.raises(InputError, match="larger than sigmd reads"):
        load_cases(text, knowledge)
    monkeypatch.setattr(limits, "MAX_INPUT_CHARS", len(text))
    assert load_cases(text, knowledge)[0].case is not None


@pytest.mark.parametrize("text", ["\r", "\r\r\n", "{\r}", '{"resourceType": "Patient"}\r{', "\x00", "{" * 3000])
def test_odd_text_is_refused_not_raised(knowledge, text: str) -> None:
    """A bare carriage return, NUL or unbalanced braces give an InputError or a refused patient, nothing else."""
    try:
        loaded = load_cases(text, knowledge)
    except InputError:
        return
    assert all(item.error is not None for item in loaded)


def test_ndjson_whose_first_line_is_bad_is_still_read_line_by_line(knowledge) -> None:
    """A bad first NDJSON line is refused on its own; the patient on the next lines is read."""
    lines = [
        '{"resourceType": "Observation", "valueQuantity": {"value": NaN}}',
        json.dumps(patient("n1")),
        json.dumps(observation("m1", "2472-9", 20, "mg/dL", "2024-01-10", subject="Patient/n1")),
        json.dumps(patient("n2")),
    ]
    loaded = load_cases("\n".join(lines), knowledge)
    assert [c.patient_key for c in loaded if c.case is not None] == ["n1", "n2"]
    assert [c.error.field for c in loaded if c.error is not None] == ["line 1"]


def test_pretty_printed_json_with_an_error_is_refused_as_one_document(knowledge) -> None:
    """A pretty-printed Bundle with a NaN is one document: the file is refused, not read as lines."""
    text = json.dumps(low_igm_bundle(), indent=2).replace('"value": 15', '"value": NaN', 1)
    with pytest.raises(InputError, match="NaN"):
        load_cases(text, knowledge)
