"""The CDS Hooks 2.0 service as a FastAPI app: discovery, the patient-view service, feedback, health."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sigmd import __version__, content
from sigmd.adapters.fhir import cases_from_resources
from sigmd.cdshooks.auth import AuthError, JWTVerifier
from sigmd.cdshooks.cards import assessment_card, input_error_card
from sigmd.cdshooks.prefetch import DataUnavailableError, PatientData, gather, prefetch_templates
from sigmd.cdshooks.settings import SERVICE_ID, CDSSettings
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError
from sigmd.render.machine import assessment_json

log = logging.getLogger("sigmd.cdshooks")
FEEDBACK_KEPT = 1000


def create_cds_app(settings: CDSSettings, knowledge: Knowledge | None = None) -> FastAPI:
    """A FastAPI app serving the CDS Hooks endpoints under `/cds-services`, plus `GET /health`."""
    knowledge = knowledge or content.load()
    verifier = JWTVerifier(settings)
    templates = prefetch_templates(sorted(knowledge.loinc))
    if settings.allow_unauthenticated:
        log.warning("CDS Hooks service running WITHOUT client authentication (development mode)")
    app = FastAPI(title="sigmd CDS Hooks service", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.feedback = deque(maxlen=FEEDBACK_KEPT)
    discovery = {
        "services": [
            {
                "hook": "patient-view",
                "title": "sigmd: selective IgM deficiency",
                "description": "Interprets the patient's immunoglobulins against age-matched references and reports "
                "the selective IgM deficiency verdict, its reasons and the missing work-up.",
                "id": SERVICE_ID,
                "prefetch": templates,
            }
        ]
    }

    async def authorise(request: Request) -> JSONResponse | None:
        if settings.allow_unauthenticated:
            return None
        try:
            await verifier.verify(request.headers.get("authorization"), settings.url(request.url.path))
        except AuthError as error:
            log.warning("rejected CDS client token on %s: %s", request.url.path, error)
            return JSONResponse({"error": "unauthorized", "reason": str(error)}, status_code=401)
        return None

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/cds-services")
    async def discover(request: Request) -> Any:
        return await authorise(request) or discovery

    @app.post(f"/cds-services/{SERVICE_ID}")
    async def patient_view(request: Request) -> Any:
        denied = await authorise(request)
        if denied:
            return denied
        body = await _json_body(request)
        problem = _hook_request_problem(body)
        if problem:
            return JSONResponse({"error": "bad request", "reason": problem}, status_code=400)
        try:
            data = await gather(body, templates, settings)
        except DataUnavailableError as error:
            log.info("hook %s: 412 (%s)", body["hookInstance"], error)
            return JSONResponse({"error": "precondition failed", "reason": str(error)}, status_code=412)
        except InputError as error:
            return {"cards": [input_error_card(str(error), f"sigmd {__version__}")]}
        return {"cards": _cards(body, data, knowledge, settings)}

    @app.post(f"/cds-services/{SERVICE_ID}/feedback")
    async def feedback(request: Request) -> Any:
        denied = await authorise(request)
        if denied:
            return denied
        body = await _json_body(request)
        entries = body.get("feedback") if isinstance(body, dict) else None
        problem = _feedback_problem(entries)
        if problem:
            return JSONResponse({"error": "bad request", "reason": problem}, status_code=400)
        app.state.feedback.extend(entries)
        log.info(
            "feedback: %d entries (%s)", len(entries or []), ", ".join(sorted({e["outcome"] for e in entries or []}))
        )
        return {}

    return app


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _hook_request_problem(body: Any) -> str:
    """Why a request is not a valid patient-view call (CDS Hooks 2.0 "HTTP Request"), or ''."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if body.get("hook") != "patient-view":
        return f"hook {body.get('hook')!r} is not served here (patient-view)"
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        return "hookInstance is missing"
    context = body.get("context")
    if not isinstance(context, dict) or not context.get("patientId") or not context.get("userId"):
        return "context with userId and patientId is missing"
    if body.get("fhirAuthorization") is not None and not body.get("fhirServer"):
        return "fhirAuthorization is given without fhirServer"
    if body.get("prefetch") is not None and not isinstance(body["prefetch"], dict):
        return "prefetch is not an object"
    return ""


def _feedback_problem(entries: Any) -> str:
    if not isinstance(entries, list) or not entries:
        return "feedback must be a non-empty list"
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("card") or not entry.get("outcomeTimestamp"):
            return f"feedback[{index}] needs card and outcomeTimestamp"
        if entry.get("outcome") not in ("accepted", "overridden"):
            return f"feedback[{index}].outcome must be accepted or overridden"
    return ""


def _cards(
    body: dict[str, Any], data: PatientData, knowledge: Knowledge, settings: CDSSettings
) -> list[dict[str, Any]]:
    patient_id = str(body["context"]["patientId"])
    loaded = cases_from_resources(
        data.resources,
        knowledge,
        conditions_searched=data.conditions_searched,
        medications_searched=data.medications_searched,
    )
    mine = next((c for c in loaded if c.patient_key == patient_id), loaded[0] if len(loaded) == 1 else None)
    if mine is None:
        return [input_error_card("the data holds no Patient with the context's patientId", f"sigmd {__version__}")]
    try:
        case = mine.require()
        result = assess(
            case,
            knowledge,
            as_of=settings.today(),
            profile_id=settings.profile_id,
            reference_set_id=settings.reference_set_id,
        )
    except InputError as error:
        return [input_error_card(str(error), f"sigmd {__version__}")]
    except AssessmentError:
        return []
    report = assessment_json(result, case, patient_id=patient_id)
    return [assessment_card(report, patient_id, settings.source_url)]
