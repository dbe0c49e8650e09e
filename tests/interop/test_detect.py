"""Format detection: one entry point for FHIR JSON, FHIR NDJSON, sigmd case JSON and HL7 v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigmd.adapters.detect import InputFormat, detect_format, load_cases
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
