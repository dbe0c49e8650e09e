"""The results folder: rows accounted for, rejects with reasons, summary, report and inputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sigmd.screening.prevalence import published_figures, wilson
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF


@pytest.fixture(scope="module")
def screened(cohort: SynthFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("screened")
    screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, csv=True)
    return out


def test_every_input_row_is_used_or_rejected_with_a_reason(screened: Path) -> None:
    """Input rows = used + rejected, and every reject names a field and its value."""
    summary = json.loads((screened / "summary.json").read_text(encoding="utf-8"))
    rows = summary["rows"]
    assert rows["in"] == rows["used"] + rows["rejected"]
    with (screened / "rejects.csv").open(encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    assert len(rejects) == rows["rejected"] > 0
    assert all(
        r["reason"].split(":", 1)[0] in {"value", "unit", "birth_date", "patient_id", "collected_date", "loinc", "sex"}
        for r in rejects
    )
    assert any(
        r["reason"] == "unit: 'mmol/L' is not a known unit for " + r["reason"].rsplit(" ", 1)[-1] for r in rejects
    )


def test_planted_complete_deficiency_is_found(cohort: SynthFiles, screened: Path) -> None:
    """Patients planted with IgM < 5 mg/dL on repeated tests are called complete SIgMD (unless a row was rejected)."""
    with cohort.truth.open(encoding="utf-8") as handle:
        planted = {r["patient_id"] for r in csv.DictReader(handle) if r["planted"] == "complete"}
    with (screened / "patients.csv").open(encoding="utf-8") as handle:
        labels = {r["patient_id"]: r["label"] for r in csv.DictReader(handle)}
    found = [labels.get(pid) == "complete_sigmd" for pid in planted]
    assert planted and sum(found) >= 0.8 * len(planted)


def test_summary_has_prevalence_funnel_and_sensitivity_with_sources(screened: Path) -> None:
    """Prevalence rows carry Wilson intervals; the funnel narrows; every published figure names its source."""
    summary = json.loads((screened / "summary.json").read_text(encoding="utf-8"))
    overall = next(
        r for r in summary["prevalence"] if r["stratum"] == "overall" and r["form"] == "any" and r["stage"] == "any"
    )
    assert overall["ci95_low"] <= overall["prevalence"] <= overall["ci95_high"]
    counts = [step["count"] for step in summary["funnel"]][1:]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    assert {s["reference_set"] for s in summary["reference_set_sensitivity"]} >= {"mayo", "exeter_nhs"}
    assert summary["reference_set_sensitivity_scope"] == "every bundled reference set"
    assert all(p["source_url"].startswith("https://") for p in summary["published_prevalence"])
    assert "does not replace" in summary["disclaimer"]
    report = (screened / "report.html").read_text(encoding="utf-8")
    assert report.count("<svg") == 3 and "http://" not in report.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_no_sensitivity_shows_the_chosen_set_only_and_says_so(cohort: SynthFiles, tmp_path: Path) -> None:
    """Skipping the table never reports other sets as zero: they are left out and the report says why."""
    from typer.testing import CliRunner

    from sigmd.cli import app

    out = tmp_path / "out"
    args = ["screen", str(cohort.results), "--out", str(out), "--records", str(cohort.records)]
    result = CliRunner().invoke(app, [*args, "--as-of", AS_OF.isoformat(), "--no-sensitivity"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [s["reference_set"] for s in summary["reference_set_sensitivity"]] == [summary["reference_set"]]
    assert summary["reference_set_sensitivity"][0]["deficient"] > 0
    assert "skipped" in summary["reference_set_sensitivity_scope"]
    assert "skipped (--no-sensitivity)" in (out / "report.html").read_text(encoding="utf-8")


def test_wilson_interval_comes_from_scipy_and_matches_the_known_value() -> None:
    """3 of 1,000 gives the Wilson 95% interval 0.00102-0.00878."""
    low, high = wilson(3, 1000)
    assert round(low, 5) == 0.00102 and round(high, 5) == 0.00878


def test_published_figures_include_idf_and_goldstein() -> None:
    ids = {f.id for f in published_figures()}
    assert {"idf_partial_adults", "idf_complete_adults", "goldstein_2006_adults", "goldstein_2008_children"} <= ids


@pytest.mark.parametrize("error_key", ["error", "outcome"])
def test_bulk_manifest_with_numeric_observations_is_screened(tmp_path: Path, error_key: str) -> None:
    """A manifest (either error key) pointing at Patient and Observation NDJSON screens the patient."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}

    def obs(code: str, value: float, day: str) -> dict[str, object]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": day,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mg/dL"},
        }

    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    lines = [obs("2472-9", 10, "2025-01-01"), obs("2465-3", 900, "2025-01-01"), obs("2458-8", 150, "2025-01-01")]
    (tmp_path / "Observation.ndjson").write_text("\n".join(json.dumps(o) for o in lines) + "\n", encoding="utf-8")
    manifest = {
        "output": [
            {"type": "Patient", "url": "https://x/Patient.ndjson"},
            {"type": "Observation", "url": "https://x/Observation.ndjson"},
        ],
        error_key: [],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = screen(tmp_path / "manifest.json", tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used, result.patients) == (3, 3, 1)
    assert result.summary["labels"] == {"partial_sigmd/provisional": 1}


def test_importing_sigmd_does_not_import_the_engines() -> None:
    """`import sigmd` and the core load no duckdb, pyarrow or pyspark."""
    code = "import sys, sigmd, sigmd.core.assessment, sigmd.screening.cli; print(sorted(m for m in ('duckdb','pyarrow','pyspark') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
