"""Registry fixtures: a fresh SQLite registry per test and, when the server binaries exist, PostgreSQL too.

One throw-away PostgreSQL cluster serves the whole session (initdb + pg_ctl in a temp dir on a free port, run as
the `postgres` OS user when the tests run as root). The registry tests share one migrated database whose tables
are emptied before each test; the migration tests make databases of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sigmd.registry import Registry
from sigmd.registry.models import Base
from tests.postgres_cluster import PostgresCluster, PostgresUnavailableError, throwaway_cluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the lowest cost, so that tests do not spend seconds hashing (`real_password_hashes` opts out)."""
    if "real_password_hashes" in request.keywords:
        return
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from sigmd.registry import accounts

    hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    dummy = hasher.hash("sigmd-no-such-user")
    monkeypatch.setattr(accounts, "_hasher", lambda: hasher)
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: dummy)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_password_hashes: hash passwords with the production Argon2 cost")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throw-away PostgreSQL cluster for the session; skipped (saying why) when the server cannot run here."""
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except PostgresUnavailableError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def postgres_registry_url(postgres: PostgresCluster) -> str:
    """One migrated PostgreSQL registry database for the session (emptied before each test that uses it)."""
    url = postgres.new_database()
    Registry.open(url).close()
    return url


def _empty_postgres_registry(url: str) -> None:
    import psycopg

    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty registry database on each backend (SQLite: a new file; PostgreSQL: emptied tables)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    url: str = request.getfixturevalue("postgres_registry_url")
    _empty_postgres_registry(url)
    return url


@pytest.fixture
def registry(database_url: str) -> Iterator[Registry]:
    """A new, migrated registry on each backend."""
    opened = Registry.open(database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    """A new registry in a SQLite file (for the tests about SQLite itself)."""
    opened = Registry.open(data_dir=tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()
