"""The audit log: every change, written in the transaction that makes it, and read back newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmd.registry.api import AuditEntry
from sigmd.registry.models import AuditRow


def record_change(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    detail: dict[str, Any],
    patient_id: str | None = None,
) -> None:
    """Add one audit row to the session's transaction (so it commits or rolls back with the change)."""
    session.add(
        AuditRow(
            at=at,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            patient_id=patient_id,
            detail=detail,
        )
    )


def read_audit(session: Session, *, patient_id: str | None, limit: int) -> list[AuditEntry]:
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if patient_id is not None:
        query = query.where(AuditRow.patient_id == patient_id)
    return [
        AuditEntry(
            at=row.at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            detail=row.detail,
            patient_id=row.patient_id,
        )
        for row in session.scalars(query)
    ]
