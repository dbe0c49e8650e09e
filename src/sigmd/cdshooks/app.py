"""The CDS Hooks 2.0 service as a FastAPI app: discovery, the patient-view service, feedback, health.

Answers: 200 with cards (possibly none); 400 for a request that is not a valid call (its reason named); 401 for a
client token that is missing or not trusted; 412 when the FHIR data cannot be obtained, is not what the prefetch
template asks for, or is not all about the patient in context; 413 for a body over the size bound; 503 when
feedback cannot be stored (the registry's database failed; nothing of the call is kept) or when the replay store
has no room for a new token. Input problems inside
otherwise valid data (a result sigmd cannot read) give no card: they are logged with the field and the problem,
never the value. Browser clients on the CORS allow-list get CORS headers and preflight answers.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from sigmd import __version__, content
from sigmd.adapters.fhir import cases_from_resources
from sigmd.cdshooks.auth import AuthError, JWTVerifier
from sigmd.cdshooks.cards import assessment_card, is_plainly_normal
from sigmd.cdshooks.limits import parse_json
from sigmd.cdshooks.prefetch import FHIR_ID, DataUnavailableError, gather, prefetch_templates, source_key
from sigmd.cdshooks.replay import ReplayStoreFullError
from sigmd.cdshooks.settings import SERVICE_ID, CDSSettings
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.errors import InputError
from sigmd.registry.feedback import CardFeedback, FeedbackNotStoredError, Outcome
from sigmd.report import Report

log = logging.getLogger("sigmd.cdshooks")
FEEDBACK_KEPT_IN_MEMORY = 1000
MAX_FEEDBACK_ENTRIES = 100
CORS_METHODS = ("GET", "POST", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_MAX_AGE_SECONDS = 600


class FeedbackStore(Protocol):
    """Where feedback is kept: the registry (`sigmd.registry.feedback.RegistryFeedbackStore`) or memory.

    `keep` stores all entries or none; it raises `FeedbackNotStoredError` when its storage fails (answered 503).
    """

    def keep(self, entries: Sequence[CardFeedback], *, service_id: str, client: str, received_at: datetime) -> None: ...


class MemoryFeedbackStore:
    """The last `FEEDBACK_KEPT_IN_MEMORY` entries, for a service run without a registry (tests, development)."""

    def __init__(self) -> None:
        self.entries: deque[CardFeedback] = deque(maxlen=FEEDBACK_KEPT_IN_MEMORY)

    def keep(self, entries: Sequence[CardFeedback], *, service_id: str, client: str, received_at: datetime) -> None:
        self.entries.extend(entries)


class BodyTooLargeError(ValueError):
    """A request body over `max_body_bytes` (HTTP 413)."""


class RequestProblemError(Exception):
    """A request answered with an error status and a reason (no patient data)."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "reason": self.reason}, status_code=self.status)


