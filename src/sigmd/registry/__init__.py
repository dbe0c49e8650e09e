"""The follow-up registry: patients, results, assessments and follow-up plans in SQLite or PostgreSQL.

`Registry` needs the `registry` extra (SQLAlchemy, Alembic, pwdlib) and is imported on first use, so that the
types below and `sigmd registry --help` work without it. See `cli.registry_app` for `sigmd registry ...`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigmd.registry.api import (
    AuditEntry,
    DueEntry,
    ErasureReceipt,
    ImportOutcome,
    LoginOutcome,
    LoginPolicy,
    LoginResult,
    PatientDetail,
    PatientSummary,
    RegistryError,
    Role,
    StoredAssessment,
    UserInfo,
)

if TYPE_CHECKING:
    from sigmd.registry.store import Registry

__all__ = [
    "AuditEntry",
    "DueEntry",
    "ErasureReceipt",
    "ImportOutcome",
    "LoginOutcome",
    "LoginPolicy",
    "LoginResult",
    "PatientDetail",
    "PatientSummary",
    "Registry",
    "RegistryError",
    "Role",
    "StoredAssessment",
    "UserInfo",
]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        try:
            from sigmd.registry.store import Registry
        except ImportError as error:
            raise ImportError(
                f"the sigmd registry needs the registry extra: pip install 'sigmd[registry]' ({error})"
            ) from error
        return Registry
    raise AttributeError(f"module 'sigmd.registry' has no attribute {name!r}")
