"""Entering one patient's results: the form, the assessment preview, and saving to the registry."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sigmd.adapters.case_json import case_from_dict
from sigmd.adapters.limits import parse_json
from sigmd.core.assessment import AssessmentError
from sigmd.core.explain import certainty_words, label_words
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case, Sex
from sigmd.errors import InputError
from sigmd.registry import RegistryError
from sigmd.render.machine import ReportDocument
from sigmd.web.forms import GROUPS, CaseForm, Fields, load_case_form, one, read_case_form, rows_to_show
from sigmd.web.reports import build_report
from sigmd.web.routes.patients import assessment_context
from sigmd.web.security import Clinician, ClinicianPost, registry_of
from sigmd.web.templating import flash, render, text_fields

router = APIRouter()
WORKUP_FIELD = re.compile(r"^(ppsv23_|pre_|post_|bc_|t_cell_defect|[vp]\d+_)")
CLINICAL_FIELD = re.compile(r"^(features_recorded|allergy|[ia]\d+_)")


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ")) for value in values]


def _open_sections(fields: Fields, errors: dict[str, str]) -> set[str]:
    """The folded parts of the form that hold something typed or an error, so they open on re-display."""
    filled = {name for name, values in fields.items() if any(v.strip() for v in values)} | set(errors)
    found = set()
    if any(WORKUP_FIELD.match(name) for name in filled):
        found.add("workup")
    if any(CLINICAL_FIELD.match(name) for name in filled):
        found.add("clinical")
    return found


def form_context(
    request: Request, fields: Fields, errors: dict[str, str] | None = None, extra_rows: dict[str, int] | None = None
) -> dict[str, Any]:
    """Everything the entry form needs to show itself with the values typed so far."""
    knowledge: Knowledge = request.app.state.knowledge
    values = {name: items[0] for name, items in fields.items() if items}
    values.setdefault("profile", knowledge.default_profile)
    values.setdefault("reference_set", knowledge.default_reference_set)
    return {
        "values": values,
        "errors": errors or {},
        "allergies": list(fields.get("allergy", ())),
        "rows": {prefix: rows_to_show(fields, prefix, (extra_rows or {}).get(prefix, 0)) for prefix in GROUPS},
        "analytes": [(a.value, a.value) for a in Analyte],
        "units": [(u.ucum, u.ucum) for u in knowledge.units.units],
        "sexes": [(s.value, s.value) for s in Sex],
        "profiles": [(p.id, f"{p.name} ({p.id})") for p in knowledge.profiles.values()],
        "reference_sets": [(r.id, f"{r.name} ({r.id})") for r in knowledge.reference_sets.values()],
        "infection_types": _choices(list(knowledge.features.infection_types)),
        "allergy_types": _choices(list(knowledge.features.allergy_types)),
        "autoimmune_conditions": _choices(list(knowledge.features.autoimmune_conditions)),
        "serotypes": knowledge.vaccines.ppsv23_serotypes,
        "open_sections": _open_sections(fields, errors or {}),
        "today": request.app.state.settings.today().isoformat(),
        "report": None,
        "entry_form": True,
    }


@router.get("/cases/new")
def new_case(request: Request, user: Clinician, patient: str | None = None) -> Response:
    fields: dict[str, list[str]] = {}
    if patient:
        try:
            registry = registry_of(request)
            summary = registry.patient(registry.patient_id_for(patient)).summary
        except RegistryError:
            flash(request, "There is no such patient in the registry; enter the patient's details.")
        else:
            fields = {"patient_id": [summary.patient_id], "display_name": [summary.display_name or ""]}
            fields["sex"] = [summary.sex]
            if summary.birth_date:
                fields["birth_date"] = [summary.birth_date.isoformat()]
    return render(request, "enter.html", form_context(request, fields))


@router.post("/cases/new")
def assess_case(request: Request, posted: ClinicianPost) -> Response:
    knowledge: Knowledge = request.app.state.knowledge
    fields = text_fields(posted[1])
    action = one(fields, "action") or "assess"
    if action.startswith("more_") and action[5:] in GROUPS:
        return render(request, "enter.html", form_context(request, fields, extra_rows={action[5:]: 1}))
    form = read_case_form(fields, knowledge, request.app.state.settings.today())
    case = load_case_form(form, knowledge)
    report = _report(form, case, knowledge) if case is not None else None
    context = form_context(request, fields, form.errors)
    if report is None:
        return render(request, "enter.html", context, status_code=400)
    context.update(assessment_context(request, report))
    context["case_document"] = form.document
    return render(request, "enter.html", context)


def _report(form: CaseForm, case: Case, knowledge: Knowledge) -> ReportDocument | None:
    try:
        return build_report(
            case,
            knowledge,
            as_of=form.as_of or date.today(),
            patient_id=form.patient_id or None,
            profile_id=form.profile_id,
            reference_set_id=form.reference_set_id,
        )
    except InputError as error:
        form.fail(error)
    except AssessmentError as error:
        path, _, problem = str(error).partition(": ")
        form.fail_text(path, problem)
    return None


@router.post("/cases/save")
def save_case(request: Request, posted: ClinicianPost) -> Response:
    user, form = posted
    knowledge: Knowledge = request.app.state.knowledge
    fields = text_fields(form)
    patient_id, display_name = one(fields, "save_patient_id"), one(fields, "save_display_name")
    try:
        document = parse_json(one(fields, "case_json"), "case_json")
        case = case_from_dict(document, knowledge)
        as_of = date.fromisoformat(one(fields, "as_of"))
    except (ValueError, InputError) as error:
        return render(
            request, "error.html", {"heading": "The case could not be read", "reason": str(error)}, status_code=400
        )
    profile_id, reference_set_id = one(fields, "profile") or None, one(fields, "reference_set") or None
    error_text = "" if patient_id else "Patient identifier: '' is required to save to the registry"
    if not error_text:
        try:
            stored = registry_of(request).record(
                case,
                patient_id=patient_id,
                actor=user.username,
                as_of=as_of,
                profile_id=profile_id,
                reference_set_id=reference_set_id,
                display_name=display_name or None,
            )
        except RegistryError as error:
            error_text = str(error)
    if error_text:
        report = build_report(
            case,
            knowledge,
            as_of=as_of,
            patient_id=patient_id or None,
            profile_id=profile_id,
            reference_set_id=reference_set_id,
        )
        values = {"patient_id": [patient_id], "display_name": [display_name]}
        context = form_context(request, values, {"save_patient_id": error_text})
        context.update(assessment_context(request, report))
        context.update(case_document=document, entry_form=False)
        return render(request, "enter.html", context, status_code=400)
    # The notice travels in the (readable) session cookie: it names no patient.
    flash(request, f"Saved: {label_words(stored.label)} ({certainty_words(stored.certainty, stored.label)}).")
    return RedirectResponse(f"/patients/{stored.patient_ref}", status_code=303)
