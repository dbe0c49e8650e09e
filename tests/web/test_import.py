"""Importing files: FHIR, HL7 v2 and case JSON are previewed with their verdict, then saved; CSV is saved."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from tests.interop.conftest import low_igm_bundle
from tests.web.conftest import TODAY, csrf_of

EXAMPLES = Path(__file__).parents[2] / "examples"


def upload(client, name: str, content: bytes, **data: str):
    token = csrf_of(client, "/import")
    return client.post("/import", data={"csrf_token": token, **data}, files={"file": (name, content)})


def test_a_fhir_bundle_is_previewed_then_saved(client_as, registry):
    """A FHIR Bundle of one patient shows its full assessment; saving stores the patient from the same text."""
    client = client_as("clin")
    response = upload(client, "bundle.json", json.dumps(low_igm_bundle()).encode(), as_of=TODAY.isoformat())
    assert response.status_code == 200
    assert "Verdict under each profile" in response.text and '<svg class="chart"' in response.text
    text = html.unescape(re.search(r'name="text" value="([^"]*)"', response.text, re.S).group(1))
    save = {"csrf_token": csrf_of(client, "/import"), "text": text, "filename": "bundle.json", "as_of": "2026-11-01"}
    saved = client.post("/import/save", data=save)
    assert saved.status_code == 200 and f"/patients/{registry.patient('p1').summary.ref}" in saved.text
    assert registry.patient("p1").assessments[0].source.startswith("import")


def test_an_hl7_message_is_read_and_assessed(client_as):
    """An HL7 v2 ORU^R01 upload is recognised and its patient assessed."""
    response = upload(client_as("clin"), "oru.hl7", (EXAMPLES / "oru-low-igm.hl7").read_bytes())
    assert response.status_code == 200
    assert "Assessment of SYN100" in response.text


def test_a_long_format_csv_is_saved_with_one_outcome_per_patient(client_as, registry):
    """A screening long-format CSV goes straight to the registry; a bad patient is listed with its reason."""
    rows = [
        "patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high",
        "csv-1,female,1980-05-01,2026-01-10,2472-9,20,mg/dL,,,",
        "csv-1,female,1980-05-01,2026-01-10,2465-3,1000,mg/dL,,,",
        "csv-2,female,1980-05-01,2026-01-10,2472-9,lots,mg/dL,,,",
    ]
    response = upload(client_as("clin"), "extract.csv", "\n".join(rows).encode())
    assert response.status_code == 200
    assert "csv-1" in response.text and "not stored" in response.text
    assert registry.patient("csv-1").summary.label is not None


def test_an_unreadable_file_is_refused_naming_the_field(client_as):
    """A file that is no known format is refused with the adapter's reason next to the file field."""
    response = upload(client_as("clin"), "notes.txt", b"this is not a lab report")
    assert response.status_code == 400
    assert 'id="file-error"' in response.text and "is not FHIR JSON" in response.text


def test_an_empty_import_asks_for_a_file(client_as):
    """Posting neither a file nor pasted text says what is missing."""
    token = csrf_of(client_as("clin"), "/import")
    response = client_as("clin").post("/import", data={"csrf_token": token})
    assert response.status_code == 400 and "choose a file or paste its text" in response.text


@pytest.mark.parametrize(
    "example", sorted(p.name for pattern in ("*.json", "*.hl7") for p in EXAMPLES.glob(pattern)), ids=str
)
def test_every_bundled_example_renders_its_assessment(client_as, example):
    """Each example case (vaccine titres, clinical features, secondary causes ...) renders with its charts."""
    response = upload(client_as("clin"), example, (EXAMPLES / example).read_bytes(), as_of="2026-11-01")
    assert response.status_code == 200, response.text[-2000:]
    assert "Verdict under each profile" in response.text and 'class="chart"' in response.text
