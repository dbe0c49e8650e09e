"""The registry's tables (SQLAlchemy 2 typed ORM); the Alembic migrations in `migrations/` create them."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Dialect, Double, ForeignKey, Index, MetaData, String, Text, TypeDecorator
from sqlalchemy import DateTime as SQLDateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it as naive UTC text)."""

    impl = SQLDateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp: {value.isoformat()!r} has no time zone; the registry stores UTC")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        float: Double(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    """Set when an administrator disables the account: it cannot sign in and its sessions end."""
    password_changed_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in web session: the cookie carries the token, the registry its hash; sign-out revokes the row."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the session token (hex): a copy of the database does not hold usable session tokens."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins counted per account name (hashed) and per client address, shared by every process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int]
    """Failures since `window_started`."""
    window_started: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(200), unique=True)
    """The identifier the patient is known by (the case id, the FHIR Patient id, PID-3)."""
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(16))
    """An opaque random reference for page addresses, so that no identifier appears in a URL."""
    display_name: Mapped[str | None] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(16))
    birth_date: Mapped[date]
    birth_date_is_estimated: Mapped[bool]
    context: Mapped[dict[str, Any]]
    """Everything but demographics and results, as a case-document fragment (`case_to_dict`)."""
    origins: Mapped[dict[str, Any]]
    """Where conditions and medications came from (`Condition/c1`), by list and position."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    results: Mapped[list[Result]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", order_by="Result.id"
    )


class Result(Base):
    """One immunoglobulin result: canonical mg/dL with its comparator, and the value and unit as reported."""

    __tablename__ = "results"
    __table_args__ = (Index(None, "patient_pk", "analyte", "collected"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    analyte: Mapped[str] = mapped_column(String(8))
    collected: Mapped[date]
    value_mg_dl: Mapped[float]
    comparator: Mapped[str] = mapped_column(String(2))
    reported_value: Mapped[str] = mapped_column(String(64))
    reported_unit: Mapped[str] = mapped_column(String(32))
    range_low_mg_dl: Mapped[float | None]
    range_high_mg_dl: Mapped[float | None]
    range_text: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(200))

    patient: Mapped[Patient] = relationship(back_populates="results")


class Assessment(Base):
    """An assessment as stored: the machine report and what it was computed with."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    as_of: Mapped[date]
    profile_id: Mapped[str] = mapped_column(String(64))
    reference_set_id: Mapped[str] = mapped_column(String(64))
    content_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    certainty: Mapped[str] = mapped_column(String(32))
    next_follow_up: Mapped[date | None]
    report: Mapped[dict[str, Any]]


class FollowUpPlan(Base):
    """The follow-up plan of one assessment: the next review date and the tests for that visit."""

    __tablename__ = "follow_up_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), unique=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    next_follow_up: Mapped[date] = mapped_column(index=True)
    interval: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    tests: Mapped[list[str]]


class AuditRow(Base):
    """Who changed what, and when; written in the same transaction as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(200), index=True)
    """The patient concerned, by identifier (kept even if the patient row goes)."""
    detail: Mapped[dict[str, Any]]


class CDSFeedbackRow(Base):
    """One CDS Hooks feedback entry (a card accepted or overridden in a CDS client); see `registry.feedback`."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime]
    service_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(200))
    """The calling client's `iss`, or `(development)` when authentication is off."""
    card_uuid: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_at: Mapped[datetime]
    accepted_suggestions: Mapped[list[str]]
    override_reason: Mapped[dict[str, Any] | None]
