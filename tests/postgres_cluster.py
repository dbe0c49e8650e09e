"""A throw-away PostgreSQL cluster (initdb + pg_ctl in a temp folder on a free port), for tests and benchmarks.

Run as the `postgres` (or `nobody`) OS user when the caller is root, as PostgreSQL refuses to run as root.
Durability is off (fsync, synchronous commit, full page writes): the cluster is deleted when the block ends.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.network import free_port

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_GLOB = "*/bin/initdb"


class PostgresUnavailableError(RuntimeError):
    """The server cannot run here; the message says why and what to install."""


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


def _server_binaries() -> Path:
    found = sorted(POSTGRES_ROOT.glob(SERVER_GLOB)) if POSTGRES_ROOT.is_dir() else []
    if not found:
        raise PostgresUnavailableError(
            f"PostgreSQL server binaries not found ({POSTGRES_ROOT}/{SERVER_GLOB}); install postgresql to run these"
        )
    return found[-1].parent


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
    raise PostgresUnavailableError(
        "PostgreSQL cannot run as root and there is no postgres or nobody user (with runuser) to run it as"
    )


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A running cluster with superuser `sigmd` (trust authentication on 127.0.0.1), stopped and deleted after."""
    bindir = _server_binaries()
    prefix, os_user = _os_user()
    root = Path(tempfile.mkdtemp(prefix="sigmd-pg-"))
    if os_user is not None:
        shutil.chown(root, user=os_user)
    data, log = root / "data", root / "server.log"
    port = free_port()
    run = subprocess.run
    run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "sigmd", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off"
    )
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
