"""CDS Hooks specification and sandbox examples: requests, feedback and the spec's signed JWT."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient

from sigmd.cdshooks import create_cds_app
from tests.interop.cds import BASE, auth, settings
from tests.interop.conftest import bundle
from tests.interop.test_cdshooks import SERVICE, client
from tests.interop.test_jwt import call

from .conftest import FIXTURES

assert FIXTURES is not None  # the module is collected only when the fixtures exist


def test_spec_patient_view_example_is_answered():
    """The spec's patient-view request (prefetch key unknown to sigmd) is answered after fetching the rest."""
    body = json.loads((FIXTURES / "cds-hooks" / "spec-patient-view-request.json").read_text())
    body["fhirServer"] = "https://hooks.example/fhir"

    def fhir(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Patient/1288992"):
            return httpx.Response(200, json=body["prefetch"]["patientToGreet"])
        return httpx.Response(200, json=bundle(bundle_type="searchset"))

    response = client(fhir=fhir).post(SERVICE, json=body, headers=auth(SERVICE))
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_spec_plain_http_fhir_server_does_not_receive_the_token():
    """The spec example's http:// fhirServer would expose the access token, so the service answers 412."""
    body = json.loads((FIXTURES / "cds-hooks" / "spec-patient-view-request.json").read_text())
    assert client().post(SERVICE, json=body, headers=auth(SERVICE)).status_code == 412


def test_sandbox_requests_without_hook_instance_are_rejected():
    """The sandbox stub requests (no hookInstance, no context) are invalid CDS Hooks calls: 400."""
    for name in (
        "sandbox-patient-greeting-requestWithPrefetch.json",
        "sandbox-patient-greeting-requestWithoutPrefetch.json",
    ):
        body = json.loads((FIXTURES / "cds-hooks" / name).read_text())
        response = client().post(SERVICE, json=body, headers=auth(SERVICE))
        assert response.status_code == 400 and "hookInstance" in response.json()["reason"]


def test_spec_feedback_example_is_accepted_and_kept():
    """The spec's accepted-suggestion feedback is stored; an invalid outcome is refused."""
    app = create_cds_app(settings())
    test = TestClient(app)
    path = f"{SERVICE}/feedback"
    body = json.loads((FIXTURES / "cds-hooks" / "spec-feedback-accepted.json").read_text())
    assert test.post(path, json=body, headers=auth(path)).status_code == 200
    assert next(iter(app.state.feedback.entries)).card == "4e0a3a1e-3283-4575-ab82-028d55fe2719"
    body["feedback"][0]["outcome"] = "ignored"
    assert test.post(path, json=body, headers=auth(path)).status_code == 400


def test_spec_example_token_verifies_when_the_clock_is_frozen():
    """The spec's compact JWT verifies against the spec JWKS with the clock set inside its lifetime."""
    spec = (FIXTURES / "cds-hooks" / "spec-jwt-compact.txt").read_text()
    jwks = json.loads((FIXTURES / "cds-hooks" / "spec-jwks-public.json").read_text())
    test = TestClient(create_cds_app(settings(jwks=jwks, base_url=BASE, clock=lambda: 1311280980.0)))
    response = test.post("/cds-services/some-service", headers={"Authorization": f"Bearer {spec}"})
    assert response.status_code == 404  # authentication is per route; the spec's service id is not served
    status, reason = call(spec, jwks=jwks, clock=lambda: 1311280980.0)
    assert status == 401 and "aud" in reason
