"""Client keys and tokens: strong keys only, key sets over https, key rotation, bounded tokens."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer

from .cds import BASE, ISSUER, JKU, NOW, PUBLIC, settings, token

PATH = "/cds-services"


def signed(key: RSAKey | ECKey, alg: str, kid: str, **header: Any) -> str:
    claims = {"iss": ISSUER, "aud": BASE + PATH, "exp": NOW + 300, "iat": NOW, "jti": str(uuid.uuid4())}
    return jwt.encode({"alg": alg, "typ": "JWT", "kid": kid, **header}, claims, key, algorithms=[alg])


def discover(bearer: str, **kwargs: Any) -> tuple[int, str]:
    response = TestClient(create_cds_app(settings(**kwargs))).get(PATH, headers={"Authorization": bearer})
    return response.status_code, response.json().get("reason", "")


def rsa_issuer(bits: int) -> tuple[RSAKey, dict[str, Any]]:
    key = RSAKey.generate_key(bits, {"kid": f"rsa-{bits}"}, private=True, auto_kid=False)
    return key, {"keys": [dict(key.as_dict(private=False))]}


def short_rsa_set(bits: int) -> dict[str, Any]:
    """A JWK Set holding one RSA public key with a modulus of `bits` bits (never used to sign)."""
    modulus = (1 << (bits - 1)) | 1
    n = base64.urlsafe_b64encode(modulus.to_bytes(bits // 8, "big")).rstrip(b"=").decode()
    return {"keys": [{"kty": "RSA", "kid": f"rsa-{bits}", "n": n, "e": "AQAB"}]}


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("bits", [512, 1024])
def test_short_rsa_keys_are_refused(bits: int):
    """A token naming an RSA key of 512 or 1,024 bits is refused, naming the key length."""
    signer, _ = rsa_issuer(2048)
    status, reason = discover(f"Bearer {signed(signer, 'RS384', f'rsa-{bits}', jku=JKU)}", jwks=short_rsa_set(bits))
    assert status == 401 and f"{bits} bits" in reason


def test_a_2048_bit_rsa_key_is_accepted():
    """A token signed with RS384 and a 2,048-bit key is accepted."""
    key, public = rsa_issuer(2048)
    status, _ = discover(f"Bearer {signed(key, 'RS384', 'rsa-2048', jku=JKU)}", jwks=public)
    assert status == 200


def test_a_key_set_over_plain_http_is_refused_in_the_settings():
    """A trusted issuer whose jku is http is a configuration error naming the URL."""
    with pytest.raises(ValueError, match=re.escape("http://ehr.example/jwks")):
        CDSSettings(BASE, trusted_issuers=(TrustedIssuer(ISSUER, jku=("http://ehr.example/jwks",)),))


def test_a_key_set_over_plain_http_is_allowed_in_development_only():
    """With allow_http_key_sets (development) the same http jku is accepted."""
    settings_ = CDSSettings(
        BASE, trusted_issuers=(TrustedIssuer(ISSUER, jku=("http://ehr.example/jwks",)),), allow_http_key_sets=True
    )
    assert settings_.trusted_issuers[0].jku == ("http://ehr.example/jwks",)


def test_an_unknown_kid_refetches_the_key_set_once_so_rotation_works():
    """After the client rotates its key, the first token with the new kid refetches the JWK Set and is accepted."""
    fetches: list[int] = []
    key_set: dict[str, Any] = {"keys": list(PUBLIC["keys"])}

    def jwks(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=key_set)

    now = [float(NOW)]
    test = TestClient(create_cds_app(settings(http_transport=httpx.MockTransport(jwks), clock=lambda: now[0])))
    assert test.get(PATH, headers={"Authorization": f"Bearer {token(BASE + PATH)}"}).status_code == 200
    now[0] += 40  # past the refetch interval (30 s), well within the cache time (an hour)
    new = ECKey.generate_key("P-384", {"kid": "rotated"}, private=True, auto_kid=False)
    key_set["keys"] = [dict(new.as_dict(private=False))]
    response = test.get(PATH, headers={"Authorization": f"Bearer {signed(new, 'ES384', 'rotated', jku=JKU)}"})
    assert response.status_code == 200 and len(fetches) == 2


def test_unknown_kids_do_not_refetch_more_than_once_per_interval():
    """A burst of tokens with kids the client never published costs one refetch, not one per call."""
    fetches: list[int] = []

    def jwks(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=PUBLIC)

    now = [float(NOW)]
    test = TestClient(create_cds_app(settings(http_transport=httpx.MockTransport(jwks), clock=lambda: now[0])))
    assert test.get(PATH, headers={"Authorization": f"Bearer {token(BASE + PATH)}"}).status_code == 200
    now[0] += 40
    stranger = ECKey.generate_key("P-384", private=True)
    for index in range(5):
        bearer = f"Bearer {signed(stranger, 'ES384', f'unknown-{index}', jku=JKU)}"
        response = test.get(PATH, headers={"Authorization": bearer})
        assert response.status_code == 401 and "kid" in response.json()["reason"]
    assert len(fetches) == 2


def test_a_token_without_kid_is_refused():
    """The spec requires kid in the header; a token without one is refused."""
    stranger = ECKey.generate_key("P-384", private=True)
    claims = {"iss": ISSUER, "aud": BASE + PATH, "exp": NOW + 300, "iat": NOW, "jti": "k"}
    bare = jwt.encode({"alg": "ES384", "typ": "JWT"}, claims, stranger, algorithms=["ES384"])
    status, reason = discover(f"Bearer {bare}")
    assert status == 401 and "kid" in reason


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str):
    """Authorization schemes are case-insensitive (RFC 9110), so any spelling of Bearer is read."""
    assert discover(f"{scheme} {token(BASE + PATH)}")[0] == 200


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "", "Token abc"])
def test_other_schemes_or_no_token_are_refused(header: str):
    """A header that is not Bearer with a token is refused with 401."""
    status, reason = discover(header)
    assert status == 401 and "bearer" in reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_deeply_nested_token_payload_is_401_not_500():
    """A token whose payload nests 100,000 levels is refused with 401 before it is parsed."""
    payload = b"[" * 100_000 + b"]" * 100_000
    bearer = f"{_b64(json.dumps({'alg': 'ES384', 'kid': 'x'}).encode())}.{_b64(payload)}.sig"
    status, reason = discover(f"Bearer {bearer}", max_token_bytes=10_000_000)
    assert status == 401 and "levels deep" in reason


def test_a_deeply_nested_token_header_is_401_not_500():
    """A token whose header nests deeply is refused with 401 as well."""
    header = b'{"alg":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, reason = discover(f"Bearer {_b64(header)}.{_b64(b'{}')}.sig", max_token_bytes=10_000_000)
    assert status == 401 and "levels deep" in reason


def test_an_overlong_token_is_refused_before_decoding():
    """A bearer token longer than max_token_bytes is refused with 401 naming the bound."""
    status, reason = discover(f"Bearer {token(BASE + PATH)}", max_token_bytes=100)
    assert status == 401 and "longer than 100" in reason
