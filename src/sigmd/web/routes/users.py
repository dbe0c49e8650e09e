"""Accounts: the administrator's list of users, the form that creates one, role changes and disabling."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sigmd.registry import RegistryError, Role, UserInfo
from sigmd.web.forms import one
from sigmd.web.security import Admin, AdminPost, registry_of
from sigmd.web.templating import flash, render, text_fields

router = APIRouter()


def _context(request: Request, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "users": registry_of(request).list_users(),
        "roles": [(role.value, role.value) for role in Role],
        "values": {"role": Role.VIEWER.value, **values},
        "errors": errors,
    }


@router.get("/users")
def users(request: Request, user: Admin) -> Response:
    return render(request, "users.html", _context(request, {}, {}))


@router.post("/users")
def create_user(request: Request, posted: AdminPost) -> Response:
    user, form = posted
    fields = text_fields(form)
    username, role_text = one(fields, "username"), one(fields, "role")
    password = (fields.get("password") or [""])[0]
    values = {"username": username, "role": role_text}
    try:
        role = Role(role_text)
    except ValueError:
        errors = {"role": f"role: {role_text!r} is not one of {', '.join(r.value for r in Role)}"}
        return render(request, "users.html", _context(request, values, errors), status_code=400)
    try:
        created = registry_of(request).create_user(username, password, role, actor=user.username)
    except RegistryError as error:
        field = "password" if str(error).startswith("password") else "username"
        return render(request, "users.html", _context(request, values, {field: str(error)}), status_code=400)
    flash(request, f"Account {created.username} ({created.role.value}) created.")
    return RedirectResponse("/users", status_code=303)


def _refused(request: Request, message: str) -> Response:
    return render(request, "users.html", _context(request, {}, {"accounts": message}), status_code=400)


@router.post("/users/{username}/role")
def change_role(request: Request, username: str, posted: AdminPost) -> Response:
    user, form = posted
    role_text = one(text_fields(form), "role")
    try:
        changed = registry_of(request).set_role(username, role_text, actor=user.username)
    except RegistryError as error:
        return _refused(request, str(error))
    flash(request, f"Account {changed.username} is now {changed.role.value}.")
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}/disable")
def disable(request: Request, username: str, posted: AdminPost) -> Response:
    return _set_disabled(request, username, posted, disabled=True)


@router.post("/users/{username}/enable")
def enable(request: Request, username: str, posted: AdminPost) -> Response:
    return _set_disabled(request, username, posted, disabled=False)


def _set_disabled(request: Request, username: str, posted: tuple[UserInfo, FormData], *, disabled: bool) -> Response:
    user, _ = posted
    try:
        changed = registry_of(request).set_disabled(username, disabled, actor=user.username)
    except RegistryError as error:
        return _refused(request, str(error))
    state = "disabled; its sessions have ended" if disabled else "enabled"
    flash(request, f"Account {changed.username} {state}.")
    return RedirectResponse("/users", status_code=303)
