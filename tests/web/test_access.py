"""Access rules: sign-in, roles, CSRF tokens, the first-run page, the session cookie and the secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, Role
from sigmd.web.app import create_web_app
from sigmd.web.security import safe_next
from sigmd.web.settings import SECRET_KEY_ENV, WebSettings, load_secret_key
from tests.web.conftest import PASSWORD, csrf_of, entry_form, settings_for, sign_in

PAGES = [
    "/",
    "/patients",
    "/patients/0123456789abcdef0123456789abcdef",
    "/patients/0123456789abcdef0123456789abcdef/case.json",
    "/patients/0123456789abcdef0123456789abcdef/fhir.json",
    "/account",
    "/follow-up",
    "/cases/new",
    "/import",
    "/screenings",
    "/screenings/0123456789abcdef",
    "/users",
]
CLINICIAN_POSTS = ["/cases/new", "/cases/save", "/import", "/import/save", "/screenings"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_requests_for_patient_data_are_sent_to_the_login_page(anonymous, path):
    """Every page that shows patient data redirects an anonymous visitor to /login, remembering the page."""
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2F")


def test_anonymous_posts_are_sent_to_the_login_page_and_store_nothing(anonymous, registry):
    """A form posted without signing in is not processed: the answer is a redirect to /login."""
    before = len(registry.list_patients())
    token = csrf_of(anonymous)
    response = anonymous.post("/cases/new", data=entry_form(token, "anon-1"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert len(registry.list_patients()) == before


@pytest.mark.parametrize("path", ["/", "/patients", "/follow-up", "/screenings"])
def test_a_viewer_may_read(client_as, path):
    """A viewer sees the patient list, the follow-up list and the screening jobs."""
    assert client_as("view").get(path).status_code == 200


@pytest.mark.parametrize("path", ["/cases/new", "/import", "/users"])
def test_a_viewer_may_not_open_entry_or_admin_pages(client_as, path):
    """A viewer is refused (403) the pages that enter results or manage users."""
    response = client_as("view").get(path)
    assert response.status_code == 403
    assert "needs the" in response.text


@pytest.mark.parametrize("path", CLINICIAN_POSTS)
def test_a_viewer_cannot_post_even_with_a_valid_csrf_token(client_as, registry, path):
    """A viewer's POST to any clinician action is refused with 403 and stores nothing."""
    client = client_as("view")
    before = len(registry.list_patients())
    response = client.post(path, data=entry_form(csrf_of(client, "/patients"), "viewer-1"))
    assert response.status_code == 403
    assert len(registry.list_patients()) == before


def test_a_clinician_may_not_manage_users(client_as, registry):
    """The users page and creating an account need the admin role."""
    client = client_as("clin")
    assert client.get("/users").status_code == 403
    token = csrf_of(client, "/patients")
    response = client.post("/users", data={"csrf_token": token, "username": "mallory", "password": PASSWORD})
    assert response.status_code == 403
    assert registry.get_user("mallory") is None


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_post_without_the_sessions_csrf_token_is_refused(client_as, registry, token):
    """A POST whose CSRF token is missing, empty or wrong gets 403, even from a clinician."""
    client = client_as("clin")
    form = entry_form("unused", "csrf-1")
    form.pop("csrf_token")
    if token is not None:
        form["csrf_token"] = token
    response = client.post("/cases/new", data=form)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_a_csrf_token_from_another_session_is_refused(client_as):
    """The token is bound to its session: the viewer's token does not work in the clinician's session."""
    other = csrf_of(client_as("view"), "/patients")
    response = client_as("clin").post("/cases/new", data=entry_form(other, "csrf-2"))
    assert response.status_code == 403


def test_the_login_form_needs_its_csrf_token(anonymous):
    """Signing in is a POST too and is refused without the token."""
    response = anonymous.post("/login", data={"username": "clin", "password": PASSWORD})
    assert response.status_code == 403


def test_a_wrong_password_is_refused_and_said_so(anonymous):
    """A wrong password leaves the visitor signed out with a message, and a status of 401."""
    response = sign_in(anonymous, "clin", "not the password")
    assert response.status_code == 401
    assert "username or password is not right" in response.text
    assert anonymous.get("/patients", follow_redirects=False).status_code == 303


def test_signing_in_returns_to_the_page_asked_for_but_never_to_another_site(anonymous):
    """After login the visitor returns to a local `next` page; an external `next` becomes the start page."""
    token = csrf_of(anonymous)
    data = {"csrf_token": token, "username": "view", "password": PASSWORD, "next": "/follow-up"}
    assert anonymous.post("/login", data=data, follow_redirects=False).headers["location"] == "/follow-up"
    anonymous.cookies.clear()
    data["csrf_token"], data["next"] = csrf_of(anonymous), "//evil.example/steal"
    assert anonymous.post("/login", data=data, follow_redirects=False).headers["location"] == "/"


