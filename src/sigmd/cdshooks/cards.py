"""CDS Hooks cards rendered from the typed report (`sigmd.render.machine.ReportDocument`).

Cards carry sigmd's own summary, reasons, work-up, recommendations, warnings, sources and disclaimer; this
module adds only labels. Optional card fields are omitted, never null (CDS Hooks 2.0, "Card Attributes").
Card policy (see `CDSSettings`): a plainly normal result gives no card unless `card_for_normal_result`; input
problems never become cards (they go to the service log); card text holds sigmd's own texts, Markdown-escaped,
never a raw structure or the patient's name (the FHIR reader does not read names).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sigmd.adapters.fhir import LOINC
from sigmd.render.machine import ReportDocument, SourceRef, WorkupEntry

SUMMARY_LIMIT = 140
INDICATORS = {
    "normal": "info",
    "cvid_pattern": "critical",
    "hyper_igm_pattern": "critical",
}
"""Card indicator by diagnosis label; every other label is `warning`. Chosen for review by the clinical lead."""

ORDERABLE_WORKUP: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "repeat_igm": ("repeat IgM", (("2472-9", "IgM"),)),
    "measure_igg": ("IgG", (("2465-3", "IgG"),)),
    "measure_iga": ("IgA", (("2458-8", "IgA"),)),
    "measure_igg_subclasses": (
        "IgG subclasses",
        (("2466-1", "IgG1"), ("2467-9", "IgG2"), ("2468-7", "IgG3"), ("2469-5", "IgG4")),
    ),
    "pneumococcal_vaccine_challenge": ("pneumococcal polysaccharide vaccine response", ()),
}
"""Work-up items (advice ids) that can be proposed as draft ServiceRequests: label and LOINC codes."""


_MARKDOWN_CONTROL = re.compile(r"([\\`*_\[\]<>#|])")


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) < limit else text[: limit - 2].rstrip() + "…"


def assessment_card(report: ReportDocument, patient_id: str, source_url: str = "") -> dict[str, Any]:
    """The card for one assessment: verdict, reasons and sources, with draft orders for missing work-up."""
    diagnosis = report.diagnosis
    profile = report.profile
    url = source_url or profile.source.url
    source: dict[str, Any] = {"label": f"sigmd {report.sigmd_version}: {profile.name}"}
    if url:
        source["url"] = url
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": shorten(diagnosis.summary),
        "indicator": INDICATORS.get(diagnosis.label, "warning"),
        "detail": detail_markdown(report),
        "source": source,
    }
    suggestions = [s for item in report.workup if (s := _suggestion(item, patient_id)) is not None]
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    return card


def is_plainly_normal(report: ReportDocument) -> bool:
    """A result with nothing to act on: label `normal` and no work-up proposed (sigmd's card policy)."""
    return report.diagnosis.label == "normal" and not report.workup


def detail_markdown(report: ReportDocument) -> str:
    """The assessment as GitHub-flavoured Markdown: only sigmd's own texts under labels."""
    diagnosis = report.diagnosis
    parts = [f"**{_escape(diagnosis.summary)}** ({diagnosis.certainty}, profile `{diagnosis.profile}`)"]
    parts.append(_section("Reasons", list(diagnosis.reasons)))
    igm = report.igm
    if igm:
        limit = f"; limit {igm.limit_used_mg_dl} mg/dL ({igm.limit_basis})" if igm.limit_used_mg_dl else ""
        parts.append(f"**IgM**: {_escape(igm.reported)} on {igm.date}: {igm.status}{limit}")
    parts.append(_section("Work-up", [f"{w.text} ({w.reason})" for w in report.workup]))
    parts.append(_section("Recommendations", [r.text for r in report.recommendations]))
    parts.append(
        _section(
            "Possible secondary causes",
            [f"{c.name}: {c.matched_on} ({c.record.origin})" for c in report.secondary_causes],
        )
    )
    parts.append(_section("Warnings", list(report.warnings)))
    profile_source = report.profile.source
    sources = [profile_source, *(c.source for c in report.criteria if c.source.id != profile_source.id)]
    unique = {s.id: s for s in sources}.values()
    parts.append(_section("Sources", [_link(s) for s in unique] + [f"Reference set: {report.reference_set.name}"]))
    parts.append(f"_{_escape(report.disclaimer)}_")
    return "\n\n".join(p for p in parts if p)


def _section(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"**{title}**\n\n" + "\n".join(f"- {_escape(item)}" for item in items)


def _link(source: SourceRef) -> str:
    title = _escape(source.title)
    return f"[{title}]({source.url})" if source.url else title


def _escape(text: str) -> str:
    """Keep Markdown control characters in data from changing the layout."""
    return _MARKDOWN_CONTROL.sub(r"\\\1", str(text))


def _suggestion(item: WorkupEntry, patient_id: str) -> dict[str, Any] | None:
    known = ORDERABLE_WORKUP.get(item.id)
    if known is None:
        return None
    label, codes = known
    requests = [_service_request(patient_id, code, text) for code, text in codes] or [
        _service_request(patient_id, None, label)
    ]
    return {
        "label": f"Draft order: {label}",
        "uuid": str(uuid.uuid4()),
        "actions": [
            {"type": "create", "description": f"Draft ServiceRequest: {r['code']['text']}", "resource": r}
            for r in requests
        ],
    }


def _service_request(patient_id: str, loinc: str | None, text: str) -> dict[str, Any]:
    code: dict[str, Any] = {"text": text}
    if loinc:
        code["coding"] = [{"system": LOINC, "code": loinc}]
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
