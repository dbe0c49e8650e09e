"""The FHIR data of a patient-view call: from prefetch where the client sent it, else from the FHIR server.

CDS Hooks 2.0 ("Prefetch"): a key the client could not or chose not to satisfy is omitted, and the service
fetches it itself; a key with the value null means "no data". The service checks each prefetched value against
its template: a value that is not the FHIR the template asks for (not a resource, invalid FHIR R4, another
resource type, a Bundle that is not a searchset or collection) counts as not satisfied, and the service fetches
that key itself. If it cannot, it answers 412, as the spec requires. Every resource must belong to the patient in
context (Patient.id, or a subject/patient reference to `Patient/<context.patientId>`): one that does not, or that
cannot be shown to, refuses the whole request (412) without a fallback, since it means the client's data and its
context disagree.

One key is optional (`OPTIONAL_KEYS`): MedicationAdministration, added to the templates after the service was
first offered. A client registered before may not prefetch it, and a FHIR server may not support searching it;
when it is neither prefetched nor obtainable, the call is answered without it (and the log says so) rather
than refused, which leaves the service as it was before the key existed. Data about another patient under
that key still refuses the call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

import httpx

from sigmd.adapters.fhir import RawResource, resources_from_document
from sigmd.cdshooks.limits import LimitError, parse_json
from sigmd.cdshooks.settings import CDSSettings
from sigmd.errors import InputError

log = logging.getLogger("sigmd.cdshooks")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""The FHIR R4 `id` datatype; context.patientId must be one (it is placed in the prefetch URLs)."""
PATIENT_KEY = "patient"
EXPECTED_TYPES: dict[str, tuple[str, ...]] = {
    "patient": ("Patient",),
    "immunoglobulins": ("Observation",),
    "conditions": ("Condition",),
    "medications": ("MedicationStatement", "Medication"),
    "medicationRequests": ("MedicationRequest", "Medication"),
    "medicationAdministrations": ("MedicationAdministration", "Medication"),
}
"""Resource types each prefetch key may hold (a medication search may include the Medication resources)."""
OPTIONAL_KEYS = frozenset({"medicationAdministrations"})
"""Keys answered without when they cannot be obtained (see the module docstring): immunoglobulin infusions are
often recorded only as MedicationAdministration, so the service asks for them, but their absence leaves the
answer as it was before the service asked."""
SEARCH_BUNDLE_TYPES = ("searchset", "collection")
MAX_FHIR_RESPONSE_BYTES = 8 * 1024 * 1024


class DataUnavailableError(Exception):
    """The service cannot obtain the FHIR data it needs (HTTP 412). The message holds no patient data."""


class ForeignDataError(DataUnavailableError):
    """A resource does not belong to the patient in context (HTTP 412, no fallback, no card)."""


