"""CDS Hooks fails safe: cards only about the patient in context, defined answers for bad input, bounded input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.limits import LimitError, json_depth, parse_json
from sigmd.cdshooks.settings import SERVICE_ID

from .cds import auth, settings
from .conftest import bundle, low_igm_bundle, observation, patient

SERVICE = f"/cds-services/{SERVICE_ID}"
SERVER = "https://ehr.example/fhir"


def hook_request(prefetch: dict[str, Any] | None, patient_id: str = "p1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def full_prefetch(**replace: Any) -> dict[str, Any]:
    """The synthetic low-IgM patient p1 as complete prefetch (medications searched, none found)."""
    entries = [e["resource"] for e in low_igm_bundle()["entry"]]
    prefetch = {
        "patient": entries[0],
        "immunoglobulins": bundle(*[e for e in entries if e["resourceType"] == "Observation"], bundle_type="searchset"),
        "conditions": bundle(*[e for e in entries if e["resourceType"] == "Condition"], bundle_type="searchset"),
        "medications": None,
        "medicationRequests": None,
        "medicationAdministrations": None,
    }
    prefetch.update(replace)
    return prefetch


def post(body: Any, **kwargs: Any) -> httpx.Response:
    test = TestClient(create_cds_app(settings(**kwargs)), raise_server_exceptions=False)
    if isinstance(body, bytes):
        return test.post(SERVICE, content=body, headers={**auth(SERVICE), "Content-Type": "application/json"})
    return test.post(SERVICE, json=body, headers=auth(SERVICE))


def fhir_server(prefetch: dict[str, Any]) -> Any:
    """A mock FHIR server answering every template from `prefetch` (null: an empty searchset)."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for resource_type, key in (
            ("Patient", "patient"),
            ("Observation", "immunoglobulins"),
            ("Condition", "conditions"),
            ("MedicationStatement", "medications"),
            ("MedicationRequest", "medicationRequests"),
            ("MedicationAdministration", "medicationAdministrations"),
        ):
            if f"/{resource_type}" in path:
                value = prefetch[key]
                return httpx.Response(200, json=value if value is not None else bundle(bundle_type="searchset"))
        return httpx.Response(404)

    return answer


# Every resource belongs to the patient in context


def test_a_prefetched_patient_with_another_id_is_refused_without_a_card():
    """A prefetched Patient whose id is not context.patientId is refused with 412 and no card."""
    response = post(hook_request(full_prefetch(patient=patient("p2"))))
    assert response.status_code == 412 and "cards" not in response.json()
    assert "context.patientId" in response.json()["reason"]


def test_the_context_patients_own_prefetch_gets_its_card():
    """The same prefetch for the patient in context gives the verdict card."""
    response = post(hook_request(full_prefetch()))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


def test_the_other_patients_data_is_refused_even_when_a_fhir_server_could_be_asked():
    """Another patient's Patient is refused outright (no fallback to the FHIR server, no card)."""
    response = post(
        hook_request(full_prefetch(patient=patient("p2")), fhirServer=SERVER), fhir=fhir_server(full_prefetch())
    )
    assert response.status_code == 412


def test_an_observation_of_another_patient_is_refused():
    """An IgM whose subject is Patient/p2 among p1's results refuses the call with 412."""
    foreign = observation("x", "2472-9", 15, "mg/dL", "2024-01-10", subject="Patient/p2")
    response = post(hook_request(full_prefetch(immunoglobulins=bundle(foreign, bundle_type="searchset"))))
    assert response.status_code == 412 and "other than context.patientId" in response.json()["reason"]


def test_an_absolute_versioned_reference_to_the_context_patient_on_the_fhir_server_is_accepted():
    """An IgM whose subject is the context patient's absolute, versioned URL on the request's fhirServer is read and
    gets its card."""
    own = observation("x", "2472-9", 15, "mg/dL", "2024-01-10", subject=f"{SERVER}/Patient/p1/_history/3")
    body = hook_request(full_prefetch(immunoglobulins=bundle(own, bundle_type="searchset")), fhirServer=SERVER)
    response = post(body, fhir=fhir_server(full_prefetch()))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


@pytest.mark.parametrize("names_a_server", [False, True])
def test_an_absolute_reference_at_another_server_or_none_named_is_refused(names_a_server):
    """`https://other.example/fhir/Patient/p1` may be another person with the same id: with no fhirServer to compare,
    or another one, the call is refused (412) rather than read as the context patient's (it once was)."""
    own = observation("x", "2472-9", 15, "mg/dL", "2024-01-10", subject="https://other.example/fhir/Patient/p1")
    extra = {"fhirServer": SERVER} if names_a_server else {}
    response = post(hook_request(full_prefetch(immunoglobulins=bundle(own, bundle_type="searchset")), **extra))
    assert response.status_code == 412 and "other than context.patientId" in response.json()["reason"]


