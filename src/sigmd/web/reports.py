"""The assessment report a page shows: the typed report of the core, never text of our own."""

from __future__ import annotations

from datetime import date

from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.render.machine import ReportDocument
from sigmd.report import assess_every_profile


def build_report(
    case: Case,
    knowledge: Knowledge,
    *,
    as_of: date,
    patient_id: str | None,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
) -> ReportDocument:
    """The report under the chosen profile with `by_profile`: the verdict under every profile.

    This is what the registry stores (`StoredAssessment.report`), so a preview and a saved
    assessment render the same. Raises `InputError` or `AssessmentError` for a case that cannot be assessed.
    """
    return assess_every_profile(
        case, knowledge, as_of=as_of, patient_id=patient_id, profile_id=profile_id, reference_set_id=reference_set_id
    ).document
