"""Recognise an input file's format (FHIR JSON, FHIR NDJSON, sigmd case JSON, HL7 v2) and load its cases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sigmd.adapters.case_json import case_from_dict
from sigmd.adapters.grouping import LoadedCase
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte
from sigmd.errors import InputError


class InputFormat(StrEnum):
    FHIR_JSON = "fhir-json"
    FHIR_NDJSON = "fhir-ndjson"
    CASE_JSON = "case-json"
    HL7V2 = "hl7v2"


def detect_format(text: str) -> InputFormat:
    """The format of an input text, from its content alone."""
    body = text.lstrip("\ufeff\x0b \t\r\n")
    if body.startswith(("MSH", "FHS", "BHS")):
        return InputFormat.HL7V2
    if not body.startswith("{"):
        raise InputError("(file)", body[:40], "is not FHIR JSON, FHIR NDJSON, sigmd case JSON or HL7 v2")
    try:
        document: Any = json.loads(body)
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise InputError("(file)", body[:40], f"is not valid JSON: {error}") from None
        return InputFormat.FHIR_NDJSON
    if isinstance(document, dict) and "resourceType" in document:
        return InputFormat.FHIR_JSON
    if isinstance(document, dict) and "patient" in document and "results" in document:
        return InputFormat.CASE_JSON
    raise InputError(
        "(file)", body[:40], "is JSON but neither a FHIR resource (resourceType) nor a sigmd case (patient, results)"
    )


def load_cases(
    text: str, knowledge: Knowledge, *, local_codes: Mapping[str, Analyte] | None = None
) -> list[LoadedCase]:
    """Every patient in an input text, one LoadedCase each. `local_codes` maps local HL7 OBX-3 codes."""
    match detect_format(text):
        case InputFormat.HL7V2:
            from sigmd.adapters.hl7v2 import load_hl7v2

            return load_hl7v2(text, knowledge, local_codes)
        case InputFormat.FHIR_JSON:
            from sigmd.adapters.fhir import load_fhir_json

            return load_fhir_json(text, knowledge)
        case InputFormat.FHIR_NDJSON:
            from sigmd.adapters.fhir import load_fhir_ndjson

            return load_fhir_ndjson(text, knowledge)
        case InputFormat.CASE_JSON:
            document = json.loads(text.lstrip("\ufeff"))
            patient_id = document.get("patient", {}).get("id") if isinstance(document.get("patient"), dict) else None
            return [LoadedCase(str(patient_id or "case"), case_from_dict(document, knowledge))]
