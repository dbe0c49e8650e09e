"""Jinja2 set-up and the one function every page renders through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from sigmd import __version__
from sigmd.core.explain import DISCLAIMER, certainty_words, in_words, label_words
from sigmd.registry import Role
from sigmd.render.display import in_unit
from sigmd.web.security import csrf_token, current_user, may

TEMPLATES = Path(__file__).with_name("templates")


def _humanise(value: object) -> str:
    """A machine term (outcome, status, limit basis, pattern) in the plain words of `sigmd.core.explain`."""
    return in_words(str(value))


PATTERN_WORDS = {"other": "none of the named patterns"}
"""Pattern ids whose plain word says too little on its own."""


def _pattern_words(pattern: object) -> str:
    return PATTERN_WORDS.get(str(pattern), in_words(str(pattern)))


def _to_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["humanise"] = _humanise
    env.filters["label_words"] = label_words
    env.filters["certainty_words"] = certainty_words
    env.filters["pattern_words"] = _pattern_words
    env.filters["to_json"] = _to_json
    env.filters["in_unit"] = in_unit
    env.globals.update(version=__version__, disclaimer=DISCLAIMER, Role=Role)
    return Jinja2Templates(env=env)


def flash(request: Request, message: str) -> None:
    """A one-line notice shown on the next page (for example after saving)."""
    request.session["flash"] = [*request.session.get("flash", []), message]


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page with what every page needs: the user, their permissions, the CSRF token, notices."""
    templates: Jinja2Templates = request.app.state.templates
    user = current_user(request)
    page: dict[str, Any] = {
        "user": user,
        "can_enter": may(user, Role.CLINICIAN),
        "can_admin": may(user, Role.ADMIN),
        "csrf_token": csrf_token(request),
        "notices": request.session.pop("flash", []),
        "path": request.url.path,
        "errors": {},
    }
    page.update(context or {})
    return templates.TemplateResponse(request, name, page, status_code=status_code)


def text_fields(form: FormData) -> dict[str, list[str]]:
    """The text fields of a submitted form, every value kept (uploads are left out)."""
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields
