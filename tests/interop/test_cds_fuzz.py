"""Property tests: whatever body or header a client sends, the CDS Hooks service answers with a defined status.

Never a 500: bodies are arbitrary JSON, arbitrary bytes, or a valid call with one part of its prefetch replaced
by an arbitrary value; headers are arbitrary Authorization values. Bounded: a few hundred examples in all.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import SERVICE_ID

from .cds import auth
from .cds import settings as cds_settings
from .test_cds_safety import full_prefetch, hook_request

SERVICE = f"/cds-services/{SERVICE_ID}"
BOUNDED = settings(max_examples=120, deadline=None)
SERVICE_ANSWERS = {200, 400, 412, 413}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["patient-view", "p1", "Patient/p1", "Patient/p2", "Bundle", "searchset", "2472-9", "mg/dL"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
PREFETCH_KEYS = st.sampled_from(
    ["patient", "immunoglobulins", "conditions", "medications", "medicationRequests", "medicationAdministrations"]
)


@cache
def dev() -> TestClient:
    """The service without authentication (one app for all examples)."""
    return TestClient(create_cds_app(cds_settings(allow_unauthenticated=True)), raise_server_exceptions=False)


@cache
def authenticated() -> TestClient:
    """The service with JWT verification on."""
    return TestClient(create_cds_app(cds_settings()), raise_server_exceptions=False)


def _status(response: Any) -> int:
    response.json()  # every answer is JSON
    return int(response.status_code)


@BOUNDED
@given(JSON_VALUES)
def test_any_json_body_gets_a_defined_answer(body: Any):
    """An arbitrary JSON body to patient-view is answered 200, 400, 412 or 413, never 500."""
    assert _status(dev().post(SERVICE, content=json.dumps(body))) in SERVICE_ANSWERS


@BOUNDED
@given(st.binary(max_size=200))
def test_any_bytes_body_gets_a_defined_answer(body: bytes):
    """Arbitrary bytes as the body are answered 200, 400, 412 or 413, never 500."""
    assert _status(dev().post(SERVICE, content=body)) in SERVICE_ANSWERS


def _replace(value: Any, path: list[int], new: Any) -> Any:
    """`value` with the node found by walking `path` (indices into keys or items) replaced by `new`."""
    if not path or not isinstance(value, dict | list) or not value:
        return new
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: _replace(value[key], path[1:], new)}
    index = path[0] % len(value)
    return [*value[:index], _replace(value[index], path[1:], new), *value[index + 1 :]]


@BOUNDED
@given(PREFETCH_KEYS, st.lists(st.integers(min_value=0, max_value=50), max_size=6), JSON_VALUES)
def test_a_valid_call_with_one_prefetch_node_replaced_gets_a_defined_answer(key: str, path: list[int], new: Any):
    """A valid call whose prefetch has one node replaced by anything is answered 200, 400 or 412, never 500."""
    prefetch = full_prefetch()
    prefetch[key] = _replace(prefetch[key], path, new)
    response = dev().post(SERVICE, content=json.dumps(hook_request(prefetch)))
    status = _status(response)
    assert status in SERVICE_ANSWERS
    if status == 200:
        assert all(set(card) >= {"summary", "indicator", "source"} for card in response.json()["cards"])


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


HEADERS = (
    st.text(max_size=60)
    | st.builds(lambda t: f"Bearer {t}", st.text(max_size=60))
    | st.builds(lambda h, p: f"bearer {_b64(h)}.{_b64(p)}.c2ln", JSON_VALUES, JSON_VALUES)
)


@BOUNDED
@given(HEADERS)
def test_any_authorization_header_gets_401_not_500(header: str):
    """An arbitrary Authorization header (text, Bearer text, or a JWS-shaped token of any JSON) gets 401."""
    raw = header.replace("\r", " ").replace("\n", " ").replace("\x00", " ").strip().encode("utf-8")
    response = authenticated().get("/cds-services", headers={"Authorization": raw})
    assert _status(response) == 401


@BOUNDED
@given(JSON_VALUES)
def test_any_feedback_body_gets_200_or_400(body: Any):
    """An arbitrary JSON body to the feedback endpoint is answered 200 or 400, never 500."""
    path = f"{SERVICE}/feedback"
    assert _status(authenticated().post(path, content=json.dumps(body), headers=auth(path))) in {200, 400}
