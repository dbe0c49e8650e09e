"""Accounts as a deployment needs them: throttled sign-in with temporary locks, sessions, roles, disabling, passwords."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sigmd.registry import LoginOutcome, LoginPolicy, Registry, RegistryError, Role

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
POLICY = LoginPolicy()
HOUR = timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def ann(registry: Registry) -> Registry:
    """A registry with the admin ann and the clinician bob (both with PASSWORD)."""
    registry.create_user("ann", PASSWORD, Role.ADMIN, actor="cli:root")
    registry.create_user("bob", PASSWORD, Role.CLINICIAN, actor="ann")
    return registry


def test_the_right_password_signs_in_and_a_wrong_one_does_not(ann: Registry) -> None:
    """The right password is a success with the account; a wrong one or an unknown name is a failure without it."""
    good = ann.authenticate("ann", PASSWORD, now=at(0))
    assert good.outcome == LoginOutcome.SUCCESS and good.user is not None and good.user.username == "ann"
    for name, password in (("ann", WRONG), ("nobody", PASSWORD)):
        bad = ann.authenticate(name, password, now=at(1))
        assert (bad.outcome, bad.user, bad.locked_until) == (LoginOutcome.FAILURE, None, None)


def test_the_fifth_wrong_password_within_a_minute_locks_the_account_for_fifteen_minutes(ann: Registry) -> None:
    """Five failures within 60 s lock the account: even the right password is refused until the lock ends."""
    for second in range(4):
        assert ann.authenticate("ann", WRONG, now=at(second * 10)).locked_until is None
    fifth = ann.authenticate("ann", WRONG, now=at(45))
    assert fifth.outcome == LoginOutcome.FAILURE and fifth.locked_until == at(45 + POLICY.lock_seconds)
    sixth = ann.authenticate("ann", PASSWORD, now=at(50))
    assert sixth.outcome == LoginOutcome.LOCKED and sixth.user is None and sixth.locked_until == at(945)
    assert ann.authenticate("ann", PASSWORD, now=at(944)).outcome == LoginOutcome.LOCKED
    after = ann.authenticate("ann", PASSWORD, now=at(945))
    assert after.outcome == LoginOutcome.SUCCESS and after.user is not None


def test_failures_spread_over_more_than_the_window_do_not_lock(ann: Registry) -> None:
    """Four failures a minute apart each start a new window, so the account never locks."""
    for minute in range(8):
        assert ann.authenticate("ann", WRONG, now=at(minute * 61)).locked_until is None
    assert ann.authenticate("ann", PASSWORD, now=at(8 * 61)).outcome == LoginOutcome.SUCCESS


def test_a_success_clears_the_count_and_the_lock_is_per_account(ann: Registry) -> None:
    """Four failures then a success start the count again; ann's lock does not lock bob."""
    for second in range(4):
        ann.authenticate("ann", WRONG, now=at(second))
    assert ann.authenticate("ann", PASSWORD, now=at(5)).outcome == LoginOutcome.SUCCESS
    for second in range(4):
        assert ann.authenticate("ann", WRONG, now=at(10 + second)).locked_until is None
    assert ann.authenticate("ann", WRONG, now=at(20)).locked_until is not None
    assert ann.authenticate("bob", PASSWORD, now=at(21)).outcome == LoginOutcome.SUCCESS


def test_attempts_during_a_lock_do_not_extend_it(ann: Registry) -> None:
    """Right or wrong passwords typed while locked are refused unchecked, and the lock still ends on time."""
    for second in range(5):
        ann.authenticate("ann", WRONG, now=at(second))
    for second in range(100, 900, 100):
        assert ann.authenticate("ann", WRONG, now=at(second)).outcome == LoginOutcome.LOCKED
    assert ann.authenticate("ann", PASSWORD, now=at(4 + POLICY.lock_seconds)).outcome == LoginOutcome.SUCCESS


def test_an_unknown_name_is_throttled_like_an_account(ann: Registry) -> None:
    """Guessing on a name that is not an account locks that name too, so a lock does not reveal which names exist."""
    for second in range(5):
        ann.authenticate("carol", WRONG, now=at(second))
    assert ann.authenticate("carol", WRONG, now=at(6)).outcome == LoginOutcome.LOCKED
    assert ann.authenticate("ann", PASSWORD, now=at(7)).outcome == LoginOutcome.SUCCESS


def test_one_client_address_trying_many_names_is_locked(ann: Registry) -> None:
    """Failures from one address across many names lock the address at its own limit; another address is unaffected."""
    policy = LoginPolicy(address_max_failures=6)
    for number in range(6):
        ann.authenticate(f"guess{number}", WRONG, client="10.0.0.9", policy=policy, now=at(number))
    assert ann.authenticate("ann", PASSWORD, client="10.0.0.9", policy=policy, now=at(7)).outcome == LoginOutcome.LOCKED
    assert ann.authenticate("ann", PASSWORD, client="10.0.0.8", policy=policy, now=at(8)).user is not None


