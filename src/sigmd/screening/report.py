"""A self-contained HTML report with inline SVG plots (no scripts, no network at view time)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 640, 300, 48


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    return out_low if high == low else out_low + (value - low) / (high - low) * (out_high - out_low)


def _frame(title: str, body: str, x_label: str, y_label: str) -> str:
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" stroke="#333"/>'
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 10}" text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" text-anchor="middle">'
        f"{html.escape(y_label)}</text>{body}</svg></figure>"
    )


def igm_plot(points: list[tuple[float, float, float | None, bool]]) -> str:
    """IgM against age for the patients the core assessed, with each result's age-matched limit."""
    if not points:
        return "<p>No patient needed the core, so there is no IgM plot.</p>"
    shown = points[:5000]
    max_age = max(p[0] for p in shown) or 1.0
    max_igm = max(max(p[1], p[2] or 0.0) for p in shown) or 1.0
    marks = []
    for age, igm, limit, low in shown:
        x = _scale(age, 0, max_age, PAD, WIDTH - 10)
        y = _scale(min(igm, max_igm), 0, max_igm, HEIGHT - PAD, 10)
        marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{"#c0392b" if low else "#2980b9"}"/>')
        if limit is not None:
            ly = _scale(limit, 0, max_igm, HEIGHT - PAD, 10)
            marks.append(f'<line x1="{x - 3:.1f}" y1="{ly:.1f}" x2="{x + 3:.1f}" y2="{ly:.1f}" stroke="#555"/>')
    title = f"IgM (mg/dL) against age; red = low, dash = age-matched limit ({len(shown)} results of assessed patients)"
    return _frame(title, "".join(marks), f"age (years, 0-{max_age:.0f})", f"IgM (0-{max_igm:.0f} mg/dL)")


def funnel_plot(funnel: list[dict[str, Any]]) -> str:
    top = max((step["count"] for step in funnel), default=0) or 1
    bars = []
    for index, step in enumerate(funnel):
        y = 14 + index * 36
        width = _scale(step["count"], 0, top, 0, WIDTH - 320)
        bars.append(
            f'<rect x="300" y="{y}" width="{width:.1f}" height="24" fill="#8e44ad"/>'
            f'<text x="294" y="{y + 16}" text-anchor="end" font-size="11">{html.escape(step["description"][:48])}</text>'
            f'<text x="{304 + width:.1f}" y="{y + 16}" font-size="11">{step["count"]}</text>'
        )
    return (
        "<figure><figcaption>Screening funnel (after Janssen et al. 2018)</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{20 + 36 * len(funnel)}">{"".join(bars)}</svg>'
        "</figure>"
    )


def prevalence_plot(prevalence: list[dict[str, Any]]) -> str:
    rows = [r for r in prevalence if r["stratum"] == "age_band" and r["form"] == "any" and r["stage"] == "any"]
    top = max((r["ci95_high"] or 0.0 for r in rows), default=0.0) or 0.001
    marks = []
    for index, r in enumerate(rows):
        x = PAD + 30 + index * (WIDTH - PAD - 60) / max(len(rows) - 1, 1)
        marks.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" font-size="11">{r["group"]}</text>'
        )
        if r["prevalence"] is None:
            continue
        y = _scale(r["prevalence"], 0, top, HEIGHT - PAD, 10)
        y_low = _scale(r["ci95_low"], 0, top, HEIGHT - PAD, 10)
        y_high = _scale(r["ci95_high"], 0, top, HEIGHT - PAD, 10)
        marks.append(f'<line x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" stroke="#333"/>')
        marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#16a085"/>')
    return _frame(
        "Prevalence of SIgMD (partial or complete, any certainty) by age band, Wilson 95% CI",
        "".join(marks),
        "age band (years)",
        f"prevalence (0-{100 * top:.2f}%)",
    )


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(k)))}</td>" for k in keys) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5f}"
    return "" if value is None else str(value)


def write_report(path: Path, summary: dict[str, Any], points: list[tuple[float, float, float | None, bool]]) -> None:
    overall = [
        r for r in summary["prevalence"] if r["stratum"] in ("overall", "age_group", "sex") and r["form"] != "any"
    ]
    labels = [{"label/certainty": k, "patients": v} for k, v in summary["labels"].items()]
    rows = summary["rows"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>sigmd screening report</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}.note{background:#fff3cd;padding:8px}</style>",
        "</head><body><h1>sigmd population screening</h1>",
        f"<p class='note'>{html.escape(summary['disclaimer'])} Screening hits are not diagnoses.</p>",
        f"<p>Profile <b>{html.escape(summary['profile'])}</b>, reference set <b>{html.escape(summary['reference_set'])}</b>, "
        f"as of {summary['as_of']}, content version {summary['content_version']}.</p>",
        f"<p>Rows in {rows['in']}, used {rows['used']}, rejected {rows['rejected']} (see rejects.csv); "
        f"patients {summary['patients']}, assessed by the core {summary['patients_assessed_by_core']}.</p>",
        "<h2>Verdicts</h2>",
        _table(labels, ["label/certainty", "patients"]),
        "<h2>IgM against age</h2>",
        igm_plot(points),
        "<h2>Funnel</h2>",
        funnel_plot(summary["funnel"]),
        _table(summary["funnel"], ["step", "description", "count"]),
        "<h2>Prevalence</h2>",
        prevalence_plot(summary["prevalence"]),
        _table(
            overall, ["stratum", "group", "form", "stage", "patients", "cases", "prevalence", "ci95_low", "ci95_high"]
        ),
        "<h3>Published figures</h3>",
        _table(summary["published_prevalence"], ["text", "form", "population", "source_title", "source_url", "note"]),
        "<h2>Reference-set sensitivity</h2>",
        f"<p>Computed for {html.escape(summary['reference_set_sensitivity_scope'])}.</p>",
        _table(summary["reference_set_sensitivity"], ["reference_set", "partial_sigmd", "complete_sigmd", "deficient"]),
        "</body></html>",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")
