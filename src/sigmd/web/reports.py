"""The assessment report a page shows: the machine output of the core, never text of our own."""

from __future__ import annotations

from datetime import date
from typing import Any

from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.render.machine import report_under_every_profile


def build_report(
    case: Case,
    knowledge: Knowledge,
    *,
    as_of: date,
    patient_id: str | None,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
) -> dict[str, Any]:
    """`assessment_json` under the chosen profile plus `by_profile`: the verdict under every profile.

    This is the shape the registry stores (`StoredAssessment.report`), so a preview and a saved
    assessment render the same. Raises `InputError` or `AssessmentError` for a case that cannot be assessed.
    """
    _, report = report_under_every_profile(
        case, knowledge, as_of=as_of, patient_id=patient_id, profile_id=profile_id, reference_set_id=reference_set_id
    )
    return report


def management(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Recommendations that are not work-up items (the terminal report draws the same line)."""
    workup = {item["id"] for item in report.get("workup", [])}
    return [r for r in report.get("recommendations", []) if r["id"] not in workup]