def create_cds_app(
    settings: CDSSettings, knowledge: Knowledge | None = None, feedback_store: FeedbackStore | None = None
) -> FastAPI:
    """A FastAPI app serving the CDS Hooks endpoints under `/cds-services`, plus `GET /health`.

    `feedback_store` keeps the clients' feedback (the registry when served by `sigmd serve`); without one,
    feedback is kept in memory only, with a warning at start.
    """
    knowledge = knowledge or content.load()
    verifier = JWTVerifier(settings)
    templates = prefetch_templates(sorted(knowledge.loinc))
    if settings.allow_unauthenticated:
        log.warning("CDS Hooks service running WITHOUT client authentication (development mode)")
    if settings.allow_http_key_sets:
        log.warning("CDS Hooks service accepts JWK Sets over plain http (development mode)")
    if feedback_store is None:
        log.warning("CDS Hooks feedback is kept in memory only (no registry given)")
    store: FeedbackStore = feedback_store or MemoryFeedbackStore()
    app = FastAPI(title="sigmd CDS Hooks service", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.router.route_class = _cors_route(frozenset(settings.cors_allow_origins))
    app.state.feedback = store
    app.state.verifier = verifier
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

    async def authorise(request: Request) -> str:
        """The verified client's `iss` (`(development)` without authentication); `RequestProblemError` 401 otherwise."""
        if settings.allow_unauthenticated:
            return "(development)"
        try:
            claims = await verifier.verify(request.headers.get("authorization"), settings.url(request.url.path))
        except AuthError as error:
            log.warning("rejected CDS client token on %s: %s", request.url.path, error)
            raise RequestProblemError(401, "unauthorized", str(error)) from None
        except ReplayStoreFullError as error:  # a verified token sigmd cannot remember: refused, never let through
            log.error("refused a CDS call on %s: %s", request.url.path, error)
            raise RequestProblemError(503, "service unavailable", str(error)) from None
        return str(claims["iss"])

    async def body(request: Request) -> Any:
        return parse_json(await _read_body(request, settings.max_body_bytes), "the body", settings.max_json_depth)

    def answer(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
        async def run(request: Request) -> Any:
            try:
                return await handler(request)
            except RequestProblemError as problem:
                return problem.response()
            except InputError as error:  # named by field and problem only: its value may be patient data
                return RequestProblemError(400, "bad request", f"{error.field} {error.problem}").response()
            except BodyTooLargeError as error:
                return RequestProblemError(413, "payload too large", str(error)).response()
            except ValueError as error:
                return RequestProblemError(400, "bad request", str(error)).response()

        return run

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/cds-services")
    @answer
    async def discover(request: Request) -> Any:
        await authorise(request)
        return discovery

    @app.post(f"/cds-services/{SERVICE_ID}")
    @answer
    async def patient_view(request: Request) -> Any:
        await authorise(request)
        call = await body(request)
        problem = _hook_request_problem(call)
        if problem:
            raise RequestProblemError(400, "bad request", problem)
        hook = str(call["hookInstance"])[:64]
        try:
            return {"cards": await _answer(call, hook, templates, knowledge, settings)}
        except DataUnavailableError as error:
            log.info("hook %r: 412 (%s)", hook, error)
            raise RequestProblemError(412, "precondition failed", str(error)) from None

    @app.post(f"/cds-services/{SERVICE_ID}/feedback")
    @answer
    async def feedback(request: Request) -> Any:
        client = await authorise(request)
        entries = read_feedback(await body(request))
        try:
            await run_in_threadpool(
                store.keep,
                entries,
                service_id=SERVICE_ID,
                client=client,
                received_at=datetime.fromtimestamp(settings.clock(), UTC),
            )
        except FeedbackNotStoredError as error:  # its message names the failure's kind, never the stored values
            log.error("feedback: %d entries not stored: %s", len(entries), str(error))
            raise RequestProblemError(
                503, "service unavailable", "the feedback could not be stored; nothing was kept, send it again later"
            ) from None
        log.info("feedback: %d entries (%s)", len(entries), ", ".join(sorted({e.outcome.value for e in entries})))
        return {}

    for path in ("/cds-services", f"/cds-services/{SERVICE_ID}", f"/cds-services/{SERVICE_ID}/feedback"):
        app.add_api_route(path, _preflight(frozenset(settings.cors_allow_origins)), methods=["OPTIONS"])
    return app


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > max_bytes):
        raise BodyTooLargeError(f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _cors_route(origins: frozenset[str]) -> type[APIRoute]:
    """A route class adding CORS headers for allowed origins; it travels with the routes into a combined app."""

    class CORSRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def with_cors(request: Request) -> Response:
                response = await handler(request)
                origin = request.headers.get("origin")
                if origin is not None and origin in origins:
                    response.headers["Access-Control-Allow-Origin"] = origin
                    response.headers.append("Vary", "Origin")
                return response

            return with_cors

    return CORSRoute


def _preflight(origins: frozenset[str]) -> Callable[[Request], Awaitable[Response]]:
    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method", "")
        if origin is None or origin not in origins:
            return JSONResponse(
                {"error": "forbidden", "reason": "the origin is not on the service's CORS allow-list"}, status_code=403
            )
        if method.upper() not in CORS_METHODS:
            return JSONResponse(
                {"error": "forbidden", "reason": f"method {method[:20]!r} is not allowed"}, status_code=403
            )
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
                "Access-Control-Allow-Headers": ", ".join(CORS_HEADERS),
                "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
            },
        )

    return preflight


