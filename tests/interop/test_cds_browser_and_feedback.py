"""CORS for browser-based CDS clients on an allow-list, and feedback kept in the registry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import SERVICE_ID, CDSSettings
from sigmd.registry import Registry
from sigmd.registry.feedback import CardFeedback, FeedbackNotStoredError, Outcome, RegistryFeedbackStore
from sigmd.web.app import create_app
from sigmd.web.settings import WebSettings

from .cds import auth, settings

SERVICE = f"/cds-services/{SERVICE_ID}"
FEEDBACK = f"{SERVICE}/feedback"
EHR = "https://ehr.example.org"


def preflight(test: TestClient, origin: str, method: str = "POST", path: str = SERVICE) -> Any:
    return test.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.fixture
def browser_service() -> TestClient:
    return TestClient(create_cds_app(settings(cors_allow_origins=(EHR,))))


def test_a_preflight_from_an_allowed_origin_is_answered(browser_service: TestClient):
    """A browser client on the allow-list gets the preflight answer with methods and headers."""
    response = preflight(browser_service, EHR)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == EHR
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]


def test_a_preflight_from_another_origin_is_refused(browser_service: TestClient):
    """An origin not on the allow-list gets 403 and no CORS headers."""
    response = preflight(browser_service, "https://evil.example")
    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers


def test_calls_from_an_allowed_origin_carry_the_cors_header(browser_service: TestClient):
    """Discovery called from the allowed origin answers with Access-Control-Allow-Origin, also on a 401."""
    ok = browser_service.get("/cds-services", headers={**auth("/cds-services"), "Origin": EHR})
    denied = browser_service.get("/cds-services", headers={"Origin": EHR})
    assert ok.headers["access-control-allow-origin"] == EHR and "Origin" in ok.headers["vary"]
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == EHR


def test_calls_from_other_origins_carry_no_cors_header(browser_service: TestClient):
    """The same call from another origin is answered without a CORS header, so a browser withholds it."""
    response = browser_service.get("/cds-services", headers={**auth("/cds-services"), "Origin": "https://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_without_an_allow_list_no_origin_is_allowed():
    """By default (empty allow-list) even a well-formed preflight is refused."""
    assert preflight(TestClient(create_cds_app(settings())), EHR).status_code == 403


@pytest.mark.parametrize("origin", ["*", "https://ehr.example.org/", "ehr.example.org", "https://ehr.example.org/app"])
def test_the_allow_list_holds_origins_only(origin: str):
    """A wildcard, a path or a bare host is a configuration error naming the value."""
    with pytest.raises(ValueError, match="cors_allow_origins"):
        CDSSettings("https://cds.example.org", cors_allow_origins=(origin,))


ACCEPTED = {
    "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
    "outcomeTimestamp": "2026-11-20T10:00:00Z",
}
OVERRIDDEN = {
    "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
    "outcome": "overridden",
    "overrideReason": {"reason": {"code": "d7ecf885", "system": "https://example.com/reasons"}, "userComment": "seen"},
    "outcomeTimestamp": "2026-11-20T10:05:00+01:00",
}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    opened = Registry.open(None, data_dir=tmp_path / "registry")
    yield opened
    opened.close()


@pytest.fixture
def served(registry: Registry, knowledge: Any, tmp_path: Path) -> TestClient:
    """`sigmd serve`'s app: the pages and the CDS Hooks service over one registry, a browser origin allowed."""
    web = WebSettings(data_dir=tmp_path / "data", secret_key="s" * 48, today=lambda: date(2026, 11, 1))
    return TestClient(create_app(web, settings(cors_allow_origins=(EHR,)), knowledge, registry))


def test_feedback_is_kept_in_the_registry(served: TestClient, registry: Registry):
    """Accepted and overridden feedback posted to the served app is stored in the registry's cds_feedback."""
    response = served.post(FEEDBACK, json={"feedback": [ACCEPTED, OVERRIDDEN]}, headers=auth(FEEDBACK))
    assert response.status_code == 200 and response.json() == {}
    stored = {s.feedback.card: s for s in RegistryFeedbackStore(registry).entries()}
    accepted = stored[ACCEPTED["card"]]
    assert accepted.feedback.outcome is Outcome.ACCEPTED and accepted.client == "https://fhir-ehr.example.com/"
    assert accepted.feedback.accepted_suggestions == ("e56e1945-20b3-4393-8503-a1a20fd73152",)
    overridden = stored[OVERRIDDEN["card"]].feedback
    assert overridden.outcome_at == datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    assert overridden.override_reason is not None and overridden.override_reason["userComment"] == "seen"


