"""Site settings: one TOML file plus environment variables, read alike by every command and server.

A laboratory sets its reference set, rule profile and display unit once instead of on every command; a
deployment sets its CDS Hooks clients and card policy. Precedence, highest first: a command-line option,
the environment variable, the settings file, sigmd's default. The file is `--settings FILE`, else
`$SIGMD_SETTINGS`, else `$XDG_CONFIG_HOME/sigmd/settings.toml` (`~/.config/sigmd/settings.toml`) when it
exists. Every setting is listed once in `SETTINGS` and documented in docs/settings.md (a test checks that
the two agree). Unknown keys and bad values are errors naming the key, the value and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sigmd.core.knowledge import Knowledge

SETTINGS_ENV = "SIGMD_SETTINGS"
DISPLAY_UNITS = ("mg/dL", "g/L")


class SettingsError(ValueError):
    """A settings file or variable that sigmd cannot use; the message names the key, the value and the place."""


@dataclass(frozen=True)
class TrustedClient:
    """A CDS Hooks client whose JWTs are accepted: its issuer and the JWK Set URL its keys are fetched from."""

    iss: str
    jku: str


@dataclass(frozen=True)
class SiteSettings:
    """Every site setting with its value; None means "not set here: use the command's or the content's default"."""

    reference_set: str | None = None
    profile: str | None = None
    display_unit: str = "mg/dL"
    data_dir: Path | None = None
    database_url: str | None = None
    secure_cookies: bool = False
    cds_trusted_issuers: tuple[TrustedClient, ...] = ()
    cds_card_for_normal_result: bool = False
    cds_cors_allow_origins: tuple[str, ...] = ()
    origin: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each value that was set came from (`settings.toml [assessment] profile`, `$SIGMD_PROFILE`)."""

    def apply(self, knowledge: Knowledge) -> Knowledge:
        """The clinical content with this site's default profile and reference set, for servers whose pages and
        services fall back on the content's defaults (the content itself, and its version, are unchanged)."""
        return replace(
            knowledge,
            default_profile=self.profile or knowledge.default_profile,
            default_reference_set=self.reference_set or knowledge.default_reference_set,
        )


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is not a non-empty text")
    return value.strip()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise ValueError("is not true or false")


def _unit(value: Any) -> str:
    text = _text(value)
    if text not in DISPLAY_UNITS:
        raise ValueError(f"is not one of {', '.join(DISPLAY_UNITS)}")
    return text


