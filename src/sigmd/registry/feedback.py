"""CDS Hooks feedback kept in the registry (table `cds_feedback`, migration 0003).

`CardFeedback` is the typed entry the CDS Hooks service reads from a feedback call (CDS Hooks 2.0, "Feedback");
`RegistryFeedbackStore` writes entries in one transaction and reads them back; a database failure while writing
becomes `FeedbackNotStoredError`, which the service answers with 503. Free text a clinician typed
(`overrideReason.userComment`) is stored as sent, like any other clinical note in the registry, and never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigmd.registry.store import Registry


class FeedbackNotStoredError(Exception):
    """The feedback could not be stored (the database failed); nothing of the call was kept.

    The message names the kind of failure only: a database error's own text can quote the values it was
    writing (a clinician's comment), so it is neither logged nor passed on.
    """


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class CardFeedback:
    """What a clinician did with one card: accepted suggestions of it, or overrode it (with a reason or not)."""

    card: str
    outcome: Outcome
    outcome_at: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: dict[str, Any] | None = None
    """`{"reason": {Coding}, "userComment": "..."}` as sent, or None."""


@dataclass(frozen=True)
class StoredFeedback:
    received_at: datetime
    service_id: str
    client: str
    feedback: CardFeedback


@dataclass
class RegistryFeedbackStore:
    """Keeps feedback in the registry's `cds_feedback` table."""

    registry: Registry

    def keep(self, entries: Sequence[CardFeedback], *, service_id: str, client: str, received_at: datetime) -> None:
        """Store the entries in one transaction: all or none. `FeedbackNotStoredError` if the database fails."""
        from sqlalchemy.exc import SQLAlchemyError

        from sigmd.registry.models import CDSFeedbackRow

        database = self.registry._db  # the registry package's own handle on its database
        try:
            with database.writing() as session:
                session.add_all(
                    CDSFeedbackRow(
                        received_at=received_at,
                        service_id=service_id,
                        client=client[:200],
                        card_uuid=entry.card,
                        outcome=entry.outcome.value,
                        outcome_at=entry.outcome_at,
                        accepted_suggestions=list(entry.accepted_suggestions),
                        override_reason=entry.override_reason,
                    )
                    for entry in entries
                )
        except SQLAlchemyError as error:
            raise FeedbackNotStoredError(f"the registry database failed ({type(error).__name__})") from None

    def entries(self, *, card: str | None = None, limit: int = 200) -> list[StoredFeedback]:
        """Stored feedback, newest first; only that of `card` when given."""
        from sqlalchemy import select

        from sigmd.registry.models import CDSFeedbackRow

        query = select(CDSFeedbackRow).order_by(CDSFeedbackRow.id.desc()).limit(limit)
        if card is not None:
            query = query.where(CDSFeedbackRow.card_uuid == card)
        with self.registry._db.reading() as session:
            rows = session.scalars(query).all()
        return [
            StoredFeedback(
                row.received_at,
                row.service_id,
                row.client,
                CardFeedback(
                    row.card_uuid,
                    Outcome(row.outcome),
                    row.outcome_at,
                    tuple(row.accepted_suggestions),
                    row.override_reason,
                ),
            )
            for row in rows
        ]
