"""Signing in: failed-attempt counting with temporary locks, and server-side web sessions.

Both live in the registry database, so every process serving the same registry (several workers, several
hosts on one PostgreSQL) shares the counts, the locks and the revocations. Every attempt is audited
(`login.success`, `login.failure`, `login.locked`, `login.disabled`) without the password; an attempt on an
account name that does not exist is audited without that name (people type passwords into the name field).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sigmd.registry.accounts import user_info
from sigmd.registry.api import LoginOutcome, LoginPolicy, LoginResult, UserInfo
from sigmd.registry.audit import record_change
from sigmd.registry.models import LoginThrottle, User, WebSession

UNKNOWN_ACCOUNT = "(unknown account)"
"""The audit's entity id for attempts on a name that is not an account."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def account_key(username: str) -> str:
    """The throttle key of an account name (hashed: the table never holds a mistyped password in clear)."""
    return "user:" + _digest(username.casefold())


def address_key(address: str) -> str:
    return "addr:" + address[:120]


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The throttle row of `key`, created if missing, locked for update (PostgreSQL)."""
    values = {"key": key, "failures": 0, "window_started": now, "locked_until": None}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql_insert(LoginThrottle).values(**values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(LoginThrottle).values(**values).on_conflict_do_nothing())
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
    assert row is not None
    return row


def _locked_until(row: LoginThrottle, now: datetime) -> datetime | None:
    return row.locked_until if row.locked_until is not None and row.locked_until > now else None


def _count_failure(row: LoginThrottle, limit: int, policy: LoginPolicy, now: datetime) -> datetime | None:
    """One more failure in the row's window (a new window if the old one ended); the lock it starts, if any."""
    if row.window_started + timedelta(seconds=policy.window_seconds) <= now or row.locked_until is not None:
        row.failures, row.window_started, row.locked_until = 0, now, None
    row.failures += 1
    if limit > 0 and row.failures >= limit:
        row.locked_until = now + timedelta(seconds=policy.lock_seconds)
        return row.locked_until
    return None


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt counted as a failure in advance, so that the slow password check runs outside the
    write transaction and parallel guesses cannot pass the limit; `finish` takes the count back on success."""

    username: str
    client: str | None
    password_hash: str | None
    """None when the name is not an account."""
    keys: tuple[tuple[str, datetime | None], ...]
    """Each throttle key with the lock this attempt started on it (if any)."""
    locked_until: datetime | None
    """Set when the attempt was refused because a lock was already running."""

    @property
    def entity_id(self) -> str:
        return self.username if self.password_hash is not None else UNKNOWN_ACCOUNT


def _audit(session: Session, attempt: Attempt, action: str, now: datetime, **extra: str) -> None:
    detail = ({"client": attempt.client} if attempt.client else {}) | extra
    entity_id = attempt.entity_id
    record_change(session, at=now, actor=entity_id, action=action, entity="user", entity_id=entity_id, detail=detail)


def begin(session: Session, username: str, *, client: str | None, policy: LoginPolicy, now: datetime) -> Attempt:
    """Refuse the attempt if a lock runs (audited as `login.locked`); else count it as a failure in advance."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started < now - timedelta(seconds=policy.window_seconds + policy.lock_seconds)
        )
    )
    user = session.scalar(select(User).where(User.username == username))
    limits = [(account_key(username), policy.max_failures)]
    if client and policy.address_max_failures > 0:
        limits.append((address_key(client), policy.address_max_failures))
    rows = [(_row(session, key, now), limit) for key, limit in limits]
    password_hash = None if user is None else user.password_hash
    locks = [until for row, _ in rows if (until := _locked_until(row, now)) is not None]
    if locks:
        refused = Attempt(username, client, password_hash, (), max(locks))
        _audit(session, refused, "login.locked", now, locked_until=max(locks).isoformat())
        return refused
    keys = tuple((row.key, _count_failure(row, limit, policy, now)) for row, limit in rows)
    return Attempt(username, client, password_hash, keys, None)


def finish(session: Session, attempt: Attempt, password_right: bool, now: datetime) -> LoginResult:
    """The outcome once the password is checked: audited; on success the advance count is taken back."""
    started = [until for _, until in attempt.keys if until is not None]
    user = session.scalar(select(User).where(User.username == attempt.username))
    if not password_right or user is None or user.password_hash != attempt.password_hash:
        if started:
            _audit(session, attempt, "login.failure", now, locked_until=max(started).isoformat())
            return LoginResult(LoginOutcome.FAILURE, locked_until=max(started))
        _audit(session, attempt, "login.failure", now)
        return LoginResult(LoginOutcome.FAILURE)
    for index, (key, lock) in enumerate(attempt.keys):
        row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
        if row is None:
            continue
        if index == 0:  # the account: a right password clears its count
            row.failures, row.locked_until = 0, None
        else:  # the address: only this attempt's advance count (and a lock it started) is taken back
            row.failures = max(0, row.failures - 1)
            if lock is not None and row.locked_until == lock:
                row.locked_until = None
    if user.disabled_at is not None:
        _audit(session, attempt, "login.disabled", now)
        return LoginResult(LoginOutcome.DISABLED)
    _audit(session, attempt, "login.success", now)
    return LoginResult(LoginOutcome.SUCCESS, user=user_info(user))


def check_not_locked(session: Session, username: str, now: datetime) -> datetime | None:
    """When the account's lock ends, if it is locked now (for forms that re-check a password)."""
    row = session.get(LoginThrottle, account_key(username))
    return None if row is None else _locked_until(row, now)


def count_failure(session: Session, username: str, policy: LoginPolicy, now: datetime) -> datetime | None:
    """Count a wrong password typed into another form (password change) against the account's limit."""
    return _count_failure(_row(session, account_key(username), now), policy.max_failures, policy, now)


def open_session(session: Session, user: UserInfo, *, lifetime: timedelta, now: datetime) -> str:
    """A new session token for a signed-in user (the registry keeps only its hash); expired rows are purged."""
    row = session.scalar(select(User).where(User.username == user.username))
    assert row is not None
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=_digest(token), user_id=row.id, created_at=now, expires_at=now + lifetime))
    return token


def session_user(session: Session, token: str, now: datetime) -> UserInfo | None:
    """The user of a live session: not revoked, not expired, account still there and not disabled."""
    user = session.scalar(
        select(User)
        .join(WebSession, WebSession.user_id == User.id)
        .where(
            WebSession.token_hash == _digest(token),
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
            User.disabled_at.is_(None),
        )
    )
    return None if user is None else user_info(user)


def revoke_session(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _digest(token), WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_sessions(session: Session, user: User, now: datetime, *, keep_token: str | None = None) -> int:
    """End every session of the account (but `keep_token`'s); the number ended."""
    query = update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
    if keep_token is not None:
        query = query.where(WebSession.token_hash != _digest(keep_token))
    result = session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
