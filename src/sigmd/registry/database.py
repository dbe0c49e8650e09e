"""Where the registry lives and how it is opened: the URL, the engine, crash-safe SQLite, migrations, sessions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from sigmd.registry.api import RegistryError

DATABASE_URL_ENV = "SIGMD_DATABASE_URL"
DATA_DIR_ENV = "SIGMD_DATA_DIR"
SQLITE_FILE = "registry.sqlite3"
WRITE = "sigmd_write"
"""Execution option marking a connection that will write: SQLite then takes the write lock at BEGIN."""
BUSY_TIMEOUT_SECONDS = 30
_MIGRATION_LOCK = 0x5163_6D64
"""PostgreSQL advisory lock key held while migrating, so that two processes opening at once do not race."""


def default_data_dir() -> Path:
    """$SIGMD_DATA_DIR, else ~/.local/share/sigmd."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".local" / "share" / "sigmd")


def resolve_url(url: str | None, data_dir: Path | None) -> URL:
    """The database URL: as given; else $SIGMD_DATABASE_URL (when no data_dir is given); else a SQLite file."""
    if url is None and data_dir is None:
        url = os.environ.get(DATABASE_URL_ENV) or None
    if url is None:
        folder = data_dir if data_dir is not None else default_data_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RegistryError(f"data_dir: {str(folder)!r} cannot be created ({error.strerror})") from None
        return URL.create("sqlite", database=str(folder / SQLITE_FILE))
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryError(f"database URL: {url!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend != "sqlite":
        shown = parsed.render_as_string(hide_password=True)
        raise RegistryError(
            f"database URL: {shown!r} is neither SQLite (sqlite:///FILE) nor PostgreSQL (postgresql+psycopg://)"
        )
    if parsed.database in (None, "", ":memory:"):
        raise RegistryError(
            f"database URL: {url!r} is an in-memory database; give a file (sqlite:///path/registry.sqlite3)"
        )
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed


def create_registry_engine(url: URL) -> Engine:
    """An engine shared by every thread; SQLite in WAL mode with full fsync and foreign keys on."""
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except ImportError as error:
            raise ImportError(f"PostgreSQL needs psycopg: pip install 'sigmd[postgres]' ({error})") from error
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # sqlite3 must not issue BEGIN itself: `_begin` below does, so that writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE: a writer waits for the lock at BEGIN instead of failing when it first writes after reading.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code: the migrations shipped in the package, on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("sigmd.registry").joinpath("migrations")))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic, in one transaction)."""
    with engine.execution_options(**{WRITE: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")


class Database:
    """The shared engine and a session per call: `reading()` for queries, `writing()` for one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back (nothing written) if it raises."""
        with self._writer.begin() as session:
            yield session
