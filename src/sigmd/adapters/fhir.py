"""FHIR R4 input: Bundles and NDJSON holding Patient, Observation, Condition and medications (MedicationStatement,
MedicationRequest, MedicationAdministration).

Which models. Every resource is validated with the `fhir.resources` package, module `fhir.resources.R4B`
(FHIR 4.3.0), installed by `pip install 'sigmd[fhir]'`. The releases of `fhir.resources` whose default models
are R4 4.0.1 are 6.0-6.4; they are built on pydantic 1, which cannot be installed beside pydantic 2 (a
dependency of sigmd's CLI through Typer, and of FastAPI). Releases 6.5 and later default to R4B (6.5) or R5
(7.x, 8.x) and ship R4B, not R4, as a sub-package. R4B was published as a backwards-compatible update of R4:
the resources read and written here (Patient, Observation, Condition, MedicationStatement, MedicationRequest,
MedicationAdministration, Bundle, RiskAssessment, DetectedIssue, ServiceRequest) have the same elements and
cardinalities in 4.0.1 and 4.3.0, so R4 documents validate against these models and what they produce is valid R4.

What is read: Patient.birthDate and gender; Observations coded with a LOINC code that sigmd knows
(IgM 2472-9, IgG 2465-3, IgA 2458-8, IgG1-4 2466-1/2467-9/2468-7/2469-5) with valueQuantity (comparator,
UCUM unit), referenceRange (the laboratory's own range) and effectiveDateTime / effectivePeriod.start /
effectiveInstant; Condition, MedicationStatement, MedicationRequest and MedicationAdministration (how infusions
such as immunoglobulin replacement are often recorded) as coded text. Everything else that is
present is listed as not used, with the reason: Observations in the case's input notes (skipped, replaced,
ignored), other resources in its warnings.

Observation status (`observation_status_use`):
final, amended and corrected results are used; an amended or corrected result replaces the result of the same
id, or of the same analyte and the same effective time, that it corrects; entered-in-error and cancelled are
ignored as withdrawn (and so is every copy with the same id); preliminary, registered and unknown are skipped,
because a result that may still change must not carry a verdict.

Whose records these are. A resource belongs to the patient its subject names: a reference (`Patient/p1`, the
Patient's fullUrl, an absolute URL on the server the Patient's fullUrl names) or an identifier. An absolute
reference to a server other than the one the Patient's fullUrl names, or to any server when the Patient has no
absolute fullUrl, may be another person with the same id: the patient is refused rather than merged. A subject
identifier must match one of the Patient's identifiers (system and value; the value alone when the subject's
identifier has no system), as the CDS Hooks service refuses data not shown to be the patient's in context; one
that matches none names someone else and is refused. A result collected after Patient.deceasedDateTime is
skipped (`fhir_observations`).

Population screening reads Bulk NDJSON with the same `ResourceReader` (`sigmd.adapters.fhir_bulk`).

One refusal boundary. Whatever the JSON parser, `fhir.resources`, pydantic or Python raise while reading a
resource becomes an `InputError` naming where it was. A resource that cannot be read rejects the patient it
belongs to (its subject, or the only patient in the input), never the whole file: the other patients are
read. A resource that belongs to no patient, in an input with several, is refused on its own (a LoadedCase
without a case). The whole input is refused only when it is not a FHIR document at all. Limits on size,
nesting and numbers: `sigmd.adapters.limits`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sigmd.adapters.fhir_observations import (
    LOINC,
    OBSERVATION_STATUS_USE,
    UCUM,
    ObservationReader,
    StatusUse,
    as_date,
    observation_status_use,
)
from sigmd.adapters.grouping import LoadedCase, PatientIndex, PatientRecords
from sigmd.adapters.limits import check_size, parse_json
from sigmd.adapters.results import check_date
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import CodedText, InputNoteKind, Sex
from sigmd.errors import InputError

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.resource import Resource

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
READ_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
)
"""Resource types sigmd reads; other FHIR resource types are listed as not used without being validated."""
WITHDRAWN_STATUSES = ("entered-in-error", "cancelled")
"""Statuses of a Condition or medication that withdraw it (the record is ignored)."""
NOT_HAPPENED_STATUSES = ("not-taken", "not-done", "refuted")
"""Statuses that say the condition or medication is not the patient's (not taken, not given, refuted): skipped."""
__all__ = [
    "ATC",
    "ICD10",
    "ICD10_CM",
    "LOINC",
    "OBSERVATION_STATUS_USE",
    "UCUM",
    "RawResource",
    "StatusUse",
    "cases_from_resources",
    "load_fhir_json",
    "load_fhir_ndjson",
    "observation_status_use",
    "resources_from_document",
    "resources_from_json",
    "resources_from_ndjson",
]
_SEX = {"female": Sex.FEMALE, "male": Sex.MALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def require_fhir_resources() -> None:
    """Fail with the extra to install when `fhir.resources` is missing."""
    try:
        import fhir.resources.R4B  # noqa: F401
    except ImportError as error:
        raise ImportError("FHIR support needs the fhir extra: pip install 'sigmd[fhir]'") from error


@dataclass(frozen=True)
class RawResource:
    """A resource as JSON with where it was found (`entry[3]`, `line 7`) and its Bundle fullUrl.

    `error` is set for an entry or line that could not be read as a resource at all; it is refused on its own.
    """

    data: dict[str, Any]
    where: str
    full_url: str = ""
    error: InputError | None = None
    text: str = ""
    """For a line that could not be read, its text (to find the patients it names)."""

    @property
    def resource_type(self) -> str:
        value = self.data.get("resourceType")
        return value if isinstance(value, str) else ""

    def reference(self, *elements: str) -> str:
        """The `reference` of the first of these elements that has one (`subject`, `patient`), else ''."""
        for element in elements:
            value = self.data.get(element)
            if isinstance(value, dict) and isinstance(value.get("reference"), str):
                return str(value["reference"])
        return ""


def resources_from_json(text: str) -> list[RawResource]:
    """The resources of a FHIR JSON document: a Bundle's entries, or the one resource it is."""
    return resources_from_document(parse_json(text))


def resources_from_document(document: Any, where: str = "") -> list[RawResource]:
    """The resources of a parsed FHIR JSON value (a Bundle or a single resource).

    A value that is not a FHIR resource, or a Bundle sigmd does not read, raises InputError; an entry that is
    not a resource comes back as a RawResource with its `error`, so that the other entries are still read.
    """
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InputError(where or "(file)", _short(document), "is not a FHIR resource (no resourceType)")
    if document["resourceType"] != "Bundle":
        return [RawResource(document, where or str(_short(document["resourceType"])))]
    prefix = f"{where}." if where else ""
    bundle_type = document.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise InputError(
            f"{prefix}Bundle.type", _short(bundle_type), f"is not read by sigmd (use one of {', '.join(BUNDLE_TYPES)})"
        )
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise InputError(f"{prefix}Bundle.entry", _short(entries), "is not a list of entries")
    return [_entry(entry, f"{prefix}Bundle.entry[{index}]") for index, entry in enumerate(entries)]


def _entry(entry: Any, place: str) -> RawResource:
    if not isinstance(entry, dict):
        return _refused(place, InputError(place, _short(entry), "is not a Bundle entry object"))
    resource = entry.get("resource")
    full_url = entry.get("fullUrl")
    full_url = full_url if isinstance(full_url, str) else ""
    if resource is None:
        request = entry.get("request")
        asked = f"{request.get('method', '')} {request.get('url', '')}".strip() if isinstance(request, dict) else ""
        return _refused(place, InputError(place, _short(asked), "has no resource"), full_url)
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        where = f"{place}.resource"
        return _refused(
            where, InputError(where, _short(resource), "is not a FHIR resource (no resourceType)"), full_url
        )
    return RawResource(resource, f"{place}.resource", full_url)


def _refused(where: str, error: InputError, full_url: str = "") -> RawResource:
    return RawResource({}, where, full_url, error)


def resources_from_ndjson(text: str) -> list[RawResource]:
    """One resource per non-blank line (FHIR Bulk Data NDJSON); a line that is not a resource is refused alone.

    Lines end with LF, CRLF or a bare CR (JSON text cannot hold a raw line break, so this never splits a
    resource); other Unicode line separators may appear inside JSON strings and do not end a line.
    """
    check_size(len(text))
    raws: list[RawResource] = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            raws.extend(resources_from_document(parse_json(line, where), where))
        except InputError as error:
            raws.append(RawResource({}, where, "", error, line))
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
    if raw.error is not None:
        raise raw.error
    model = _model_class(raw)
    _check_contained(raw)
    from pydantic import ValidationError

    try:
        return model.model_validate(raw.data)
    except ValidationError as error:
        try:
            first = error.errors()[0]
        except Exception:  # pydantic can fail while rendering its own message
            raise InputError(raw.where, raw.resource_type, "is not valid FHIR R4") from None
        location = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
        field = f"{raw.where}.{location}" if location else raw.where
        raise InputError(field, _short(first.get("input")), f"is not valid FHIR R4: {first['msg']}") from None
    except RecursionError:
        raise InputError(raw.where, raw.resource_type, "nests too deeply to be validated") from None
    except Exception as error:  # the refusal boundary: whatever the models raise is refused here
        raise InputError(
            raw.where, raw.resource_type, f"could not be validated as FHIR R4 ({type(error).__name__}: {error})"[:300]
        ) from None


def _model_class(raw: RawResource) -> type[Resource]:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    resource_type = raw.resource_type
    field = f"{raw.where}.resourceType"
    if not _TYPE_NAME.match(resource_type):
        raise InputError(field, _short(raw.data.get("resourceType")), "is not a FHIR R4 resource type")
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        raise InputError(field, resource_type, "is not a FHIR R4 resource type") from None
    if not isinstance(model, type) or not issubclass(model, Resource):
        raise InputError(field, resource_type, "is a FHIR data type, not a resource")
    return model


def _check_contained(raw: RawResource) -> None:
    """Contained resources need a resource type too (the models raise KeyError or TypeError on an unknown one)."""
    contained = raw.data.get("contained")
    if not isinstance(contained, list):
        return
    for index, item in enumerate(contained):
        if isinstance(item, dict) and not is_resource_type(str(item.get("resourceType"))):
            field = f"{raw.where}.contained[{index}].resourceType"
            raise InputError(field, _short(item.get("resourceType")), "is not a FHIR R4 resource type")


def is_resource_type(name: str) -> bool:
    """Is `name` a FHIR R4 resource type (as opposed to a data type or an unknown name)?"""
    try:
        _model_class(RawResource({"resourceType": name}, ""))
    except InputError:
        return False
    return True


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
    A resource that cannot be read rejects its patient; one that belongs to no patient is refused on its own
    (or, when the input holds one patient, rejects that patient: sigmd does not guess it was irrelevant).
    """
    require_fhir_resources()
    raws = list(raws)
    index = PatientIndex()
    aliases: dict[str, str] = {}
    loose: list[InputError] = []
    for raw in raws:
        if raw.error is None and raw.resource_type == "Patient":
            read_patient(raw, index, aliases)
    reader = ResourceReader(knowledge, index, aliases)
    for raw in raws:
        if raw.error is None and raw.resource_type == "Specimen":
            reader.add_specimen(raw)
    unattributed: list[str] = []
    for raw in raws:
        if raw.error is None and raw.resource_type == "Patient":
            continue
        try:
            reader.read(raw, unattributed)
        except InputError as error:
            named = _patients_named(raw.text, aliases) if raw.error is not None else []
            for key in named:
                index.get(key).errors.append(error)
            if not named:
                loose.append(error)
    reader.observations.finish(index)
    for key in index.patient_keys():
        records = index.get(key)
        if conditions_searched and records.conditions is None:
            records.conditions = []
        if medications_searched and records.medications is None:
            records.medications = []
    for message in unattributed:
        index.warn_all(message)
    keys = index.patient_keys()
    if len(keys) == 1:
        index.get(keys[0]).errors.extend(loose)
        loose = []
    for unread in loose:
        if unread.field.startswith("line "):
            index.warn_all(
                f"{unread.field} of the input could not be read and names no patient sigmd can tell; it may hold one "
                "of this patient's results, which the verdict then misses"
            )
    return [*index.loaded_cases(), *(LoadedCase(f"({error.field})", None, error) for error in loose)]


def _patients_named(text: str, aliases: dict[str, str]) -> list[str]:
    """The patients (keys) whose reference (`Patient/p1`, a fullUrl) appears in the text of a line that could not be
    read: that line may be one of their results, so it refuses them rather than standing alone."""
    found = []
    for alias, key in aliases.items():
        reference = alias if "/" in alias else f"Patient/{alias}"
        if key not in found and re.search(rf"{re.escape(reference)}(?![A-Za-z0-9.\-])", text):
            found.append(key)
    return found


def read_patient(raw: RawResource, index: PatientIndex, aliases: dict[str, str]) -> None:
    """Read a Patient's sex and birth date into its records; what cannot be read is an error of that patient."""
    raw_id = raw.data.get("id")
    patient_id = raw_id if isinstance(raw_id, str) and raw_id else ""
    key = patient_id or raw.full_url or raw.where
    for alias in (patient_id, raw.full_url, f"Patient/{patient_id}" if patient_id else ""):
        if alias:
            aliases[alias] = key
    records = index.get(key)
    _note_identifiers(raw, records)
    base = raw.full_url.rpartition("Patient/")[0] if raw.full_url else ""
    if base.startswith(("http://", "https://")):
        entry = raw.where.removesuffix(".resource")
        records.named_at(base, f"{entry}.fullUrl", f"{entry}.fullUrl", _short(raw.full_url))
    try:
        resource = parse_resource(raw)
        records.guard(_read_patient, resource, raw, records)
        _note_death(resource, raw, records)
    except InputError as error:
        records.errors.append(error)
    except Exception as error:  # the refusal boundary
        records.errors.append(_unexpected(raw.where, raw.resource_type, error))


def _note_identifiers(raw: RawResource, records: PatientRecords) -> None:
    identifiers = raw.data.get("identifier")
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str) and identifier["value"]:
            system = identifier.get("system")
            records.identifiers.append((system if isinstance(system, str) else "", identifier["value"]))


