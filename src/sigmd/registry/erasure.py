"""Erasing a patient: the rows go, and the audit trail keeps who did what and when but nothing about the patient."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sigmd.registry.api import ErasureReceipt
from sigmd.registry.audit import record_change
from sigmd.registry.models import Assessment, AuditRow, FollowUpPlan, Patient, Result

ERASED = "(erased)"


def _count(session: Session, model: type[Result] | type[Assessment] | type[FollowUpPlan], patient_pk: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.patient_pk == patient_pk)) or 0


def _scrub_import(detail: dict[str, Any], patient_id: str) -> dict[str, Any] | None:
    """An import entry's detail without the patient's identifier (None when it does not name them)."""
    stored = detail.get("stored")
    not_stored = detail.get("not_stored")
    named = (isinstance(stored, list) and patient_id in stored) or (
        isinstance(not_stored, dict) and patient_id in not_stored
    )
    if not named:
        return None
    scrubbed = dict(detail)
    if isinstance(stored, list):
        scrubbed["stored"] = [p for p in stored if p != patient_id]
    if isinstance(not_stored, dict):
        scrubbed["not_stored"] = {p: e for p, e in not_stored.items() if p != patient_id}
    scrubbed["erased"] = int(detail.get("erased", 0)) + 1
    return scrubbed


def erase(session: Session, row: Patient, *, actor: str, now: datetime) -> ErasureReceipt:
    """Delete the patient and everything stored for them, and scrub them from earlier audit entries."""
    patient_id, pk = row.patient_id, row.id
    counts = {
        "results": _count(session, Result, pk),
        "assessments": _count(session, Assessment, pk),
        "follow_up_plans": _count(session, FollowUpPlan, pk),
    }
    reference = "erasure-" + secrets.token_hex(6)
    session.execute(delete(FollowUpPlan).where(FollowUpPlan.patient_pk == pk))
    session.execute(delete(Assessment).where(Assessment.patient_pk == pk))
    session.execute(delete(Result).where(Result.patient_pk == pk))
    session.expunge(row)
    session.execute(delete(Patient).where(Patient.id == pk))
    scrubbed = 0
    for entry in session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id)):
        entry.patient_id = None
        entry.entity_id = ERASED if entry.entity_id == patient_id else entry.entity_id
        entry.detail = {"erased": reference}
        scrubbed += 1
    for entry in session.scalars(select(AuditRow).where(AuditRow.action == "import")):
        detail = _scrub_import(entry.detail, patient_id)
        if detail is not None:
            entry.detail = detail
            scrubbed += 1
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.erase",
        entity="patient",
        entity_id=reference,
        detail={**counts, "audit_entries_scrubbed": scrubbed},
    )
    return ErasureReceipt(reference=reference, audit_entries_scrubbed=scrubbed, **counts)
