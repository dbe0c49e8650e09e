"""The typed report: every front end reads it, and the machine output is its one JSON form, read back unchanged."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import sigmd
from sigmd.render.display import MG_DL_PER_UNIT, in_unit, measured
from sigmd.render.machine import ReportDocument
from sigmd.settings import DISPLAY_UNITS

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_OUTPUTS = sorted(p for p in (ROOT / "tests" / "golden").glob("*.json"))
AS_OF = date(2026, 11, 1)


@pytest.mark.parametrize("golden", GOLDEN_OUTPUTS, ids=lambda p: p.stem)
def test_reviewed_machine_output_reads_back_to_the_same_json(golden: Path) -> None:
    """Each golden `--json` output read as a typed report and written again is the same JSON, key for key."""
    data = json.loads(golden.read_text(encoding="utf-8"))
    written = ReportDocument.from_json(data).to_json()
    assert written == data
    assert json.dumps(written, indent=2, ensure_ascii=False) == json.dumps(data, indent=2, ensure_ascii=False)


def test_a_report_under_every_profile_reads_back_equal_to_itself() -> None:
    """What the registry stores (`to_json`, with `by_profile`) reads back as an equal typed report."""
    report = sigmd.assess(ROOT / "examples" / "full-workup-adult.json", as_of=AS_OF)
    stored = json.loads(json.dumps(report.to_json()))
    assert ReportDocument.from_json(stored) == report.document
    assert [p.profile for p in report.document.by_profile] == [a.profile.id for a in report.by_profile]


def test_the_typed_report_names_what_the_machine_output_names() -> None:
    """Attributes carry the machine output's values: dates as dates, the verdict and its reasons as written."""
    report = sigmd.assess(ROOT / "examples" / "partial-sigmd-persistent.json", as_of=AS_OF)
    document, data = report.document, report.to_json()
    assert document.diagnosis.label == data["diagnosis"]["label"] == report.label
    assert document.as_of == AS_OF and data["as_of"] == "2026-11-01"
    assert document.igm is not None and document.igm.value_mg_dl == data["igm"]["value_mg_dl"]
    assert [r.date.isoformat() for r in document.results] == [r["date"] for r in data["results"]]
    assert {r.id for r in document.management}.isdisjoint(w.id for w in document.workup)


def _golden(name: str = "secondary-clozapine-json.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "tests" / "golden" / name).read_text(encoding="utf-8"))
    return data


def test_an_assessment_saved_before_later_keys_were_added_still_reads() -> None:
    """Keys added to output version 1 since the registry first stored it read as their defaults when absent."""
    data = _golden()
    assert data["secondary_causes"], "the example names a secondary cause"
    old = copy.deepcopy(data)
    del old["diagnosis"]["decided_by"], old["secondary_causes_not_counted"]
    del old["igm"]["limit_description"], old["igm"]["not_judged_because"]
    for result in old["results"]:
        del result["limit_description"]
    for cause in old["secondary_causes"]:
        del cause["status"], cause["reason"], cause["text_matched"]
    read = ReportDocument.from_json(old)
    assert read.diagnosis.decided_by == () and read.secondary_causes_not_counted == ()
    assert read.igm is not None and read.igm.limit_description is None
    assert [c.status for c in read.secondary_causes] == ["counts"] * len(data["secondary_causes"])
    assert read.diagnosis.summary == data["diagnosis"]["summary"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(output_version=2), "output_version: 2 is not 1"),
        (lambda d: d["diagnosis"].update(verdict="x"), r"report\.diagnosis\.verdict: is not a key"),
        (lambda d: d["patient"].pop("sex"), r"report\.patient\.sex: is missing"),
        (
            lambda d: d["results"][1].update(value_mg_dl="25"),
            r"report\.results\[1\]\.value_mg_dl: '25' is not a number",
        ),
        (lambda d: d.update(as_of="01/11/2026"), r"report\.as_of: '01/11/2026' is not an ISO date"),
        (lambda d: d.update(warnings="none"), r"report\.warnings: 'none' is not a list"),
    ],
)
def test_what_is_not_machine_output_is_refused_naming_the_key(change: Any, message: str) -> None:
    """Reading back refuses another output version, unknown or missing keys and wrong types, naming the key."""
    data = _golden()
    change(data)
    with pytest.raises(ValueError, match=message):
        ReportDocument.from_json(data)


def test_values_are_shown_in_the_sites_display_unit() -> None:
    """IgM 25 mg/dL reads 25 in mg/dL and 0.25 in g/L; a censored value keeps its comparator; none reads n/a."""
    assert set(MG_DL_PER_UNIT) == set(DISPLAY_UNITS)
    assert (in_unit(25.0, "mg/dL"), in_unit(25.0, "g/L"), in_unit(36.24, "g/L")) == ("25", "0.25", "0.3624")
    assert (measured("<", 5.0, "g/L"), measured("=", 1020.0, "g/L"), in_unit(None, "g/L")) == ("<0.05", "10.2", "n/a")
    with pytest.raises(ValueError, match="display unit: 'mmol/L' is not one of mg/dL, g/L"):
        in_unit(25.0, "mmol/L")


def test_the_terminal_names_the_outcome_of_each_deciding_criterion() -> None:
    """A partial verdict is decided by 'IgM absent' NOT being met: the terminal says so, rather than listing the
    criterion bare (which read as if IgM were absent)."""
    from io import StringIO

    from rich.console import Console

    from sigmd.render.terminal import render

    report = sigmd.assess(ROOT / "examples" / "partial-sigmd-persistent.json", as_of=AS_OF)
    out = StringIO()
    render(report.document, Console(file=out, width=200, color_system=None))
    assert report.label == "partial_sigmd"
    assert "Decided by: IgM below the limit (met), IgM absent (complete form) (not met)" in out.getvalue()
