"""Matching a case's conditions and medications against the secondary-cause catalogue."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigmd.core.knowledge import SecondaryCause
from sigmd.core.model import CodedText

_ICD10_SYSTEMS = {
    "icd-10",
    "icd10",
    "icd-10-cm",
    "icd10cm",
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-cm",
}
_ATC_SYSTEMS = {"atc", "http://www.whocc.no/atc"}


@dataclass(frozen=True)
class SecondaryMatch:
    cause: SecondaryCause
    record: CodedText
    matched_on: str
    """What matched: `ICD-10 C91.1`, `ATC N05AH02` or `term "clozapine"`."""


def match_secondary_causes(
    records: tuple[CodedText, ...], catalogue: tuple[SecondaryCause, ...]
) -> tuple[SecondaryMatch, ...]:
    """The first catalogue entry (most specific first) that each condition or medication matches."""
    matches: list[SecondaryMatch] = []
    for record in records:
        for cause in catalogue:
            how = _match(record, cause)
            if how:
                matches.append(SecondaryMatch(cause=cause, record=record, matched_on=how))
                break
    return tuple(matches)


def _match(record: CodedText, cause: SecondaryCause) -> str:
    system = record.system.strip().lower()
    code = record.code.strip().upper()
    if code and system in _ICD10_SYSTEMS:
        for prefix in cause.icd10_prefixes:
            if _code_has_prefix(code, prefix):
                return f"ICD-10 {code}"
    if code and system in _ATC_SYSTEMS:
        for prefix in cause.atc_prefixes:
            if code.startswith(prefix.upper()):
                return f"ATC {code}"
    text = record.text.lower()
    for term in cause.terms:
        if re.search(rf"(?<![a-z0-9]){re.escape(term.lower())}(?![a-z0-9])", text):
            return f'term "{term}"'
    return ""


def _code_has_prefix(code: str, prefix: str) -> bool:
    normalised_code = code.replace(".", "")
    normalised_prefix = prefix.upper().replace(".", "")
    return normalised_code.startswith(normalised_prefix)
