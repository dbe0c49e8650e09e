"""Accounts on the pages: sign-in locks, sign-out that revokes, password change, roles, disabling and erasure."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, Role
from sigmd.web.app import create_web_app
from tests.web.conftest import PASSWORD, csrf_of, entry_form, settings_for, sign_in

WRONG = "not the password at all"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START
    moves: list[timedelta] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Site:
    registry: Registry
    clock: Clock
    app: object

    def client(self) -> TestClient:
        return TestClient(self.app)  # type: ignore[arg-type]


@pytest.fixture
def site(knowledge: Knowledge, tmp_path: Path) -> Iterator[Site]:
    """A fresh registry (admin ann, clinician bob, viewer vic) behind an app whose clock the test moves."""
    registry = Registry.open(None, data_dir=tmp_path / "registry")
    for username, role in (("ann", Role.ADMIN), ("bob", Role.CLINICIAN), ("vic", Role.VIEWER)):
        registry.create_user(username, PASSWORD, role, actor="test")
    clock = Clock()
    app = create_web_app(settings_for(tmp_path / "data", clock=clock), knowledge, registry)
    yield Site(registry, clock, app)
    registry.close()


def signed_in(site: Site, username: str) -> TestClient:
    client = site.client()
    assert sign_in(client, username).status_code == 303
    return client


def test_the_sixth_attempt_after_five_wrong_passwords_is_locked_until_fifteen_minutes_pass(site: Site) -> None:
    """Five wrong passwords within a minute lock the account: the right one is refused (429) until the lock ends."""
    client = site.client()
    for _ in range(4):
        assert sign_in(client, "bob", WRONG).status_code == 401
        site.clock.advance(seconds=5)
    fifth = sign_in(client, "bob", WRONG)
    assert fifth.status_code == 429 and "locked until 2026-11-01 09:15 UTC" in fifth.text
    site.clock.advance(minutes=14)
    locked = sign_in(client, "bob", PASSWORD)
    assert locked.status_code == 429 and "too many failed attempts" in locked.text
    assert client.get("/patients", follow_redirects=False).status_code == 303
    site.clock.advance(minutes=1)
    assert sign_in(client, "bob", PASSWORD).status_code == 303
    assert client.get("/patients").status_code == 200


def test_wrong_passwords_for_one_account_do_not_lock_another(site: Site) -> None:
    """bob's lock leaves vic free to sign in from the same browser."""
    client = site.client()
    for _ in range(5):
        sign_in(client, "bob", WRONG)
    assert sign_in(client, "vic", PASSWORD).status_code == 303


