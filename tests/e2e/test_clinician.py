"""A clinician in a real browser: sign in, enter a case, read the verdict and chart, save it, find it due."""

from __future__ import annotations

import re

from tests.e2e.conftest import CLINICIAN, PASSWORD

RESULTS = [
    ("IgM", "28", "mg/dL", "2026-01-10"),
    ("IgG", "10.2", "g/L", "2026-01-10"),
    ("IgA", "1.9", "g/L", "2026-01-10"),
    ("IgM", "0.25", "g/L", "2026-07-14"),
    ("IgG", "9.9", "g/L", "2026-07-14"),
    ("IgA", "2.0", "g/L", "2026-07-14"),
]


def sign_in(page, shot=None):
    page.goto("/login")
    if shot:
        shot(page, "01-login")
    page.get_by_label("Username").fill(CLINICIAN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_clinician_enters_a_case_saves_it_and_finds_it_due(page, server, shot):
    """Low IgM twice six months apart with normal IgG and IgA: verdict and chart shown, saved, listed as due."""
    sign_in(page, shot)
    page.get_by_role("link", name="Enter results").first.click()
    page.get_by_label("Patient identifier").fill("E2E-001")
    page.get_by_label("Name (optional)").fill("Synthetic Testperson")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Birth date").fill("1980-05-01")
    for index, (analyte, value, unit, day) in enumerate(RESULTS):
        page.locator(f"#r{index}_analyte").select_option(analyte)
        page.locator(f"#r{index}_value").fill(value)
        page.locator(f"#r{index}_unit").select_option(unit)
        page.locator(f"#r{index}_date").fill(day)
    page.get_by_role("button", name="Add another result row").click()
    assert page.locator("#r6_value").is_visible()
    assert page.evaluate("document.activeElement.id") == "r6_analyte"
    page.get_by_label("No conditions (asked: none)").check()
    page.get_by_label("No medications (asked: none)").check()
    shot(page, "02-entry-form")

    page.get_by_role("button", name="Assess").click()
    verdict = page.locator(".verdict-label")
    verdict.wait_for()
    assert "Partial selective IgM deficiency" in verdict.inner_text()
    assert page.locator(".verdict .disclaimer").is_visible()
    assert page.locator("table.profiles tbody tr").count() >= 2
    chart = page.locator("svg#igm-age")
    assert chart.is_visible() and chart.locator("title").text_content() == "IgM for age"
    assert chart.locator(".point").count() == 2
    shot(page, "03-assessment")
    shot(page, "04-igm-for-age-chart", "#igm-age-figure")
    shot(page, "05-timeline-chart", "#timeline-figure")

    page.emulate_media(media="print")
    assert page.locator(".site-nav").is_hidden() and page.locator("form.case-form").is_hidden()
    assert page.locator(".verdict").is_visible()
    shot(page, "06-assessment-print")
    page.emulate_media(media="screen")

    page.get_by_role("button", name="Save to registry").click()
    page.wait_for_url(re.compile(r"/patients/[0-9a-f]{32}$"))  # an opaque reference, never the identifier
    assert "Saved:" in page.locator(".notice").first.inner_text()
    assert page.locator("h1").inner_text() == "Patient E2E-001: Synthetic Testperson"
    assert page.get_by_role("heading", name="Audit trail").is_visible()
    shot(page, "07-patient-page")
    stored = server.registry.patient("E2E-001")
    assert stored.summary.label == "partial_sigmd" and len(stored.case.results) == 6

    page.get_by_role("link", name="Follow-up").click()  # every planned review is listed, without a window
    row = page.locator("tr", has=page.get_by_role("link", name="E2E-001"))
    assert row.count() == 1 and stored.summary.next_follow_up.isoformat() in row.inner_text()
    shot(page, "08-follow-up-list")


def test_the_login_form_works_from_the_keyboard_alone(page, shot):
    """Tab reaches the skip link first, then the login fields; Enter submits the form."""
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "username":
            break
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(CLINICIAN)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    shot(page, "09-keyboard-login")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("button", name="Log out").is_visible()
