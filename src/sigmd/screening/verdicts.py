"""Per-patient verdicts: the core's cases, facts and diagnoses for the candidates the engine found."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sigmd.adapters.results import build_result
from sigmd.core.assessment import AssessmentError, CaseFacts, Findings, case_facts
from sigmd.core.course import blinding_windows
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case, CodedText, LabResult, Patient, Sex
from sigmd.core.secondary import match_secondary_causes
from sigmd.errors import InputError

PREFILTER_REASON = (
    "screening pre-filter: every IgM, IgG and IgA result is plainly at or above its age-matched limit, "
    "so the core's verdict is normal without assessing the patient"
)
CANDIDATE_COLUMNS = (
    "row_no",
    "patient_id",
    "sex",
    "birth",
    "collected",
    "analyte",
    "value",
    "unit",
    "comparator",
    "ref_low",
    "ref_high",
)


@dataclass(frozen=True)
class Verdict:
    patient_id: str
    label: str
    certainty: str
    reasons: str
    path: str
    """`core` when `assess()` gave the verdict, `setwise` when the engine judged the patient's rows and the core's
    `decide` their statuses, `prefilter` when the engine showed the patient is plainly normal."""
    criteria: tuple[tuple[str, str], ...] = ()
    """(criterion id, outcome) for every criterion of the profile and the form criterion."""


@dataclass(frozen=True)
class Rejected:
    row_no: int
    reason: str


@dataclass(frozen=True)
class PatientRecords:
    conditions: tuple[CodedText, ...]
    medications: tuple[CodedText, ...]


def cases(
    rows: Iterable[Mapping[str, Any]],
    knowledge: Knowledge,
    records: Mapping[str, PatientRecords] | None,
    rejected: list[Rejected],
) -> Iterator[tuple[str, Case, list[int]]]:
    """Group candidate rows (sorted by patient) into core cases, building each result as the core does.

    A row the core refuses is added to `rejected`; `records` (conditions and medications) is None when
    the input says nothing about them.
    """
    current: str | None = None
    patient: Patient | None = None
    results: list[LabResult] = []
    warnings: list[str] = []
    row_nos: list[int] = []
    for row in rows:
        pid = str(row["patient_id"])
        if pid != current:
            if current is not None and patient is not None:
                yield current, _case(current, patient, results, warnings, records), row_nos
            current, patient, results, warnings, row_nos = pid, Patient(Sex(row["sex"]), row["birth"]), [], [], []
        try:
            result, notes = build_result(
                analyte=Analyte(row["analyte"]),
                value=row["value"],
                unit=row["unit"],
                collected=row["collected"],
                knowledge=knowledge,
                field=f"row {row['row_no']}",
                comparator=row["comparator"],
                range_low=row["ref_low"],
                range_high=row["ref_high"],
            )
        except InputError as error:
            rejected.append(Rejected(int(row["row_no"]), str(error)))
            continue
        results.append(result)
        warnings.extend(notes)
        row_nos.append(int(row["row_no"]))
    if current is not None and patient is not None:
        yield current, _case(current, patient, results, warnings, records), row_nos


def _case(
    pid: str,
    patient: Patient,
    results: list[LabResult],
    warnings: list[str],
    records: Mapping[str, PatientRecords] | None,
) -> Case:
    if records is None:
        return Case(patient, tuple(results), warnings=tuple(warnings))
    found = records.get(pid, PatientRecords((), ()))
    return Case(patient, tuple(results), found.conditions, found.medications, warnings=tuple(warnings))


@dataclass(frozen=True)
class RecordFlags:
    """What a patient's conditions and medications change in the core's verdict, as the core reads them."""

    blinded: bool
    """Immunoglobulin replacement or anti-CD20 therapy is on record. Screening records carry no dates, so the
    core's window covers every result: it sets aside all the patient's IgG and IgG-subclass results."""
    secondary_named: bool
    """A record counts for a secondary cause (the criterion "secondary causes excluded" is then not met)."""


def record_flags(records: Mapping[str, PatientRecords] | None, knowledge: Knowledge) -> dict[str, RecordFlags]:
    """`RecordFlags` for every patient on record, from the core's own matcher and treatment windows.

    Each distinct record (code, system and text) is read once by the core and the answer reused for every
    patient who has it; the patient in the probe case is a placeholder, since neither rule reads the patient.
    """
    if records is None:
        return {}
    probe = Patient(Sex.UNKNOWN, date(2000, 1, 1))
    counts: dict[tuple[str, str, str], bool] = {}
    blinds: dict[tuple[str, str, str], bool] = {}

    def key(record: CodedText) -> tuple[str, str, str]:
        return (record.code, record.system, record.text)

    def named(record: CodedText) -> bool:
        if key(record) not in counts:
            matches = match_secondary_causes((record,), knowledge.secondary_causes, knowledge.secondary_context)
            counts[key(record)] = any(m.counts for m in matches)
        return counts[key(record)]

    def blinding(record: CodedText) -> bool:
        if key(record) not in blinds:
            windows = blinding_windows(Case(probe, (), (), (record,)), knowledge)
            if any(w.start is not None or w.end is not None for w in windows):
                raise AssertionError("screening records carry no treatment dates, so every window is open-ended")
            blinds[key(record)] = bool(windows)
        return blinds[key(record)]

    return {
        pid: RecordFlags(
            blinded=any(blinding(m) for m in found.medications),
            secondary_named=any(named(r) for r in (*found.conditions, *found.medications)),
        )
        for pid, found in records.items()
    }


def facts_of(case: Case, knowledge: Knowledge, as_of: date) -> CaseFacts | str:
    """What every assessment of the case shares, or the reason the core cannot assess it."""
    try:
        return case_facts(case, knowledge, as_of=as_of)
    except AssessmentError as error:
        return str(error)


def verdict(pid: str, found: Findings) -> Verdict:
    diagnosis = found.diagnosis
    reasons = " | ".join((diagnosis.summary, *diagnosis.reasons))
    criteria = tuple((c.id.value, c.outcome.value) for c in found.criteria)
    return Verdict(pid, diagnosis.label.value, diagnosis.certainty.value, reasons, "core", criteria)
