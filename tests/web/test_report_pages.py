"""The assessment pages read the typed report: values in the site's display unit, saved assessments as saved."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update

from sigmd.registry.models import Assessment as AssessmentRow
from sigmd.render.display import in_unit
from sigmd.web.app import create_web_app
from sigmd.web.forms import load_case_form, read_case_form
from sigmd.web.reports import build_report
from tests.cases import build_case
from tests.web.conftest import TODAY, csrf_of, entry_form, settings_for


@pytest.fixture
def grams_client(registry, knowledge, session_cookies, tmp_path):
    """A clinician on pages of a site whose display unit is g/L (same registry and sessions as the other tests)."""
    app = create_web_app(settings_for(tmp_path, display_unit="g/L"), knowledge, registry)
    with TestClient(app, cookies=session_cookies["clin"]) as client:
        yield client


def _results_table(page: str) -> str:
    return re.search(r'<h3 id="results-title">.*?</table>', page, re.S).group(0)


def _expected(knowledge):
    form = read_case_form({k: [v] for k, v in entry_form("x", "unit-1").items()}, knowledge, TODAY)
    return build_report(load_case_form(form, knowledge), knowledge, as_of=TODAY, patient_id="unit-1")


def test_the_assessment_page_shows_values_and_limits_in_mg_dl_by_default(client_as, knowledge):
    """By default the results table and the verdict's latest IgM are in mg/dL, as the core reports them."""
    client = client_as("clin")
    page = html.unescape(client.post("/cases/new", data=entry_form(csrf_of(client, "/cases/new"), "unit-1")).text)
    limit = in_unit(_expected(knowledge).igm.limit_used_mg_dl, "mg/dL")
    assert f"Latest IgM <25 mg/dL on 2026-07-14: low; limit used {limit} mg/dL." in page
    table = _results_table(page)
    assert '<th scope="col">mg/dL</th><th scope="col">Limit used (mg/dL)</th>' in table
    assert all(f'<td data-label="mg/dL">{v}</td>' in table for v in ("28", "<25", "1020"))


def test_a_site_that_shows_g_per_litre_converts_the_results_and_the_verdict(grams_client, knowledge):
    """With display unit g/L, IgM 28 mg/dL reads 0.28, <25 reads <0.25, IgG 10.2 g/L reads 10.2, limits likewise."""
    response = grams_client.post("/cases/new", data=entry_form(csrf_of(grams_client, "/cases/new"), "unit-1"))
    page = html.unescape(response.text)
    expected = _expected(knowledge)
    limit = in_unit(expected.igm.limit_used_mg_dl, "g/L")
    assert limit == f"{round(expected.igm.limit_used_mg_dl / 100, 4):g}"
    assert f"Latest IgM <0.25 g/L on 2026-07-14 (reported as <25 mg/dL): low; limit used {limit} g/L." in page
    table = _results_table(page)
    assert '<th scope="col">g/L</th><th scope="col">Limit used (g/L)</th>' in table and "mg/dL</th>" not in table
    assert all(f'<td data-label="g/L">{v}</td>' in table for v in ("0.28", "<0.25", "10.2"))
    for result in expected.results:
        assert f'<td data-label="Limit used (g/L)">{in_unit(result.limit_used_mg_dl, "g/L")} (' in table


def test_a_saved_assessment_is_shown_as_it_was_saved(client_as, registry, knowledge):
    """The patient page shows the stored report, not a new assessment: what was saved is what is seen."""
    case = build_case(
        knowledge,
        ("IgM", 20, "mg/dL", "2025-06-01"),
        ("IgG", 1000, "mg/dL", "2025-12-01"),
        ("IgA", 200, "mg/dL", "2025-12-01"),
    )
    stored = registry.record(case, patient_id="as-saved-1", actor="clin", as_of=TODAY)
    saved = stored.report.to_json()
    saved["diagnosis"]["summary"] = "The summary as it was saved (synthetic)."
    for row in saved["by_profile"]:
        row["summary"] = f"The summary under {row['profile']} as it was saved (synthetic)."
    engine = create_engine(registry.url)
    with engine.begin() as connection:
        connection.execute(update(AssessmentRow).where(AssessmentRow.id == stored.id).values(report=saved))
    engine.dispose()
    page = html.unescape(client_as("view").get(f"/patients/{stored.patient_ref}").text)
    assert '<p class="verdict-summary">The summary as it was saved (synthetic).</p>' in page
    assert all(f"The summary under {p} as it was saved (synthetic)." in page for p in knowledge.profiles)
    assert stored.report.diagnosis.summary not in page


def test_a_saved_report_that_cannot_be_read_is_named_not_hidden(client_as, registry, knowledge):
    """A stored report that is not machine output is an error naming the assessment; the patient list still works."""
    case = build_case(knowledge, ("IgM", 20, "mg/dL", "2025-06-01"))
    stored = registry.record(case, patient_id="unreadable-1", actor="clin", as_of=TODAY)
    damaged = stored.report.to_json()
    damaged["output_version"] = 99
    engine = create_engine(registry.url)
    with engine.begin() as connection:
        connection.execute(update(AssessmentRow).where(AssessmentRow.id == stored.id).values(report=damaged))
    engine.dispose()
    client = client_as("view")
    response = client.get(f"/patients/{stored.patient_ref}")
    assert response.status_code == 500
    assert f"assessment {stored.id}: the stored report cannot be read (output_version: 99 is not 1)" in response.text
    assert client.get("/patients").status_code == 200