def test_a_result_without_subject_is_refused():
    """An IgM with no subject cannot be shown to be the patient's, so the call is refused with 412."""
    orphan = observation("x", "2472-9", 15, "mg/dL", "2024-01-10")
    del orphan["subject"]
    response = post(hook_request(full_prefetch(immunoglobulins=bundle(orphan, bundle_type="searchset"))))
    assert response.status_code == 412 and "no subject" in response.json()["reason"]


def test_a_fhir_server_answering_with_another_patient_is_refused():
    """Data fetched from the FHIR server is held to the same rule: another patient's Patient gives 412."""
    server = fhir_server(full_prefetch(patient=patient("p2")))
    response = post(hook_request(None, fhirServer=SERVER), fhir=server)
    assert response.status_code == 412


def test_a_fhir_server_answering_with_the_context_patient_gets_the_card():
    """The FHIR server's answer about the context patient gives the card."""
    response = post(hook_request(None, fhirServer=SERVER), fhir=fhir_server(full_prefetch()))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


# Invalid or unexpected prefetch content: the spec's answers, never a 500


def test_the_specs_example_request_is_answered_412_not_500():
    """The CDS Hooks 2.0 example call (prefetch key patientToGreet, an http fhirServer with a token) gets 412."""
    body = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "patient-view",
        "fhirAuthorization": {
            "access_token": "some-opaque-fhir-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Patient.read patient/Observation.read",
            "subject": "cds-service4",
        },
        "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
        "prefetch": {
            "patientToGreet": {
                "resourceType": "Patient",
                "gender": "male",
                "birthDate": "1925-12-23",
                "id": "1288992",
                "active": True,
            }
        },
    }
    response = post(body)
    assert response.status_code == 412 and "not https" in response.json()["reason"]


def test_the_specs_example_prefetch_with_placeholder_keys_is_answered_412():
    """The spec's example prefetch data ('...' placeholder keys, a user string) without a fhirServer gets 412."""
    prefetch = {
        "patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1974-12-25", "...": "<snipped>"},
        "hemoglobin-a1c": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"...": "x"}}]},
        "user": "123",
    }
    response = post(hook_request(prefetch, patient_id="1288992"))
    assert response.status_code == 412 and "prefetch.patient" in response.json()["reason"]


def test_invalid_fhir_in_a_prefetch_key_is_fetched_from_the_server_instead():
    """An IgM that is not valid FHIR R4 in the prefetch is fetched from the fhirServer, and the card follows."""
    broken = observation("x", "2472-9", 15, "mg/dL", "2024-01-10")
    broken["valueQuantity"]["value"] = "fifteen"
    body = hook_request(full_prefetch(immunoglobulins=bundle(broken, bundle_type="searchset")), fhirServer=SERVER)
    seen: list[str] = []
    server = fhir_server(full_prefetch())

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return server(request)

    response = post(body, fhir=recording)
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    assert seen == ["/fhir/Observation"]


def test_invalid_fhir_in_a_prefetch_key_without_a_server_is_412_naming_the_field():
    """The same invalid IgM without a fhirServer gets 412 naming the key and the field, not the value."""
    broken = observation("x", "2472-9", 15, "mg/dL", "2024-01-10")
    broken["valueQuantity"]["value"] = "fifteen"
    response = post(hook_request(full_prefetch(immunoglobulins=bundle(broken, bundle_type="searchset"))))
    reason = response.json()["reason"]
    assert response.status_code == 412 and "immunoglobulins" in reason and "valueQuantity" in reason
    assert "fifteen" not in reason


@pytest.mark.parametrize(
    "value",
    [
        "Patient/{{context.patientId}}",
        [1, 2],
        {"resourceType": "Bundle", "type": "searchset", "entry": ["not an entry"]},
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": "a string"}]},
        {"resourceType": "Bundle", "type": "searchset", "entry": {"resource": {}}},
        {"resourceType": "Bundle", "type": "searchset", "link": "next", "entry": []},
        {"resourceType": "Bundle", "type": "document", "entry": []},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}},
    ],
)
def test_unexpected_prefetch_shapes_are_answered_412_not_500(value: Any):
    """Content that is not the searchset the template asks for is 'not satisfied': 412 without a fhirServer."""
    response = post(hook_request(full_prefetch(conditions=value)))
    assert response.status_code == 412 and "'conditions'" in response.json()["reason"]


def test_a_null_patient_key_means_no_patient_and_is_412():
    """prefetch.patient null (no such patient) gets 412, not a card about nobody."""
    response = post(hook_request(full_prefetch(patient=None)))
    assert response.status_code == 412