def test_sign_in_attempts_are_audited_and_logged_without_the_password(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure and a success each leave an audit entry and a log line; neither holds the password or name typed."""
    caplog.set_level("DEBUG")
    client = site.client()
    sign_in(client, "bob", WRONG)
    sign_in(client, "bob", PASSWORD)
    actions = [e.action for e in site.registry.audit(limit=2)]
    assert actions == ["login.success", "login.failure"]
    assert "sign-in attempt from testclient: failure" in caplog.text and ": success" in caplog.text
    assert WRONG not in caplog.text and PASSWORD not in caplog.text and "bob" not in caplog.text


def test_a_copy_of_the_cookie_is_worthless_after_logout(site: Site) -> None:
    """Log out revokes the session on the server: a cookie saved before works until then and not after."""
    client = signed_in(site, "vic")
    saved = dict(client.cookies)
    with TestClient(site.app, cookies=saved) as thief:  # type: ignore[arg-type]
        assert thief.get("/patients").status_code == 200
        client.post("/logout", data={"csrf_token": csrf_of(client, "/patients")})
        assert thief.get("/patients", follow_redirects=False).status_code == 303


def test_a_session_ends_when_its_hours_are_over(site: Site) -> None:
    """A session is valid for the configured hours (12) and no longer."""
    client = signed_in(site, "vic")
    site.clock.advance(hours=11, minutes=59)
    assert client.get("/patients").status_code == 200
    site.clock.advance(minutes=1)
    assert client.get("/patients", follow_redirects=False).status_code == 303


def test_disabling_an_account_ends_its_sessions_and_refuses_sign_in(site: Site) -> None:
    """The admin disables bob: bob's open session ends at once and his right password is refused (403)."""
    admin, bob = signed_in(site, "ann"), signed_in(site, "bob")
    response = admin.post("/users/bob/disable", data={"csrf_token": csrf_of(admin, "/users")}, follow_redirects=False)
    assert response.status_code == 303
    assert bob.get("/patients", follow_redirects=False).status_code == 303
    refused = sign_in(site.client(), "bob")
    assert refused.status_code == 403 and "this account is disabled" in refused.text
    admin.post("/users/bob/enable", data={"csrf_token": csrf_of(admin, "/users")})
    assert sign_in(site.client(), "bob").status_code == 303


def test_an_admin_changes_a_role_and_it_applies_at_once(site: Site) -> None:
    """vic, a viewer, is refused the entry form until the admin makes her a clinician (same session)."""
    admin, vic = signed_in(site, "ann"), signed_in(site, "vic")
    assert vic.get("/cases/new").status_code == 403
    admin.post("/users/vic/role", data={"csrf_token": csrf_of(admin, "/users"), "role": "clinician"})
    assert vic.get("/cases/new").status_code == 200


def test_only_an_admin_may_change_roles_or_disable_and_the_last_admin_stays(site: Site) -> None:
    """A clinician's role change is refused (403); the admin cannot demote herself as the only admin (400)."""
    bob, admin = signed_in(site, "bob"), signed_in(site, "ann")
    assert bob.post("/users/vic/role", data={"csrf_token": csrf_of(bob), "role": "admin"}).status_code == 403
    assert bob.post("/users/vic/disable", data={"csrf_token": csrf_of(bob)}).status_code == 403
    refused = admin.post("/users/ann/role", data={"csrf_token": csrf_of(admin, "/users"), "role": "viewer"})
    assert refused.status_code == 400 and "last active admin" in refused.text
    assert site.registry.get_user("ann").role == Role.ADMIN  # type: ignore[union-attr]
    assert site.registry.get_user("vic").role == Role.VIEWER  # type: ignore[union-attr]


def test_changing_ones_password_ends_the_other_sessions(site: Site) -> None:
    """A wrong current password is refused (400); the right one changes it, keeps this session, ends the others."""
    here, elsewhere = signed_in(site, "vic"), signed_in(site, "vic")
    token = csrf_of(here, "/account")
    form = {"csrf_token": token, "current_password": WRONG, "new_password": "a brand new password"}
    form["new_password_again"] = "a brand new password"
    wrong = here.post("/account/password", data=form)
    assert wrong.status_code == 400 and "current password: is not right" in wrong.text
    assert elsewhere.get("/patients").status_code == 200
    form["current_password"] = PASSWORD
    assert here.post("/account/password", data=form, follow_redirects=False).status_code == 303
    assert here.get("/patients").status_code == 200
    assert elsewhere.get("/patients", follow_redirects=False).status_code == 303
    assert sign_in(site.client(), "vic", "a brand new password").status_code == 303


def test_the_new_password_must_be_typed_the_same_twice(site: Site) -> None:
    """Differing new passwords are refused and the old password still works."""
    client = signed_in(site, "vic")
    form = {"csrf_token": csrf_of(client, "/account"), "current_password": PASSWORD}
    form |= {"new_password": "a brand new password", "new_password_again": "a brand new passw0rd"}
    response = client.post("/account/password", data=form)
    assert response.status_code == 400 and "does not match the new password" in response.text
    assert sign_in(site.client(), "vic").status_code == 303


def _save(client: TestClient, patient_id: str) -> str:
    """Save the entry form's synthetic patient; the page address it leads to."""
    import html
    import re

    token = csrf_of(client, "/cases/new")
    preview = client.post("/cases/new", data=entry_form(token, patient_id)).text
    document = html.unescape(re.search(r'name="case_json" value="([^"]+)"', preview).group(1))  # type: ignore[union-attr]
    save = {"csrf_token": token, "case_json": document, "as_of": "2026-11-01", "save_patient_id": patient_id}
    response = client.post("/cases/save", data=save, follow_redirects=False)
    assert response.status_code == 303
    return response.headers["location"]


def _cookie_payload(client: TestClient) -> str:
    """The readable part of the signed session cookie (base64 JSON before the signature)."""
    value = client.cookies["sigmd_session"]
    data = value.split(".")[0]
    return base64.b64decode(data + "=" * (-len(data) % 4)).decode()


def test_the_session_cookie_holds_no_patient_identifier(site: Site) -> None:
    """After saving a patient the readable cookie holds a session token and notices, never the identifier."""
    client = signed_in(site, "bob")
    location = _save(client, "MRN-COOKIE-55")
    payload = json.loads(_cookie_payload(client))
    assert "MRN-COOKIE-55" not in json.dumps(payload) and "MRN-COOKIE-55" not in location
    assert set(payload) >= {"sid", "csrf_token"} and payload["flash"][0].startswith("Saved:")
    assert "MRN-COOKIE-55" in client.get(location).text


def test_an_admin_erases_a_patient_after_confirming(site: Site) -> None:
    """Without the confirmation box nothing is erased (400); with it the patient and their page are gone."""
    location = _save(signed_in(site, "bob"), "MRN-ERASE-77")
    admin = signed_in(site, "ann")
    token = csrf_of(admin, location)
    assert admin.post(f"{location}/erase", data={"csrf_token": token}).status_code == 400
    assert [p.patient_id for p in site.registry.list_patients()] == ["MRN-ERASE-77"]
    response = admin.post(f"{location}/erase", data={"csrf_token": token, "confirm": "erase"}, follow_redirects=False)
    assert response.status_code == 303 and site.registry.list_patients() == []
    assert admin.get(location).status_code == 404
    assert "MRN-ERASE-77" not in repr(site.registry.audit())


def test_a_clinician_may_not_erase(site: Site) -> None:
    """Erasure is for admins: a clinician's request is refused (403) and the patient stays."""
    bob = signed_in(site, "bob")
    location = _save(bob, "MRN-KEEP-78")
    response = bob.post(f"{location}/erase", data={"csrf_token": csrf_of(bob, location), "confirm": "erase"})
    assert response.status_code == 403 and len(site.registry.list_patients()) == 1
