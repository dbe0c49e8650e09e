"""The registry's public types (no database library): roles, users, stored assessments, the due list, audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sigmd.core.model import Case
from sigmd.render.machine import ReportDocument


class RegistryError(Exception):
    """A registry request that cannot be carried out; the message names the field and the value."""


class Role(StrEnum):
    VIEWER = "viewer"
    """May read patients, assessments, the follow-up list and screening reports."""
    CLINICIAN = "clinician"
    """A viewer who may also record and import results and run screenings."""
    ADMIN = "admin"
    """A clinician who may also manage users."""


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None
    """When an administrator disabled the account (it cannot sign in); None while it is active."""

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class LoginOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    """Unknown account or wrong password (the two are not told apart)."""
    LOCKED = "locked"
    """Too many recent failures for this account or client address: refused without checking the password."""
    DISABLED = "disabled"
    """The password was right but an administrator has disabled the account."""


@dataclass(frozen=True)
class LoginPolicy:
    """Limits on password guessing (sigmd defaults; see docs/web-and-registry.md for the reasoning)."""

    max_failures: int = 5
    """Failed attempts for one account name within `window_seconds` that lock it."""
    window_seconds: int = 60
    lock_seconds: int = 15 * 60
    """How long a lock lasts; attempts during a lock are refused and do not extend it."""
    address_max_failures: int = 30
    """Failed attempts from one client address within the window that lock that address (0: no address limit)."""


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: UserInfo | None = None
    """The account, on success only."""
    locked_until: datetime | None = None
    """When the lock that refused this attempt (or that this failure started) ends."""


@dataclass(frozen=True)
class StoredAssessment:
    id: int
    patient_id: str
    created_at: datetime
    actor: str
    as_of: date
    profile_id: str
    reference_set_id: str
    content_version: str
    label: str
    """The diagnosis label, e.g. `partial_sigmd`."""
    certainty: str
    next_follow_up: date | None
    report: ReportDocument
    """The report as it was made and stored: the primary profile, with `by_profile` comparing every profile."""
    source: str = ""
    """How the results behind it arrived (`manual`, `import case-json file.json`)."""
    patient_ref: str = ""
    """The patient's opaque reference for page addresses."""


@dataclass(frozen=True)
class PatientSummary:
    patient_id: str
    display_name: str | None
    sex: str
    birth_date: date | None
    label: str | None
    """From the latest assessment."""
    certainty: str | None
    last_assessed: datetime | None
    next_follow_up: date | None
    profile_id: str | None = None
    """Rule profile of the latest assessment."""
    reference_set_id: str | None = None
    """Reference set of the latest assessment."""
    ref: str = ""
    """The patient's opaque reference for page addresses (never the identifier itself)."""


@dataclass(frozen=True)
class PatientDetail:
    summary: PatientSummary
    case: Case
    """Everything stored for the patient, as the core reads it."""
    assessments: list[StoredAssessment]
    """Newest first."""


@dataclass(frozen=True)
class DueEntry:
    patient_id: str
    display_name: str | None
    next_follow_up: date
    days_until: int
    """Negative when overdue."""
    status: str
    """`overdue`, or `due` (within the window asked for)."""
    label: str | None
    tests: list[str]
    """Tests the plan names for that visit."""
    profile_id: str | None = None
    reference_set_id: str | None = None
    reason: str = ""
    """Why the plan set this date."""
    ref: str = ""
    """The patient's opaque reference for page addresses."""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    """`user.create`, `user.role`, `user.disable`, `user.enable`, `user.password`, `login.success`, `login.failure`,
    `login.locked`, `login.disabled`, `patient.create`, `patient.update`, `patient.erase`, `results.add`,
    `assessment.create`, `import`."""
    entity: str
    """`user`, `patient`, `result`, `assessment`, `file`."""
    entity_id: str
    detail: dict[str, Any]
    patient_id: str | None = None


@dataclass(frozen=True)
class ErasureReceipt:
    """What an erasure removed, by count only (no patient data), and the reference of its audit entry."""

    reference: str
    results: int
    assessments: int
    follow_up_plans: int
    audit_entries_scrubbed: int


@dataclass(frozen=True)
class ImportOutcome:
    patient_id: str
    assessment: StoredAssessment | None
    error: str | None
    """Why this patient was not stored (the other patients still are)."""
