"""CDS Hooks 2.0 service (`pip install 'sigmd[web]'`): discovery, patient-view, feedback, JWT verification."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sigmd.cdshooks.app import FeedbackStore
    from sigmd.cdshooks.settings import CDSSettings
    from sigmd.core.knowledge import Knowledge


def create_cds_app(
    settings: CDSSettings, knowledge: Knowledge | None = None, feedback_store: FeedbackStore | None = None
) -> FastAPI:
    """The CDS Hooks app (see `sigmd.cdshooks.app`); fails with the extra to install when FastAPI is missing."""
    try:
        from sigmd.cdshooks.app import create_cds_app as create
    except ImportError as error:
        raise ImportError(
            "the CDS Hooks service needs the web and fhir extras: pip install 'sigmd[web,fhir]'"
        ) from error
    return create(settings, knowledge, feedback_store)
