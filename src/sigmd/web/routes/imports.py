"""Importing files: FHIR, HL7 v2 or case JSON read and assessed for a preview, then saved; long-format CSV saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from sigmd.adapters.detect import load_cases
from sigmd.core.assessment import AssessmentError
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError
from sigmd.registry import RegistryError, UserInfo
from sigmd.render.machine import ReportDocument
from sigmd.web.forms import one
from sigmd.web.reports import build_report
from sigmd.web.routes.patients import assessment_context
from sigmd.web.security import Clinician, ClinicianPost, registry_of
from sigmd.web.templating import render, text_fields

router = APIRouter()


@dataclass(frozen=True)
class Preview:
    patient_id: str
    label: str = ""
    certainty: str = ""
    summary: str = ""
    error: str = ""


def _page(request: Request, **context: Any) -> dict[str, Any]:
    today: date = request.app.state.settings.today()
    page: dict[str, Any] = {"values": {}, "outcomes": None, "preview": None, "as_of": today.isoformat()}
    page.update(context)
    return page


@router.get("/import")
def import_page(request: Request, user: Clinician) -> Response:
    return render(request, "import.html", _page(request))


async def _upload_text(upload: UploadFile) -> str:
    data = await upload.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError("file", upload.filename, f"is not UTF-8 text (byte {error.start})") from None


def _is_long_csv(text: str, filename: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0].lower()
    return filename.lower().endswith(".csv") or ("patient_id" in first and "loinc" in first)


@router.post("/import")
async def read_import(request: Request, posted: ClinicianPost) -> Response:
    user, form = posted
    fields = text_fields(form)
    upload = form.get("file")
    text, filename, field = one(fields, "pasted"), "", "pasted"
    try:
        as_of = date.fromisoformat(one(fields, "as_of")) if one(fields, "as_of") else request.app.state.settings.today()
    except ValueError:
        return _form_error(
            request, fields, "as_of", f"Assess as of: {one(fields, 'as_of')!r} is not an ISO date (YYYY-MM-DD)"
        )
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            text, filename, field = await _upload_text(upload), upload.filename, "file"
    except InputError as error:
        return _form_error(request, fields, "file", str(error))
    if not text.strip():
        return _form_error(request, fields, "file", "File: choose a file or paste its text")
    if _is_long_csv(text, filename):
        return _save(request, user, text, filename, as_of)
    knowledge: Knowledge = request.app.state.knowledge
    try:
        loaded = load_cases(text, knowledge)
    except InputError as error:
        return _form_error(request, fields, field, str(error))
    previews: list[Preview] = []
    reports: list[ReportDocument] = []
    for item in loaded:
        try:
            report = build_report(item.require(), knowledge, as_of=as_of, patient_id=item.patient_key)
        except (InputError, AssessmentError) as error:
            previews.append(Preview(item.patient_key, error=str(error)))
            continue
        reports.append(report)
        diagnosis = report.diagnosis
        previews.append(Preview(item.patient_key, diagnosis.label, diagnosis.certainty, diagnosis.summary))
    context = _page(request, preview=previews, text=text, filename=filename, as_of=as_of.isoformat())
    context["profile_name"] = knowledge.profiles[knowledge.default_profile].name
    context["reference_name"] = knowledge.reference_sets[knowledge.default_reference_set].name
    if len(previews) == 1 and reports:
        context.update(assessment_context(request, reports[0]))
    else:
        context["report"] = None
    return render(request, "import.html", context)


def _form_error(request: Request, fields: dict[str, list[str]], field: str, message: str) -> Response:
    values = {name: items[0] for name, items in fields.items() if items}
    return render(request, "import.html", _page(request, values=values, errors={field: message}), status_code=400)


def _save(request: Request, user: UserInfo, text: str, filename: str, as_of: date) -> Response:
    try:
        outcomes = registry_of(request).import_text(text, actor=user.username, as_of=as_of, filename=filename)
    except (RegistryError, InputError) as error:
        return _form_error(request, {}, "file", str(error))
    return render(request, "import.html", _page(request, outcomes=outcomes))


@router.post("/import/save")
def save_import(request: Request, posted: ClinicianPost) -> Response:
    user, form = posted
    fields = text_fields(form)
    try:
        as_of = date.fromisoformat(one(fields, "as_of"))
    except ValueError:
        return _form_error(
            request, {}, "as_of", f"Assess as of: {one(fields, 'as_of')!r} is not an ISO date (YYYY-MM-DD)"
        )
    return _save(request, user, fields.get("text", [""])[0], one(fields, "filename"), as_of)
