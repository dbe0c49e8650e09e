"""The Python API: sigmd.read, sigmd.assess and sigmd.screen return typed results, and refuse bad input clearly."""

from __future__ import annotations

import doctest
import json
from datetime import date
from pathlib import Path

import pytest

import sigmd
from sigmd import api
from sigmd.core.assessment import Assessment
from sigmd.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "partial-sigmd-persistent.json"


def test_the_api_docstring_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples in sigmd.api's documentation run as doctests and give what they show."""
    monkeypatch.chdir(ROOT)
    failed, attempted = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0


def test_assess_returns_the_core_assessment_and_the_cli_json() -> None:
    """sigmd.assess gives the typed Assessment, and to_json() is what `sigmd assess --json` prints."""
    report = sigmd.assess(EXAMPLE, as_of=date(2026, 11, 1))
    assert isinstance(report.assessment, Assessment)
    assert report.to_json()["diagnosis"]["label"] == report.label
    assert {a.profile.id for a in report.by_profile} == {p["profile"] for p in report.to_json()["by_profile"]}


def test_assess_accepts_the_text_itself_and_a_case() -> None:
    """The same patient given as text, as bytes or as a Case gets the same verdict."""
    text = EXAMPLE.read_text(encoding="utf-8")
    from_text = sigmd.assess(text, as_of=date(2026, 11, 1))
    from_bytes = sigmd.assess(text.encode(), as_of=date(2026, 11, 1))
    from_case = sigmd.assess(from_text.case, as_of=date(2026, 11, 1))
    assert from_text.label == from_bytes.label == from_case.label


def test_bytes_that_are_not_utf8_are_refused_by_offset() -> None:
    """An input with a Latin-1 byte is refused with the byte's offset, not a traceback."""
    with pytest.raises(InputError) as caught:
        sigmd.read(b'{"patient": "\xe9"}')
    assert "at byte 13" in caught.value.problem and "UTF-8" in caught.value.problem


def test_unknown_profile_or_many_patients_are_refused() -> None:
    """An unknown profile, or an input with two patients, is an InputError naming the field."""
    with pytest.raises(InputError) as caught:
        sigmd.assess(EXAMPLE, profile="nonsense")
    assert caught.value.field == "profile"
    two = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": f"p{n}", "gender": "male", "birthDate": "1970-01-01"}}
            for n in (1, 2)
        ],
    }
    with pytest.raises(InputError) as many:
        sigmd.assess(json.dumps(two))
    assert many.value.value == "2 patients"


def test_notebook_summary_escapes_what_it_shows() -> None:
    """The HTML summary names the verdict and the disclaimer, and escapes the patient id."""
    report = sigmd.assess(EXAMPLE, as_of=date(2026, 11, 1))
    shown = api.Report("<b>x</b>", report.case, report.assessment, report.by_profile)._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in shown and "<b>x</b>" not in shown and "does not replace" in shown


def test_screen_returns_arrow_and_pandas_tables(tmp_path: Path) -> None:
    """sigmd.screen writes its outputs quietly and offers the patients as Arrow and pandas tables."""
    from sigmd.screening.synth import synth

    files = synth(200, 3, tmp_path / "labs.parquet", "parquet")
    result = sigmd.screen(files.results, tmp_path / "out", as_of=date(2026, 1, 1), sensitivity=False)
    assert result.rows_in == result.rows_used + result.rows_rejected
    patients = result.patients()
    assert patients.num_rows == result.result.patients == len(result.to_pandas())
    assert result.rejects().num_rows == result.rows_rejected
