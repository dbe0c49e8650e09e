"""Verification of the CDS client's JWT (CDS Hooks 2.0, "Trusting CDS Clients"), with joserfc.

Checks, in order: the header holds a `Bearer` token (scheme case-insensitive) no longer than the configured bound,
whose header and payload nest no deeper than allowed; it is a compact JWS whose `alg` is asymmetric (never
`none`, never HMAC) and names a `kid`; its unverified `iss` is on the allow-list; the `jku` it names, if any, is
one the issuer is allowed, over https; the key with that `kid` comes from that JWK Set (fetched and cached; a
`kid` not in the cache refetches the set, rate-limited, so that a client's key rotation works at once) or from the
issuer's fixed JWK Set; RSA keys are at least `min_rsa_bits` long; the signature verifies; then the claims: `aud`
equals the URL called, `exp` is in the future, `iat` is not in the future nor too old, and `jti` has not been
seen before (kept until the token can no longer be accepted, in `sigmd.cdshooks.replay.ReplayStore`). Each failure
raises `AuthError` with a reason that holds no patient data; a new token that the replay store has no room for
raises `ReplayStoreFullError` (the service answers 503).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from sigmd.cdshooks.limits import LimitError, parse_json
from sigmd.cdshooks.replay import ReplayStore
from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer, is_allowed_key_set_url

ALLOWED_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
"""Asymmetric JWS algorithms only; CDS Hooks recommends ES384 and RS384."""
_KEY_TYPES = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MAX_JWKS_BYTES = 256 * 1024
"""Largest JWK Set document read (sigmd default: a set of a few dozen keys is under 64 KB)."""

PublicKey = ECKey | RSAKey | OKPKey
KeyOrRefusal = PublicKey | str
"""A key from a JWK Set, or why that key is not used (an RSA key that is too short)."""


class AuthError(Exception):
    """A request whose JWT is missing or not trusted; the message is safe to log and return."""


@dataclass
class _CachedSet:
    fetched: float
    keys: dict[str, KeyOrRefusal]


@dataclass
class JWKSCache:
    """JWK Sets fetched from `jku` URLs, kept for `ttl` seconds; a missing `kid` refetches at most every `refetch`."""

    ttl: float
    refetch: float
    min_rsa_bits: int
    allow_http: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    entries: dict[str, _CachedSet] = field(default_factory=dict)
    fetches: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, url: str, kid: str, now: float) -> PublicKey:
        async with self.lock:  # one fetch at a time: concurrent calls with a new kid wait for it, then reuse it
            return await self._key(url, kid, now)

    async def _key(self, url: str, kid: str, now: float) -> PublicKey:
        cached = self.entries.get(url)
        fresh = cached is not None and now - cached.fetched < self.ttl
        if cached is not None and fresh and kid in cached.keys:
            return usable(cached.keys[kid])
        if cached is not None and fresh and now - cached.fetched < self.refetch:
            raise AuthError(f"the token's kid {kid!r} is not in the JWK Set at {url} (refetched recently)")
        if not is_allowed_key_set_url(url, self.allow_http):
            raise AuthError(f"the JWK Set URL {url} is not https")
        keys = await self._fetch(url)
        self.entries[url] = _CachedSet(now, keys)
        if kid not in keys:
            raise AuthError(f"the token's kid {kid!r} is not in the JWK Set at {url}")
        return usable(keys[kid])

    async def _fetch(self, url: str) -> dict[str, KeyOrRefusal]:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                if len(response.content) > MAX_JWKS_BYTES:
                    raise ValueError("the JWK Set is too large")
                return public_keys(parse_json(response.content, "the JWK Set", 16), self.min_rsa_bits)
        except (httpx.HTTPError, ValueError, JoseError) as error:
            raise AuthError(f"the JWK Set at {url} could not be fetched or read: {type(error).__name__}") from None


def usable(key: KeyOrRefusal) -> PublicKey:
    if isinstance(key, str):
        raise AuthError(key)
    return key


def public_keys(data: Any, min_rsa_bits: int) -> dict[str, KeyOrRefusal]:
    """The public keys of a JWK Set by `kid`: EC, OKP, and RSA keys (a shorter RSA key is kept as its refusal)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, KeyOrRefusal] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        kty = entry.get("kty")
        if kty == "EC":
            keys[entry["kid"]] = ECKey.import_key(public)
        elif kty == "RSA":
            key = RSAKey.import_key(public)
            bits = _rsa_bits(key)
            keys[entry["kid"]] = (
                key if bits >= min_rsa_bits else f"the token's RSA key has {bits} bits; at least {min_rsa_bits} needed"
            )
        elif kty == "OKP":
            keys[entry["kid"]] = OKPKey.import_key(public)
    if not keys:
        raise ValueError("the JWK Set has no usable asymmetric key")
    return keys


