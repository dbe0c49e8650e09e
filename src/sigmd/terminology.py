"""Standard terminology for sigmd's outputs: ICD-10 and MONDO codes for each diagnosis label.

The codes are clinical content like any other: they live in `sigmd/data/diagnosis_codes.toml` with their
sources and are read by the same strict loader rules (unknown or missing keys and unknown source ids are
errors). Every diagnosis label must have an entry, so a new label is never coded by accident.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sigmd.content import ContentError, _Entry, _schema, _source, _toml, load_sources
from sigmd.core.knowledge import Label
from sigmd.core.provenance import Source

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
"""WHO ICD-10, as HL7 names it for FHIR."""
MONDO_SYSTEM = "http://purl.obolibrary.org/obo/mondo.owl"
"""The Mondo Disease Ontology, as HL7 Terminology (THO) names it."""


@dataclass(frozen=True)
class StandardCode:
    system: str
    code: str
    display: str
    source: Source


@dataclass(frozen=True)
class DiagnosisCoding:
    """How one diagnosis label is coded in standard terminologies, and whether it becomes a Condition."""

    label: Label
    codes: tuple[StandardCode, ...]
    condition: bool
    note: str = ""


@functools.cache
def diagnosis_codes() -> dict[Label, DiagnosisCoding]:
    """Every diagnosis label's standard codes, read from `diagnosis_codes.toml`."""
    name = "diagnosis_codes.toml"
    data = _toml(name)
    _schema(name, data)
    sources = load_sources()
    labels = data.get("labels", {})
    unknown = set(labels) - {label.value for label in Label}
    if unknown:
        raise ContentError(f"{name}: unknown label(s) {sorted(unknown)}")
    missing = {label.value for label in Label} - set(labels)
    if missing:
        raise ContentError(f"{name}: no entry for label(s) {sorted(missing)}")
    codings: dict[Label, DiagnosisCoding] = {}
    for label_id, raw in labels.items():
        where = f"{name} [labels.{label_id}]"
        entry = _Entry(
            where,
            raw,
            {"condition"},
            {"icd10", "icd10_display", "mondo", "mondo_display", "source", "mondo_source", "note"},
        )
        codes: list[StandardCode] = []
        if entry.get("icd10"):
            if not entry.get("icd10_display") or not entry.get("source"):
                raise ContentError(f"{where}: icd10 needs icd10_display and source")
            codes.append(
                StandardCode(
                    ICD10_SYSTEM, entry["icd10"], entry["icd10_display"], _source(sources, where, entry["source"])
                )
            )
        if entry.get("mondo"):
            if not entry.get("mondo_display") or not entry.get("mondo_source"):
                raise ContentError(f"{where}: mondo needs mondo_display and mondo_source")
            codes.append(
                StandardCode(
                    MONDO_SYSTEM, entry["mondo"], entry["mondo_display"], _source(sources, where, entry["mondo_source"])
                )
            )
        if entry["condition"] and not codes:
            raise ContentError(f"{where}: a Condition needs a standard code")
        label = Label(label_id)
        codings[label] = DiagnosisCoding(label, tuple(codes), bool(entry["condition"]), entry.get("note", ""))
    return codings
