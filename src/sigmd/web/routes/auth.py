"""Sign in, sign out, and the first-run page that creates the first administrator."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sigmd.registry import RegistryError, Role
from sigmd.web.security import (
    CheckedForm,
    ForbiddenError,
    ReaderPost,
    current_user,
    registry_of,
    safe_next,
    sign_in,
    sign_out,
)
from sigmd.web.templating import flash, render

router = APIRouter()


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
    user = registry_of(request).authenticate(username, password) if username and password else None
    if user is None:
        context = {
            "next": safe_next(_text(form, "next")),
            "values": {"username": username},
            "errors": {"username": "username or password is not right"},
        }
        return render(request, "login.html", context, status_code=401)
    sign_in(request, user)
    return RedirectResponse(safe_next(_text(form, "next")), status_code=303)


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
