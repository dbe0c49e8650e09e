"""Shared fixtures for the web tests: one registry and app per session, signed-in clients per role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, Role
from sigmd.web.app import create_web_app
from sigmd.web.settings import WebSettings

TODAY = date(2026, 11, 1)
PASSWORD = "correct horse battery"
ACCOUNTS = {"admin": Role.ADMIN, "clin": Role.CLINICIAN, "view": Role.VIEWER}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def settings_for(data_dir: Path, **extra: Any) -> WebSettings:
    return WebSettings(data_dir=data_dir, secret_key="s" * 48, today=lambda: TODAY, **extra)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with an admin, a clinician and a viewer (password PASSWORD)."""
    opened = Registry.open(None, data_dir=tmp_path_factory.mktemp("registry"))
    for username, role in ACCOUNTS.items():
        opened.create_user(username, PASSWORD, role, actor="test")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def app(registry: Registry, knowledge: Knowledge, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_web_app(settings_for(tmp_path_factory.mktemp("data")), knowledge, registry)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The session's CSRF token, read from a page's hidden field."""
    match = CSRF.search(client.get(path).text)
    assert match is not None, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client)
    return client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}, follow_redirects=False
    )


@pytest.fixture(scope="session")
def session_cookies(app: FastAPI) -> dict[str, dict[str, str]]:
    """One signed-in session per account, so that each test need not hash a password again."""
    cookies = {}
    for username in ACCOUNTS:
        with TestClient(app) as client:
            assert sign_in(client, username).status_code == 303
            cookies[username] = dict(client.cookies)
    return cookies


@pytest.fixture
def client_as(app: FastAPI, session_cookies: dict[str, dict[str, str]]) -> Iterator[Callable[[str], TestClient]]:
    """A test client signed in as `admin`, `clin` or `view`."""
    opened: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app, cookies=session_cookies[username])
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def entry_form(token: str, patient_id: str = "", **extra: str) -> dict[str, str]:
    """A filled entry form: a synthetic woman born 1980 with IgM low twice six months apart, IgG and IgA normal."""
    form = {
        "csrf_token": token,
        "patient_id": patient_id,
        "display_name": "Synthetic Patient",
        "sex": "female",
        "birth_date": "1980-05-01",
        "as_of": TODAY.isoformat(),
        "r0_analyte": "IgM",
        "r0_value": "28",
        "r0_unit": "mg/dL",
        "r0_date": "2026-01-10",
        "r1_analyte": "IgG",
        "r1_value": "10.2",
        "r1_unit": "g/L",
        "r1_date": "2026-01-10",
        "r2_analyte": "IgA",
        "r2_value": "190",
        "r2_unit": "mg/dL",
        "r2_date": "2026-01-10",
        "r3_analyte": "IgM",
        "r3_value": "<25",
        "r3_unit": "mg/dL",
        "r3_date": "2026-07-14",
        "conditions_none": "on",
        "medications_none": "on",
        "action": "assess",
    }
    form.update(extra)
    return form
