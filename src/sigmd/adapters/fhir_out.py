"""The assessment as FHIR resources (R4B models of fhir.resources; see `sigmd.adapters.fhir` for why R4B).

A `collection` Bundle holds one RiskAssessment carrying the verdict (coded in sigmd's own code system and, where
sourced, ICD-10 and MONDO), its reasons, the results it rests on (as references to the source Observations when
they had ids), the profile and reference set used and the disclaimer; a Condition (verificationStatus
provisional or confirmed) when the label names a disorder (`sigmd/data/diagnosis_codes.toml` says which); and one
DetectedIssue per actionable finding: each missing work-up item, each possible secondary cause and each
progression alert. It is built from the machine output (`sigmd.render.machine`), so it says exactly what the
JSON says. Ids are name-based UUIDs, so the same assessment gives the same Bundle.

sigmd's own codes (labels, certainties, profiles, work-up items, secondary causes, alerts) are in code systems
named by `urn:uuid:` canonical identifiers (`SIGMD_CODE_SYSTEMS`), which are globally unique without claiming a
web domain; docs/fhir-output.md lists them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sigmd.adapters.fhir import require_fhir_resources
from sigmd.core.knowledge import Label
from sigmd.terminology import diagnosis_codes

_NAMESPACE = uuid.UUID("5b1e8d4c-3f1a-4c2e-9a6b-7d0e2f9c1a11")

SIGMD_CODE_SYSTEMS: dict[str, str] = {
    kind: f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'sigmd code system {kind}')}"
    for kind in ("diagnosis", "certainty", "profile", "workup", "secondary-cause", "alert")
}
"""Canonical identifiers of sigmd's own code systems, one per kind of code (stable across versions)."""

CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_OBSERVATION_REFERENCE = re.compile(r"Observation/[A-Za-z0-9\-.]{1,64}")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def _issue(
    report: dict[str, Any], patient_ref: str, kind: str, code: str, detail: str, severity: str, reference: str
) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{_uuid(patient_ref, report['as_of'], kind, code)}",
        "resource": {
            "resourceType": "DetectedIssue",
            "id": _uuid(patient_ref, report["as_of"], kind, code),
            "status": "final",
            "code": {"coding": [{"system": SIGMD_CODE_SYSTEMS[kind], "code": code}], "text": code.replace("_", " ")},
            "severity": severity,
            "patient": {"reference": patient_ref},
            "identifiedDateTime": report["as_of"],
            "detail": detail,
            "reference": reference or None,
        },
    }


def _basis(result: dict[str, Any]) -> dict[str, str]:
    """A result the verdict rests on: a reference to its source Observation when it had an id, and a display."""
    display = f"{result['analyte']} {result['reported']} on {result['date']}: {result['status']}"
    origin = str(result.get("origin", ""))
    if _OBSERVATION_REFERENCE.fullmatch(origin):
        return {"reference": origin, "display": display}
    return {"display": display}


def _condition(report: dict[str, Any], patient_ref: str, code: dict[str, Any], risk_id: str) -> dict[str, Any]:
    """The suggested diagnosis as a Condition: provisional unless the verdict is confirmed under the profile."""
    diagnosis = report["diagnosis"]
    condition_id = _uuid(patient_ref, report["as_of"], diagnosis["profile"], "condition")
    verification = "confirmed" if diagnosis["certainty"] == "confirmed" else "provisional"
    return {
        "fullUrl": f"urn:uuid:{condition_id}",
        "resource": {
            "resourceType": "Condition",
            "id": condition_id,
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": verification}]},
            "code": code,
            "subject": {"reference": patient_ref},
            "recordedDate": report["as_of"],
            "evidence": [{"detail": [{"reference": f"urn:uuid:{risk_id}"}]}],
            "note": [
                {
                    "text": f"Suggested by sigmd under rule profile {report['profile']['id']} and reference set "
                    f"{report['reference_set']['id']}: {diagnosis['summary']}"
                },
                {"text": report["disclaimer"]},
            ],
        },
    }


def assessment_to_fhir(report: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    """A FHIR collection Bundle (as a JSON-ready dict, validated with fhir.resources) for one assessment."""
    require_fhir_resources()
    from fhir.resources.R4B.bundle import Bundle

    diagnosis = report["diagnosis"]
    coding = diagnosis_codes()[Label(diagnosis["label"])]
    outcome = {
        "coding": [
            {"system": SIGMD_CODE_SYSTEMS["diagnosis"], "code": diagnosis["label"]},
            *({"system": code.system, "code": code.code, "display": code.display} for code in coding.codes),
        ],
        "text": diagnosis["label"].replace("_", " "),
    }
    risk_id = _uuid(patient_ref, report["as_of"], diagnosis["profile"], "risk")
    notes = [diagnosis["summary"], *diagnosis["reasons"]]
    notes.append(
        f"Rule profile {report['profile']['id']} ({report['profile']['name']}); reference set "
        f"{report['reference_set']['id']} ({report['reference_set']['name']}); content version {report['content_version']}."
    )
    notes += [f"Warning: {w}" for w in report["warnings"]]
    notes.append(report["disclaimer"])
    risk = {
        "resourceType": "RiskAssessment",
        "id": risk_id,
        "status": "final",
        "subject": {"reference": patient_ref},
        "occurrenceDateTime": report["as_of"],
        "method": {
            "coding": [{"system": SIGMD_CODE_SYSTEMS["profile"], "code": report["profile"]["id"]}],
            "text": report["profile"]["name"],
        },
        "basis": [_basis(result) for result in report["results"]],
        "prediction": [
            {
                "outcome": outcome,
                "qualitativeRisk": {
                    "coding": [{"system": SIGMD_CODE_SYSTEMS["certainty"], "code": diagnosis["certainty"]}],
                    "text": diagnosis["certainty"],
                },
                "rationale": report["pattern"]["reason"],
            }
        ],
        "note": [{"text": text} for text in notes],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{risk_id}", "resource": risk}]
    if coding.condition:
        entries.append(_condition(report, patient_ref, outcome, risk_id))
    for item in report["workup"]:
        detail = f"{item['text']} Reason: {item['reason']}. Source: {item['source']['title']}."
        entries.append(
            _issue(report, patient_ref, "workup", item["id"], detail, "moderate", item["source"].get("url", ""))
        )
    for match in report["secondary_causes"]:
        detail = f"Possible secondary cause of low IgM: {match['name']} ({match['matched_on']}); {match['mechanism']}."
        entries.append(
            _issue(report, patient_ref, "secondary-cause", match["id"], detail, "high", match["source"].get("url", ""))
        )
    for alert in report["alerts"]:
        entries.append(_issue(report, patient_ref, "alert", alert["id"], alert["text"], "high", ""))
    for entry in entries:
        resource = entry["resource"]
        if resource.get("reference") is None:
            resource.pop("reference", None)
    bundle = {
        "resourceType": "Bundle",
        "id": _uuid(patient_ref, report["as_of"], diagnosis["profile"], "bundle"),
        "type": "collection",
        "timestamp": f"{report['as_of']}T00:00:00Z",
        "entry": entries,
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
    return validated
