"""Revision 0002 upgrades a registry that already holds patients and accounts, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from sigmd.registry import LoginOutcome, Registry, accounts
from sigmd.registry.database import alembic_config
from tests.registry.conftest import BACKENDS

INSERT_PATIENT = (
    "INSERT INTO patients (patient_id, display_name, sex, birth_date, birth_date_is_estimated, context, origins, "
    "created_at, updated_at) VALUES (:pid, NULL, 'female', '1980-05-01', false, '{}', '{}', :now, :now)"
)


@pytest.fixture(params=BACKENDS)
def at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database migrated to revision 0001 only, holding two patients and one account."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/registry.sqlite3"
    else:
        url = request.getfixturevalue("postgres").new_database()
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        for pid in ("old-1", "old-2"):
            connection.execute(text(INSERT_PATIENT), {"pid": pid, "now": "2026-01-01 00:00:00"})
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, role, created_at) "
                "VALUES ('ann', :hash, 'admin', '2026-01-01 00:00:00')"
            ),
            {"hash": accounts._hasher().hash("correct horse battery")},
        )
    yield url, engine
    engine.dispose()


def test_existing_patients_get_distinct_opaque_references(at_0001: tuple[str, Engine]) -> None:
    """Upgrading gives every stored patient its own 32-character reference, which then finds the patient."""
    url, _engine = at_0001
    with Registry.open(url) as registry:
        refs = {p.patient_id: p.ref for p in registry.list_patients()}
        assert set(refs) == {"old-1", "old-2"} and len(set(refs.values())) == 2
        assert all(len(ref) == 32 and "old" not in ref for ref in refs.values())
        assert registry.patient_id_for(refs["old-2"]) == "old-2"


def test_existing_accounts_stay_active_and_can_sign_in(at_0001: tuple[str, Engine]) -> None:
    """An account created before the upgrade is active afterwards and signs in (there is no lock yet)."""
    url, _ = at_0001
    with Registry.open(url) as registry:
        ann = registry.get_user("ann")
        assert ann is not None and ann.active
        assert registry.authenticate("ann", "correct horse battery").outcome == LoginOutcome.SUCCESS