_PARTIAL_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2}))?$")


def _note_death(resource: Resource, raw: RawResource, records: PatientRecords) -> None:
    """Patient.deceasedDateTime as the last day it can mean (`2020` is read as 2020-12-31), for `fhir_observations`
    to skip results collected after it."""
    value = getattr(resource, "deceasedDateTime", None)
    if value is None:
        return
    died = as_date(value)
    partial = _PARTIAL_DATE.match(str(value))
    if died is None and partial is not None:
        year, month = int(partial.group(1)), int(partial.group(2) or 12)
        if 1 <= month <= 12:
            died = date(year, month, calendar.monthrange(year, month)[1])
    if died is not None:
        earlier = records.deceased
        if earlier is None or died < earlier[0]:
            records.deceased = (died, f"{_name(resource, raw)}.deceasedDateTime")


def _unexpected(where: str, value: object, error: Exception) -> InputError:
    return InputError(where, _short(value), f"could not be read ({type(error).__name__}: {error})"[:300])


def _name(resource: Resource, raw: RawResource) -> str:
    resource_type = resource.get_resource_type()
    return f"{resource_type}/{resource.id}" if resource.id else f"{resource_type} at {raw.where}"


def resource_name(raw: RawResource) -> str:
    """A resource as reasons name it: `Observation/m1`, or `Observation at line 7` when it has no id."""
    raw_id = raw.data.get("id")
    if raw.resource_type and isinstance(raw_id, str) and raw_id:
        return f"{raw.resource_type}/{raw_id}"
    return f"{raw.resource_type or 'resource'} at {raw.where}"


