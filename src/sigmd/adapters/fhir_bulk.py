"""FHIR Bulk Data NDJSON for population screening, read through the FHIR reader of `sigmd assess`.

Each line is read as it comes (a Bulk export may be large). An Observation line goes through the same
code as an Observation of a Bundle given to `sigmd assess`: validation with `fhir.resources`, its subject,
the status rule, the immunoglobulin LOINC code, effective[x], the value, comparator and unit, the laboratory
range (`fhir.ResourceReader`, `fhir_observations.ObservationReader`). Usable results are held until every line
is read, so that corrections, withdrawals and copies are settled as in a Bundle (`ObservationReader.settle`).

Condition and medication lines (`RECORD_TYPES`) are read by the same reader into their patient's records (the
conditions and medications the core matches secondary causes and treatment on), unless the screening was given
its own records table (`read_records=False`). As in `sigmd assess`, one of them that the
reader refuses (invalid FHIR, say) refuses its patient: each of that patient's Observations is rejected with
its reason, since a record that cannot be read could hide a secondary cause. One withdrawn or refuted is set
aside and counted (`records_not_used`).

An export holds every laboratory result, so an Observation coded in LOINC with no immunoglobulin code sigmd
reads (glucose, say) is not screening input: it is counted by code (`BulkReader.other_codes`), not validated and
not a row. A line of another FHIR R4 resource type (Encounter, Procedure...) is counted by type
(`other_resources`), not read and not a row. Every other line but a blank one, a Patient or a record is a row:
an Observation the FHIR reader uses is a used row; one it lists as not used (skipped, replaced, ignored) or
refuses is a rejected row, with the FHIR reader's reason and the line; any other line (not JSON, no known
resource type, a Bundle, a record that belongs to no patient) is a rejected row. A Patient line gives its
Observations their sex and birth date; a Patient the FHIR reader refuses (no birth date, an invalid gender...)
rejects its Observations with that reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from sigmd.adapters.fhir import (
    RawResource,
    ResourceReader,
    is_resource_type,
    read_patient,
    require_fhir_resources,
    resource_name,
)
from sigmd.adapters.fhir_observations import LOINC, Settled
from sigmd.adapters.grouping import PatientIndex, PatientRecords, check_after_birth
from sigmd.adapters.limits import decode_input, parse_json
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, CodedText
from sigmd.errors import InputError

RECORD_TYPES = ("Condition", "MedicationStatement", "MedicationRequest", "MedicationAdministration")
"""The resource types read into a patient's records (conditions and medications)."""
MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BulkRow:
    """One row of a Bulk export in the long format: used when `reason` is empty, else rejected with it."""

    where: str
    """The file and line (`Observation.ndjson line 7`)."""
    reason: str = ""
    patient_id: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    collected_date: str | None = None
    loinc: str | None = None
    value: str | None = None
    unit: str | None = None
    comparator: str | None = None
    ref_low: str | None = None
    ref_high: str | None = None