def test_feedback_that_breaks_the_spec_is_400_and_nothing_is_stored(served: TestClient, registry: Registry):
    """An accepted outcome without acceptedSuggestions is refused with 400, and no entry of the call is kept."""
    bad = {**ACCEPTED, "card": "11111111-2222-3333-4444-555555555555", "acceptedSuggestions": []}
    response = served.post(FEEDBACK, json={"feedback": [OVERRIDDEN, bad]}, headers=auth(FEEDBACK))
    assert response.status_code == 400 and "feedback[1].acceptedSuggestions" in response.json()["reason"]
    assert RegistryFeedbackStore(registry).entries() == []


def test_a_database_failure_while_storing_feedback_is_a_clean_503_logged_without_the_comment(
    served: TestClient, registry: Registry, caplog: pytest.LogCaptureFixture
):
    """The registry's database fails under the write (its table is gone): the client gets 503 with a JSON reason
    and no traceback, nothing is kept, and the log names the failure's kind but not the clinician's comment, which
    the database error's own text quotes."""
    comment = "Patient Erika Mustermann declined (synthetic)"
    entry = {**OVERRIDDEN, "overrideReason": {**OVERRIDDEN["overrideReason"], "userComment": comment}}
    with registry._db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE cds_feedback")
    with caplog.at_level(logging.DEBUG):
        response = served.post(FEEDBACK, json={"feedback": [ACCEPTED, entry]}, headers=auth(FEEDBACK))
    assert response.status_code == 503 and response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "service unavailable",
        "reason": "the feedback could not be stored; nothing was kept, send it again later",
    }
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.name == "sigmd.cdshooks" and failure.exc_info is None
    assert failure.getMessage() == "feedback: 2 entries not stored: the registry database failed (OperationalError)"
    assert not any(comment in r.getMessage() or r.exc_info for r in caplog.records)


def test_the_registry_store_turns_a_database_error_into_feedback_not_stored(registry: Registry):
    """RegistryFeedbackStore.keep raises FeedbackNotStoredError, naming only the error's type, and keeps nothing."""
    store = RegistryFeedbackStore(registry)
    entry = CardFeedback("4e0a3a1e", Outcome.OVERRIDDEN, datetime(2026, 11, 20, tzinfo=UTC), (), {"userComment": "x"})
    with registry._db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE cds_feedback")
    with pytest.raises(FeedbackNotStoredError) as raised:
        store.keep([entry], service_id=SERVICE_ID, client="c", received_at=datetime(2026, 11, 20, tzinfo=UTC))
    assert str(raised.value) == "the registry database failed (OperationalError)"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({**OVERRIDDEN, "outcome": "ignored"}, "outcome"),
        ({**OVERRIDDEN, "outcomeTimestamp": "2026-11-20T10:05:00"}, "outcomeTimestamp"),
        ({**OVERRIDDEN, "card": 7}, "card"),
        ({**OVERRIDDEN, "overrideReason": "no"}, "overrideReason"),
    ],
)
def test_each_invalid_feedback_field_is_named(served: TestClient, entry: dict[str, Any], field: str):
    """The 400 reason names the entry and the field at fault."""
    response = served.post(FEEDBACK, json={"feedback": [entry]}, headers=auth(FEEDBACK))
    assert response.status_code == 400 and f"feedback[0].{field}" in response.json()["reason"]


def test_cors_works_in_the_served_app_too(served: TestClient):
    """In `sigmd serve`'s combined app the service answers preflights and adds CORS headers the same way."""
    assert preflight(served, EHR, path=FEEDBACK).status_code == 204
    response = served.get("/cds-services", headers={**auth("/cds-services"), "Origin": EHR})
    assert response.headers["access-control-allow-origin"] == EHR
    assert preflight(served, "https://evil.example").status_code == 403


def test_sigmd_serve_refuses_a_wildcard_cors_origin(tmp_path: Path):
    """`sigmd serve --cors-origin '*'` stops with exit 2 and names the value, before anything is served."""
    from typer.testing import CliRunner

    from sigmd.cli import app

    result = CliRunner().invoke(app, ["serve", "--cors-origin", "*", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "'*' is not an origin" in result.stderr


def test_sigmd_serve_passes_its_cors_origins_to_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`sigmd serve --cors-origin <origin>` serves an app that answers that origin's preflight."""
    import uvicorn
    from typer.testing import CliRunner

    from sigmd.cli import app

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **_: served.append(application))
    result = CliRunner().invoke(app, ["serve", "--cors-origin", EHR, "--dev-no-auth", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert preflight(TestClient(served[0]), EHR, method="GET", path="/cds-services").status_code == 204
