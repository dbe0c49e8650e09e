"""CDS Hooks 2.0 service: discovery, patient-view with and without prefetch, feedback, spec contract examples."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import SERVICE_ID

from .cds import auth, settings
from .conftest import bundle, low_igm_bundle, observation, patient

SERVICE = f"/cds-services/{SERVICE_ID}"


def hook_request(prefetch: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def full_prefetch() -> dict[str, Any]:
    entries = [e["resource"] for e in low_igm_bundle()["entry"]]
    return {
        "patient": entries[0],
        "immunoglobulins": bundle(*[e for e in entries if e["resourceType"] == "Observation"], bundle_type="searchset"),
        "conditions": bundle(*[e for e in entries if e["resourceType"] == "Condition"], bundle_type="searchset"),
        "medications": None,
        "medicationRequests": None,
        "medicationAdministrations": None,
    }


def client(**kwargs: Any) -> TestClient:
    return TestClient(create_cds_app(settings(**kwargs)))


def test_discovery_lists_the_patient_view_service_with_prefetch_templates():
    """Discovery names the service, its hook and prefetch templates for the Ig LOINC codes."""
    response = client().get("/cds-services", headers=auth("/cds-services"))
    [service] = response.json()["services"]
    assert service["id"] == SERVICE_ID and service["hook"] == "patient-view" and service["description"]
    assert "http://loinc.org|2472-9" in service["prefetch"]["immunoglobulins"]
    assert set(service["prefetch"]) == {
        "patient",
        "immunoglobulins",
        "conditions",
        "medications",
        "medicationRequests",
        "medicationAdministrations",
    }
    assert service["prefetch"]["medicationRequests"] == "MedicationRequest?patient={{context.patientId}}"
    assert service["prefetch"]["medicationAdministrations"] == "MedicationAdministration?patient={{context.patientId}}"


def test_patient_view_with_prefetch_renders_the_assessment_as_a_card():
    """A low IgM with a leukaemia code gives one warning card built from the assessment, with draft orders."""
    response = client().post(SERVICE, json=hook_request(full_prefetch()), headers=auth(SERVICE))
    assert response.status_code == 200
    [card] = response.json()["cards"]
    assert len(card["summary"]) <= 140 and card["indicator"] in ("info", "warning", "critical")
    assert "**Reasons**" in card["detail"] and "Condition/c1" in card["detail"]
    assert "sigmd supports clinical judgement" in card["detail"]
    assert card["source"]["label"].startswith("sigmd")
    assert all(value is not None for value in card.values())


def test_card_suggestions_are_valid_draft_service_requests():
    """Suggested orders are draft ServiceRequests that validate as FHIR R4 and use 'any' selection."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    body = hook_request(
        {**full_prefetch(), "immunoglobulins": bundle(observation("m", "2472-9", 15, "mg/dL", "2024-01-10"))}
    )
    [card] = client().post(SERVICE, json=body, headers=auth(SERVICE)).json()["cards"]
    assert card["selectionBehavior"] == "any"
    resources = [a["resource"] for s in card["suggestions"] for a in s["actions"]]
    assert resources and all(ServiceRequest.model_validate(r).status == "draft" for r in resources)
    assert {"2472-9", "2465-3", "2458-8"} <= {c["code"] for r in resources for c in r["code"].get("coding", [])}


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_bearer_token():
    """Omitted prefetch keys are fetched from fhirServer with fhirAuthorization's access token."""
    seen: list[httpx.Request] = []
    entries = full_prefetch()

    def fhir(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/Patient/p1"):
            return httpx.Response(200, json=entries["patient"])
        if path.endswith("/Observation"):
            return httpx.Response(200, json=entries["immunoglobulins"])
        return httpx.Response(200, json=bundle(bundle_type="searchset"))

    body = hook_request(
        None,
        fhirServer="https://ehr.example/fhir",
        fhirAuthorization={
            "access_token": "opaque",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "sigmd",
        },
    )
    response = client(fhir=fhir).post(SERVICE, json=body, headers=auth(SERVICE))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    assert len(seen) == 6 and all(r.headers["Authorization"] == "Bearer opaque" for r in seen)
    assert any(r.url.path.endswith("/MedicationRequest") for r in seen)
    assert any(r.url.path.endswith("/MedicationAdministration") for r in seen)


def test_without_prefetch_or_fhir_server_the_answer_is_412():
    """With neither prefetch nor fhirServer the service cannot get data and answers 412."""
    response = client().post(SERVICE, json=hook_request(None), headers=auth(SERVICE))
    assert response.status_code == 412


def test_null_prefetch_means_no_data_and_no_ig_gives_no_cards():
    """Null keys mean 'no data': a patient without immunoglobulins gets an empty card list."""
    body = hook_request(
        {"patient": patient("p1"), "immunoglobulins": None, "conditions": None, "medications": None}
        | {"medicationRequests": None}
    )
    response = client().post(SERVICE, json=body, headers=auth(SERVICE))
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_unreadable_result_gives_no_card_and_a_log_line_without_the_value(caplog):
    """An IgM with an unknown unit gives no card to the clinician; the log names the field, not the value."""
    prefetch = {**full_prefetch(), "immunoglobulins": bundle(observation("x", "2472-9", 1, "mmol/L", "2024-01-10"))}
    with caplog.at_level("WARNING", logger="sigmd.cdshooks"):
        response = client().post(SERVICE, json=hook_request(prefetch), headers=auth(SERVICE))
    assert response.status_code == 200 and response.json() == {"cards": []}
    assert "Observation/x.valueQuantity.unit" in caplog.text and "mmol/L" not in caplog.text


def test_readable_result_gives_its_card_and_no_input_problem_log(caplog):
    """The same patient with the IgM in mg/dL gets the card, and nothing is logged as an input problem."""
    prefetch = {**full_prefetch(), "immunoglobulins": bundle(observation("x", "2472-9", 15, "mg/dL", "2024-01-10"))}
    with caplog.at_level("WARNING", logger="sigmd.cdshooks"):
        response = client().post(SERVICE, json=hook_request(prefetch), headers=auth(SERVICE))
    assert len(response.json()["cards"]) == 1 and "input problem" not in caplog.text


def _administration(subject: str = "Patient/p1") -> dict[str, Any]:
    """An immunoglobulin infusion recorded only as a MedicationAdministration (synthetic)."""
    return {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "completed",
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-01-05",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J06BA02"}]},
    }


