"""Settings of the clinician web app, all in one place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sigmd.registry.api import LoginPolicy

SECRET_KEY_ENV = "SIGMD_SECRET_KEY"
DATA_DIR_ENV = "SIGMD_DATA_DIR"
SECRET_KEY_FILE = "secret_key"
SESSION_HOURS = 12


def default_data_dir() -> Path:
    """`$SIGMD_DATA_DIR`, else `~/.local/share/sigmd` (the registry's default too)."""
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".local" / "share" / "sigmd"


def load_secret_key(data_dir: Path) -> str:
    """`$SIGMD_SECRET_KEY`, else the key kept in `<data_dir>/secret_key` (created once, mode 0600)."""
    configured = os.environ.get(SECRET_KEY_ENV, "").strip()
    if configured:
        if len(configured) < 32:
            raise ValueError(f"{SECRET_KEY_ENV}: a key of {len(configured)} characters is too short (at least 32)")
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < 32:
            raise ValueError(f"{path}: the stored secret key is too short; delete the file to make a new one") from None
        return key
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class WebSettings:
    data_dir: Path
    """Holds the SQLite registry (unless `database_url` is given), the secret key file and screening jobs."""
    secret_key: str
    """Signs the session cookie; see `load_secret_key`."""
    database_url: str | None = None
    """SQLAlchemy URL of the registry; None: SQLite file in `data_dir`."""
    cookie_secure: bool = False
    """Send the session cookie over HTTPS only (set this behind TLS)."""
    session_hours: int = SESSION_HOURS
    max_upload_bytes: int = 200 * 1024 * 1024
    """Largest lab extract accepted for screening."""
    today: Callable[[], date] = field(default=date.today)
    """The clock for default as-of dates (tests pass a fixed day)."""
    login_policy: LoginPolicy = field(default_factory=LoginPolicy)
    """Limits on failed sign-ins and how long a lock lasts."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The clock for sessions and sign-in locks (tests move it)."""
    display_unit: str = "mg/dL"
    """Unit of the immunoglobulin values and limits the assessment pages show (the site's `display_unit`)."""

    @staticmethod
    def from_env(
        data_dir: Path | None = None,
        *,
        database_url: str | None = None,
        cookie_secure: bool = False,
        display_unit: str = "mg/dL",
    ) -> WebSettings:
        """Settings from arguments and the environment (`SIGMD_DATA_DIR`, `SIGMD_SECRET_KEY`)."""
        folder = data_dir or default_data_dir()
        return WebSettings(
            data_dir=folder,
            secret_key=load_secret_key(folder),
            database_url=database_url,
            cookie_secure=cookie_secure,
            display_unit=display_unit,
        )

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "screenings"
