"""Verification of the CDS client's JWT (CDS Hooks 2.0, "Trusting CDS Clients"), with joserfc.

Checks, in order: the token is a compact JWS whose `alg` is asymmetric (never `none`, never HMAC); its
unverified `iss` is on the allow-list; the `jku` it names, if any, is one the issuer is allowed; the signature
verifies against that JWK Set (fetched over HTTPS and cached) or the issuer's fixed JWK Set; then the claims:
`aud` equals the URL called, `exp` is in the future, `iat` is not in the future nor too old, and `jti` has not
been seen before (kept until the token expires). Each failure raises `AuthError` with a reason that holds no
patient data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer

ALLOWED_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
"""Asymmetric JWS algorithms only; CDS Hooks recommends ES384 and RS384."""


class AuthError(Exception):
    """A request whose JWT is missing or not trusted; the message is safe to log and return."""


@dataclass
class ReplayCache:
    """`jti` values seen, each kept until its token expires."""

    seen: dict[str, float] = field(default_factory=dict)

    def check_and_add(self, key: str, expires: float, now: float) -> None:
        for old in [k for k, exp in self.seen.items() if exp < now]:
            del self.seen[old]
        if key in self.seen:
            raise AuthError("the token's jti was already used (replay)")
        self.seen[key] = expires


@dataclass
class JWKSCache:
    """JWK Sets fetched from `jku` URLs, kept for `ttl` seconds."""

    ttl: float
    transport: httpx.AsyncBaseTransport | None = None
    entries: dict[str, tuple[float, KeySet]] = field(default_factory=dict)

    async def get(self, url: str, now: float) -> KeySet:
        cached = self.entries.get(url)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                key_set = _public_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as error:
            raise AuthError(f"the JWK Set at {url} could not be fetched or read: {type(error).__name__}") from None
        self.entries[url] = (now, key_set)
        return key_set


def _public_key_set(data: Any) -> KeySet:
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") in ("EC", "RSA", "OKP")]
    if not keys:
        raise ValueError("the JWK Set has no asymmetric key")
    return KeySet.import_key_set({"keys": keys})


class JWTVerifier:
    def __init__(self, settings: CDSSettings) -> None:
        self.settings = settings
        self.issuers: dict[str, TrustedIssuer] = {issuer.iss: issuer for issuer in settings.trusted_issuers}
        self.replays = ReplayCache()
        self.jwks = JWKSCache(settings.jwks_cache_seconds, settings.http_transport)

    async def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the bearer token in an Authorization header, for a call to `audience`."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("no bearer token in the Authorization header")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            unverified = jws.extract_compact(token.encode("ascii"))
            header = unverified.headers()
            claims_unverified = json.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError):
            raise AuthError("the token is not a compact JWS") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise AuthError(f"the token's algorithm {algorithm!r} is not allowed (asymmetric algorithms only)")
        iss = claims_unverified.get("iss") if isinstance(claims_unverified, dict) else None
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("the token's issuer is not trusted")
        keys = await self._keys(issuer, header.get("jku"))
        try:
            verified = jwt.decode(token, keys, algorithms=[str(algorithm)])
        except JoseError as error:
            raise AuthError(f"the token's signature does not verify: {error.error}") from None
        claims = dict(verified.claims)
        self._check_claims(claims, audience)
        return claims

    async def _keys(self, issuer: TrustedIssuer, jku: object) -> KeySet:
        if jku is not None:
            if jku not in issuer.jku:
                raise AuthError("the token's jku is not on the issuer's allow-list")
            return await self.jwks.get(str(jku), self.settings.clock())
        if issuer.jwks is not None:
            try:
                return _public_key_set(issuer.jwks)
            except (ValueError, JoseError):
                raise AuthError("the issuer's configured JWK Set cannot be read") from None
        if issuer.jku:
            return await self.jwks.get(issuer.jku[0], self.settings.clock())
        raise AuthError("no key is configured for the token's issuer")

    def _check_claims(self, claims: dict[str, Any], audience: str) -> None:
        now = self.settings.clock()
        leeway = self.settings.jwt_leeway_seconds
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=leeway,
            iss={"essential": True},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise AuthError(f"the token's claims are not accepted: {error.description or error.error}") from None
        issued = float(claims["iat"])
        if issued > now + leeway:
            raise AuthError("the token was issued in the future")
        if now - issued > self.settings.jwt_max_lifetime_seconds + leeway:
            raise AuthError("the token was issued too long ago")
        self.replays.check_and_add(f"{claims['iss']}|{claims['jti']}", float(claims["exp"]) + leeway, now)