def prefetch_templates(loinc_codes: list[str]) -> dict[str, str]:
    codes = ",".join(f"http://loinc.org|{code}" for code in loinc_codes)
    return {
        "patient": "Patient/{{context.patientId}}",
        "immunoglobulins": "Observation?patient={{context.patientId}}&code=" + codes,
        "conditions": "Condition?patient={{context.patientId}}",
        "medications": "MedicationStatement?patient={{context.patientId}}",
        "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
        "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    }


@dataclass(frozen=True)
class PatientData:
    resources: list[RawResource]
    conditions_searched: bool
    medications_searched: bool
    fetched: frozenset[str] = frozenset()
    """Keys read from the FHIR server rather than the prefetch."""
    can_fetch: bool = False
    """Whether the request names a fhirServer, so a prefetch key that turns out unusable can be fetched instead."""


def source_key(where: str) -> tuple[str, str]:
    """`("prefetch" | "fhirServer", key)` from a resource location such as `prefetch.conditions.Bundle.entry[0]`."""
    source, _, rest = where.partition(".")
    return source, rest.split(".", 1)[0].split(" ", 1)[0]


async def gather(
    request: dict[str, Any],
    templates: dict[str, str],
    settings: CDSSettings,
    unusable: frozenset[str] = frozenset(),
) -> PatientData:
    """Resources for every template, from the prefetch or fetched with the client's FHIR authorization.

    Keys in `unusable` are treated as not satisfied by the prefetch (their content was found invalid).
    Resources are checked here for shape, type and patient; their full FHIR R4 validation is the reader's.
    """
    patient_id = str(request["context"]["patientId"])
    prefetch = request.get("prefetch") or {}
    fetcher = _Fetcher(request, settings)
    resources: list[RawResource] = []
    fetched: set[str] = set()
    for key, template in templates.items():
        value = prefetch.get(key, _MISSING)
        if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
            value = _MISSING
        unsatisfied = "is missing" if value is _MISSING else "is not usable (invalid FHIR R4)"
        if key not in unusable and value is not _MISSING and value is not None:
            try:
                resources.extend(_read(value, key, f"prefetch.{key}", patient_id, fetcher.server))
                continue
            except _UnusableError as error:
                unsatisfied = f"is not usable ({error})"
                log.info("prefetch '%s' %s; fetching it", key, unsatisfied)
        elif value is None and key not in unusable:
            if key == PATIENT_KEY:
                raise DataUnavailableError("prefetch 'patient' is null: there is no Patient for context.patientId")
            continue
        try:
            resources.extend(await _fetch(fetcher, template, key, unsatisfied, patient_id))
        except DataUnavailableError as error:
            if key not in OPTIONAL_KEYS or isinstance(error, ForeignDataError):
                raise
            log.info("prefetch key %s answered without: %s", key, str(error))  # the message holds no patient data
            continue
        fetched.add(key)
    return PatientData(resources, True, True, frozenset(fetched), bool(fetcher.server))


async def _fetch(fetcher: _Fetcher, template: str, key: str, unsatisfied: str, patient_id: str) -> list[RawResource]:
    """One key's resources from the FHIR server, every page; `DataUnavailableError` when they cannot be had."""
    value = await fetcher.get(template.replace("{{context.patientId}}", patient_id), key, unsatisfied)
    if value is None:
        if key == PATIENT_KEY:
            raise DataUnavailableError("the FHIR server has no Patient for context.patientId")
        return []
    try:
        resources = _read(value, key, f"fhirServer.{key}", patient_id, fetcher.server)
        for page, document in enumerate(await fetcher.next_pages(value, key), start=2):
            resources.extend(_read(document, key, f"fhirServer.{key} page {page}", patient_id, fetcher.server))
    except _UnusableError as error:
        raise DataUnavailableError(f"the FHIR server's answer for '{key}' is not usable ({error})") from None
    return resources


_MISSING: Any = object()


class _UnusableError(ValueError):
    """A prefetch value or FHIR answer that is not what its template asks for."""


def _read(value: Any, key: str, where: str, patient_id: str, server: str) -> list[RawResource]:
    """The resources of one key's value, checked against the template's types and the patient in context.

    The context patient is the EHR's patient on its fhirServer: a Patient read without a fullUrl is given
    `<fhirServer>/Patient/<id>`, so that an absolute reference to it there is the same patient (the FHIR reader
    refuses a patient named at a server it is not known to be on)."""
    types = EXPECTED_TYPES[key]
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise _UnusableError("not a FHIR resource")
    if key == PATIENT_KEY:
        if value["resourceType"] != "Patient":
            raise _UnusableError(f"a {value['resourceType'][:40]}, not a Patient")
    elif value["resourceType"] != "Bundle" or value.get("type") not in SEARCH_BUNDLE_TYPES:
        raise _UnusableError("not a searchset Bundle")
    elif value.get("entry") is not None and not isinstance(value["entry"], list):
        raise _UnusableError("Bundle.entry is not a list")
    elif value.get("link") is not None and not isinstance(value["link"], list):
        raise _UnusableError("Bundle.link is not a list")
    elif where.startswith("prefetch.") and _next_link(value):
        raise _UnusableError("it has a next page; prefetch data must be complete")
    try:
        raws = resources_from_document(value, where)
    except InputError as error:
        raise _UnusableError(f"{error.field} {error.problem}") from None
    kept: list[RawResource] = []
    for raw in raws:
        refused = getattr(raw, "error", None)
        if isinstance(refused, InputError):
            raise _UnusableError(f"{refused.field} {refused.problem}")
        if not isinstance(raw.data, dict) or not isinstance(raw.data.get("resourceType"), str):
            raise _UnusableError(f"{raw.where} is not a FHIR resource")
        resource_type = raw.data["resourceType"]
        if resource_type == "OperationOutcome" and key != PATIENT_KEY:
            continue  # a searchset may carry the server's notes (search.mode outcome)
        if resource_type not in types:
            raise _UnusableError(f"{raw.where} is a {resource_type[:40]}, not {' or '.join(types)}")
        _check_owner(raw.data, raw.where, patient_id, server)
        if resource_type == "Patient" and server and not raw.full_url:
            raw = replace(raw, full_url=f"{server}/Patient/{patient_id}")
        kept.append(raw)
    return kept


def _check_owner(resource: dict[str, Any], where: str, patient_id: str, server: str) -> None:
    resource_type = resource["resourceType"]
    if resource_type == "Patient":
        if resource.get("id") != patient_id:
            raise ForeignDataError(f"{where}: the Patient's id is not context.patientId")
        return
    if resource_type == "Medication":
        return  # a medication product, about no patient
    reference = resource.get("subject") or resource.get("patient")
    if reference is not None and not isinstance(reference, dict):
        raise _UnusableError(f"{where}.subject is not a Reference")
    text = (reference or {}).get("reference")
    if text is not None and not isinstance(text, str):
        raise _UnusableError(f"{where}.subject.reference is not a string")
    if not text:
        raise ForeignDataError(f"{where} ({resource_type}) has no subject, so it is not shown to be this patient's")
    if not _refers_to(text, patient_id, server):
        raise ForeignDataError(
            f"{where} ({resource_type}) refers to a patient other than context.patientId on the request's fhirServer"
        )


def _refers_to(reference: str, patient_id: str, server: str) -> bool:
    """Whether a reference is `Patient/<id>`, relative or absolute at the request's fhirServer, with or without a
    version. An absolute reference at another server (or with no fhirServer to compare) may be another person with
    the same id."""
    path = reference.split("/_history/", 1)[0]
    return path == f"Patient/{patient_id}" or (bool(server) and path == f"{server}/Patient/{patient_id}")


class _Fetcher:
    def __init__(self, request: dict[str, Any], settings: CDSSettings) -> None:
        self.server = str(request.get("fhirServer") or "").rstrip("/")
        auth = request.get("fhirAuthorization")
        self.headers = {"Accept": "application/fhir+json"}
        if isinstance(auth, dict) and isinstance(auth.get("access_token"), str) and auth["access_token"]:
            self.headers["Authorization"] = f"Bearer {auth['access_token']}"
        self.settings = settings

    async def get(self, relative: str, key: str, unsatisfied: str) -> Any:
        if not self.server:
            raise DataUnavailableError(f"prefetch '{key}' {unsatisfied} and the request has no fhirServer")
        if (
            "Authorization" in self.headers
            and not self.server.startswith("https://")
            and not self.settings.allow_unauthenticated
        ):
            raise DataUnavailableError(
                f"prefetch '{key}' {unsatisfied}, and the fhirServer is not https: "
                "the access token is not sent over plain http"
            )
        return await self._get_json(f"{self.server}/{relative}", key)

    async def next_pages(self, value: Any, key: str) -> list[Any]:
        pages: list[Any] = []
        for _ in range(self.settings.fhir_page_limit):
            link = _next_link(value)
            if not link:
                return pages
            if not self.server or not link.startswith(self.server + "/"):
                raise DataUnavailableError(f"'{key}' has more pages that cannot be fetched from the fhirServer")
            value = await self._get_json(link, key)
            pages.append(value)
        raise DataUnavailableError(f"'{key}' has more than {self.settings.fhir_page_limit} pages")

    async def _get_json(self, url: str, key: str) -> Any:
        try:
            async with httpx.AsyncClient(transport=self.settings.http_transport, timeout=20) as client:
                response = await client.get(url, headers=self.headers)
        except httpx.HTTPError as error:
            raise DataUnavailableError(
                f"the FHIR server could not be reached for '{key}': {type(error).__name__}"
            ) from None
        if response.status_code == 404 and key == PATIENT_KEY:
            return None
        if response.status_code != 200:
            raise DataUnavailableError(f"the FHIR server answered {response.status_code} for '{key}'")
        if len(response.content) > MAX_FHIR_RESPONSE_BYTES:
            raise DataUnavailableError(f"the FHIR server's answer for '{key}' is larger than sigmd reads")
        try:
            return parse_json(response.content, f"the FHIR server's answer for '{key}'", self.settings.max_json_depth)
        except (LimitError, ValueError) as error:
            raise DataUnavailableError(str(error)) from None


def _next_link(value: Any) -> str:
    links = value.get("link") if isinstance(value, dict) else None
    if not isinstance(links, list):
        return ""
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return ""
