"""Reading the registry: start page, patient list, patient page, exports, the follow-up list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from sigmd.core.knowledge import Knowledge
from sigmd.registry import PatientDetail, RegistryError, StoredAssessment
from sigmd.render.machine import ReportDocument
from sigmd.web import charts
from sigmd.web.security import AdminPost, Reader, registry_of
from sigmd.web.templating import flash, render

router = APIRouter()
DUE_WINDOWS = (30, 90, 180, 365)
ALL_UPCOMING = 3660
"""The follow-up view's default: every planned review in the next ten years, so a patient saved today is listed."""
DUE_SOON_DAYS = 30
"""A review within this many days is marked due soon (sigmd default: one month's notice to book it)."""


def figures(report: ReportDocument, knowledge: Knowledge) -> list[charts.Figure]:
    """The charts of an assessment report (those that have data)."""
    found = [charts.igm_for_age(report, knowledge), charts.timeline(report)]
    return [figure for figure in found if figure is not None]


def assessment_context(request: Request, report: ReportDocument) -> dict[str, Any]:
    """What `_assessment.html` needs: the report, its charts, and the site's display unit for values and limits."""
    return {
        "report": report,
        "figures": figures(report, request.app.state.knowledge),
        "management": report.management,
        "unit": request.app.state.settings.display_unit,
    }


def _as_of(request: Request, text: str | None) -> date:
    if not text:
        today: date = request.app.state.settings.today()
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"as_of: {text!r} is not an ISO date (YYYY-MM-DD)") from None


@router.get("/")
def home(request: Request, user: Reader) -> Response:
    registry = registry_of(request)
    within = DUE_WINDOWS[0]
    context = {
        "patient_count": len(registry.list_patients()),
        "due_count": len(registry.due_for_follow_up(_as_of(request, None), within_days=within)),
        "within": within,
    }
    return render(request, "home.html", context)


@router.get("/patients")
def patients(request: Request, user: Reader) -> Response:
    return render(request, "patients.html", {"patients": registry_of(request).list_patients()})


def _patient_id(request: Request, ref: str) -> str:
    """The identifier behind a page reference (404 if none; the reference is not echoed)."""
    try:
        return registry_of(request).patient_id_for(ref)
    except RegistryError:
        raise HTTPException(404, "There is no such patient in the registry.") from None


def _detail(request: Request, ref: str) -> PatientDetail:
    patient_id = _patient_id(request, ref)
    try:
        return registry_of(request).patient(patient_id)
    except RegistryError as error:
        # The patient is there: what failed is reading what is stored (a saved report that is not output version 1).
        raise HTTPException(500, str(error)) from None


@router.get("/patients/{ref}")
def patient(request: Request, user: Reader, ref: str, assessment: int | None = None) -> Response:
    detail = _detail(request, ref)
    stored: list[StoredAssessment] = detail.assessments
    shown = stored[0] if stored else None
    if assessment is not None:
        shown = next((a for a in stored if a.id == assessment), None)
        if shown is None:
            raise HTTPException(404, f"assessment: {assessment!r} is not an assessment of this patient")
    context: dict[str, Any] = {
        "summary": detail.summary,
        "assessments": stored,
        "shown": shown,
        "result_count": len(detail.case.results),
        "audit": registry_of(request).audit(patient_id=detail.summary.patient_id),
    }
    if shown is not None:
        context.update(assessment_context(request, shown.report))
    return render(request, "patient.html", context)


def _download(document: dict[str, Any], name: str) -> JSONResponse:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "patient"
    return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@router.get("/patients/{ref}/case.json")
def export_case(request: Request, ref: str, user: Reader) -> Response:
    patient_id = _patient_id(request, ref)
    return _export(registry_of(request).export_case_json, patient_id, f"{patient_id}.case.json")


@router.get("/patients/{ref}/fhir.json")
def export_fhir(request: Request, ref: str, user: Reader) -> Response:
    patient_id = _patient_id(request, ref)
    return _export(registry_of(request).export_fhir, patient_id, f"{patient_id}.fhir.json")


def _export(export: Callable[[str], dict[str, Any]], patient_id: str, name: str) -> Response:
    """A registry export as a download; a patient with nothing to export is a 404."""
    try:
        document = export(patient_id)
    except RegistryError as error:
        raise HTTPException(404, str(error)) from None
    return _download(document, name)


@router.post("/patients/{ref}/erase")
def erase(request: Request, ref: str, posted: AdminPost) -> Response:
    """Erase the patient (admin only, after ticking the confirmation): everything stored about them goes."""
    user, form = posted
    patient_id = _patient_id(request, ref)
    if form.get("confirm") != "erase":
        raise HTTPException(400, "confirm: tick the box to confirm that this patient is to be erased")
    receipt = registry_of(request).erase_patient(patient_id, actor=user.username)
    flash(
        request,
        f"Patient erased ({receipt.results} results, {receipt.assessments} assessments); "
        f"audit reference {receipt.reference}.",
    )
    return RedirectResponse("/patients", status_code=303)


@router.get("/follow-up")
def follow_up(request: Request, user: Reader, within: int = ALL_UPCOMING, as_of: str | None = None) -> Response:
    """Every patient with a planned review, soonest first, overdue and due-soon marked (a shorter window on request)."""
    if not 0 <= within <= ALL_UPCOMING:
        raise HTTPException(400, f"within: {within!r} days is not between 0 and {ALL_UPCOMING}")
    day = _as_of(request, as_of)
    entries = registry_of(request).due_for_follow_up(day, within_days=within)
    choices = sorted({*DUE_WINDOWS, within, ALL_UPCOMING})
    context = {
        "entries": entries,
        "within": within,
        "as_of": day,
        "choices": choices,
        "all_upcoming": ALL_UPCOMING,
        "due_soon_days": DUE_SOON_DAYS,
    }
    return render(request, "due.html", context)
