"""Recognise an input file's format (FHIR JSON, FHIR NDJSON, sigmd case JSON, HL7 v2) and load its cases.

This is the door every command reads files through: `read_input` refuses text that is not UTF-8 (naming the
byte offset) or larger than the limits in `sigmd.adapters.limits`, and `load_cases` lets nothing but an
`InputError` out, whatever the input holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from sigmd.adapters.case_json import case_from_dict
from sigmd.adapters.grouping import LoadedCase
from sigmd.adapters.limits import TrailingJSONError, check_size, decode_input, parse_json
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte
from sigmd.errors import InputError

_LINES = re.compile(r"\r\n|\r|\n")


class InputFormat(StrEnum):
    FHIR_JSON = "fhir-json"
    FHIR_NDJSON = "fhir-ndjson"
    CASE_JSON = "case-json"
    HL7V2 = "hl7v2"


def read_input(path: Path) -> str:
    """A file's text: UTF-8 (with or without a byte-order mark) and within the size limit, else InputError.

    OSError (missing file, no permission) is left to the caller, which names the file.
    """
    return decode_input(read_bytes(path), path.name)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, within the size limit (else InputError); for `load_cases`, which decodes them itself."""
    check_size(path.stat().st_size, path.name)
    return path.read_bytes()


_HL7_START = (b"MSH", b"FHS", b"BHS")


def detect_format(text: str) -> InputFormat:
    """The format of an input text, from its content alone."""
    return _detect(text)[0]


def _detect(text: str) -> tuple[InputFormat, Any]:
    """The format and, for single-document JSON, the parsed document (so that it is parsed once)."""
    check_size(len(text))
    body = text.lstrip("\ufeff\x0b \t\r\n")
    if body.startswith(("MSH", "FHS", "BHS")):
        return InputFormat.HL7V2, None
    if not body.startswith("{"):
        raise InputError("(file)", body[:40], "is not FHIR JSON, FHIR NDJSON, sigmd case JSON or HL7 v2")
    try:
        document: Any = parse_json(body)
    except TrailingJSONError:
        return InputFormat.FHIR_NDJSON, None
    except InputError:
        if _looks_like_ndjson(body):  # its first line is bad: the NDJSON reader refuses that line alone
            return InputFormat.FHIR_NDJSON, None
        raise
    if isinstance(document, dict) and "resourceType" in document:
        return InputFormat.FHIR_JSON, document
    if isinstance(document, dict) and "patient" in document and "results" in document:
        return InputFormat.CASE_JSON, document
    raise InputError(
        "(file)", body[:40], "is JSON but neither a FHIR resource (resourceType) nor a sigmd case (patient, results)"
    )


def _looks_like_ndjson(body: str) -> bool:
    """Two or more non-blank lines, each one brace-delimited object (pretty-printed JSON has other lines)."""
    lines = [line.strip() for line in _LINES.split(body) if line.strip()]
    return len(lines) > 1 and all(line.startswith("{") and line.endswith("}") for line in lines)


def load_cases(
    data: str | bytes, knowledge: Knowledge, *, local_codes: Mapping[str, Analyte] | None = None
) -> list[LoadedCase]:
    """Every patient in an input (text, or bytes as read), one LoadedCase each. `local_codes` maps local HL7
    OBX-3 codes. HL7 v2 bytes are decoded message by message (UTF-8, or ISO 8859-1 where MSH-18 says so, one
    bad byte refusing its message only); every other input must be UTF-8 as a whole.

    Raises only InputError, for an input that cannot be read at all; a patient that cannot be read is a
    LoadedCase with its error.
    """
    if isinstance(data, bytes):
        if data.lstrip(b"\xef\xbb\xbf\x0b \t\r\n").startswith(_HL7_START):
            from sigmd.adapters.hl7v2 import load_hl7v2

            return load_hl7v2(data, knowledge, local_codes)
        data = decode_input(data)
    text = data
    try:
        return _load(text, knowledge, local_codes)
    except (InputError, ImportError):  # a missing optional extra is not bad input: the CLI names the extra (exit 3)
        raise
    except RecursionError:
        raise InputError("(file)", text[:40], "nests too deeply to be read") from None
    except Exception as error:  # the refusal boundary: nothing else leaves a reader
        raise InputError("(file)", text[:40], f"could not be read ({type(error).__name__}: {error})"[:300]) from None


def _load(text: str, knowledge: Knowledge, local_codes: Mapping[str, Analyte] | None) -> list[LoadedCase]:
    file_format, document = _detect(text)
    match file_format:
        case InputFormat.HL7V2:
            from sigmd.adapters.hl7v2 import load_hl7v2

            return load_hl7v2(text, knowledge, local_codes)
        case InputFormat.FHIR_JSON:
            from sigmd.adapters.fhir import cases_from_resources, resources_from_document

            return cases_from_resources(resources_from_document(document), knowledge)
        case InputFormat.FHIR_NDJSON:
            from sigmd.adapters.fhir import load_fhir_ndjson

            return load_fhir_ndjson(text, knowledge)
        case InputFormat.CASE_JSON:
            patient = document.get("patient")
            patient_id = patient.get("id") if isinstance(patient, dict) else None
            key = patient_id if isinstance(patient_id, str) and patient_id else "case"
            return [LoadedCase(key, case_from_dict(document, knowledge))]
