"""Merging a newly recorded case into what the registry holds for the patient (pure: no database).

A patient is stored as demographics, result rows and a *context*: the rest of the case as a case-document
fragment (`case_to_dict` without `patient` and `results`). Rebuilding reads them back through the same
`case_from_dict` as any case file, so a stored patient is interpreted exactly like an imported one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from sigmd.adapters.case_json import case_from_dict, case_to_dict
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case, CodedText, LabResult, Patient, Sex
from sigmd.errors import InputError
from sigmd.registry.api import RegistryError

ESTIMATE_TOLERANCE_DAYS = 366
"""An estimated birth date agrees with another birth date within this many days (ages are given in years)."""

ResultKey = tuple[str, date, float, str, str]


def merge_patient(stored: Patient, new: Patient, patient_id: str) -> tuple[Patient, dict[str, Any]]:
    """The patient's demographics after a new record, and what changed; contradictions raise RegistryError.

    An unknown sex is completed by a known one; an exact birth date replaces an estimated one; an estimate never
    replaces what is stored. Two exact birth dates, or two known sexes, that differ are a contradiction.
    """
    changes: dict[str, Any] = {}
    sex = stored.sex
    if new.sex is not Sex.UNKNOWN and new.sex is not stored.sex:
        if stored.sex is not Sex.UNKNOWN:
            raise RegistryError(
                f"patient.sex: {new.sex.value!r} contradicts the stored sex {stored.sex.value!r} of patient {patient_id!r}"
            )
        sex = new.sex
        changes["sex"] = [stored.sex.value, new.sex.value]
    birth_date, estimated = stored.birth_date, stored.birth_date_is_estimated
    if new.birth_date != stored.birth_date:
        apart = abs((new.birth_date - stored.birth_date).days)
        if not (stored.birth_date_is_estimated or new.birth_date_is_estimated) or apart > ESTIMATE_TOLERANCE_DAYS:
            raise RegistryError(
                f"patient.birth_date: {new.birth_date.isoformat()!r} contradicts the stored birth date "
                f"{stored.birth_date.isoformat()}{' (estimated)' if stored.birth_date_is_estimated else ''} "
                f"of patient {patient_id!r}"
            )
    if stored.birth_date_is_estimated and not new.birth_date_is_estimated:
        birth_date, estimated = new.birth_date, False
        changes["birth_date"] = [stored.birth_date.isoformat() + " (estimated)", new.birth_date.isoformat()]
    return Patient(sex=sex, birth_date=birth_date, birth_date_is_estimated=estimated), changes


def result_key(result: LabResult) -> ResultKey:
    """What makes two results the same: analyte, date, value (mg/dL), comparator and reported unit."""
    quantity = result.quantity
    return (
        result.analyte.value,
        result.collected,
        quantity.value,
        quantity.comparator.value,
        result.reported_unit.strip(),
    )


def new_results(stored: list[LabResult], incoming: tuple[LabResult, ...]) -> tuple[list[LabResult], int]:
    """The incoming results not already stored (nor repeated within the input), and how many were duplicates."""
    seen = {result_key(r) for r in stored}
    added: list[LabResult] = []
    for result in incoming:
        key = result_key(result)
        if key not in seen:
            seen.add(key)
            added.append(result)
    return added, len(incoming) - len(added)


def split_context(case: Case) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The case minus demographics and results, as a case-document fragment, and the coded records' origins."""
    document = case_to_dict(case)
    context = {k: v for k, v in document.items() if k not in ("patient", "results")}
    origins = {key: [r.origin for r in records] for key, records in _coded(case).items()}
    return context, origins


def merge_context(
    stored: dict[str, Any], stored_origins: dict[str, list[str]], new: dict[str, Any], new_origins: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, list[str]], list[str]]:
    """Whatever the new case states replaces what is stored; returns the context, origins and the keys changed."""
    changed = sorted(key for key, value in new.items() if stored.get(key) != value)
    origins = {**stored_origins, **{k: v for k, v in new_origins.items() if k in new}}
    return {**stored, **new}, origins, changed


def rebuild_case(
    patient: Patient,
    results: list[LabResult],
    context: dict[str, Any],
    origins: dict[str, list[str]],
    knowledge: Knowledge,
    patient_id: str,
) -> Case:
    """The stored patient as a Case, read back through `case_from_dict`; stored data that no longer reads raise."""
    if not results:
        raise RegistryError(f"results: patient {patient_id!r} has no results; sigmd needs at least one IgM result")
    document = case_to_dict(Case(patient=patient, results=tuple(sorted(results, key=_chronological))))
    document.update(context)
    try:
        case = case_from_dict(document, knowledge)
    except InputError as error:
        raise RegistryError(f"patient {patient_id!r}: {error}") from None
    return replace(
        case,
        conditions=_with_origins(case.conditions, origins.get("conditions")),
        medications=_with_origins(case.medications, origins.get("medications")),
    )


def _with_origins(records: tuple[CodedText, ...] | None, known: list[str] | None) -> tuple[CodedText, ...] | None:
    """Records with the origins they had when imported (`Condition/c1`), which the case format has no field for."""
    if records is None or known is None or len(known) != len(records):
        return records
    return tuple(replace(r, origin=o) for r, o in zip(records, known, strict=True))


def _chronological(result: LabResult) -> tuple[date, str, str]:
    return (result.collected, result.analyte.value, result.origin)


def _coded(case: Case) -> dict[str, tuple[CodedText, ...]]:
    found = {"conditions": case.conditions, "medications": case.medications}
    return {key: records for key, records in found.items() if records is not None}
