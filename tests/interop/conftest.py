"""Shared fixtures for the interoperability tests: knowledge and synthetic patients."""

from __future__ import annotations

from typing import Any

import pytest

from sigmd import content
from sigmd.core.knowledge import Knowledge


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return content.load()


def observation(
    obs_id: str, loinc: str, value: float, unit: str, when: str, subject: str = "Patient/p1", **extra: Any
) -> dict[str, Any]:
    """A synthetic immunoglobulin Observation."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
    resource.update(extra)
    return resource


def patient(patient_id: str, birth: str = "1980-05-01", gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": patient_id, "birthDate": birth, "gender": gender}


def bundle(*resources: dict[str, Any], bundle_type: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": bundle_type, "entry": [{"resource": r} for r in resources]}


def low_igm_bundle() -> dict[str, Any]:
    """Synthetic adult woman with IgM twice below the age limit, normal IgG and IgA, and a leukaemia code."""
    return bundle(
        patient("p1"),
        observation(
            "igm1",
            "2472-9",
            15,
            "mg/dL",
            "2024-01-10",
            referenceRange=[
                {
                    "low": {"value": 40, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
                    "high": {"value": 230, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
                }
            ],
        ),
        {
            **observation("igm2", "2472-9", 0.1, "g/L", "2024-09-01"),
            "effectiveDateTime": None,
            "effectivePeriod": {"start": "2024-09-01T08:00:00Z"},
        },
        observation("igg", "2465-3", 10.5, "g/L", "2024-01-10"),
        observation("iga", "2458-8", 210, "mg/dL", "2024-01-10"),
        observation("igm-error", "2472-9", 500, "mg/dL", "2024-02-01", status="entered-in-error"),
        observation("glucose", "15074-8", 6.3, "mmol/L", "2024-01-10"),
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient/p1"},
            "code": {
                "coding": [{"system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm", "code": "C91.1"}],
                "text": "Chronic lymphocytic leukaemia",
            },
        },
        {
            "resourceType": "MedicationStatement",
            "id": "m1",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": "386849001"}],
                "text": "Aspirin",
            },
        },
    )
