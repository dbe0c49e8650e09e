"""The app factories: the clinician web pages alone, or together with the CDS Hooks service."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sigmd import __version__, content
from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import CDSSettings
from sigmd.core.knowledge import Knowledge
from sigmd.logfilter import install as install_log_filter
from sigmd.registry import Registry
from sigmd.registry.feedback import RegistryFeedbackStore
from sigmd.web.jobs import Jobs
from sigmd.web.routes import auth, cases, imports, patients, screenings, users
from sigmd.web.security import ForbiddenError, LoginRequiredError
from sigmd.web.settings import WebSettings
from sigmd.web.templating import make_templates, render

log = logging.getLogger("sigmd.web")
STATIC = Path(__file__).with_name("static")
BODY_OVERHEAD = 1024 * 1024
"""Room for the form fields and multipart framing around the largest upload."""
SERVICE_PREFIXES = ("/cds-services", "/health")
"""Paths of the CDS Hooks service: JSON errors and no page headers there, exactly as `create_cds_app` answers."""
PAGE_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)


def _is_service(path: str) -> bool:
    return path.startswith(SERVICE_PREFIXES)


class PageHeaders:
    """Security headers on every page (a header the page set itself, such as its own CSP, is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_service(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in PAGE_HEADERS:
                    if name not in present and not (static and name == b"cache-control"):
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_web_app(settings: WebSettings, knowledge: Knowledge, registry: Registry) -> FastAPI:
    """The clinician web app over an open registry (which the caller keeps and closes).

    Installs the patient-data filter at the logging boundary (`sigmd.logfilter`) for the whole process.
    """
    install_log_filter()
    jobs = Jobs(settings.jobs_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()
        for close in app.state.on_close:
            close()

    app = FastAPI(
        title="sigmd",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        max_body_size=settings.max_upload_bytes + BODY_OVERHEAD,
    )
    app.state.settings = settings
    app.state.knowledge = knowledge
    app.state.registry = registry
    app.state.templates = make_templates()
    app.state.jobs = jobs
    app.state.setup_lock = threading.Lock()
    app.state.on_close = []
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="sigmd_session",
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(PageHeaders)
    _add_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, patients, cases, imports, screenings, users):
        app.include_router(module.router)
    return app


def _add_error_pages(app: FastAPI) -> None:
    async def login_required(request: Request, error: Exception) -> Response:
        assert isinstance(error, LoginRequiredError)
        return RedirectResponse(error.next_path, status_code=303)

    async def forbidden(request: Request, error: Exception) -> Response:
        assert isinstance(error, ForbiddenError)
        return render(request, "error.html", {"heading": "Not allowed", "reason": error.reason}, status_code=403)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if _is_service(request.url.path):
            return await http_exception_handler(request, error)
        heading = {404: "Not found", 400: "Bad request", 405: "Not allowed"}.get(error.status_code, "Error")
        reason = error.detail if error.status_code != 404 or error.detail != "Not Found" else "There is no such page."
        return render(request, "error.html", {"heading": heading, "reason": reason}, status_code=error.status_code)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        if _is_service(request.url.path):
            return await request_validation_exception_handler(request, error)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e.get('input')!r} {e['msg']}" for e in error.errors()
        )
        return render(request, "error.html", {"heading": "Bad request", "reason": problems}, status_code=400)

    app.add_exception_handler(LoginRequiredError, login_required)
    app.add_exception_handler(ForbiddenError, forbidden)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def create_app(
    settings: WebSettings,
    cds_settings: CDSSettings,
    knowledge: Knowledge | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """The web pages and the CDS Hooks service (`/cds-services...`, `/health`) in one app.

    With no `registry`, the registry at `settings.database_url` (or the SQLite file in `settings.data_dir`)
    is opened, and closed when the app shuts down.
    """
    knowledge = knowledge or content.load()
    owned = registry is None
    registry = registry or Registry.open(settings.database_url, data_dir=settings.data_dir)
    app = create_web_app(settings, knowledge, registry)
    if owned:
        app.state.on_close.append(registry.close)
    service = create_cds_app(cds_settings, knowledge, RegistryFeedbackStore(registry))
    app.include_router(service.router)
    app.state.cds_app = service
    return app
