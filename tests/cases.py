"""Compact builders for synthetic cases used across the tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from sigmd.adapters.case_json import case_from_dict
from sigmd.core.assessment import Assessment, assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case

AS_OF = date(2026, 11, 1)
NOT_GIVEN: Any = object()


def build_case(
    knowledge: Knowledge,
    *results: tuple[Any, ...],
    birth_date: str = "1980-05-01",
    sex: str = "female",
    conditions: Any = (),
    medications: Any = (),
    vaccine_responses: list[dict[str, str]] | None = None,
    t_cell_defect: bool | None = None,
    **extra: Any,
) -> Case:
    """A synthetic case; each result is (analyte, value, unit, date[, reference_range]); `extra` adds case fields."""
    document: dict[str, Any] = {
        "patient": {"birth_date": birth_date, "sex": sex},
        "results": [
            {
                "analyte": r[0],
                "value": r[1],
                "unit": r[2],
                "date": r[3],
                **({"reference_range": r[4]} if len(r) > 4 else {}),
            }
            for r in results
        ],
    }
    if conditions is not NOT_GIVEN:
        document["conditions"] = [{"text": c} if isinstance(c, str) else c for c in conditions]
    if medications is not NOT_GIVEN:
        document["medications"] = [{"text": m} if isinstance(m, str) else m for m in medications]
    if vaccine_responses is not None:
        document["vaccine_responses"] = vaccine_responses
    if t_cell_defect is not None:
        document["t_cell_defect"] = t_cell_defect
    document.update(extra)
    return case_from_dict(document, knowledge)


def run(knowledge: Knowledge, case: Case, profile: str = "idf", reference: str | None = None) -> Assessment:
    return assess(case, knowledge, as_of=AS_OF, profile_id=profile, reference_set_id=reference)


def outcome(assessment: Assessment, criterion_id: str) -> str:
    return next(c.outcome.value for c in assessment.criteria if c.id == criterion_id)


def adult_normal_igg_iga(day: str) -> list[tuple[Any, ...]]:
    return [("IgG", 1000, "mg/dL", day), ("IgA", 180, "mg/dL", day)]


def normal_subclasses(day: str) -> list[tuple[Any, ...]]:
    return [
        ("IgG1", 600, "mg/dL", day),
        ("IgG2", 300, "mg/dL", day),
        ("IgG3", 60, "mg/dL", day),
        ("IgG4", 40, "mg/dL", day),
    ]


NORMAL_BLOOD_COUNT = {"blood_count": {"date": "2026-07-14", "result": "normal"}}
