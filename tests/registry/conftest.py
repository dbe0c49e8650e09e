"""Registry fixtures: a fresh SQLite registry per test and, when the server binaries exist, PostgreSQL too.

One throw-away PostgreSQL cluster serves the whole session (initdb + pg_ctl in a temp dir on a free port, run as
the `postgres` OS user when the tests run as root). The registry tests share one migrated database whose tables
are emptied before each test; the migration tests make databases of their own.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigmd.registry import Registry
from sigmd.registry.models import Base

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_GLOB = "*/bin/initdb"
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PostgresCluster:
    host: str
    port: int
    user: str
    _counter: Iterator[int]

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"registry_{next(self._counter)}"
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_binaries() -> Path | None:
    found = sorted(POSTGRES_ROOT.glob(SERVER_GLOB)) if POSTGRES_ROOT.is_dir() else []
    return found[-1].parent if found else None


def _os_user() -> tuple[list[str], str | None]:
    """The command prefix to run the server as a non-root user (PostgreSQL refuses root), and that user."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], name
    pytest.skip("PostgreSQL cannot run as root and there is no postgres or nobody user (with runuser) to run it as")


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
    """A throw-away PostgreSQL cluster for the session; skipped (saying why) when the server is not installed."""
    bindir = _server_binaries()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL server binaries not found ({POSTGRES_ROOT}/{SERVER_GLOB}); install postgresql to run these tests"
        )
    prefix, os_user = _os_user()
    root = Path(tempfile.mkdtemp(prefix="sigmd-pg-"))
    if os_user is not None:
        shutil.chown(root, user=os_user)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    run = subprocess.run
    run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "sigmd", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    started = run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}{log.read_text() if log.exists() else ''}")
    try:
        yield PostgresCluster("127.0.0.1", port, "sigmd", itertools.count(1))
    finally:
        run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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