def ndjson_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The numbered lines of an NDJSON file, read in chunks; LF, CRLF and a bare CR end a line (as in
    `fhir.resources_from_ndjson`)."""
    pending = b""
    number = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = pending + chunk
            cut = len(data) - 1 if data.endswith(b"\r") else len(data)  # a CR may be the first half of CRLF
            parts = _LINE_BREAK.split(data[:cut])
            pending = parts.pop() + data[cut:]
            for part in parts:
                number += 1
                yield number, part
    for part in _LINE_BREAK.split(pending) if pending else []:
        number += 1
        yield number, part


class BulkReader:
    """Reads the lines of a Bulk export; `rows` gives every row once all lines are read."""

    def __init__(self, knowledge: Knowledge, *, read_records: bool = True) -> None:
        require_fhir_resources()
        self.read_records = read_records
        """Read Condition and medication lines into the records (else count them in
        `other_resources`, as when screening has its own records table)."""
        self.knowledge = knowledge
        self.index = PatientIndex()
        self.aliases: dict[str, str] = {}
        self.reader = ResourceReader(knowledge, self.index, self.aliases)
        self.rejected: list[BulkRow] = []
        self.without_subject: list[RawResource] = []
        self.loinc_codes = {analyte: code for code, analyte in knowledge.loinc.items()}
        self.other_codes: Counter[str] = Counter()
        """Observations of other analytes by LOINC code (`other_analyte`)."""
        self.other_names: dict[str, str] = {}
        """The first name seen for each of `other_codes`."""
        self.other_resources: Counter[str] = Counter()
        """Lines of FHIR R4 resource types not read, by type."""
        self.records_not_used: Counter[str] = Counter()
        """Record lines set aside (withdrawn, refuted, no code or text), by resource type."""
        self.record_types: set[str] = set()
        """The record resource types the export holds (a line of each was read, whatever became of it)."""

    def read_file(self, path: Path) -> None:
        for number, line in ndjson_lines(path):
            if line.strip():
                self.read_line(line, f"{path.name} line {number}")

    def read_line(self, line: bytes, where: str) -> None:
        """Read one non-blank line; a rejected line is kept with its reason."""
        try:  # the same limits as every reader: UTF-8, nesting depth, number length, no NaN or overflow
            document = parse_json(decode_input(line, "line"), "line")
        except InputError as error:
            self._reject(where, str(error))
            return
        kind = document.get("resourceType") if isinstance(document, dict) else None
        if kind == "Observation":
            other = other_analyte(document, self.knowledge.loinc)
            if other is not None:
                code, name = other
                self.other_codes[code] += 1
                self.other_names.setdefault(code, name)
                return
        elif kind == "Bundle":
            self._reject(
                where, "resourceType: 'Bundle' is not read from a Bulk export, which holds one resource a line"
            )
            return
        elif (kind in RECORD_TYPES and not self.read_records) or kind not in ("Patient", *RECORD_TYPES):
            if not (isinstance(kind, str) and _is_resource_type(kind)):
                shown = repr(kind[:60]) if isinstance(kind, str) else repr(kind)[:60]
                self._reject(where, f"resourceType: {shown} is not a FHIR R4 resource type")
                return
            self.other_resources[kind] += 1
            return
        raw = RawResource(document, where)
        if kind == "Patient":
            read_patient(raw, self.index, self.aliases)
        elif raw.reference("subject"):
            self._read(raw)
        else:  # the FHIR reader gives it to the only patient of the input, known once every line is read
            self.without_subject.append(raw)

    def _reject(self, where: str, reason: str, patient_id: str | None = None) -> None:
        self.rejected.append(BulkRow(where, _located(reason, where), patient_id))

    def _read(self, raw: RawResource) -> None:
        if raw.resource_type == "Observation":
            self._observation(raw)
        else:
            self._record(raw)

    def _record(self, raw: RawResource) -> None:
        """Read one Condition or medication into its patient's records. What the FHIR reader refuses stays an error
        of the patient (which rejects the patient's Observations, as `sigmd assess` refuses the patient); one set
        aside is counted. A record that belongs to no patient is a rejected line."""
        name = resource_name(raw)
        self.record_types.add(raw.resource_type)
        try:
            records = self.reader.records_for(raw, name)
        except InputError as error:
            self._reject(raw.where, str(error))
            return
        conditions, medications = len(records.conditions or ()), len(records.medications or ())
        notes, warnings = len(records.input_notes), len(records.warnings)
        self.reader.read_into(raw, name, records)
        added = len(records.conditions or ()) > conditions or len(records.medications or ()) > medications
        if not added and (len(records.input_notes) > notes or len(records.warnings) > warnings):
            self.records_not_used[raw.resource_type] += 1
        del records.input_notes[notes:], records.warnings[warnings:]

    def _observation(self, raw: RawResource) -> None:
        """Read one Observation into its patient; what the FHIR reader lists or refuses for it rejects the line."""
        name = resource_name(raw)
        subject = raw.reference("subject").rsplit("Patient/", 1)[-1] or None
        try:
            records = self.reader.records_for(raw, name)
        except InputError as error:
            self._reject(raw.where, str(error), subject)
            return
        errors, notes = len(records.errors), len(records.input_notes)
        self.reader.read_into(raw, name, records)
        problems = [str(e) for e in records.errors[errors:]] + [n.describe() for n in records.input_notes[notes:]]
        del records.errors[errors:], records.input_notes[notes:]  # what is left are the Patient's own errors
        records.warnings.clear()
        if problems:
            self._reject(raw.where, problems[0], records.key)

    def records(self) -> Iterator[tuple[str, str, CodedText]]:
        """(patient key, `condition` or `medication`, record) for every record read; call after `rows`."""
        for key in self.index.patient_keys():
            found = self.index.get(key)
            yield from ((key, "condition", record) for record in found.conditions or ())
            yield from ((key, "medication", record) for record in found.medications or ())

    def rows(self) -> Iterator[BulkRow]:
        """Every row: rejected lines first, then each patient's Observations once corrections are settled."""
        for raw in self.without_subject:
            self._read(raw)
        yield from self.rejected
        for key, settled in self.reader.observations.settle():
            records = self.index.get(key)
            for one in settled:
                yield self._row(records, one)

    def _row(self, records: PatientRecords, one: Settled) -> BulkRow:
        held, reading, result = one.held, one.held.reading, one.held.result
        row = BulkRow(
            held.where, patient_id=records.key, collected_date=held.when, loinc=self.loinc_codes[held.analyte]
        )
        if reading is not None:
            row = replace(row, value=reading.value, unit=reading.unit, comparator=reading.comparator)
        problem = _problem(records, one)
        if problem or result is None or reading is None:  # the reader sets the result and reading, or an error
            return replace(row, reason=_located(problem or f"{held.name} could not be read", held.where))
        sex, birth_date = records.demographics()
        low, high = reading.range_low, reading.range_high
        if reading.range_unit not in (None, reading.unit) and result.lab_range is not None:
            low, high = self._in_unit(
                held.analyte, reading.unit, result.lab_range.low_mg_dl, result.lab_range.high_mg_dl
            )
        return replace(
            row,
            sex=sex.value,
            birth_date=birth_date.isoformat(),
            collected_date=result.collected.isoformat(),
            ref_low=low,
            ref_high=high,
        )

    def _in_unit(
        self, analyte: Analyte, unit: str, low: float | None, high: float | None
    ) -> tuple[str | None, str | None]:
        """A laboratory range given in another unit than the value, converted to the value's unit (the long format
        has one unit per row)."""
        factor = self.knowledge.units.find(unit).factor(analyte)
        return (None if low is None else repr(low / factor)), (None if high is None else repr(high / factor))


@lru_cache(maxsize=256)
def _is_resource_type(name: str) -> bool:
    return is_resource_type(name)


def other_analyte(observation: dict[str, Any], immunoglobulin_codes: Mapping[str, Analyte]) -> tuple[str, str] | None:
    """(LOINC code, name) of an Observation of another analyte: a coding in the LOINC system and no coding, in any
    system, with an immunoglobulin code sigmd reads. None otherwise, and whenever `code` is not the plain shape
    (the FHIR reader then judges the Observation and names what is wrong)."""
    concept = observation.get("code")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(concept, dict) or not isinstance(codings, list):
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("code"), str) for c in codings):
        return None
    if any(c["code"] in immunoglobulin_codes for c in codings):
        return None
    loinc = next((c for c in codings if c.get("system") == LOINC and c["code"].strip()), None)
    if loinc is None:
        return None
    name = next((n for n in (loinc.get("display"), concept.get("text")) if isinstance(n, str)), "")
    return loinc["code"], name


def _problem(records: PatientRecords, one: Settled) -> str:
    """Why a held Observation is not used, in the FHIR reader's words; empty when it is used."""
    if one.note is not None:
        return one.note.describe()
    error = one.conflict or one.error or (records.errors[0] if records.errors else None)
    if error is not None:  # its own error, or its Patient's
        return str(error)
    try:
        _, birth_date = records.demographics()
        if one.held.result is not None:
            check_after_birth(one.held.result, birth_date)
    except InputError as refused:
        return str(refused)
    return ""


def _located(reason: str, where: str) -> str:
    """A reason with the file and line, unless it names them already."""
    return reason if where in reason else f"{reason} ({where})"