def test_the_count_is_shared_by_every_process_on_the_database(ann: Registry, database_url: str) -> None:
    """Failures counted through one registry connection lock the account for another (as two server processes)."""
    with Registry.open(database_url) as other:
        for second in range(3):
            ann.authenticate("ann", WRONG, now=at(second))
        for second in range(3, 5):
            other.authenticate("ann", WRONG, now=at(second))
        assert ann.authenticate("ann", PASSWORD, now=at(6)).outcome == LoginOutcome.LOCKED
        assert other.authenticate("bob", PASSWORD, now=at(6)).outcome == LoginOutcome.SUCCESS


def test_every_attempt_is_audited_without_the_password(ann: Registry) -> None:
    """Success, failure, lock and refusal are each audited; no entry holds a password or an unknown name typed."""
    ann.authenticate("ann", PASSWORD, client="10.1.1.1", now=at(0))
    for second in range(5):
        ann.authenticate("ann", WRONG, now=at(1 + second))
    ann.authenticate("ann", PASSWORD, now=at(10))
    ann.authenticate(PASSWORD, WRONG, now=at(11))  # a password typed into the name field
    logins = [e for e in ann.audit() if e.action.startswith("login.")]
    actions = [e.action for e in reversed(logins)]
    assert actions == ["login.success", *["login.failure"] * 5, "login.locked", "login.failure"]
    assert logins[-1].detail == {"client": "10.1.1.1"} and logins[0].entity_id == "(unknown account)"
    assert "locked_until" in logins[2].detail
    text = repr(ann.audit())
    assert PASSWORD not in text and WRONG not in text


def test_a_disabled_account_cannot_sign_in_and_an_enabled_one_can(ann: Registry) -> None:
    """Disabling refuses even the right password (audited); enabling again lets the account in."""
    ann.set_disabled("bob", True, actor="ann")
    refused = ann.authenticate("bob", PASSWORD, now=at(0))
    assert refused.outcome == LoginOutcome.DISABLED and refused.user is None
    assert ann.get_user("bob") is not None and not ann.get_user("bob").active  # type: ignore[union-attr]
    ann.set_disabled("bob", False, actor="ann")
    assert ann.authenticate("bob", PASSWORD, now=at(1)).outcome == LoginOutcome.SUCCESS
    assert [e.action for e in ann.audit(limit=4)] == ["login.success", "user.enable", "login.disabled", "user.disable"]


def test_sessions_live_until_revoked_expired_or_the_account_is_disabled(ann: Registry) -> None:
    """A session token finds its user until sign-out, expiry or disabling; another session survives a sign-out."""
    bob = ann.get_user("bob")
    assert bob is not None
    first = ann.open_session(bob, lifetime=HOUR, now=at(0))
    second = ann.open_session(bob, lifetime=HOUR, now=at(0))
    assert ann.session_user(first, now=at(10)) == bob
    ann.revoke_session(first, now=at(20))
    assert ann.session_user(first, now=at(21)) is None and ann.session_user(second, now=at(21)) == bob
    assert ann.session_user(second, now=at(3599)) == bob and ann.session_user(second, now=at(3600)) is None
    third = ann.open_session(bob, lifetime=HOUR, now=at(0))
    ann.set_disabled("bob", True, actor="ann")
    ann.set_disabled("bob", False, actor="ann")
    assert ann.session_user(third, now=at(30)) is None
    assert ann.session_user("not-a-token", now=at(30)) is None


def test_a_role_change_is_audited_and_the_last_admin_stays(ann: Registry) -> None:
    """bob can be made admin and back; ann, then the only active admin, can be neither demoted nor disabled."""
    assert ann.set_role("bob", Role.ADMIN, actor="ann").role == Role.ADMIN
    assert ann.set_role("bob", "viewer", actor="ann").role == Role.VIEWER
    changes = [(e.action, e.detail) for e in ann.audit(limit=2)]
    assert changes == [
        ("user.role", {"from": "admin", "to": "viewer"}),
        ("user.role", {"from": "clinician", "to": "admin"}),
    ]
    with pytest.raises(RegistryError, match="role: 'ann' is the last active admin"):
        ann.set_role("ann", Role.CLINICIAN, actor="ann")
    with pytest.raises(RegistryError, match="username: 'ann' is the last active admin"):
        ann.set_disabled("ann", True, actor="ann")
    with pytest.raises(RegistryError, match="role: 'boss' is not one of"):
        ann.set_role("bob", "boss", actor="ann")
    with pytest.raises(RegistryError, match="username: 'zed' is not an account"):
        ann.set_role("zed", Role.VIEWER, actor="ann")


