"""Who is asking, and may they: sessions, roles and CSRF tokens.

The session cookie (signed, Starlette's SessionMiddleware) holds a random session token, a CSRF token and
one-line notices; never a patient identifier. The registry keeps the token's hash (`web_sessions`) and is
asked on every request: a signed-out (revoked), expired, disabled or removed account's session ends at once,
and a changed role takes effect at once. Every POST carries the session's CSRF token in a hidden field
`csrf_token`, compared in constant time; a missing or wrong token is rejected with 403.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData

from sigmd.registry import Role, UserInfo

if TYPE_CHECKING:
    from sigmd.registry import Registry

CSRF_FIELD = "csrf_token"
SESSION_TOKEN = "sid"
_UNSET = object()
FORM_MAX_FIELDS = 2000
FORM_MAX_PART_BYTES = 32 * 1024 * 1024
"""Largest text field (a pasted or uploaded file carried to the save step); uploaded files are not limited here."""
RANK = {Role.VIEWER: 0, Role.CLINICIAN: 1, Role.ADMIN: 2}


class LoginRequiredError(Exception):
    """No signed-in user: the page answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ForbiddenError(Exception):
    """The request is refused (wrong role or CSRF token); the reason is shown on the 403 page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    session: dict[str, Any] = request.session
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def now(request: Request) -> datetime:
    clock = request.app.state.settings.clock
    moment: datetime = clock()
    return moment


def session_token(request: Request) -> str | None:
    token = request.session.get(SESSION_TOKEN)
    return token if isinstance(token, str) and token else None


def sign_in(request: Request, user: UserInfo) -> None:
    """Start a fresh server-side session for the user (new tokens; nothing carried over from before login)."""
    lifetime = timedelta(hours=request.app.state.settings.session_hours)
    token = registry_of(request).open_session(user, lifetime=lifetime, now=now(request))
    request.session.clear()
    request.session[SESSION_TOKEN] = token
    request.state.user = user
    csrf_token(request)


def sign_out(request: Request) -> None:
    """Revoke the session in the registry (a copy of the cookie no longer works) and clear the cookie."""
    token = session_token(request)
    if token is not None:
        registry_of(request).revoke_session(token, now=now(request))
    request.session.clear()
    request.state.user = None


def login_target(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return "/login?next=" + quote(path, safe="")


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else (another host, a scheme) becomes '/'."""
    if not value or not value.startswith("/") or value[1:2] in ("/", "\\") or "\\" in value:
        return "/"
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        return "/"  # browsers drop tabs and newlines, so "/\t/host" would become "//host"
    return value


def current_user(request: Request) -> UserInfo | None:
    """The signed-in user, checked in the registry once per request (None when signed out, revoked, expired,
    disabled or gone)."""
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        assert cached is None or isinstance(cached, UserInfo)
        return cached
    token = session_token(request)
    user = registry_of(request).session_user(token, now=now(request)) if token is not None else None
    if user is None and token is not None:
        request.session.clear()
    request.state.user = user
    return user


def signed_in(request: Request) -> UserInfo:
    user = current_user(request)
    if user is None:
        raise LoginRequiredError(login_target(request))
    return user


def may(user: UserInfo | None, role: Role) -> bool:
    return user is not None and RANK[user.role] >= RANK[role]


async def checked_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matches the session's (403 otherwise)."""
    form = await request.form(max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_PART_BYTES)
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        raise ForbiddenError("the form has no valid CSRF token; reload the page and submit it again")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ForbiddenError("the form's CSRF token does not match this session; reload the page and submit it again")
    return form


def reader(request: Request) -> UserInfo:
    """Any signed-in user (viewer, clinician, admin)."""
    return signed_in(request)


def _with_role(role: Role, request: Request) -> UserInfo:
    user = signed_in(request)
    if not may(user, role):
        raise ForbiddenError(f"this needs the {role.value} role; {user.username} is {user.role.value}")
    return user


def clinician(request: Request) -> UserInfo:
    return _with_role(Role.CLINICIAN, request)


def admin(request: Request) -> UserInfo:
    return _with_role(Role.ADMIN, request)


async def _posted(request: Request, user: UserInfo, role: Role) -> tuple[UserInfo, FormData]:
    form = await checked_form(request)
    if not may(user, role):
        raise ForbiddenError(f"this needs the {role.value} role; {user.username} is {user.role.value}")
    return user, form


async def clinician_post(request: Request, user: Annotated[UserInfo, Depends(reader)]) -> tuple[UserInfo, FormData]:
    """A signed-in clinician or admin, and the form (CSRF checked)."""
    return await _posted(request, user, Role.CLINICIAN)


async def admin_post(request: Request, user: Annotated[UserInfo, Depends(reader)]) -> tuple[UserInfo, FormData]:
    """A signed-in admin, and the form (CSRF checked)."""
    return await _posted(request, user, Role.ADMIN)


async def reader_post(request: Request, user: Annotated[UserInfo, Depends(reader)]) -> tuple[UserInfo, FormData]:
    """Any signed-in user, and the form (CSRF checked): for log out."""
    return await _posted(request, user, Role.VIEWER)


Reader = Annotated[UserInfo, Depends(reader)]
"""Route parameter: any signed-in user."""
Clinician = Annotated[UserInfo, Depends(clinician)]
Admin = Annotated[UserInfo, Depends(admin)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
"""Route parameter: the submitted form, CSRF checked (for pages used before signing in)."""
ReaderPost = Annotated[tuple[UserInfo, FormData], Depends(reader_post)]
ClinicianPost = Annotated[tuple[UserInfo, FormData], Depends(clinician_post)]
AdminPost = Annotated[tuple[UserInfo, FormData], Depends(admin_post)]
