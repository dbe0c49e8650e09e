"""The assessment as FHIR resources (R4B models of fhir.resources; see `sigmd.adapters.fhir` for why R4B).

A `collection` Bundle holds one RiskAssessment carrying the verdict, its reasons, the profile and reference set
used and the disclaimer, and one DetectedIssue per actionable finding: each missing work-up item, each possible
secondary cause and each progression alert. It is built from the machine output (`sigmd.render.machine`), so it
says exactly what the JSON says. Ids are name-based UUIDs, so the same assessment gives the same Bundle.
"""

from __future__ import annotations

import uuid
from typing import Any

from sigmd.adapters.fhir import require_fhir_resources

_NAMESPACE = uuid.UUID("5b1e8d4c-3f1a-4c2e-9a6b-7d0e2f9c1a11")
SIGMD_SYSTEM = "https://sigmd.example/fhir/CodeSystem"


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
            "code": {"coding": [{"system": f"{SIGMD_SYSTEM}/{kind}", "code": code}], "text": code.replace("_", " ")},
            "severity": severity,
            "patient": {"reference": patient_ref},
            "identifiedDateTime": report["as_of"],
            "detail": detail,
            "reference": reference or None,
        },
    }


def assessment_to_fhir(report: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    """A FHIR collection Bundle (as a JSON-ready dict, validated with fhir.resources) for one assessment."""
    require_fhir_resources()
    from fhir.resources.R4B.bundle import Bundle

    diagnosis = report["diagnosis"]
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
            "coding": [{"system": f"{SIGMD_SYSTEM}/profile", "code": report["profile"]["id"]}],
            "text": report["profile"]["name"],
        },
        "basis": [
            {"display": f"{r['analyte']} {r['reported']} on {r['date']}: {r['status']}"} for r in report["results"]
        ],
        "prediction": [
            {
                "outcome": {
                    "coding": [{"system": f"{SIGMD_SYSTEM}/diagnosis", "code": diagnosis["label"]}],
                    "text": diagnosis["label"].replace("_", " "),
                },
                "qualitativeRisk": {
                    "coding": [{"system": f"{SIGMD_SYSTEM}/certainty", "code": diagnosis["certainty"]}],
                    "text": diagnosis["certainty"],
                },
                "rationale": report["pattern"]["reason"],
            }
        ],
        "note": [{"text": text} for text in notes],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{risk_id}", "resource": risk}]
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
