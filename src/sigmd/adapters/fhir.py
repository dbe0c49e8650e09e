"""FHIR R4 input: Bundles and NDJSON holding Patient, Observation, Condition, MedicationStatement, MedicationRequest.

Which models. Every resource is validated with the `fhir.resources` package, module `fhir.resources.R4B`
(FHIR 4.3.0), installed by `pip install 'sigmd[fhir]'`. The releases of `fhir.resources` whose default models
are R4 4.0.1 are 6.0-6.4; they are built on pydantic 1, which cannot be installed beside pydantic 2 (a
dependency of sigmd's CLI through Typer, and of FastAPI). Releases 6.5 and later default to R4B (6.5) or R5
(7.x, 8.x) and ship R4B, not R4, as a sub-package. R4B was published as a backwards-compatible update of R4:
the resources read and written here (Patient, Observation, Condition, MedicationStatement, MedicationRequest,
Bundle, RiskAssessment, DetectedIssue, ServiceRequest) have the same elements and cardinalities in 4.0.1 and
4.3.0, so R4 documents validate against these models and what they produce is valid R4.

What is read: Patient.birthDate and gender; Observations coded with a LOINC code that sigmd knows
(IgM 2472-9, IgG 2465-3, IgA 2458-8, IgG1-4 2466-1/2467-9/2468-7/2469-5) with valueQuantity (comparator,
UCUM unit), referenceRange (the laboratory's own range) and effectiveDateTime / effectivePeriod.start /
effectiveInstant; Condition, MedicationStatement and MedicationRequest as coded text. Everything else that is
present is listed as not used, with the reason, in the warnings of the patient's case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sigmd.adapters.grouping import LoadedCase, PatientIndex, PatientRecords
from sigmd.adapters.results import build_result
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, CodedText, Sex
from sigmd.errors import InputError

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.reference import Reference
    from fhir.resources.R4B.resource import Resource

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"

SYSTEM_ALIASES: dict[str, str] = {
    ICD10: ICD10,
    ICD10_CM: ICD10_CM,
    "urn:oid:2.16.840.1.113883.6.3": ICD10,
    "urn:oid:2.16.840.1.113883.6.90": ICD10_CM,
    "http://hl7.org/fhir/sid/icd-10-de": ICD10,
    "http://hl7.org/fhir/sid/icd-10-nl": ICD10,
    "http://hl7.org/fhir/sid/icd-10-ca": ICD10,
    "http://hl7.org/fhir/sid/icd-10-am": ICD10,
    "http://fhir.de/CodeSystem/bfarm/icd-10-gm": ICD10,
    "http://fhir.de/CodeSystem/dimdi/icd-10-gm": ICD10,
    ATC: ATC,
    "urn:oid:2.16.840.1.113883.6.73": ATC,
    "http://fhir.de/CodeSystem/bfarm/atc": ATC,
    "http://fhir.de/CodeSystem/dimdi/atc": ATC,
}
"""FHIR code-system URIs for ICD-10 and ATC, mapped to the URIs `sigmd.core.secondary` matches on."""

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch")
NOT_USED_STATUSES = {"entered-in-error", "cancelled", "registered"}
"""Observation statuses whose value is not a result (`registered`: no result yet)."""
_SEX = {"female": Sex.FEMALE, "male": Sex.MALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}


def require_fhir_resources() -> None:
    """Fail with the extra to install when `fhir.resources` is missing."""
    try:
        import fhir.resources.R4B  # noqa: F401
    except ImportError as error:
        raise ImportError("FHIR support needs the fhir extra: pip install 'sigmd[fhir]'") from error


@dataclass(frozen=True)
class RawResource:
    """A resource as JSON with where it was found (`entry[3]`, `line 7`) and its Bundle fullUrl."""

    data: dict[str, Any]
    where: str
    full_url: str = ""


def resources_from_json(text: str) -> list[RawResource]:
    """The resources of a FHIR JSON document: a Bundle's entries, or the one resource it is."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError("(file)", text[:40], f"is not valid JSON: {error}") from None
    return resources_from_document(document)