def test_an_immunoglobulin_infusion_prefetched_as_medication_administration_reaches_the_verdict():
    """Prefetched administrations are read: the infusion sets the IgG aside and the card names it; a client that
    does not send the (optional) key, with no fhirServer, still gets its card, without it."""
    prefetch = {**full_prefetch(), "medicationAdministrations": bundle(_administration(), bundle_type="searchset")}
    [card] = client().post(SERVICE, json=hook_request(prefetch), headers=auth(SERVICE)).json()["cards"]
    assert "MedicationAdministration/a1" in card["detail"]
    older_client = {k: v for k, v in full_prefetch().items() if k != "medicationAdministrations"}
    response = client().post(SERVICE, json=hook_request(older_client), headers=auth(SERVICE))
    [card] = response.json()["cards"]
    assert response.status_code == 200 and "MedicationAdministration" not in card["detail"]


def test_a_fhir_server_without_medication_administrations_still_gets_an_answer(caplog):
    """A server that cannot search MedicationAdministration (404) leaves the call answered without them, logged;
    the same failure for a key that is not optional is a 412."""
    entries = full_prefetch()

    def fhir(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/MedicationAdministration"):
            return httpx.Response(404)
        if path.endswith("/Patient/p1"):
            return httpx.Response(200, json=entries["patient"])
        if path.endswith("/Observation"):
            return httpx.Response(200, json=entries["immunoglobulins"])
        return httpx.Response(200, json=bundle(bundle_type="searchset"))

    body = hook_request(None, fhirServer="https://ehr.example/fhir")
    with caplog.at_level("INFO", logger="sigmd.cdshooks"):
        response = client(fhir=fhir).post(SERVICE, json=body, headers=auth(SERVICE))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    assert "prefetch key medicationAdministrations answered without: the FHIR server answered 404" in caplog.text

    def no_conditions(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404) if request.url.path.endswith("/Condition") else fhir(request)

    assert client(fhir=no_conditions).post(SERVICE, json=body, headers=auth(SERVICE)).status_code == 412


def test_another_patients_administration_refuses_the_call_even_under_the_optional_key():
    """Optional means "may be missing", never "may be about someone else": a foreign subject is a 412, no card."""
    foreign = bundle(_administration("Patient/p2"), bundle_type="searchset")
    response = client().post(
        SERVICE, json=hook_request({**full_prefetch(), "medicationAdministrations": foreign}), headers=auth(SERVICE)
    )
    assert response.status_code == 412 and "cards" not in response.json()


def test_health_needs_no_token():
    """GET /health answers without authentication."""
    assert client().get("/health").json() == {"status": "ok"}


def test_development_mode_accepts_calls_without_a_token_and_warns(caplog):
    """With allow_unauthenticated the service answers without a JWT and logs a warning at start."""
    with caplog.at_level("WARNING", logger="sigmd.cdshooks"):
        test = client(allow_unauthenticated=True)
    assert "WITHOUT client authentication" in caplog.text
    assert test.get("/cds-services").status_code == 200
