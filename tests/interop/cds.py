"""Helpers for the CDS Hooks tests: a signed client, settings, an app over a mock FHIR server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer

BASE = "https://cds.example.org"
ISSUER = "https://fhir-ehr.example.com/"
JKU = "https://fhir-ehr.example.com/jwk_uri"
NOW = 1_800_000_000
KID = "example-kid"
_KEY = ECKey.generate_key("P-384", {"kid": KID, "use": "sig", "alg": "ES384"}, private=True)
PRIVATE: dict[str, Any] = dict(_KEY.as_dict(private=True))
PUBLIC: dict[str, Any] = {"keys": [dict(_KEY.as_dict(private=False))]}
"""A client key pair made for this test run, so no key material is kept in the repository."""


def token(aud: str, *, iss: str = ISSUER, exp: int = NOW + 300, iat: int = NOW, jti: str | None = None) -> str:
    """An ES384 client JWT signed with the test run's private key."""
    header = {"alg": "ES384", "typ": "JWT", "kid": KID, "jku": JKU}
    claims = {"iss": iss, "aud": aud, "exp": exp, "iat": iat, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(header, claims, ECKey.import_key(PRIVATE), algorithms=["ES384"])


def settings(
    fhir: Callable[[httpx.Request], httpx.Response] | None = None,
    *,
    jwks: dict[str, Any] | None = None,
    **extra: Any,
) -> CDSSettings:
    """Settings trusting the test issuer; JWKS (the test run's, unless given) and FHIR answered by a mock transport."""

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == JKU:
            return httpx.Response(200, json=PUBLIC if jwks is None else jwks)
        if fhir is not None:
            return fhir(request)
        return httpx.Response(500)

    values: dict[str, Any] = {
        "base_url": BASE,
        "trusted_issuers": (TrustedIssuer(ISSUER, jku=(JKU,)),),
        "clock": lambda: float(NOW),
        "today": lambda: date(2025, 1, 1),
        "http_transport": httpx.MockTransport(handler),
    }
    values.update(extra)
    return CDSSettings(**values)


def auth(path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(BASE + path)}"}