def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(ann: Registry) -> None:
    """A wrong current password changes nothing (and counts as a failure); the right one changes it and ends the
    other sessions but the one asking."""
    bob = ann.get_user("bob")
    assert bob is not None
    here = ann.open_session(bob, lifetime=HOUR, now=at(0))
    elsewhere = ann.open_session(bob, lifetime=HOUR, now=at(0))
    with pytest.raises(RegistryError, match="current password: is not right"):
        ann.change_password("bob", WRONG, "a new long password", keep_session=here, now=at(1))
    assert ann.authenticate("bob", PASSWORD, now=at(2)).outcome == LoginOutcome.SUCCESS
    with pytest.raises(RegistryError, match="new password: a password of 5 characters is too short"):
        ann.change_password("bob", PASSWORD, "short", keep_session=here, now=at(3))
    ann.change_password("bob", PASSWORD, "a new long password", keep_session=here, now=at(4))
    assert ann.session_user(here, now=at(5)) == bob and ann.session_user(elsewhere, now=at(5)) is None
    assert ann.authenticate("bob", PASSWORD, now=at(6)).outcome == LoginOutcome.FAILURE
    assert ann.authenticate("bob", "a new long password", now=at(7)).outcome == LoginOutcome.SUCCESS
    assert "a new long password" not in repr(ann.audit())


def test_wrong_current_passwords_lock_the_password_form_too(ann: Registry) -> None:
    """Five wrong current passwords in the change form lock the account like five wrong sign-ins."""
    for second in range(5):
        with pytest.raises(RegistryError, match="current password"):
            ann.change_password("bob", WRONG, "a new long password", now=at(second))
    with pytest.raises(RegistryError, match="username: 'bob' is locked until"):
        ann.change_password("bob", PASSWORD, "a new long password", now=at(6))
    assert ann.authenticate("bob", PASSWORD, now=at(6)).outcome == LoginOutcome.LOCKED


def test_an_administrator_sets_a_password_and_the_accounts_sessions_end(ann: Registry) -> None:
    """set_password (the CLI's passwd) replaces the password and ends every session of the account."""
    bob = ann.get_user("bob")
    assert bob is not None
    token = ann.open_session(bob, lifetime=HOUR)
    ann.set_password("bob", "reset by the admin", actor="cli:root")
    assert ann.session_user(token) is None
    assert ann.authenticate("bob", "reset by the admin").outcome == LoginOutcome.SUCCESS
    assert ann.audit(limit=2)[1].action == "user.password" and ann.audit(limit=2)[1].detail == {}


def test_a_new_password_is_hashed_before_the_write_transaction_opens(
    ann: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 runs outside the write transaction, for a user's own change and an administrator's reset alike: a
    hash inside it would hold the registry's write lock (all of SQLite) for the whole of the slow hash."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    from sqlalchemy.orm import Session

    from sigmd.registry import accounts

    database = ann._db
    writing, open_writes = database.writing, [0]

    @contextmanager
    def tracked() -> Iterator[Session]:
        open_writes[0] += 1
        try:
            with writing() as session:
                yield session
        finally:
            open_writes[0] -= 1

    real, hashed_while_writing = accounts._hasher(), []

    class Watching:
        def hash(self, password: str) -> str:
            hashed_while_writing.append(open_writes[0])
            return real.hash(password)

        def verify(self, password: str, password_hash: str) -> bool:
            return real.verify(password, password_hash)

    monkeypatch.setattr(database, "writing", tracked)
    monkeypatch.setattr(accounts, "_hasher", Watching)
    ann.change_password("bob", PASSWORD, "a new long password", now=at(1))
    ann.set_password("bob", "reset by the admin", actor="cli:root")
    assert hashed_while_writing == [0, 0]
    assert ann.authenticate("bob", "reset by the admin", now=at(2)).outcome == LoginOutcome.SUCCESS


def test_guesses_made_in_parallel_cannot_pass_the_limit(ann: Registry) -> None:
    """Twelve guesses at once: exactly five get their password checked, the other seven are refused as locked."""
    import threading

    outcomes: list[LoginOutcome] = []
    barrier = threading.Barrier(12)

    def guess() -> None:
        barrier.wait()
        outcomes.append(ann.authenticate("ann", WRONG, now=at(1)).outcome)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(LoginOutcome.FAILURE) == POLICY.max_failures
    assert outcomes.count(LoginOutcome.LOCKED) == 12 - POLICY.max_failures
    assert ann.authenticate("bob", PASSWORD, now=at(2)).outcome == LoginOutcome.SUCCESS


def test_a_right_password_takes_back_only_its_own_count_on_the_address(ann: Registry) -> None:
    """A success clears the account's count but leaves the address's earlier failures counted."""
    policy = LoginPolicy(address_max_failures=3)
    ann.authenticate("x1", WRONG, client="10.0.0.7", policy=policy, now=at(0))
    ann.authenticate("x2", WRONG, client="10.0.0.7", policy=policy, now=at(1))
    assert ann.authenticate("ann", PASSWORD, client="10.0.0.7", policy=policy, now=at(2)).user is not None
    third = ann.authenticate("x3", WRONG, client="10.0.0.7", policy=policy, now=at(3))
    assert third.locked_until == at(3 + policy.lock_seconds)
