"""Client JWT verification: every rejection the CDS Hooks spec requires, and a valid ES384 token."""

from __future__ import annotations

import base64
import json

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from sigmd.cdshooks import create_cds_app

from .cds import BASE, ISSUER, NOW, auth, settings, token

PATH = "/cds-services"


def call(bearer: str, **kwargs: object) -> tuple[int, str]:
    response = TestClient(create_cds_app(settings(**kwargs))).get(PATH, headers={"Authorization": f"Bearer {bearer}"})
    return response.status_code, response.json().get("reason", "")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_es384_token_is_accepted():
    """A fresh ES384 token for the discovery URL, from a trusted issuer and jku, is accepted."""
    status, _ = call(token(BASE + PATH))
    assert status == 200


def test_none_algorithm_is_rejected():
    """alg none is refused before any key is looked at."""
    claims = {"iss": ISSUER, "aud": BASE + PATH, "exp": NOW + 300, "iat": NOW, "jti": "n1"}
    status, reason = call(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.")
    assert status == 401 and "'none'" in reason


def test_hmac_algorithm_is_rejected():
    """An HS256 token, even with correct claims, is refused as symmetric."""
    claims = {"iss": ISSUER, "aud": BASE + PATH, "exp": NOW + 300, "iat": NOW, "jti": "h1"}
    hmac = jwt.encode(
        {"alg": "HS256"}, claims, OctKey.import_key("a-shared-secret-of-32-bytes-long!"), algorithms=["HS256"]
    )
    status, reason = call(hmac)
    assert status == 401 and "HS256" in reason


def test_wrong_audience_is_rejected():
    """A token minted for another service URL is refused."""
    status, reason = call(token(BASE + "/cds-services/other"))
    assert status == 401 and "aud" in reason


def test_expired_token_is_rejected():
    """A token whose exp passed (beyond the leeway) is refused."""
    status, reason = call(token(BASE + PATH, exp=NOW - 600, iat=NOW - 900))
    assert status == 401 and "exp" in reason


def test_replayed_jti_is_rejected():
    """The same token sent twice is refused the second time."""
    test = TestClient(create_cds_app(settings()))
    headers = {"Authorization": f"Bearer {token(BASE + PATH, jti='once')}"}
    assert test.get(PATH, headers=headers).status_code == 200
    second = test.get(PATH, headers=headers)
    assert second.status_code == 401 and "replay" in second.json()["reason"]


def test_unknown_issuer_is_rejected():
    """A token from an issuer not on the allow-list is refused."""
    status, reason = call(token(BASE + PATH, iss="https://evil.example/"))
    assert status == 401 and "issuer" in reason


def test_missing_token_is_rejected():
    """A call without an Authorization header is refused when authentication is on."""
    response = TestClient(create_cds_app(settings())).get(PATH)
    assert response.status_code == 401


def test_issued_in_the_future_is_rejected():
    """A token with iat an hour ahead is refused."""
    status, reason = call(token(BASE + PATH, iat=NOW + 3600, exp=NOW + 7200))
    assert (status == 401 and "iat" in reason) or "future" in reason


def test_jku_not_on_the_allow_list_is_rejected():
    """A trusted issuer naming a jku it is not allowed is refused before anything is fetched."""
    from sigmd.cdshooks.settings import TrustedIssuer

    status, reason = call(token(BASE + PATH), trusted_issuers=(TrustedIssuer(ISSUER, jku=("https://other/jwks",)),))
    assert status == 401 and "jku" in reason


def test_authorization_header_is_checked_on_the_service_too():
    """The patient-view service refuses a token minted for discovery."""
    test = TestClient(create_cds_app(settings()))
    response = test.post("/cds-services/sigmd-patient-view", json={}, headers=auth(PATH))
    assert response.status_code == 401