def _hook_request_problem(body: Any) -> str:
    """Why a request is not a valid patient-view call (CDS Hooks 2.0 "HTTP Request"), or ''."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if body.get("hook") != "patient-view":
        return f"hook {str(body.get('hook'))[:40]!r} is not served here (patient-view)"
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance or len(instance) > 200:
        return "hookInstance is missing or not a string of at most 200 characters"
    context = body.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("userId"), str) or not context["userId"]:
        return "context with userId and patientId is missing"
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not FHIR_ID.fullmatch(patient_id):
        return "context.patientId is not a FHIR id (1-64 letters, digits, '-' and '.')"
    server = body.get("fhirServer")
    if server is not None and (not isinstance(server, str) or not server.startswith(("https://", "http://"))):
        return "fhirServer is not an http(s) URL"
    authorization = body.get("fhirAuthorization")
    if authorization is not None and not isinstance(authorization, dict):
        return "fhirAuthorization is not an object"
    if authorization is not None and not server:
        return "fhirAuthorization is given without fhirServer"
    if body.get("prefetch") is not None and not isinstance(body["prefetch"], dict):
        return "prefetch is not an object"
    return ""


def read_feedback(body: Any) -> list[CardFeedback]:
    """The entries of a feedback call (CDS Hooks 2.0 "Feedback"); `ValueError` names the entry and field."""
    entries = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > MAX_FEEDBACK_ENTRIES:
        raise ValueError(f"feedback must be a list of 1 to {MAX_FEEDBACK_ENTRIES} entries")
    return [_feedback_entry(entry, f"feedback[{index}]") for index, entry in enumerate(entries)]


def _feedback_entry(entry: Any, where: str) -> CardFeedback:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not an object")
    card = entry.get("card")
    if not isinstance(card, str) or not card or len(card) > 100:
        raise ValueError(f"{where}.card must be the card's uuid")
    try:
        outcome = Outcome(str(entry.get("outcome")))
    except ValueError:
        raise ValueError(f"{where}.outcome must be accepted or overridden") from None
    stamp = entry.get("outcomeTimestamp")
    try:
        outcome_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        outcome_at = None
    if outcome_at is None or outcome_at.tzinfo is None:
        raise ValueError(f"{where}.outcomeTimestamp must be an ISO timestamp with a time zone")
    suggestions = entry.get("acceptedSuggestions", [])
    if not isinstance(suggestions, list) or not all(
        isinstance(s, dict) and isinstance(s.get("id"), str) for s in suggestions
    ):
        raise ValueError(f"{where}.acceptedSuggestions must be a list of {{'id': uuid}}")
    if outcome is Outcome.ACCEPTED and not suggestions:
        raise ValueError(f"{where}.acceptedSuggestions is required when the outcome is accepted")
    reason = entry.get("overrideReason")
    if reason is not None and (
        not isinstance(reason, dict)
        or not isinstance(reason.get("reason", {}), dict)
        or not isinstance(reason.get("userComment", ""), str)
    ):
        raise ValueError(f"{where}.overrideReason must be an object with a reason Coding and a userComment")
    return CardFeedback(
        card, outcome, outcome_at.astimezone(UTC), tuple(str(s["id"]) for s in suggestions), reason or None
    )


async def _answer(
    call: dict[str, Any], hook: str, templates: dict[str, str], knowledge: Knowledge, settings: CDSSettings
) -> list[dict[str, Any]]:
    """The cards for a valid call.

    A resource the FHIR models reject (its error names where it was: `prefetch.<key>...`) means that prefetch key
    was not satisfied: it is fetched from the fhirServer when there is one, else 412. A problem inside valid FHIR
    (a unit sigmd cannot read) is an input problem: logged with field and problem, and no card.
    """
    patient_id = str(call["context"]["patientId"])
    unusable: frozenset[str] = frozenset()
    while True:
        data = await gather(call, templates, settings, unusable)
        try:
            loaded = cases_from_resources(
                data.resources,
                knowledge,
                conditions_searched=data.conditions_searched,
                medications_searched=data.medications_searched,
            )
            mine = [c for c in loaded if c.patient_key == patient_id]
            if len(loaded) != 1 or len(mine) != 1:
                raise DataUnavailableError("the data is not about exactly the context patient")
            case = mine[0].require()
        except InputError as error:
            source, key = source_key(error.field)
            if source not in ("prefetch", "fhirServer"):
                log.warning("hook %r: no card, input problem at %s: %s", hook, error.field, error.problem)
                return []
            if source == "prefetch" and data.can_fetch and key in templates and key not in unusable:
                log.info("hook %r: prefetch '%s' is not valid FHIR R4 (%s); fetching it", hook, key, error.field)
                unusable |= {key}
                continue
            raise DataUnavailableError(f"'{key}' is not usable: {error.field} {error.problem}") from None
        return _cards(hook, patient_id, case, knowledge, settings)


def _cards(hook: str, patient_id: str, case: Case, knowledge: Knowledge, settings: CDSSettings) -> list[dict[str, Any]]:
    try:
        result = assess(
            case,
            knowledge,
            as_of=settings.today(),
            profile_id=settings.profile_id,
            reference_set_id=settings.reference_set_id,
        )
    except InputError as error:
        log.warning("hook %r: no card, input problem at %s: %s", hook, error.field, error.problem)
        return []
    except AssessmentError as error:
        log.info("hook %r: no card, the assessment cannot be made (%s)", hook, type(error).__name__)
        return []
    report = Report(patient_id, case, result).document
    if is_plainly_normal(report) and not settings.card_for_normal_result:
        return []
    return [assessment_card(report, patient_id, settings.source_url)]