def test_logging_out_ends_the_session(app):
    """After log out the same browser is sent to /login again."""
    with TestClient(app) as client:
        sign_in(client, "view")
        assert client.get("/patients").status_code == 200
        response = client.post("/logout", data={"csrf_token": csrf_of(client, "/patients")}, follow_redirects=False)
        assert response.headers["location"] == "/login"
        assert client.get("/patients", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_http_only_same_site_and_optionally_secure(knowledge, registry, tmp_path):
    """The session cookie is HttpOnly and SameSite=Lax, and Secure when the setting asks for it."""
    for secure in (False, True):
        app = create_web_app(settings_for(tmp_path / str(secure), cookie_secure=secure), knowledge, registry)
        with TestClient(app, base_url="https://testserver") as client:
            cookie = sign_in(client, "view").headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in cookie.replace("samesite", "")) is secure


def test_an_admin_creates_an_account_that_can_sign_in(client_as, app, registry):
    """The users page creates an account with the chosen role; the new user signs in with it."""
    client = client_as("admin")
    token = csrf_of(client, "/users")
    data = {"csrf_token": token, "username": "newnurse", "password": "another long password", "role": "viewer"}
    response = client.post("/users", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert registry.get_user("newnurse").role is Role.VIEWER
    with TestClient(app) as fresh:
        assert sign_in(fresh, "newnurse", "another long password").status_code == 303


def test_the_users_page_shows_the_registrys_reason_for_a_refused_account(client_as):
    """A too-short password is refused with the registry's message naming the field."""
    client = client_as("admin")
    data = {"csrf_token": csrf_of(client, "/users"), "username": "shorty", "password": "short", "role": "viewer"}
    response = client.post("/users", data=data)
    assert response.status_code == 400
    assert "password" in response.text and 'aria-invalid="true"' in response.text


def test_pages_carry_security_headers(client_as):
    """Pages are sent with a content security policy, no-sniff and no-store."""
    headers = client_as("view").get("/patients").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


class TestFirstRun:
    @pytest.fixture
    def empty(self, knowledge: Knowledge, tmp_path: Path):
        registry = Registry.open(None, data_dir=tmp_path / "registry")
        yield registry, TestClient(create_web_app(settings_for(tmp_path), knowledge, registry))
        registry.close()

    def test_without_accounts_the_login_page_leads_to_setup(self, empty):
        """An empty registry sends the visitor from /login to the first-run page."""
        _, client = empty
        assert client.get("/login", follow_redirects=False).headers["location"] == "/setup"

    def test_setup_creates_the_first_admin_and_then_closes(self, empty):
        """/setup creates an administrator and signs them in; afterwards it redirects and refuses posts."""
        registry, client = empty
        token = csrf_of(client, "/setup")
        form = {"csrf_token": token, "username": "root", "password": PASSWORD, "password_again": PASSWORD}
        response = client.post("/setup", data=form, follow_redirects=False)
        assert response.status_code == 303
        assert registry.get_user("root").role is Role.ADMIN
        assert client.get("/users").status_code == 200
        assert client.get("/setup", follow_redirects=False).headers["location"] == "/login"
        second = {**form, "csrf_token": csrf_of(client, "/patients"), "username": "intruder"}
        assert client.post("/setup", data=second).status_code == 403
        assert registry.get_user("intruder") is None

    def test_setup_says_when_the_passwords_differ(self, empty):
        """Two different passwords are refused with the field named, and no account is made."""
        registry, client = empty
        form = {"csrf_token": csrf_of(client, "/setup"), "username": "root", "password": PASSWORD}
        response = client.post("/setup", data={**form, "password_again": PASSWORD + "x"})
        assert response.status_code == 400 and "does not match" in response.text
        assert not registry.has_users()


class TestSecretKey:
    def test_a_generated_key_is_kept_in_a_private_file_and_reused(self, tmp_path, monkeypatch):
        """Without SIGMD_SECRET_KEY a key is generated once into the data dir with mode 0600."""
        monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
        first = load_secret_key(tmp_path)
        path = tmp_path / "secret_key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(first) >= 32 and load_secret_key(tmp_path) == first

    def test_the_environment_key_wins_and_must_be_long(self, tmp_path, monkeypatch):
        """SIGMD_SECRET_KEY is used as given; a short one is refused with its length named."""
        monkeypatch.setenv(SECRET_KEY_ENV, "k" * 40)
        assert WebSettings.from_env(tmp_path).secret_key == "k" * 40
        assert not (tmp_path / "secret_key").exists()
        monkeypatch.setenv(SECRET_KEY_ENV, "short")
        with pytest.raises(ValueError, match="5 characters"):
            load_secret_key(tmp_path)


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        ("/patient?id=a", "/patient?id=a"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/\t/evil.example/", "/"),
        ("", "/"),
    ],
)
def test_only_local_paths_are_followed_after_login(asked, given):
    """The `next` page after login is a local path; anything a browser could read as another host becomes '/'."""
    assert safe_next(asked) == given
