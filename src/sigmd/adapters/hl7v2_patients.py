"""Who an HL7 v2 patient is: PID-3 with its assigning authority, the name (PID-5) and the date of death (PID-29).

sigmd defaults, chosen to fail safe (one patient's results must never reach another's verdict); the reasoning is in
`sigmd.adapters.hl7v2`'s docstring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sigmd.adapters.results import check_date
from sigmd.core.model import InputNote, InputNoteKind, LabResult
from sigmd.errors import InputError

IMPRECISE_DATE = re.compile(r"^[0-9]{4}(?:[0-9]{2})?(?:[+-][0-9]{4})?$")
"""An HL7 DTM given only to the year or month: valid, but not a collection day."""


@dataclass(frozen=True)
class PatientId:
    """A patient as PID-3 names them: the identifier (PID-3.1) and, when given, its assigning authority (PID-3.4)."""

    value: str
    authority: str = ""

    @property
    def written(self) -> str:
        """As PID-3 writes it: `SYN200^^^SYNTHHOSP`, or the identifier alone when no authority is given."""
        return f"{self.value}^^^{self.authority}" if self.authority else self.value


def authority(namespace: str = "", universal: str = "") -> str:
    """PID-3.4 (HD): its namespace ID, else its universal ID; '' when neither is given."""
    return namespace.strip() or universal.strip()


class PatientKeys:
    """Each patient's key in an input, from PID-3.1 and its assigning authority (PID-3.4).

    The same identifier from two authorities may be two people (like one id at two FHIR servers): they are two
    patients, keyed as written (`SYN200^^^SYNTHHOSP`, `SYN200^^^OTHERHOSP`). An identifier that comes with one
    authority only, or with none, is keyed by PID-3.1 alone, as before, and a message that gives no authority is
    that patient's. Where the input names two authorities, a message without one could be either patient's: it
    stands as its own patient and is refused (`ambiguous`).
    """

    def __init__(self, patients: list[PatientId]) -> None:
        self.authorities: dict[str, list[str]] = {}
        for patient in patients:
            known = self.authorities.setdefault(patient.value, [])
            if patient.authority and patient.authority not in known:
                known.append(patient.authority)
        self.keys: dict[PatientId, str] = {}
        taken: dict[str, str] = {}
        for patient in patients:
            if patient in self.keys:
                continue
            key = patient.written if len(self.authorities[patient.value]) > 1 else patient.value
            unique, number = key, 1
            # an identifier written like another's key (`A^^^X` in PID-3.1) stays apart from it
            while taken.setdefault(unique, patient.value) != patient.value:
                number += 1
                unique = f"{key} #{number}"
            self.keys[patient] = unique

    def __getitem__(self, patient: PatientId) -> str:
        return self.keys[patient]

    def ambiguous(self, patient: PatientId, place: str) -> InputError | None:
        """The refusal of an identifier without authority that the input also names at two authorities or more."""
        authorities = self.authorities[patient.value]
        if patient.authority or len(authorities) < 2:
            return None
        return InputError(
            f"{place} PID-3",
            patient.value,
            f"has no assigning authority (PID-3.4), and the input names this identifier at {', '.join(authorities)}; "
            "sigmd cannot tell which of those patients it is",
        )


@dataclass
class Person:
    """Who one patient is, beyond sex and birth date: the name (PID-5) and date of death (PID-29) the messages
    give. A second name that disagrees refuses the patient; results dated after death are not used."""

    key: str
    family: tuple[str, str, str] | None = None
    """The surname as compared (case and spaces folded), the name as written, and where it was given."""
    given: tuple[str, str, str] | None = None
    death: Death | None = None

    def add(self, name: tuple[str, str, str, str] | None, death: Death | None) -> None:
        """Take one message's name (surname and given name as compared, as written, where) and date of death; a name
        that disagrees with an earlier one is an error."""
        if name is not None:
            family, given, written, origin = name
            for known, new in ((self.family, family), (self.given, given)):
                if known is not None and new and new != known[0]:
                    raise InputError(
                        origin,
                        written,
                        f"disagrees with the name in {known[2]} for the same patient {self.key} (PID-3); sigmd "
                        "cannot tell whether they are the same person (the other name is not repeated here, so that "
                        "a problem text never carries a name)",
                    )
            if self.family is None and family:
                self.family = (family, written, origin)
            if self.given is None and given:
                self.given = (given, written, origin)
        if death is not None and (self.death is None or death.last_day < self.death.last_day):
            self.death = death

    def drop_after_death(self, results: list[LabResult], notes: list[InputNote]) -> list[LabResult]:
        """The results collected on or before the date of death; each later one is listed as skipped."""
        death = self.death
        if death is None:
            return results
        kept = []
        for result in results:
            if result.collected <= death.last_day:
                kept.append(result)
                continue
            notes.append(
                InputNote(
                    InputNoteKind.SKIPPED,
                    result.origin.split(" (lab flag")[0],
                    f"{result.analyte}: collected on {result.collected}, after the date of death {death.written!r} "
                    f"given in {death.origin}; a result dated after death cannot be this patient's",
                )
            )
        return kept


@dataclass(frozen=True)
class Death:
    """PID-29: the last day the date of death allows (a date given to the month or year allows its last day)."""

    last_day: date
    written: str
    origin: str


def folded(name: str) -> str:
    """A name part as compared: case folded, runs of spaces made one."""
    return " ".join(name.split()).casefold()


def last_day(text: str, field_name: str) -> date:
    """The last day an HL7 date (DTM, given to the day, the month or the year) allows; other text is refused."""
    day = hl7_date(text)
    if day is None and IMPRECISE_DATE.match(text):
        year, month = int(text[:4]), int(text[4:6]) if text[4:6].isdigit() else 12
        if 1 <= month <= 12 and 1 <= year < 9999:
            day = (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)
    if day is None:
        raise InputError(field_name, text, "is not a date (YYYYMMDD, or YYYYMM or YYYY)")
    return check_date(day, field_name, text)


def hl7_date(text: str) -> date | None:
    digits = text.strip()[:8]
    if len(digits) != 8 or not digits.isdigit() or not digits.isascii():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
