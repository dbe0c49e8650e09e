"""FHIR output: the assessment as a Bundle that validates with the FHIR models and matches its golden file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from sigmd.cli import app

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden" / "fhir"
runner = CliRunner()


def _fhir(example: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "out.json"
    result = runner.invoke(
        app, ["assess", str(ROOT / "examples" / example), "--as-of", "2026-11-01", "--json", "--fhir-out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    bundle: dict[str, object] = json.loads(out.read_text())
    return bundle


def test_fhir_bundle_validates_and_carries_verdict_and_disclaimer(tmp_path: Path) -> None:
    """The RiskAssessment names the label, certainty and profile, and notes the disclaimer."""
    bundle = _fhir("secondary-clozapine.json", tmp_path)
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]  # type: ignore[index, union-attr]
    risk = resources[0]
    assert risk["resourceType"] == "RiskAssessment"
    assert risk["prediction"][0]["outcome"]["coding"][0]["code"] == "secondary_low_igm"
    assert risk["method"]["coding"][0]["code"] == "idf"
    assert any("does not replace" in n["text"] for n in risk["note"])
    issues = {r["code"]["coding"][0]["code"] for r in resources if r["resourceType"] == "DetectedIssue"}
    assert {"clozapine", "cll", "measure_igg_subclasses", "rule_out_leukaemia_lymphoma"} <= issues


def test_fhir_output_matches_golden(tmp_path: Path) -> None:
    """The FHIR output for a bundled example is the reviewed golden file (ids are deterministic)."""
    bundle = _fhir("partial-sigmd-persistent.json", tmp_path)
    golden = GOLDEN / "partial-sigmd-persistent.json"
    if os.environ.get("SIGMD_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(bundle, indent=2) + "\n")
    assert bundle == json.loads(golden.read_text())
