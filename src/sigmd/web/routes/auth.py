"""Sign in (throttled), sign out (revoking the session), one's own password, and the first-run page."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sigmd.registry import LoginOutcome, RegistryError, Role
from sigmd.web.security import (
    CheckedForm,
    ForbiddenError,
    Reader,
    ReaderPost,
    current_user,
    now,
    registry_of,
    safe_next,
    session_token,
    sign_in,
    sign_out,
)
from sigmd.web.templating import flash, render

router = APIRouter()
log = logging.getLogger("sigmd.web.auth")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if not registry_of(request).has_users():
        return RedirectResponse("/setup", status_code=303)
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "values": {}})


@router.post("/login")
def login(request: Request, form: CheckedForm) -> Response:
    username, password = _text(form, "username").strip(), _text(form, "password")
    target = safe_next(_text(form, "next"))
    context = {"next": target, "values": {"username": username}}
    if not username or not password:
        errors = {"username": "username and password: both are needed to sign in"}
        return render(request, "login.html", context | {"errors": errors}, status_code=401)
    settings = request.app.state.settings
    client = request.client.host if request.client else None
    result = registry_of(request).authenticate(
        username, password, client=client, policy=settings.login_policy, now=now(request)
    )
    # Neither the password nor the typed account name is logged (the name field sometimes holds a password).
    log.info("sign-in attempt from %s: %s", client or "unknown client", result.outcome.value)
    if result.outcome == LoginOutcome.SUCCESS and result.user is not None:
        sign_in(request, result.user)
        return RedirectResponse(target, status_code=303)
    if result.outcome == LoginOutcome.DISABLED:
        message, status = "account: this account is disabled; ask an administrator", 403
    elif result.locked_until is not None:
        until = f"{result.locked_until:%Y-%m-%d %H:%M} UTC"
        message = f"sign-in: too many failed attempts; this account or address is locked until {until}"
        status = 429
    else:
        message, status = "username or password is not right", 401
    return render(request, "login.html", context | {"errors": {"username": message}}, status_code=status)


@router.post("/logout")
def logout(request: Request, posted: ReaderPost) -> Response:
    sign_out(request)
    flash(request, "You are signed out.")
    return RedirectResponse("/login", status_code=303)


@router.get("/setup")
def setup_page(request: Request) -> Response:
    if registry_of(request).has_users():
        return RedirectResponse("/login", status_code=303)
    return render(request, "setup.html", {"values": {}})


@router.post("/setup")
def setup(request: Request, form: CheckedForm) -> Response:
    registry = registry_of(request)
    username, password = _text(form, "username").strip(), _text(form, "password")
    errors: dict[str, str] = {}
    if password != _text(form, "password_again"):
        errors["password_again"] = "password again: does not match the password"
    with request.app.state.setup_lock:
        if registry.has_users():
            raise ForbiddenError("the first-run page is closed: the registry already has accounts; sign in instead")
        if not errors:
            try:
                user = registry.create_user(username, password, Role.ADMIN, actor=username or "setup")
            except RegistryError as error:
                field = "password" if str(error).startswith("password") else "username"
                errors[field] = str(error)
    if errors:
        return render(request, "setup.html", {"values": {"username": username}, "errors": errors}, status_code=400)
    sign_in(request, user)
    flash(request, f"Administrator {user.username} created; you are signed in.")
    return RedirectResponse("/", status_code=303)


@router.get("/account")
def account_page(request: Request, user: Reader) -> Response:
    return render(request, "account.html", {"values": {}})


@router.post("/account/password")
def change_password(request: Request, posted: ReaderPost) -> Response:
    user, form = posted
    current, new = _text(form, "current_password"), _text(form, "new_password")
    errors: dict[str, str] = {}
    if new != _text(form, "new_password_again"):
        errors["new_password_again"] = "new password again: does not match the new password"
    else:
        try:
            registry_of(request).change_password(
                user.username,
                current,
                new,
                keep_session=session_token(request),
                policy=request.app.state.settings.login_policy,
                now=now(request),
            )
        except RegistryError as error:
            text = str(error)
            field = "new_password" if text.startswith("new password") else "current_password"
            errors[field] = text
    if errors:
        return render(request, "account.html", {"values": {}, "errors": errors}, status_code=400)
    flash(request, "Password changed; your other sessions have ended.")
    return RedirectResponse("/account", status_code=303)