def _rsa_bits(key: RSAKey) -> int:
    modulus = key.as_dict(private=False)["n"]
    return len(base64.urlsafe_b64decode(str(modulus) + "=" * (-len(str(modulus)) % 4)).lstrip(b"\0")) * 8


def _segment(segment: str, what: str, max_depth: int) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        raise AuthError(f"the token's {what} is not base64url") from None
    try:
        return parse_json(raw, f"the token's {what}", max_depth)
    except LimitError as error:
        raise AuthError(str(error)) from None
    except ValueError:
        raise AuthError("the token is not a compact JWS") from None


def bearer_token(authorization: str | None, max_bytes: int) -> str:
    """The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive, RFC 9110 11.1)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("no bearer token in the Authorization header")
    if len(token) > max_bytes:
        raise AuthError(f"the bearer token is longer than {max_bytes} characters")
    return token


class JWTVerifier:
    def __init__(self, settings: CDSSettings) -> None:
        self.settings = settings
        self.issuers: dict[str, TrustedIssuer] = {issuer.iss: issuer for issuer in settings.trusted_issuers}
        self.replays = ReplayStore(settings.replay_store_capacity)
        self.jwks = JWKSCache(
            settings.jwks_cache_seconds,
            settings.jwks_refetch_seconds,
            settings.min_rsa_bits,
            settings.allow_http_key_sets,
            settings.http_transport,
        )
        self.fixed: dict[str, dict[str, KeyOrRefusal] | str] = {}
        for issuer in settings.trusted_issuers:
            if issuer.jwks is not None:
                try:
                    self.fixed[issuer.iss] = public_keys(issuer.jwks, settings.min_rsa_bits)
                except (ValueError, JoseError) as error:
                    self.fixed[issuer.iss] = f"the issuer's configured JWK Set cannot be used ({error})"

    async def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the bearer token in an Authorization header, for a call to `audience`."""
        token = bearer_token(authorization, self.settings.max_token_bytes)
        segments = token.split(".")
        if len(segments) != 3:
            raise AuthError("the token is not a compact JWS")
        header = _segment(segments[0], "header", 4)
        claims_unverified = _segment(segments[1], "payload", 8)
        if not isinstance(header, dict) or not isinstance(claims_unverified, dict):
            raise AuthError("the token is not a compact JWS")
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise AuthError(f"the token's algorithm {algorithm!r} is not allowed (asymmetric algorithms only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token's header has no kid")
        iss = claims_unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("the token's issuer is not trusted")
        key = await self._key(issuer, header.get("jku"), kid)
        _check_key_fits(key, str(algorithm))
        try:
            verified = jwt.decode(token, key, algorithms=[str(algorithm)])
        except JoseError as error:
            raise AuthError(f"the token's signature does not verify: {error.error}") from None
        except (ValueError, TypeError):
            raise AuthError("the token's signature does not verify") from None
        claims = dict(verified.claims)
        self._check_claims(claims, audience)
        return claims

    async def _key(self, issuer: TrustedIssuer, jku: object, kid: str) -> PublicKey:
        now = self.settings.clock()
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.jku:
                raise AuthError("the token's jku is not on the issuer's allow-list")
            return await self.jwks.key(jku, kid, now)
        fixed = self.fixed.get(issuer.iss)
        if isinstance(fixed, str):
            raise AuthError(fixed)
        if fixed is not None:
            if kid not in fixed:
                raise AuthError(f"the token's kid {kid!r} is not in the issuer's configured JWK Set")
            return usable(fixed[kid])
        if issuer.jku:
            return await self.jwks.key(issuer.jku[0], kid, now)
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
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (TypeError, ValueError):
            raise AuthError("the token's iat and exp must be numbers") from None
        if issued > now + leeway:
            raise AuthError("the token was issued in the future")
        if now - issued > self.settings.jwt_max_lifetime_seconds + leeway:
            raise AuthError("the token was issued too long ago")
        # After iat + max lifetime the token is refused anyway, so its jti need not be kept longer than that.
        keep_until = min(expires, issued + self.settings.jwt_max_lifetime_seconds) + leeway
        if not self.replays.add(f"{claims['iss']}|{claims['jti']}", keep_until, now):
            raise AuthError("the token's jti was already used (replay)")


def _check_key_fits(key: PublicKey, algorithm: str) -> None:
    """The key named by `kid` must be of the algorithm's type (and curve), so `alg` cannot be switched."""
    expected = _KEY_TYPES[algorithm[:2]]
    if key.key_type != expected:
        raise AuthError(f"the token's algorithm {algorithm} does not fit its key (type {key.key_type})")
    curve = _CURVES.get(algorithm)
    if curve and isinstance(key, ECKey) and key.curve_name != curve:
        raise AuthError(f"the token's algorithm {algorithm} does not fit its key's curve")
