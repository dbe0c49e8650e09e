"""Settings of the CDS Hooks service, all in one place."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

SERVICE_ID = "sigmd-patient-view"


@dataclass(frozen=True)
class TrustedIssuer:
    """A CDS client allowed to call the service: its `iss`, the `jku` URLs it may name, or a fixed JWK Set."""

    iss: str
    jku: tuple[str, ...] = ()
    """JWK Set URLs this issuer's tokens may point to (header `jku`); the first is used when a token names none."""
    jwks: Mapping[str, Any] | None = None
    """A JWK Set exchanged out of band; used when the token has no `jku`."""


@dataclass(frozen=True)
class CDSSettings:
    base_url: str
    """The public base URL of the service (`https://cds.example.org`); `aud` must be this plus the path called."""
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    allow_unauthenticated: bool = False
    """Development only: accept calls without a JWT. Logged as a warning when the app starts."""
    jwt_leeway_seconds: int = 60
    jwt_max_lifetime_seconds: int = 3600
    """A token whose `iat` is older than this is rejected even if `exp` lies further ahead."""
    jwks_cache_seconds: int = 3600
    fhir_page_limit: int = 20
    """At most this many pages of one FHIR search are fetched."""
    source_url: str = ""
    """Link shown with each card's source label; empty: the rule profile's source is linked."""
    profile_id: str | None = None
    reference_set_id: str | None = None
    clock: Callable[[], float] = time.time
    today: Callable[[], date] = date.today
    http_transport: httpx.AsyncBaseTransport | None = None
    """For tests: a transport (httpx.MockTransport) used for JWKS and FHIR requests instead of the network."""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path