def _short(value: object, length: int = 60) -> object:
    """A value as named in an error: scalars as they are, long text and containers cut short."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= length else text[:length] + "..."


def _read_patient(resource: Resource, raw: RawResource, records: PatientRecords) -> None:
    name = _name(resource, raw)
    birth = getattr(resource, "birthDate", None)
    gender = getattr(resource, "gender", None)
    if birth is None:
        raise InputError(
            f"{name}.birthDate", None, "is missing; sigmd needs the birth date to match age-specific intervals"
        )
    birth_date = as_date(birth)
    if birth_date is None:
        raise InputError(f"{name}.birthDate", str(birth), "is a partial date; sigmd needs the full birth date")
    check_date(birth_date, f"{name}.birthDate")
    sex = _SEX.get(str(gender or "unknown"))
    if sex is None:
        raise InputError(f"{name}.gender", gender, "is not one of male, female, other, unknown")
    if gender is None:
        records.warnings.append(f"{name}.gender is missing; sex is taken as unknown")
    records.set_demographics(sex, birth_date, name)


class ResourceReader:
    """Reads the non-Patient resources into the patient records they belong to (Bundles, NDJSON, Bulk exports)."""

    def __init__(self, knowledge: Knowledge, index: PatientIndex, aliases: dict[str, str]) -> None:
        self.knowledge = knowledge
        self.index = index
        self.aliases = aliases
        self.observations = ObservationReader(knowledge, lambda key: index.get(key).deceased)

    def add_specimen(self, raw: RawResource) -> None:
        """Make a Specimen of the input known to the Observations that refer to it (`Specimen/s1`, its fullUrl)."""
        raw_id = raw.data.get("id")
        for alias in (f"Specimen/{raw_id}" if isinstance(raw_id, str) and raw_id else "", raw.full_url):
            if alias:
                self.observations.specimens[alias] = raw.data

    def owner(self, text: str, name: str) -> PatientRecords | None:
        """The patient a resource belongs to (subject `Patient/x`, a bare id, a fullUrl or an absolute URL)."""
        if not text:
            return None
        if text in self.aliases:
            return self.index.get(self.aliases[text])
        if "/" in text and "Patient/" not in text:
            raise InputError(f"{name}.subject", _short(text), "does not refer to a Patient")
        base, _, rest = text.rpartition("Patient/")
        key = rest.split("/_history", 1)[0]
        if not key:
            raise InputError(f"{name}.subject", _short(text), "does not name a Patient")
        records = self.index.get(self.aliases.get(key, key))
        if base.startswith(("http://", "https://")):
            if records.server:  # set only by the Patient's own fullUrl: the Patients are read first
                records.named_at(base, name, f"{name}.subject", _short(text))
            else:
                patient = records.demographics_origin or f"patient {records.key}"
                records.errors.append(
                    InputError(
                        f"{name}.subject",
                        _short(text),
                        f"names this patient at {base}, but {patient} has no fullUrl naming its server; "
                        "sigmd cannot tell whether they are the same patient",
                    )
                )
        return records

    def read(self, raw: RawResource, unattributed: list[str]) -> None:
        """Read one resource into its patient; raises InputError only when it belongs to no patient."""
        if raw.error is not None:
            raise raw.error
        name = resource_name(raw)
        resource_type = raw.resource_type
        if resource_type not in READ_TYPES:
            owner = self.owner(raw.reference("subject", "patient"), name)
            if not is_resource_type(resource_type):
                error = InputError(f"{raw.where}.resourceType", _short(resource_type), "is not a FHIR R4 resource type")
                if owner is None:
                    raise error
                owner.errors.append(error)
                return
            message = f"{name} was not used: sigmd does not read {resource_type} resources"
            if resource_type == "Specimen":
                message = f"{name} was not used on its own: sigmd reads a Specimen only as an Observation's specimen"
            if owner is None:
                unattributed.append(message)
            else:
                owner.warnings.append(message)
            return
        self.read_into(raw, name, self.records_for(raw, name))

    def records_for(self, raw: RawResource, name: str) -> PatientRecords:
        """The records of the patient a read resource belongs to: its subject, or the only patient in the input.

        Raises InputError when it has no subject and the input holds more than one patient or none.
        """
        records = self.owner(raw.reference("subject"), name)
        subject = raw.data.get("subject")
        if isinstance(subject, dict) and subject.get("identifier") is not None:
            return self._by_identifier(subject["identifier"], records, name)
        if records is None:
            keys = self.index.patient_keys()
            if len(keys) != 1:
                raise InputError(
                    f"{name}.subject", None, "is missing and the input holds more than one patient or none"
                )
            records = self.index.get(keys[0])
            records.warnings.append(f"{name} has no subject; it was assigned to the only patient in the input")
        return records

    def _by_identifier(self, identifier: Any, records: PatientRecords | None, name: str) -> PatientRecords:
        """The patient a subject identifier names: among the patients of the input (or the one its reference names),
        the one with that identifier. One that matches none names another person and is refused (as CDS Hooks
        refuses data not shown to be the patient's); so is one that matches several."""
        field_name = f"{name}.subject.identifier"
        value = identifier.get("value") if isinstance(identifier, dict) else None
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if not isinstance(value, str) or not value or not isinstance(system, str | None):
            raise InputError(field_name, _short(identifier), "is not an identifier with a value, so it names no one")
        shown = f"{system}|{value}" if system else value
        keys = [records.key] if records is not None else self.index.patient_keys()
        known = {key: self.index.get(key).identifiers for key in keys}
        if records is not None and not known[records.key]:
            return records  # the reference names the patient, who lists no identifier to check it against
        matching = [key for key, ids in known.items() if any(_same_identifier(system, value, one) for one in ids)]
        if len(matching) == 1:
            return self.index.get(matching[0])
        whose = "the Patient its reference names" if records is not None else "any Patient in the input"
        if matching:
            raise InputError(field_name, _short(shown), "matches more than one Patient in the input")
        raise InputError(
            field_name,
            _short(shown),
            f"matches no identifier of {whose}, so it names someone else; sigmd does not use it for this patient",
        )

    def read_into(self, raw: RawResource, name: str, records: PatientRecords) -> None:
        """Validate one resource and read it into `records`; whatever cannot be read is an error of that patient."""
        try:
            resource = parse_resource(raw)
            records.guard(self._read_into, resource, _name(resource, raw), records, raw.where)
        except InputError as error:
            records.errors.append(error)
        except Exception as error:  # the refusal boundary: one bad resource rejects its patient only
            records.errors.append(_unexpected(name, raw.resource_type, error))

    def _read_into(self, resource: Resource, name: str, records: PatientRecords, where: str) -> None:
        from fhir.resources.R4B.observation import Observation

        if isinstance(resource, Observation):
            self.observations.read(resource, name, records, where)
        elif resource.get_resource_type() == "Condition":
            self._coded(resource, name, records, "code", "conditions")
        else:
            self._coded(resource, name, records, "medicationCodeableConcept", "medications")

    def _coded(self, resource: Resource, name: str, records: PatientRecords, element: str, kind: str) -> None:
        status = str(getattr(resource, "status", "") or "")
        verification = _concept_code(getattr(resource, "verificationStatus", None))
        stated = status if status in (*WITHDRAWN_STATUSES, *NOT_HAPPENED_STATUSES) else verification
        if stated in (*WITHDRAWN_STATUSES, *NOT_HAPPENED_STATUSES):
            withdrawn = stated in WITHDRAWN_STATUSES
            note = InputNoteKind.IGNORED if withdrawn else InputNoteKind.SKIPPED
            records.note(note, name, f"its status is {stated}")
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


def _same_identifier(system: str | None, value: str, patient_identifier: tuple[str, str]) -> bool:
    """Does a subject identifier name this Patient identifier: the same system and value, or the same value when the
    subject's identifier has no system?"""
    patient_system, patient_value = patient_identifier
    return value == patient_value and (not system or system == patient_system)


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


def _concept_code(concept: CodeableConcept | None) -> str:
    if concept is None:
        return ""
    return next((str(c.code) for c in concept.coding or [] if c.code), "")
