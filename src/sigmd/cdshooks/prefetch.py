"""The FHIR data of a patient-view call: from prefetch where the client sent it, else from the FHIR server.

CDS Hooks 2.0 ("Prefetch"): a key the client could not or chose not to satisfy is omitted, and the service
fetches it itself; a key with the value null means "no data". With neither prefetch nor a FHIR server the
service cannot work and answers 412.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sigmd.adapters.fhir import RawResource, resources_from_document
from sigmd.cdshooks.settings import CDSSettings


class DataUnavailableError(Exception):
    """The service cannot obtain the FHIR data it needs (HTTP 412). The message holds no patient data."""


def prefetch_templates(loinc_codes: list[str]) -> dict[str, str]:
    codes = ",".join(f"http://loinc.org|{code}" for code in loinc_codes)
    return {
        "patient": "Patient/{{context.patientId}}",
        "immunoglobulins": "Observation?patient={{context.patientId}}&code=" + codes,
        "conditions": "Condition?patient={{context.patientId}}",
        "medications": "MedicationStatement?patient={{context.patientId}}",
    }


@dataclass(frozen=True)
class PatientData:
    resources: list[RawResource]
    conditions_searched: bool
    medications_searched: bool


async def gather(request: dict[str, Any], templates: dict[str, str], settings: CDSSettings) -> PatientData:
    """Resources for every template, from the prefetch or fetched with the client's FHIR authorization."""
    patient_id = str(request["context"]["patientId"])
    prefetch = request.get("prefetch") or {}
    fetcher = _Fetcher(request, settings)
    resources: list[RawResource] = []
    searched: dict[str, bool] = {}
    for key, template in templates.items():
        value = prefetch.get(key) if key in prefetch else _MISSING
        if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
            value = _MISSING
        if value is _MISSING:
            value = await fetcher.get(template.replace("{{context.patientId}}", patient_id), key)
        if value is None:
            if key == "patient":
                raise DataUnavailableError("the client reports no Patient for this patientId")
            searched[key] = True
            continue
        found = resources_from_document(value, f"prefetch.{key}")
        resources.extend(found)
        resources.extend(await fetcher.next_pages(value, key))
        searched[key] = True
    return PatientData(resources, searched.get("conditions", False), searched.get("medications", False))


_MISSING: Any = object()


class _Fetcher:
    def __init__(self, request: dict[str, Any], settings: CDSSettings) -> None:
        self.server = str(request.get("fhirServer") or "").rstrip("/")
        auth = request.get("fhirAuthorization") or {}
        self.headers = {"Accept": "application/fhir+json"}
        if auth.get("access_token"):
            self.headers["Authorization"] = f"Bearer {auth['access_token']}"
        self.settings = settings

    async def get(self, relative: str, key: str) -> Any:
        if not self.server:
            raise DataUnavailableError(f"prefetch '{key}' is missing and the request has no fhirServer")
        if (
            "Authorization" in self.headers
            and not self.server.startswith("https://")
            and not self.settings.allow_unauthenticated
        ):
            raise DataUnavailableError("the fhirServer is not https; the access token is not sent over plain http")
        return await self._get_json(f"{self.server}/{relative}", key)

    async def next_pages(self, value: Any, key: str) -> list[RawResource]:
        pages: list[RawResource] = []
        for page in range(1, self.settings.fhir_page_limit + 1):
            link = next((lk.get("url") for lk in value.get("link") or [] if lk.get("relation") == "next"), None)
            if not link:
                return pages
            if not self.server or not str(link).startswith(self.server):
                raise DataUnavailableError(f"'{key}' has more pages that cannot be fetched from the fhirServer")
            value = await self._get_json(str(link), key)
            pages.extend(resources_from_document(value, f"prefetch.{key} page {page + 1}"))
        raise DataUnavailableError(f"'{key}' has more than {self.settings.fhir_page_limit} pages")

    async def _get_json(self, url: str, key: str) -> Any:
        try:
            async with httpx.AsyncClient(transport=self.settings.http_transport, timeout=20) as client:
                response = await client.get(url, headers=self.headers)
        except httpx.HTTPError as error:
            raise DataUnavailableError(
                f"the FHIR server could not be reached for '{key}': {type(error).__name__}"
            ) from None
        if response.status_code == 404 and key == "patient":
            return None
        if response.status_code != 200:
            raise DataUnavailableError(f"the FHIR server answered {response.status_code} for '{key}'")
        try:
            return response.json()
        except ValueError:
            raise DataUnavailableError(f"the FHIR server's answer for '{key}' is not JSON") from None
