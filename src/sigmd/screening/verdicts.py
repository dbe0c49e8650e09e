"""Per-patient verdicts: the core's cases, facts and diagnoses for the candidates the engine found."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sigmd.adapters.results import build_result
from sigmd.core.assessment import AssessmentError, CaseFacts, Findings, case_facts
from sigmd.core.course import blinding_windows, igm_course
from sigmd.core.interpret import stated_z_score
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case, CodedText, LabResult, Patient, Sex
from sigmd.core.secondary import match_secondary_causes
from sigmd.core.timeline import by_analyte, first_low, persistence
from sigmd.errors import InputError

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
    igm_course: str = ""
    """The core's `IgmCourse` of the patient's IgM results."""
    funnel_step: str | None = None
    """The last ESID funnel step reached (`funnel.PATIENT_STEPS`), None when no IgM result is low."""
    latest_igm_date: date | None = None
    latest_igm_mg_dl: float | None = None
    latest_igm_limit_mg_dl: float | None = None
    """The low limit the latest IgM was judged against (age-matched, the laboratory's range or a cut-off)."""
    latest_igm_z: float | None = None
    """`stated_z_score` of the latest IgM: None unless the reference set states its intervals are central 95%."""
    index_date: date | None = None
    """The date of the first low IgM result."""


def igm_summary(found: Findings, knowledge: Knowledge) -> dict[str, Any]:
    """The IgM fields of a `Verdict` from the core's findings: course, latest result, its limit and z, index date."""
    series = by_analyte(found.interpretations, Analyte.IGM)
    state = persistence(series, found.facts.case.patient, knowledge.thresholds.persistence)
    last = series[-1] if series else None
    first = first_low(series)
    return {
        "igm_course": igm_course(series, state).value,
        "latest_igm_date": None if last is None else last.result.collected,
        "latest_igm_mg_dl": None if last is None else last.result.quantity.value,
        "latest_igm_limit_mg_dl": None if last is None or last.low_limit is None else last.low_limit.value_mg_dl,
        "latest_igm_z": None if last is None else stated_z_score(last, found.reference_set),
        "index_date": None if first is None else first.result.collected,
    }


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
            result, notes = row_result(row, Analyte(row["analyte"]), knowledge)
        except InputError as error:
            rejected.append(Rejected(int(row["row_no"]), str(error)))
            continue
        results.append(result)
        warnings.extend(notes)
        row_nos.append(int(row["row_no"]))
    if current is not None and patient is not None:
        yield current, _case(current, patient, results, warnings, records), row_nos


def row_result(row: Mapping[str, Any], analyte: Analyte, knowledge: Knowledge) -> tuple[LabResult, list[str]]:
    """The core's result (and its notes) from a row as the input wrote it: value, unit, comparator and range are
    the input's own text, which `build_result` parses; raises `InputError` naming the row."""
    return build_result(
        analyte=analyte,
        value=row["value"],
        unit=row["unit"],
        collected=row["collected"],
        knowledge=knowledge,
        field=f"row {row['row_no']}",
        comparator=row["comparator"],
        range_low=row["ref_low"],
        range_high=row["ref_high"],
    )


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


def verdict(pid: str, found: Findings, knowledge: Knowledge, funnel_step: str | None) -> Verdict:
    diagnosis = found.diagnosis
    reasons = " | ".join((diagnosis.summary, *diagnosis.reasons))
    criteria = tuple((c.id.value, c.outcome.value) for c in found.criteria)
    return Verdict(
        pid,
        diagnosis.label.value,
        diagnosis.certainty.value,
        reasons,
        "core",
        criteria,
        funnel_step=funnel_step,
        **igm_summary(found, knowledge),
    )
