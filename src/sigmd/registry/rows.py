"""Conversions between table rows and the core's and the registry's types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sigmd.core.model import Analyte, Comparator, LabRange, LabResult, Quantity, Sex
from sigmd.core.model import Patient as CorePatient
from sigmd.registry.api import PatientSummary, RegistryError, StoredAssessment
from sigmd.registry.models import Assessment as AssessmentRow
from sigmd.registry.models import Patient as PatientRow
from sigmd.registry.models import Result
from sigmd.render.machine import ReportDocument

SUMMARY_COLUMNS = (
    AssessmentRow.label,
    AssessmentRow.certainty,
    AssessmentRow.created_at,
    AssessmentRow.next_follow_up,
    AssessmentRow.profile_id,
    AssessmentRow.reference_set_id,
)


def core_patient(row: PatientRow) -> CorePatient:
    return CorePatient(sex=Sex(row.sex), birth_date=row.birth_date, birth_date_is_estimated=row.birth_date_is_estimated)


def demographics(row: PatientRow) -> dict[str, Any]:
    return {
        "sex": row.sex,
        "birth_date": row.birth_date.isoformat(),
        "birth_date_is_estimated": row.birth_date_is_estimated,
        "display_name": row.display_name,
    }


def lab_result(row: Result) -> LabResult:
    has_range = row.range_low_mg_dl is not None or row.range_high_mg_dl is not None
    return LabResult(
        analyte=Analyte(row.analyte),
        collected=row.collected,
        quantity=Quantity(row.value_mg_dl, Comparator(row.comparator)),
        reported_value=row.reported_value,
        reported_unit=row.reported_unit,
        lab_range=LabRange(row.range_low_mg_dl, row.range_high_mg_dl, row.range_text or "") if has_range else None,
        origin=row.origin,
    )


def result_row(result: LabResult, source: str, actor: str, now: datetime) -> Result:
    rng = result.lab_range
    return Result(
        analyte=result.analyte.value,
        collected=result.collected,
        value_mg_dl=result.quantity.value,
        comparator=result.quantity.comparator.value,
        reported_value=result.reported_value,
        reported_unit=result.reported_unit,
        range_low_mg_dl=None if rng is None else rng.low_mg_dl,
        range_high_mg_dl=None if rng is None else rng.high_mg_dl,
        range_text=None if rng is None else rng.text,
        origin=result.origin,
        source=source,
        recorded_at=now,
        recorded_by=actor,
    )


def result_summary(result: LabResult) -> dict[str, str]:
    return {
        "analyte": result.analyte.value,
        "date": result.collected.isoformat(),
        "reported": f"{result.reported_value} {result.reported_unit}",
        "comparator": result.quantity.comparator.value,
        "origin": result.origin,
    }


def latest_columns(latest: StoredAssessment | None) -> tuple[Any, ...]:
    """The `SUMMARY_COLUMNS` of a stored assessment (all None without one)."""
    if latest is None:
        return (None,) * len(SUMMARY_COLUMNS)
    return (
        latest.label,
        latest.certainty,
        latest.created_at,
        latest.next_follow_up,
        latest.profile_id,
        latest.reference_set_id,
    )


def summary(
    row: PatientRow,
    label: str | None,
    certainty: str | None,
    last_assessed: datetime | None,
    next_follow_up: date | None,
    profile_id: str | None,
    reference_set_id: str | None,
) -> PatientSummary:
    return PatientSummary(
        patient_id=row.patient_id,
        display_name=row.display_name,
        sex=row.sex,
        birth_date=row.birth_date,
        label=label,
        certainty=certainty,
        last_assessed=last_assessed,
        next_follow_up=next_follow_up,
        profile_id=profile_id,
        reference_set_id=reference_set_id,
        ref=row.public_id,
    )


def stored(row: AssessmentRow, patient_id: str, patient_ref: str = "") -> StoredAssessment:
    """A stored assessment with its report read back from the stored machine output."""
    try:
        report = ReportDocument.from_json(row.report)
    except ValueError as error:
        raise RegistryError(f"assessment {row.id}: the stored report cannot be read ({error})") from None
    return StoredAssessment(
        id=row.id,
        patient_id=patient_id,
        created_at=row.created_at,
        actor=row.actor,
        as_of=row.as_of,
        profile_id=row.profile_id,
        reference_set_id=row.reference_set_id,
        content_version=row.content_version,
        label=row.label,
        certainty=row.certainty,
        next_follow_up=row.next_follow_up,
        report=report,
        source=row.source,
        patient_ref=patient_ref,
    )
