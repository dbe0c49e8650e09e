"""User accounts: argon2 password hashes (pwdlib), roles, and the audit rows of account changes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


def user_info(user: User) -> UserInfo:
    return UserInfo(
        username=user.username, role=Role(user.role), created_at=user.created_at, disabled_at=user.disabled_at
    )


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


def check_password(password: str, field: str = "password") -> None:
    """A new password is long enough (its text is never part of the message)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RegistryError(
            f"{field}: a password of {len(password)} characters is too short (at least {MIN_PASSWORD_LENGTH})"
        )


def create_user(session: Session, username: str, password: str, role: Role | str, *, actor: str) -> UserInfo:
    actor = check_actor(actor)
    chosen = parse_role(role)
    if not USERNAME_PATTERN.match(username):
        raise RegistryError(
            f"username: {username!r} must be 1-64 letters, digits or . _ @ - and start with a letter or digit"
        )
    check_password(password)
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
    return user_info(user)


def verify_hash(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches the hash; None (no such user) takes as long and is False."""
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    return _hasher().verify(password, password_hash)


def verify_password(user: User | None, password: str) -> bool:
    """Whether `password` is the user's; as slow for an unknown user as for a known one."""
    return verify_hash(None if user is None else user.password_hash, password)


def user_row(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise RegistryError(f"username: {username!r} is not an account")
    return user


@dataclass(frozen=True)
class NewPassword:
    """A new password, checked and already hashed: made by `new_password` before any write transaction opens.

    Argon2 takes tens of milliseconds on purpose; hashing inside the transaction would hold the registry's
    write lock (SQLite: the whole database) that long. `set_password` takes only this, never the plain text.
    """

    hash: str = field(repr=False)


def new_password(password: str, field_name: str = "new password") -> NewPassword:
    """Check a new password's length and hash it (slow: call it outside any transaction)."""
    check_password(password, field_name)
    return NewPassword(_hasher().hash(password))


def set_password(session: Session, username: str, password: NewPassword, *, actor: str, now: datetime) -> User:
    """Replace the password hash and mark the change; audited without the password. The caller ends sessions."""
    actor = check_actor(actor)
    user = user_row(session, username)
    user.password_hash = password.hash
    user.password_changed_at = now
    record_change(session, at=now, actor=actor, action="user.password", entity="user", entity_id=username, detail={})
    return user


def _active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
        )
        or 0
    )


def set_role(session: Session, username: str, role: Role | str, *, actor: str, now: datetime) -> UserInfo:
    """Change an account's role; the last active admin cannot be demoted (the registry would have none)."""
    actor = check_actor(actor)
    chosen = parse_role(role)
    user = user_row(session, username)
    previous = Role(user.role)
    if previous == chosen:
        return user_info(user)
    if previous == Role.ADMIN and user.disabled_at is None and _active_admins(session) <= 1:
        raise RegistryError(f"role: {username!r} is the last active admin; make another admin first")
    user.role = chosen.value
    record_change(
        session,
        at=now,
        actor=actor,
        action="user.role",
        entity="user",
        entity_id=username,
        detail={"from": previous.value, "to": chosen.value},
    )
    return user_info(user)


def set_disabled(session: Session, username: str, disabled: bool, *, actor: str, now: datetime) -> User:
    """Disable (or enable again) an account; the last active admin cannot be disabled."""
    actor = check_actor(actor)
    user = user_row(session, username)
    if disabled == (user.disabled_at is not None):
        return user
    if disabled and user.role == Role.ADMIN.value and _active_admins(session) <= 1:
        raise RegistryError(f"username: {username!r} is the last active admin; make another admin first")
    user.disabled_at = now if disabled else None
    action = "user.disable" if disabled else "user.enable"
    record_change(session, at=now, actor=actor, action=action, entity="user", entity_id=username, detail={})
    return user


def get_user(session: Session, username: str) -> UserInfo | None:
    user = session.scalar(select(User).where(User.username == username))
    return None if user is None else user_info(user)


def list_users(session: Session) -> list[UserInfo]:
    return [user_info(u) for u in session.scalars(select(User).order_by(User.username))]
