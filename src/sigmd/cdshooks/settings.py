"""Settings of the CDS Hooks service, all in one place (documented in docs/cds-hooks.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

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
    allow_http_key_sets: bool = False
    """Development only: allow `jku` JWK Set URLs over plain http (a local test EHR). Otherwise https only."""
    jwt_leeway_seconds: int = 60
    jwt_max_lifetime_seconds: int = 3600
    """A token whose `iat` is older than this is rejected even if `exp` lies further ahead."""
    jwks_cache_seconds: int = 3600
    jwks_refetch_seconds: int = 30
    """A token naming a `kid` missing from the cached JWK Set refetches the set, at most once per this interval."""
    min_rsa_bits: int = 2048
    """RSA keys shorter than this are refused (sigmd default, NIST SP 800-131A: 2048 bits since 2014)."""
    replay_store_capacity: int = 1_000_000
    """Tokens the replay store holds at once, allocated at start (about 28 bytes each); a new token is refused
    (503) while all are inside their lifetime. Needed: calls a second x (token lifetime + leeway)."""
    max_token_bytes: int = 16_384
    """Longest bearer token read; a longer one is refused before it is decoded."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body read (413 above it). A patient's immunoglobulins, conditions and medications fit."""
    max_json_depth: int = 48
    """Deepest nesting of arrays and objects accepted in a body or token (FHIR resources nest about 10 deep)."""
    cors_allow_origins: tuple[str, ...] = ()
    """Browser origins (`https://ehr.example.org`) allowed to call the service across origins; empty: none."""
    card_for_normal_result: bool = False
    """False (default): a plainly normal result (label normal, no work-up) gives no card, only an empty list."""
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

    def __post_init__(self) -> None:
        for index, issuer in enumerate(self.trusted_issuers):
            for position, url in enumerate(issuer.jku):
                if not is_allowed_key_set_url(url, self.allow_http_key_sets):
                    raise ValueError(
                        f"trusted_issuers[{index}].jku[{position}]: {url!r} is not an https URL "
                        "(plain http is allowed only with allow_http_key_sets, for development)"
                    )
        for index, origin in enumerate(self.cors_allow_origins):
            parts = urlsplit(origin)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or origin.endswith("/"):
                raise ValueError(
                    f"cors_allow_origins[{index}]: {origin!r} is not an origin (scheme://host[:port], no '*', no path)"
                )
        for name in ("max_token_bytes", "max_body_bytes", "max_json_depth", "min_rsa_bits", "replay_store_capacity"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be positive")

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def is_allowed_key_set_url(url: str, allow_http: bool) -> bool:
    """Whether a JWK Set may be fetched from `url`: https, or http when development allows it."""
    parts = urlsplit(url)
    return bool(parts.netloc) and (parts.scheme == "https" or (allow_http and parts.scheme == "http"))
