"""`create_app`: the clinician pages and the CDS Hooks service in one app, the service unchanged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sigmd.cdshooks.settings import SERVICE_ID, CDSSettings
from sigmd.web.app import create_app
from tests.interop.test_cdshooks import full_prefetch, hook_request
from tests.web.conftest import TODAY, settings_for


@pytest.fixture
def combined(knowledge, registry, tmp_path):
    cds = CDSSettings(base_url="http://testserver", allow_unauthenticated=True, today=lambda: TODAY)
    return TestClient(create_app(settings_for(tmp_path), cds, knowledge, registry))


def test_the_cds_hooks_service_answers_at_its_usual_paths(combined):
    """Discovery, patient-view and health answer as the CDS app alone does, without a session."""
    assert combined.get("/health").json() == {"status": "ok"}
    assert combined.get("/cds-services").json()["services"][0]["id"] == SERVICE_ID
    body = hook_request(full_prefetch())
    response = combined.post(f"/cds-services/{SERVICE_ID}", json=body)
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    assert "set-cookie" not in response.headers and "content-security-policy" not in response.headers


def test_unknown_service_paths_keep_json_errors(combined):
    """A 404 under /cds-services is JSON as before; a 404 page elsewhere is HTML."""
    assert combined.get("/cds-services/nothing").json() == {"detail": "Not Found"}
    combined_page = combined.get("/nowhere", follow_redirects=False)
    assert combined_page.status_code == 404 and "text/html" in combined_page.headers["content-type"]


def test_the_pages_are_served_too(combined):
    """The same app serves the clinician pages (sign-in first)."""
    assert combined.get("/patients", follow_redirects=False).headers["location"] == "/login?next=%2Fpatients"
