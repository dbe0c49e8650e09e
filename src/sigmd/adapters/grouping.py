"""Gathering one patient's records from a multi-patient input (FHIR Bundle, NDJSON, HL7 v2 batch) into a Case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import ParamSpec

from sigmd.core.model import Case, CodedText, InputNote, InputNoteKind, LabResult, Patient, Sex
from sigmd.errors import InputError

P = ParamSpec("P")


def check_after_birth(result: LabResult, birth_date: date) -> None:
    """A result collected before the birth date is an error of the input."""
    if result.collected < birth_date:
        raise InputError(
            f"{result.origin}.date", result.collected.isoformat(), f"is before the birth date {birth_date}"
        )


@dataclass(frozen=True)
class LoadedCase:
    """One patient read from an input file: the case, or the error that kept it from being built.

    A file with several patients gives one LoadedCase each, so that one patient's bad record rejects that
    patient only, with the reason, and never silently.
    """

    patient_key: str
    case: Case | None
    error: InputError | None = None

    def require(self) -> Case:
        """The case, or the input error that prevented it."""
        if self.case is None:
            raise self.error or InputError(f"patient {self.patient_key}", self.patient_key, "could not be read")
        return self.case


@dataclass
class PatientRecords:
    """What one input says about one patient, collected before the Case is built."""

    key: str
    sex: Sex | None = None
    birth_date: date | None = None
    demographics_origin: str = ""
    results: list[LabResult] = field(default_factory=list)
    conditions: list[CodedText] | None = None
    medications: list[CodedText] | None = None
    warnings: list[str] = field(default_factory=list)
    input_notes: list[InputNote] = field(default_factory=list)
    """Records read but not passed on as results (skipped, replaced by a correction, ignored as withdrawn)."""
    errors: list[InputError] = field(default_factory=list)
    server: str = ""
    """The FHIR server base this patient was named at (an absolute fullUrl or reference), once one was seen."""
    server_origin: str = ""
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    """(system or '', value) of each identifier the patient's own record gives (FHIR Patient.identifier), against
    which a reference by identifier is checked."""
    deceased: tuple[date, str] | None = None
    """The last day the recorded date of death can mean (a partial date's last day), and where it was given: a
    result collected after it cannot be this patient's."""

    def named_at(self, base: str, origin: str, field_name: str, reference: object) -> None:
        """An absolute reference (or fullUrl) names this patient at server `base`. Two servers naming one id may be two
        people, so the second is an error of this patient rather than a merge."""
        if not self.server:
            self.server, self.server_origin = base, origin
        elif base != self.server:
            self.errors.append(
                InputError(
                    field_name,
                    reference,
                    f"names this patient at {base}, but {self.server_origin} names it at {self.server}; "
                    "sigmd cannot tell whether they are the same patient",
                )
            )

    def guard(self, read: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
        """Run one record's reader; an input error rejects this patient (with the reason), not the whole file."""
        try:
            read(*args, **kwargs)
        except InputError as error:
            self.errors.append(error)

    def note(self, kind: InputNoteKind, origin: str, reason: str) -> None:
        """List a record that is not passed on as given, with the reason."""
        self.input_notes.append(InputNote(kind, origin, reason))

    def set_demographics(self, sex: Sex, birth_date: date, origin: str) -> None:
        """Record sex and birth date; a second source that disagrees is an error, not a silent choice."""
        if self.birth_date is not None and (self.birth_date != birth_date or self.sex is not sex):
            raise InputError(
                f"{origin}",
                f"{sex.value}, born {birth_date}",
                f"disagrees with {self.demographics_origin} ({self.sex}, born {self.birth_date}) for the same patient",
            )
        self.sex, self.birth_date, self.demographics_origin = sex, birth_date, origin

    def add_condition(self, record: CodedText) -> None:
        self.conditions = [*(self.conditions or []), record]

    def add_medication(self, record: CodedText) -> None:
        self.medications = [*(self.medications or []), record]

    def to_loaded(self) -> LoadedCase:
        """The patient's case, or the first error that prevents it."""
        try:
            if self.errors:
                raise self.errors[0]
            return LoadedCase(self.key, self.to_case())
        except InputError as error:
            return LoadedCase(self.key, None, error)

    def demographics(self) -> tuple[Sex, date]:
        """Sex and birth date; a patient without them cannot be interpreted."""
        if self.birth_date is None or self.sex is None:
            raise InputError(
                f"patient {self.key}",
                self.key,
                "has no birth date and sex in the input (a Patient resource with birthDate, or PID-7 and PID-8)",
            )
        return self.sex, self.birth_date

    def to_case(self) -> Case:
        """The core's Case; a patient without birth date and sex cannot be interpreted."""
        sex, birth_date = self.demographics()
        for result in self.results:
            check_after_birth(result, birth_date)
        return Case(
            patient=Patient(sex=sex, birth_date=birth_date),
            results=tuple(sorted(self.results, key=lambda r: (r.collected, r.analyte.value, r.origin))),
            conditions=None if self.conditions is None else tuple(self.conditions),
            medications=None if self.medications is None else tuple(self.medications),
            warnings=tuple(dict.fromkeys(self.warnings)),
            input_notes=tuple(dict.fromkeys(self.input_notes)),
        )


class PatientIndex:
    """Patients in input order, created on first mention."""

    def __init__(self) -> None:
        self._records: dict[str, PatientRecords] = {}

    def get(self, key: str) -> PatientRecords:
        if key not in self._records:
            self._records[key] = PatientRecords(key)
        return self._records[key]

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def patient_keys(self) -> list[str]:
        return list(self._records)

    def warn_all(self, message: str) -> None:
        """A note about a record that belongs to no one patient goes on every case, so it is seen."""
        for records in self._records.values():
            records.warnings.append(message)

    def loaded_cases(self) -> list[LoadedCase]:
        return [records.to_loaded() for records in self._records.values()]
