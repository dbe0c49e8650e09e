"""FHIR output: the assessment as a Bundle in standard terminology, valid under the FHIR R4 JSON Schema and the
FHIR models, and matching its golden file."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from sigmd.adapters.fhir_out import SIGMD_CODE_SYSTEMS, assessment_to_fhir
from sigmd.cli import app
from sigmd.core.knowledge import Label
from sigmd.terminology import ICD10_SYSTEM, MONDO_SYSTEM, diagnosis_codes

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden" / "fhir"
runner = CliRunner()
SCHEMA = ROOT / ".cache" / "fhir-r4-schema" / "fhir.schema.json"


@functools.cache
def _r4_bundle_validator() -> jsonschema.Draft6Validator:
    """The official FHIR R4 JSON Schema (fetched by scripts/test-assets.sh, which `make test` runs)."""
    if not SCHEMA.exists():
        subprocess.run([str(ROOT / "scripts" / "test-assets.sh")], check=True)
    definitions = json.loads(SCHEMA.read_text(encoding="utf-8"))["definitions"]
    return jsonschema.Draft6Validator({"$ref": "#/definitions/Bundle", "definitions": definitions})


def _schema_errors(bundle: dict[str, Any]) -> list[str]:
    return [
        f"{list(error.absolute_path)}: {error.message[:200]}" for error in _r4_bundle_validator().iter_errors(bundle)
    ]


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


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize(
    "example",
    ["partial-sigmd-persistent.json", "secondary-clozapine.json", "fhir-bundle-low-igm.json", "child-transient.json"],
)
def test_fhir_output_is_valid_under_the_r4_json_schema(example: str, tmp_path: Path) -> None:
    """Every bundled example's FHIR output validates against the official FHIR R4 JSON Schema."""
    assert _schema_errors(_fhir(example, tmp_path)) == []


def test_the_r4_json_schema_check_can_fail(tmp_path: Path) -> None:
    """An element that R4 does not define is reported by the schema check, so a pass means something."""
    bundle = _fhir("partial-sigmd-persistent.json", tmp_path)
    bundle["entry"][0]["resource"]["verdict"] = "partial"  # type: ignore[index]
    assert _schema_errors(bundle)


def test_sigmd_verdict_is_coded_in_icd10_and_mondo_with_a_provisional_condition(tmp_path: Path) -> None:
    """Persistent low IgM with normal IgG and IgA is coded D80.4 and MONDO:0018039, with a provisional Condition."""
    bundle = _fhir("partial-sigmd-persistent.json", tmp_path)
    [risk] = _resources(bundle, "RiskAssessment")
    codes = {(c["system"], c["code"]) for c in risk["prediction"][0]["outcome"]["coding"]}
    assert {(ICD10_SYSTEM, "D80.4"), (MONDO_SYSTEM, "MONDO:0018039")} <= codes
    [condition] = _resources(bundle, "Condition")
    assert {(c["system"], c["code"]) for c in condition["code"]["coding"]} == codes
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert condition["evidence"][0]["detail"][0]["reference"] == bundle["entry"][0]["fullUrl"]


def test_a_secondary_low_igm_is_not_coded_as_a_primary_deficiency(tmp_path: Path) -> None:
    """Low IgM explained by clozapine gets no D80.4 and no Condition: the primary-deficiency code would be wrong."""
    bundle = _fhir("secondary-clozapine.json", tmp_path)
    [risk] = _resources(bundle, "RiskAssessment")
    assert all(c["system"] != ICD10_SYSTEM for c in risk["prediction"][0]["outcome"]["coding"])
    assert _resources(bundle, "Condition") == []


def test_a_confirmed_verdict_gives_a_confirmed_condition(tmp_path: Path) -> None:
    """A verdict confirmed under its profile becomes a Condition with verificationStatus confirmed."""
    report = json.loads(
        runner.invoke(
            app, ["assess", str(ROOT / "examples" / "partial-sigmd-persistent.json"), "--as-of", "2026-11-01", "--json"]
        ).stdout
    )
    report["diagnosis"]["certainty"] = "confirmed"
    bundle = assessment_to_fhir(report, "Patient/p1")
    [condition] = _resources(bundle, "Condition")
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert _schema_errors(bundle) == []


def test_basis_references_the_source_observations_by_id(tmp_path: Path) -> None:
    """Results read from FHIR Observations with ids are referenced in RiskAssessment.basis; others are described."""
    fhir_basis = _resources(_fhir("fhir-bundle-low-igm.json", tmp_path), "RiskAssessment")[0]["basis"]
    assert fhir_basis and all(b["reference"].startswith("Observation/") for b in fhir_basis)
    json_basis = _resources(_fhir("partial-sigmd-persistent.json", tmp_path), "RiskAssessment")[0]["basis"]
    assert json_basis and all("reference" not in b and b["display"] for b in json_basis)


def test_sigmd_codes_use_its_documented_canonical_identifiers(tmp_path: Path) -> None:
    """sigmd's own codes are in the code systems documented in docs/fhir-output.md, never a placeholder domain."""
    text = json.dumps(_fhir("secondary-clozapine.json", tmp_path))
    docs = (ROOT / "docs" / "fhir-output.md").read_text(encoding="utf-8")
    assert ".example/" not in text
    assert all(system in docs for system in SIGMD_CODE_SYSTEMS.values())
    assert all(system in text for kind, system in SIGMD_CODE_SYSTEMS.items() if kind in ("diagnosis", "profile"))


def test_every_label_has_a_coding_entry_and_conditions_have_codes() -> None:
    """Each diagnosis label is listed in diagnosis_codes.toml, and every label that makes a Condition has a code."""
    codings = diagnosis_codes()
    assert set(codings) == set(Label)
    assert all(c.codes for c in codings.values() if c.condition)