@pytest.mark.parametrize("patient_id", ["../Patient/x", "p1?x=1", "", {"id": "p1"}, "x" * 65])
def test_a_context_patient_id_that_is_not_a_fhir_id_is_400(patient_id: Any):
    """context.patientId goes into the FHIR URLs, so anything but a FHIR id is a bad request (400)."""
    response = post(hook_request(full_prefetch(), patient_id=patient_id))
    assert response.status_code == 400 and "patientId" in response.json()["reason"]


# Bounded size and depth


def test_a_deeply_nested_body_is_400_not_500():
    """A body of 100,000 nested arrays is refused with 400 naming the depth, before it is parsed."""
    response = post(b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400 and "levels deep" in response.json()["reason"]


def test_a_body_within_the_depth_bound_is_read():
    """A valid call carrying an extension nested 30 levels deep is read and answered."""
    nested: Any = "leaf"
    for _ in range(30):
        nested = {"x": nested}
    response = post(hook_request(full_prefetch(), extension={"com.example.deep": nested}))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet='ab"\\[]{}\u00e9\n', max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=30,
)


@settings_(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_json_depth_counts_brackets_outside_strings_only(value: Any, ascii_only: bool):
    """The depth measured on the raw bytes is the parsed document's depth, whatever brackets, quotes and
    backslashes its strings hold (escaped or, as UTF-8, not)."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth(raw) == _depth(value)


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_the_depth_bound_holds_whether_or_not_strings_hold_brackets(depth: int):
    """At most 4 levels: 4 are read and 5 refused, also when strings add brackets (the count of opening
    brackets then exceeds the bound, and the depth is measured)."""
    nested: Any = "[{[{" * 3
    for _ in range(depth):
        nested = [nested]
    raw = json.dumps(nested).encode()
    if depth <= 4:
        assert parse_json(raw, "the body", 4) == nested
    else:
        with pytest.raises(LimitError, match="the body nests 5 levels deep; at most 4 are read"):
            parse_json(raw, "the body", 4)


def test_a_name_given_twice_is_refused_without_echoing_the_body():
    """`{"patient": "a", "patient": "b"}` is refused (the last value would win silently), naming neither value."""
    with pytest.raises(ValueError, match="the body gives one name twice in a JSON object") as caught:
        parse_json(b'{"patient": "Patient/a", "patient": "Patient/b"}', "the body", 8)
    assert "Patient/" not in str(caught.value)


def test_a_body_over_the_size_bound_is_413():
    """A body larger than max_body_bytes is refused with 413."""
    body = json.dumps(hook_request(full_prefetch(), extension={"pad": "x" * 5000})).encode()
    assert post(body, max_body_bytes=4000).status_code == 413
    assert post(body, max_body_bytes=len(body)).status_code == 200


# Card policy


def test_a_plainly_normal_result_gives_no_card_by_default():
    """Normal IgM, IgG and IgA give an empty card list: nothing to act on, nothing shown."""
    normal = bundle(
        observation("m", "2472-9", 120, "mg/dL", "2024-01-10"),
        observation("g", "2465-3", 1000, "mg/dL", "2024-01-10"),
        observation("a", "2458-8", 200, "mg/dL", "2024-01-10"),
        bundle_type="searchset",
    )
    response = post(hook_request(full_prefetch(immunoglobulins=normal, conditions=None)))
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_a_plainly_normal_result_gives_an_info_card_when_configured():
    """With card_for_normal_result the same normal result gives one info card."""
    normal = bundle(
        observation("m", "2472-9", 120, "mg/dL", "2024-01-10"),
        observation("g", "2465-3", 1000, "mg/dL", "2024-01-10"),
        observation("a", "2458-8", 200, "mg/dL", "2024-01-10"),
        bundle_type="searchset",
    )
    response = post(hook_request(full_prefetch(immunoglobulins=normal, conditions=None)), card_for_normal_result=True)
    [card] = response.json()["cards"]
    assert card["indicator"] == "info"


def test_card_text_holds_no_patient_name_and_no_raw_structure():
    """A patient with a name in the Patient resource gets a card that never shows the name or a dict."""
    named = {**patient("p1"), "name": [{"family": "Quaxlington", "given": ["Zebedee"]}]}
    response = post(hook_request(full_prefetch(patient=named)))
    [card] = response.json()["cards"]
    text = json.dumps({k: card[k] for k in ("summary", "detail")})
    assert "Quaxlington" not in text and "Zebedee" not in text
    assert "{'" not in text and "': " not in text


def test_a_prefetched_searchset_with_a_next_page_is_fetched_whole_from_the_server():
    """A prefetch Bundle with a next link is incomplete: the key is fetched from the fhirServer instead."""
    paged = {**full_prefetch()["conditions"], "link": [{"relation": "next", "url": f"{SERVER}/Condition?page=2"}]}
    response = post(hook_request(full_prefetch(conditions=paged), fhirServer=SERVER), fhir=fhir_server(full_prefetch()))
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    assert post(hook_request(full_prefetch(conditions=paged))).status_code == 412