def resources_from_document(document: Any, where: str = "") -> list[RawResource]:
    """The resources of a parsed FHIR JSON value (a Bundle or a single resource)."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InputError(where or "(file)", str(document)[:60], "is not a FHIR resource (no resourceType)")
    if document["resourceType"] != "Bundle":
        return [RawResource(document, where or document["resourceType"])]
    prefix = f"{where}." if where else ""
    bundle_type = document.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise InputError(
            f"{prefix}Bundle.type", bundle_type, f"is not read by sigmd (use one of {', '.join(BUNDLE_TYPES)})"
        )
    raws: list[RawResource] = []
    for index, entry in enumerate(document.get("entry") or []):
        place = f"{prefix}Bundle.entry[{index}]"
        if not isinstance(entry, dict):
            raise InputError(place, entry, "is not a Bundle entry object")
        resource = entry.get("resource")
        if resource is None:
            request = entry.get("request") or {}
            raise InputError(place, f"{request.get('method', '')} {request.get('url', '')}".strip(), "has no resource")
        raws.append(RawResource(resource, f"{place}.resource", str(entry.get("fullUrl") or "")))
    return raws


def resources_from_ndjson(text: str) -> list[RawResource]:
    """One resource per non-blank line (FHIR Bulk Data NDJSON)."""
    raws: list[RawResource] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number}", line[:40], f"is not valid JSON: {error}") from None
        raws.extend(resources_from_document(data, f"line {number}"))
    return raws


def load_fhir_json(text: str, knowledge: Knowledge) -> list[LoadedCase]:
    """One case per patient from a FHIR JSON Bundle (collection, searchset, transaction, batch) or resource."""
    return cases_from_resources(resources_from_json(text), knowledge)


def load_fhir_ndjson(text: str, knowledge: Knowledge) -> list[LoadedCase]:
    """One case per patient from FHIR NDJSON."""
    return cases_from_resources(resources_from_ndjson(text), knowledge)


def parse_resource(raw: RawResource) -> Resource:
    """Validate one resource with its FHIR model; the error names where it was and what is wrong."""
    require_fhir_resources()
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource
    from pydantic import ValidationError

    resource_type = raw.data.get("resourceType")
    try:
        model = get_fhir_model_class(str(resource_type))
    except KeyError:
        raise InputError(f"{raw.where}.resourceType", resource_type, "is not a FHIR R4 resource type") from None
    if not issubclass(model, Resource):
        raise InputError(f"{raw.where}.resourceType", resource_type, "is a FHIR data type, not a resource")
    try:
        resource = model.model_validate(raw.data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"] if part != "__root__")
        field = f"{raw.where}.{location}" if location else raw.where
        raise InputError(field, first.get("input"), f"is not valid FHIR R4: {first['msg']}") from None
    if not isinstance(resource, Resource):  # pragma: no cover - model_validate returns an instance of `model`
        raise InputError(raw.where, resource_type, "is not a FHIR resource")
    return resource


def cases_from_resources(
    raws: Iterable[RawResource],
    knowledge: Knowledge,
    *,
    conditions_searched: bool = False,
    medications_searched: bool = False,
) -> list[LoadedCase]:
    """Group resources by patient and build one case each.

    `conditions_searched` / `medications_searched` say that the input is the full answer of a search for the
    patient's conditions / medications, so that finding none means "none" rather than "not provided".
    """
    parsed = [(raw, parse_resource(raw)) for raw in raws]
    index = PatientIndex()
    aliases: dict[str, str] = {}
    for raw, resource in parsed:
        if resource.get_resource_type() == "Patient":
            key = resource.id or raw.full_url or raw.where
            for alias in (resource.id, raw.full_url, f"Patient/{resource.id}" if resource.id else ""):
                if alias:
                    aliases[alias] = key
            records = index.get(key)
            records.guard(_read_patient, resource, raw, records)
    unattributed: list[str] = []
    reader = _Reader(knowledge, index, aliases)
    for raw, resource in parsed:
        resource_type = resource.get_resource_type()
        if resource_type == "Patient":
            continue
        name = _name(resource, raw)
        if resource_type not in ("Observation", "Condition", "MedicationStatement", "MedicationRequest"):
            owner = reader.owner(getattr(resource, "subject", None) or getattr(resource, "patient", None), name)
            message = f"{name} was not used: sigmd does not read {resource_type} resources"
            if owner is None:
                unattributed.append(message)
            else:
                owner.warnings.append(message)
            continue
        reader.read(resource, raw, name)
    for key in index.patient_keys():
        records = index.get(key)
        if conditions_searched and records.conditions is None:
            records.conditions = []
        if medications_searched and records.medications is None:
            records.medications = []
    for message in unattributed:
        index.warn_all(message)
    return index.loaded_cases()


def _name(resource: Resource, raw: RawResource) -> str:
    resource_type = resource.get_resource_type()
    return f"{resource_type}/{resource.id}" if resource.id else f"{resource_type} at {raw.where}"


def _read_patient(resource: Resource, raw: RawResource, records: PatientRecords) -> None:
    name = _name(resource, raw)
    birth = getattr(resource, "birthDate", None)
    gender = getattr(resource, "gender", None)
    if birth is None:
        raise InputError(
            f"{name}.birthDate", None, "is missing; sigmd needs the birth date to match age-specific intervals"
        )
    birth_date = _as_date(birth)
    if birth_date is None:
        raise InputError(f"{name}.birthDate", str(birth), "is a partial date; sigmd needs the full birth date")
    sex = _SEX.get(str(gender or "unknown"))
    if sex is None:
        raise InputError(f"{name}.gender", gender, "is not one of male, female, other, unknown")
    if gender is None:
        records.warnings.append(f"{name}.gender is missing; sex is taken as unknown")
    records.set_demographics(sex, birth_date, name)


class _Reader:
    """Reads the non-Patient resources into the patient records they belong to."""

    def __init__(self, knowledge: Knowledge, index: PatientIndex, aliases: dict[str, str]) -> None:
        self.knowledge = knowledge
        self.index = index
        self.aliases = aliases

    def owner(self, reference: Reference | None, name: str) -> PatientRecords | None:
        """The patient a resource belongs to (subject `Patient/x`, a bare id, a fullUrl or an absolute URL)."""
        text = (reference.reference or "") if reference is not None else ""
        if not text:
            return None
        if text in self.aliases:
            return self.index.get(self.aliases[text])
        if "/" in text and "Patient/" not in text:
            raise InputError(f"{name}.subject", text, "does not refer to a Patient")
        key = text.rsplit("Patient/", 1)[-1].split("/_history", 1)[0]
        return self.index.get(self.aliases.get(key, key))

    def read(self, resource: Resource, raw: RawResource, name: str) -> None:
        subject = getattr(resource, "subject", None)
        records = self.owner(subject, name)
        if records is None:
            keys = self.index.patient_keys()
            if len(keys) != 1:
                raise InputError(
                    f"{name}.subject", None, "is missing and the input holds more than one patient or none"
                )
            records = self.index.get(keys[0])
            records.warnings.append(f"{name} has no subject; it was assigned to the only patient in the input")
        records.guard(self._read_into, resource, name, records)

    def _read_into(self, resource: Resource, name: str, records: PatientRecords) -> None:
        from fhir.resources.R4B.observation import Observation

        if isinstance(resource, Observation):
            self._observation(resource, name, records)
        elif resource.get_resource_type() == "Condition":
            self._coded(resource, name, records, "code", "conditions")
        else:
            self._coded(resource, name, records, "medicationCodeableConcept", "medications")

    def _observation(self, obs: Observation, name: str, records: PatientRecords) -> None:
        analyte = self._analyte(obs.code)
        if analyte is None:
            codes = (
                ", ".join(f"{c.system or '(no system)'}|{c.code}" for c in obs.code.coding or [])
                or obs.code.text
                or "(no code)"
            )
            records.warnings.append(
                f"{name} was not used: its code {codes} is not an immunoglobulin LOINC code that sigmd reads"
            )
            return
        if obs.status in NOT_USED_STATUSES:
            records.warnings.append(f"{name} ({analyte}) was not used: its status is {obs.status}")
            return
        quantity = obs.valueQuantity
        if quantity is None:
            present = next(
                (k for k in type(obs).model_fields if k.startswith("value") and getattr(obs, k) is not None), ""
            )
            reason = f"it has {present} instead of valueQuantity" if present else "it has no value"
            if obs.dataAbsentReason is not None:
                reason += f" (dataAbsentReason: {_concept_text(obs.dataAbsentReason)})"
            records.warnings.append(f"{name} ({analyte}) was not used: {reason}")
            return
        collected = _effective(obs)
        if collected is None:
            records.warnings.append(f"{name} ({analyte}) was not used: it has no full effective date")
            return
        if obs.status in ("preliminary", "unknown"):
            records.warnings.append(f"{name} ({analyte}) has status {obs.status}; it was used")
        field = f"{name}.valueQuantity"
        if quantity.value is None:
            raise InputError(f"{field}.value", None, "is missing")
        unit = quantity.code if quantity.system == UCUM and quantity.code else (quantity.unit or quantity.code)
        if not unit:
            raise InputError(f"{field}.unit", None, "is missing; sigmd needs the unit of every result")
        low, high, range_unit, range_text = _reference_range(obs)
        result, warnings = build_result(
            analyte=analyte,
            value=str(quantity.value),
            unit=unit,
            collected=collected,
            knowledge=self.knowledge,
            field=field,
            comparator=quantity.comparator,
            range_low=low,
            range_high=high,
            range_unit=range_unit,
            range_text=range_text,
            origin=name,
        )
        records.results.append(result)
        records.warnings.extend(warnings)

    def _analyte(self, concept: CodeableConcept) -> Analyte | None:
        for coding in concept.coding or []:
            if coding.system == LOINC and coding.code in self.knowledge.loinc:
                return self.knowledge.loinc[coding.code]
        return None

    def _coded(self, resource: Resource, name: str, records: PatientRecords, element: str, kind: str) -> None:
        status = str(getattr(resource, "status", "") or "")
        verification = _concept_code(getattr(resource, "verificationStatus", None))
        if status in ("entered-in-error", "cancelled", "not-taken") or verification in ("entered-in-error", "refuted"):
            records.warnings.append(f"{name} was not used: its status is {status or verification}")
            return
        concept: CodeableConcept | None = getattr(resource, element, None)
        if concept is None and kind == "medications":
            concept = _contained_medication(resource, name, records)
        if concept is None:
            records.warnings.append(f"{name} was not used: it has no code or text")
            return
        record = coded_text(concept, name, records.warnings)
        if kind == "conditions":
            records.add_condition(record)
        else:
            records.add_medication(record)


def coded_text(concept: CodeableConcept, origin: str, warnings: list[str]) -> CodedText:
    """A condition or medication as core `CodedText`; codes in systems sigmd does not match on are listed."""
    codings = list(concept.coding or [])
    text = concept.text or next((c.display for c in codings if c.display), "") or ""
    known = next((c for c in codings if c.code and SYSTEM_ALIASES.get(c.system or "")), None)
    if known is not None:
        return CodedText(text=text, code=str(known.code), system=SYSTEM_ALIASES[str(known.system)], origin=origin)
    if codings:
        listed = ", ".join(f"{c.system or '(no system)'}|{c.code}" for c in codings)
        using = f"only its text {text!r} is matched" if text else "it has no text, so it cannot be matched"
        warnings.append(
            f"{origin}: code {listed} is not in a system sigmd matches secondary causes on (ICD-10, ATC); {using}"
        )
    first = codings[0] if codings else None
    return CodedText(
        text=text,
        code=str(first.code or "") if first else "",
        system=str(first.system or "") if first else "",
        origin=origin,
    )


def _contained_medication(resource: Resource, name: str, records: PatientRecords) -> CodeableConcept | None:
    reference = getattr(resource, "medicationReference", None)
    target = (reference.reference or "") if reference is not None else ""
    if not target.startswith("#"):
        if target:
            records.warnings.append(
                f"{name}: medication {target} is a reference to another resource; it was not resolved"
            )
        return None
    for contained in getattr(resource, "contained", None) or []:
        if contained.get_resource_type() == "Medication" and contained.id == target[1:]:
            code: CodeableConcept | None = getattr(contained, "code", None)
            return code
    return None


def _reference_range(obs: Observation) -> tuple[str | None, str | None, str | None, str | None]:
    for rng in obs.referenceRange or []:
        if rng.low is None and rng.high is None:
            continue
        low = None if rng.low is None or rng.low.value is None else str(rng.low.value)
        high = None if rng.high is None or rng.high.value is None else str(rng.high.value)
        bound = rng.low if rng.low is not None else rng.high
        unit = None
        if bound is not None:
            unit = bound.code if bound.system == UCUM and bound.code else (bound.unit or bound.code)
        return low, high, unit, rng.text
    return None, None, None, None


def _effective(obs: Observation) -> date | None:
    if obs.effectiveDateTime is not None:
        return _as_date(obs.effectiveDateTime)
    if obs.effectivePeriod is not None and obs.effectivePeriod.start is not None:
        return _as_date(obs.effectivePeriod.start)
    if obs.effectiveInstant is not None:
        return _as_date(obs.effectiveInstant)
    return None


def _concept_text(concept: CodeableConcept) -> str:
    return concept.text or ", ".join(str(c.display or c.code) for c in concept.coding or []) or "(no text)"


def _concept_code(concept: CodeableConcept | None) -> str:
    if concept is None:
        return ""
    return next((str(c.code) for c in concept.coding or [] if c.code), "")


def _as_date(value: object) -> date | None:
    """A full date from a FHIR date/dateTime/instant; partial dates (`2016-03`) give None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) >= 10:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None