def _texts(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("is not a list of texts")
    return tuple(_text(item) for item in items if not (isinstance(item, str) and not item.strip()))


def _clients(value: Any) -> tuple[TrustedClient, ...]:
    """`[{iss = ..., jku = ...}]` in the file; `ISS=JKU,ISS=JKU` in the environment."""
    if isinstance(value, str):
        pairs = [item.strip().split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("is not a list of ISS=JKU_URL")
        value = [{"iss": pair[0], "jku": pair[1]} for pair in pairs]
    if not isinstance(value, list):
        raise ValueError("is not a list of {iss, jku} tables")
    clients = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"iss", "jku"}:
            raise ValueError("needs tables with exactly the keys iss and jku")
        clients.append(TrustedClient(_text(item["iss"]), _text(item["jku"])))
    return tuple(clients)


@dataclass(frozen=True)
class Setting:
    """One site setting: its place in the file, its environment variable, how it is read, and what it does."""

    section: str
    key: str
    env: str
    attribute: str
    parse: Callable[[Any], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "assessment",
        "reference_set",
        "SIGMD_REFERENCE_SET",
        "reference_set",
        _text,
        "Reference set used when a command does not name one (see `sigmd reference-sets`).",
    ),
    Setting(
        "assessment",
        "profile",
        "SIGMD_PROFILE",
        "profile",
        _text,
        "Rule profile used when a command does not name one (see `sigmd profiles`).",
    ),
    Setting(
        "assessment",
        "display_unit",
        "SIGMD_DISPLAY_UNIT",
        "display_unit",
        _unit,
        "Unit in which reports show immunoglobulin values: mg/dL (default) or g/L.",
    ),
    Setting(
        "server",
        "data_dir",
        "SIGMD_DATA_DIR",
        "data_dir",
        lambda value: Path(_text(value)).expanduser(),
        "Folder of the SQLite registry, the session key and screening jobs (default ~/.local/share/sigmd).",
    ),
    Setting(
        "server",
        "database_url",
        "SIGMD_DATABASE_URL",
        "database_url",
        _text,
        "Registry database URL (postgresql+psycopg://...); default the SQLite file in the data folder.",
    ),
    Setting(
        "server",
        "secure_cookies",
        "SIGMD_SECURE_COOKIES",
        "secure_cookies",
        _flag,
        "Send session cookies over HTTPS only (set this behind TLS).",
    ),
    Setting(
        "cds",
        "trusted_issuers",
        "SIGMD_CDS_TRUSTED_ISSUERS",
        "cds_trusted_issuers",
        _clients,
        "CDS Hooks clients whose JWTs are accepted: issuer and JWK Set URL of each.",
    ),
    Setting(
        "cds",
        "card_for_normal_result",
        "SIGMD_CDS_CARD_FOR_NORMAL_RESULT",
        "cds_card_for_normal_result",
        _flag,
        "Show a card for a plainly normal result too (default false: no card, so charts stay quiet).",
    ),
    Setting(
        "cds",
        "cors_allow_origins",
        "SIGMD_CDS_CORS_ALLOW_ORIGINS",
        "cds_cors_allow_origins",
        _texts,
        "Browser origins allowed to call the CDS Hooks service across origins (default none).",
    ),
)


def settings_path(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The settings file in force: the one given, else `$SIGMD_SETTINGS`, else the user's file if it exists."""
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit
    if env.get(SETTINGS_ENV):
        return Path(env[SETTINGS_ENV]).expanduser()
    config = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    candidate = config / "sigmd" / "settings.toml"
    return candidate if candidate.is_file() else None


def load_settings(knowledge: Knowledge, path: Path | None = None, env: Mapping[str, str] | None = None) -> SiteSettings:
    """The site settings from the file in force and the environment, checked against the clinical content."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    file = settings_path(path, env)
    if file is not None:
        for setting, raw, where in _from_file(file):
            values[setting.attribute] = _parse(setting, raw, where)
            origin[setting.attribute] = where
    for setting in SETTINGS:
        if env.get(setting.env, "").strip():
            where = f"${setting.env}"
            values[setting.attribute] = _parse(setting, env[setting.env], where)
            origin[setting.attribute] = where
    found = replace(SiteSettings(), **values, origin=origin)
    if found.reference_set is not None and found.reference_set not in knowledge.reference_sets:
        known = ", ".join(knowledge.reference_sets)
        raise SettingsError(
            f"{origin['reference_set']}: {found.reference_set!r} is not a reference set (known: {known})"
        )
    if found.profile is not None and found.profile not in knowledge.profiles:
        raise SettingsError(
            f"{origin['profile']}: {found.profile!r} is not a rule profile (known: {', '.join(knowledge.profiles)})"
        )
    return found


def _from_file(file: Path) -> list[tuple[Setting, Any, str]]:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{file}: could not be read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{file}: is not valid TOML ({error})") from None
    known = {(s.section, s.key): s for s in SETTINGS}
    sections = {s.section for s in SETTINGS}
    found = []
    for section, table in data.items():
        if section not in sections or not isinstance(table, dict):
            raise SettingsError(f"{file}: [{section}] is not a settings section (known: {', '.join(sorted(sections))})")
        for key, raw in table.items():
            setting = known.get((section, key))
            if setting is None:
                names = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise SettingsError(f"{file}: [{section}] {key} is not a setting (known: {names})")
            found.append((setting, raw, f"{file} [{section}] {key}"))
    return found


def _parse(setting: Setting, raw: Any, where: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as error:
        raise SettingsError(f"{where}: {raw!r} {error}") from None
