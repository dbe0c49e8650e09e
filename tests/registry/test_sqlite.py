"""The SQLite store: where it lives, its crash-safety settings, and a process killed while writing."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sigmd.registry import Registry, RegistryError, Role
from sigmd.registry.database import SQLITE_FILE, resolve_url

ROOT = Path(__file__).parents[2]


def test_the_default_store_is_a_sqlite_file_created_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a URL the registry is registry.sqlite3 in $SIGMD_DATA_DIR, created with its folder on first open."""
    monkeypatch.delenv("SIGMD_DATABASE_URL", raising=False)
    monkeypatch.setenv("SIGMD_DATA_DIR", str(tmp_path / "new" / "folder"))
    with Registry.open() as registry:
        assert registry.url == f"sqlite:///{tmp_path / 'new' / 'folder' / SQLITE_FILE}"
    assert (tmp_path / "new" / "folder" / SQLITE_FILE).is_file()


def test_the_database_url_environment_variable_is_used_when_nothing_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$SIGMD_DATABASE_URL chooses the database when neither a URL nor a data dir is passed."""
    monkeypatch.setenv("SIGMD_DATABASE_URL", f"sqlite:///{tmp_path}/elsewhere.db")
    with Registry.open() as registry:
        assert registry.url.endswith("/elsewhere.db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:secret@host/db", "database URL: 'mysql://u:\\*\\*\\*@host/db' is neither SQLite"),
        ("sqlite://", "is an in-memory database"),
        ("not a url", "database URL: 'not a url' is not a database URL"),
    ],
)
def test_unsupported_database_urls_are_refused_without_showing_the_password(url: str, message: str) -> None:
    """Only SQLite files and PostgreSQL are accepted, and the error hides any password."""
    with pytest.raises(RegistryError, match=message):
        resolve_url(url, None)


def test_a_plain_postgresql_url_uses_psycopg() -> None:
    """postgresql:// URLs are opened with psycopg 3, the driver the postgres extra installs."""
    assert resolve_url("postgresql://u@h/db", None).drivername == "postgresql+psycopg"


def test_connections_use_wal_full_sync_and_foreign_keys(sqlite_registry: Registry) -> None:
    """Every SQLite connection runs in WAL mode with synchronous=FULL and foreign keys enforced."""
    with sqlite_registry._db.reading() as session:
        settings = [
            session.execute(text(f"PRAGMA {name}")).scalar() for name in ("journal_mode", "synchronous", "foreign_keys")
        ]
    assert settings == ["wal", 2, 1]


@pytest.mark.real_password_hashes
def test_passwords_are_stored_only_as_argon2id_hashes(sqlite_registry: Registry, tmp_path: Path) -> None:
    """The users table holds an argon2id hash with the production cost, never the password itself."""
    sqlite_registry.create_user("ann", "correct horse battery", Role.ADMIN, actor="cli:root")
    with sqlite3.connect(tmp_path / "data" / SQLITE_FILE) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM users").fetchall()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and "correct horse" not in stored
    assert sqlite_registry.authenticate("ann", "correct horse battery").user is not None


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path

    from sigmd import content
    from sigmd.adapters.case_json import case_from_dict
    from sigmd.registry import Registry

    document = {
        "patient": {"sex": "female", "birth_date": "1980-05-01"},
        "results": [
            {"analyte": "IgM", "value": 20, "unit": "mg/dL", "date": "2025-06-01"},
            {"analyte": "IgM", "value": 18, "unit": "mg/dL", "date": "2025-12-01"},
            {"analyte": "IgG", "value": 1000, "unit": "mg/dL", "date": "2025-12-01"},
        ],
    }
    case = case_from_dict(document, content.load())
    registry = Registry.open(data_dir=Path(sys.argv[1]))
    print("ready", flush=True)
    number = 0
    while True:
        registry.record(case, patient_id=f"crash-{number}", actor="crash-test", as_of=date(2026, 1, 1))
        print(f"crash-{number}", flush=True)
        number += 1
    """
)


def test_a_process_killed_while_writing_loses_no_committed_record(tmp_path: Path) -> None:
    """SIGKILL during a stream of writes leaves an intact store holding every committed patient with its audit rows."""
    data_dir = tmp_path / "data"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    committed: list[str] = []
    assert child.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while len(committed) < 25 and time.monotonic() < deadline:
        committed.append(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    committed.extend(line.strip() for line in child.stdout if line.strip())
    assert child.returncode == -signal.SIGKILL
    assert len(committed) >= 25

    with sqlite3.connect(data_dir / SQLITE_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with Registry.open(data_dir=data_dir) as registry:
        stored = {p.patient_id for p in registry.list_patients()}
        assert set(committed) <= stored
        assert len(stored - set(committed)) <= 1  # the write in progress either committed whole or not at all
        for patient_id in stored:
            actions = [e.action for e in registry.audit(patient_id=patient_id)]
            assert actions == ["assessment.create", "results.add", "patient.create"], json.dumps(actions)
            assert len(registry.patient(patient_id).assessments) == 1
