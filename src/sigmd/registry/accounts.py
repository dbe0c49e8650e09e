"""User accounts: argon2 password hashes (pwdlib), roles, and the audit rows of account changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmd.registry.api import RegistryError, Role, UserInfo
from sigmd.registry.audit import record_change
from sigmd.registry.models import User

MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that the answer takes as long either way."""
    return _hasher().hash("sigmd-no-such-user")


def _info(user: User) -> UserInfo:
    return UserInfo(username=user.username, role=Role(user.role), created_at=user.created_at)


def parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise RegistryError(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None


def check_actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise RegistryError(f"actor: {actor!r} is empty; every change records who made it")
    return actor.strip()


def has_users(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(User)) != 0


def create_user(session: Session, username: str, password: str, role: Role | str, *, actor: str) -> UserInfo:
    actor = check_actor(actor)
    chosen = parse_role(role)
    if not USERNAME_PATTERN.match(username):
        raise RegistryError(
            f"username: {username!r} must be 1-64 letters, digits or . _ @ - and start with a letter or digit"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RegistryError(
            f"password: a password of {len(password)} characters is too short (at least {MIN_PASSWORD_LENGTH})"
        )
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise RegistryError(f"username: {username!r} already exists")
    now = datetime.now(UTC)
    user = User(username=username, password_hash=_hasher().hash(password), role=chosen.value, created_at=now)
    session.add(user)
    record_change(
        session,
        at=now,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=username,
        detail={"role": chosen.value},
    )
    return _info(user)


def authenticate(session: Session, username: str, password: str) -> UserInfo | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        _hasher().verify(password, _dummy_hash())
        return None
    return _info(user) if _hasher().verify(password, user.password_hash) else None


def get_user(session: Session, username: str) -> UserInfo | None:
    user = session.scalar(select(User).where(User.username == username))
    return None if user is None else _info(user)


def list_users(session: Session) -> list[UserInfo]:
    return [_info(u) for u in session.scalars(select(User).order_by(User.username))]
