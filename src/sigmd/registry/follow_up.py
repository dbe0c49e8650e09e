"""The follow-up list: patients whose latest assessment plans a review that is due or overdue."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from sigmd.registry.api import DueEntry, RegistryError
from sigmd.registry.models import Assessment, FollowUpPlan, Patient


def latest_assessments() -> Subquery:
    """(patient_pk, assessment_id) of each patient's newest assessment (ids only grow, so the largest is newest)."""
    return (
        select(Assessment.patient_pk, func.max(Assessment.id).label("assessment_id"))
        .group_by(Assessment.patient_pk)
        .subquery("latest")
    )


def due_for_follow_up(session: Session, as_of: date, *, within_days: int) -> list[DueEntry]:
    """Patients whose plan's next review is before `as_of` (overdue) or within `within_days` of it (due)."""
    if within_days < 0:
        raise RegistryError(f"within_days: {within_days!r} is negative; give the number of days ahead to include")
    latest = latest_assessments()
    query = (
        select(
            Patient.patient_id,
            Patient.public_id,
            Patient.display_name,
            FollowUpPlan.next_follow_up,
            FollowUpPlan.tests,
            FollowUpPlan.reason,
            Assessment.label,
            Assessment.profile_id,
            Assessment.reference_set_id,
        )
        .join(latest, latest.c.patient_pk == Patient.id)
        .join(Assessment, Assessment.id == latest.c.assessment_id)
        .join(FollowUpPlan, FollowUpPlan.assessment_id == Assessment.id)
        .where(FollowUpPlan.next_follow_up <= as_of + timedelta(days=within_days))
        .order_by(FollowUpPlan.next_follow_up, Patient.patient_id)
    )
    entries = []
    for row in session.execute(query):
        days = (row.next_follow_up - as_of).days
        entries.append(
            DueEntry(
                patient_id=row.patient_id,
                display_name=row.display_name,
                next_follow_up=row.next_follow_up,
                days_until=days,
                status="overdue" if days < 0 else "due",
                label=row.label,
                tests=list(row.tests),
                profile_id=row.profile_id,
                reference_set_id=row.reference_set_id,
                reason=row.reason,
                ref=row.public_id,
            )
        )
    return entries
