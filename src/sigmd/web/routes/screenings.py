"""Screening a lab extract in the background, its status page and its outputs."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from sigmd.core.knowledge import Knowledge
from sigmd.web.forms import one
from sigmd.web.jobs import OUTPUTS, Jobs, UploadError
from sigmd.web.security import ClinicianPost, Reader
from sigmd.web.templating import flash, render, text_fields

router = APIRouter()
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
"""The screening report is self-contained HTML with inline styles and SVG, and no scripts."""


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def _context(request: Request, fields: dict[str, list[str]], errors: dict[str, str]) -> dict[str, Any]:
    knowledge: Knowledge = request.app.state.knowledge
    values = {name: items[0] for name, items in fields.items() if items}
    values.setdefault("profile", knowledge.default_profile)
    values.setdefault("reference_set", knowledge.default_reference_set)
    return {
        "jobs": _jobs(request).list(),
        "values": values,
        "errors": errors,
        "profiles": [(p.id, f"{p.name} ({p.id})") for p in knowledge.profiles.values()],
        "reference_sets": [(r.id, f"{r.name} ({r.id})") for r in knowledge.reference_sets.values()],
        "today": request.app.state.settings.today().isoformat(),
    }


@router.get("/screenings")
def screenings(request: Request, user: Reader) -> Response:
    return render(request, "screenings.html", _context(request, {}, {}))


@router.post("/screenings")
def start_screening(request: Request, posted: ClinicianPost) -> Response:
    user, form = posted
    knowledge: Knowledge = request.app.state.knowledge
    fields = text_fields(form)
    upload = form.get("file")
    profile, reference = one(fields, "profile") or None, one(fields, "reference_set") or None
    errors: dict[str, str] = {}
    if profile is not None and profile not in knowledge.profiles:
        errors["profile"] = f"Rule profile: {profile!r} is not a profile (known: {', '.join(knowledge.profiles)})"
    if reference is not None and reference not in knowledge.reference_sets:
        known = ", ".join(knowledge.reference_sets)
        errors["reference_set"] = f"Reference set: {reference!r} is not a reference set (known: {known})"
    try:
        as_of = date.fromisoformat(one(fields, "as_of")) if one(fields, "as_of") else request.app.state.settings.today()
    except ValueError:
        errors["as_of"] = f"Assess as of: {one(fields, 'as_of')!r} is not an ISO date (YYYY-MM-DD)"
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "Lab extract: choose a .csv or .parquet file"
    if not errors and isinstance(upload, UploadFile):
        try:
            job = _jobs(request).start(
                upload.file,
                upload.filename or "",
                actor=user.username,
                as_of=as_of,
                profile=profile,
                reference=reference,
                max_bytes=request.app.state.settings.max_upload_bytes,
            )
        except UploadError as error:
            errors["file"] = str(error)
        else:
            flash(request, "Screening started.")  # the file name may name a patient: not in the cookie
            return RedirectResponse(f"/screenings/{job.id}", status_code=303)
    return render(request, "screenings.html", _context(request, fields, errors), status_code=400)


@router.get("/screenings/{job_id}")
def screening(request: Request, job_id: str, user: Reader) -> Response:
    job = _jobs(request).get(job_id)
    if job is None:
        raise HTTPException(404, f"screening job: {job_id!r} does not exist")
    return render(request, "screening_job.html", {"job": job})


@router.get("/screenings/{job_id}/{name}")
def screening_output(request: Request, job_id: str, name: str, user: Reader) -> Response:
    path = _jobs(request).output(job_id, name)
    if path is None:
        raise HTTPException(404, f"screening job {job_id!r} has no {name!r} (yet)")
    if name == "report.html":
        return FileResponse(path, media_type=OUTPUTS[name], headers={"Content-Security-Policy": REPORT_POLICY})
    return FileResponse(path, media_type=OUTPUTS[name], filename=f"screening-{job_id}-{name}")
