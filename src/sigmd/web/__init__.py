"""The clinician web app (`pip install 'sigmd[web]'`): result entry, assessments, the follow-up registry, screening.

`create_app(WebSettings, CDSSettings, knowledge, registry)` serves the pages together with the CDS Hooks
service; `create_web_app(WebSettings, knowledge, registry)` serves the pages alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigmd.web.settings import WebSettings, load_secret_key

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sigmd.cdshooks.settings import CDSSettings
    from sigmd.core.knowledge import Knowledge
    from sigmd.registry import Registry

__all__ = ["WebSettings", "create_app", "create_web_app", "load_secret_key"]
EXTRA_HINT = "the web app needs the web extra: pip install 'sigmd[web]'"


def create_web_app(settings: WebSettings, knowledge: Knowledge, registry: Registry) -> FastAPI:
    """The clinician pages alone (see `sigmd.web.app.create_web_app`)."""
    try:
        from sigmd.web.app import create_web_app as create
    except ImportError as error:
        raise ImportError(f"{EXTRA_HINT} ({error})") from error
    return create(settings, knowledge, registry)


def create_app(
    settings: WebSettings,
    cds_settings: CDSSettings,
    knowledge: Knowledge | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """The clinician pages and the CDS Hooks service in one app (see `sigmd.web.app.create_app`)."""
    try:
        from sigmd.web.app import create_app as create
    except ImportError as error:
        raise ImportError(f"{EXTRA_HINT} ({error})") from error
    return create(settings, cds_settings, knowledge, registry)
