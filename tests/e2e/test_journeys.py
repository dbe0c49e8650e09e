"""Two journeys a clinician makes without a mouse or a big screen.

Keyboard only: sign in, open the entry form, enter a case, submit and reach the verdict with Tab, Shift+Tab,
Enter and Space (and typing into the fields), with a visible focus indicator at every stop.
On a 390 px phone: the same case entered by touch, the verdict read, the case saved, the patient page and the
follow-up list opened, and no page scrolls sideways.
Screenshots of each step go to test-artifacts/e2e/ (keyboard-*.png, mobile-*.png).
"""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import CLINICIAN, MOBILE, PASSWORD

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow !== 'none' && style.boxShadow !== '';
  const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
  return {tag: el.tagName.toLowerCase(), id: el.id, href: el.getAttribute('href') || '', label: label,
          text: (el.innerText || el.value || '').trim().slice(0, 60), indicated: outline || shadow};
}"""
CASE = [
    ("IgM", "28", "mg/dL", "01102026"),
    ("IgG", "1020", "mg/dL", "01102026"),
    ("IgA", "190", "mg/dL", "01102026"),
    ("IgM", "25", "mg/dL", "07142026"),
]
"""The synthetic case of the journeys: low IgM twice six months apart, IgG and IgA normal (dates as typed, en-US)."""


class Keyboard:
    """Moves focus with Tab and Shift+Tab only, checking at every stop that the focus can be seen."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.stops = 0
        self.trail: list[str] = []

    def focused(self) -> dict[str, Any]:
        found: dict[str, Any] = self.page.evaluate(FOCUSED)
        return found

    def tab(self, back: bool = False) -> dict[str, Any]:
        self.page.keyboard.press("Shift+Tab" if back else "Tab")
        self.stops += 1
        now = self.focused()
        self.trail.append(("S-" if back else "") + now["id"] + ":" + str(now["indicated"]))
        if now["tag"] != "body":
            assert now["indicated"], f"focus is not visible on {now} after {self.trail[-8:]}"
        return now

    def to(self, matches: Any, limit: int = 60, back: bool = False) -> dict[str, Any]:
        """Tab (or Shift+Tab) until the focused element satisfies `matches`."""
        for _ in range(limit):
            now = self.tab(back)
            if matches(now):
                return now
        raise AssertionError(f"no focus stop matched within {limit} presses; last: {self.focused()}")

    def to_id(self, element_id: str, back: bool = False) -> None:
        self.to(lambda f: f["id"] == element_id, back=back)


def test_a_clinician_reaches_the_verdict_with_the_keyboard_alone(browser, server, shot):
    """Tab, Shift+Tab, Enter and Space (and typing) take a clinician from sign-in to the verdict; focus always shows."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    keys = Keyboard(page)
    try:
        page.goto("/login")
        first = keys.tab()
        assert first["text"] == "Skip to main content"
        keys.to_id("username")
        page.keyboard.type(CLINICIAN)
        keys.to_id("password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/$"))

        keys.to(lambda f: f["href"] == "/cases/new")
        shot(page, "keyboard-01-focus-on-enter-results")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/cases/new$"))

        keys.to_id("patient_id")
        page.keyboard.type("E2E-KEYS")
        keys.to_id("sex")
        page.keyboard.type("female")
        keys.to_id("birth_date")
        page.keyboard.type("05011980")
        keys.to_id("sex", back=True)  # Shift+Tab goes back: the sex chosen is still there
        assert page.locator("#sex").input_value() == "female"
        keys.to_id("birth_date")
        assert page.locator("#birth_date").input_value() == "1980-05-01"
        for index, (analyte, value, unit, day) in enumerate(CASE):
            keys.to_id(f"r{index}_analyte")
            page.keyboard.type(analyte)
            keys.to_id(f"r{index}_value")
            page.keyboard.type(value)
            keys.to_id(f"r{index}_unit")
            page.keyboard.type(unit)
            keys.to_id(f"r{index}_date")
            page.keyboard.type(day)
        assert [page.locator(f"#r{i}_analyte").input_value() for i in range(4)] == [row[0] for row in CASE]
        assert page.locator("#r3_date").input_value() == "2026-07-14"
        keys.to_id("conditions_none")
        page.keyboard.press("Space")
        keys.to_id("medications_none")
        page.keyboard.press("Space")
        assert page.locator("#conditions_none").is_checked() and page.locator("#medications_none").is_checked()
        assess = keys.to(lambda f: f["tag"] == "button" and f["text"] == "Assess")
        assert assess["indicated"]
        shot(page, "keyboard-02-focus-on-assess")
        page.keyboard.press("Enter")

        verdict = page.locator(".verdict-label")
        verdict.wait_for()
        assert "Partial selective IgM deficiency" in verdict.inner_text()
        keys.to(lambda f: f["text"] == "Skip to main content")
        page.keyboard.press("Enter")
        box = verdict.bounding_box()
        assert box is not None and 0 <= box["y"] < 900, "the verdict is not on the first screen"
        shot(page, "keyboard-03-verdict", full_page=False)
        assert keys.stops > 40
    finally:
        context.close()


def _no_sideways_scroll(page: Any, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= MOBILE["width"], f"{where}: the page is {width} px wide on a {MOBILE['width']} px phone"


def test_a_clinician_enters_and_saves_a_case_on_a_phone(mobile_page, server, shot):
    """At 390 px every step fits the screen: sign in, enter by touch, read the verdict and chart, save, follow up."""
    page = mobile_page
    page.goto("/login")
    _no_sideways_scroll(page, "login")
    page.get_by_label("Username").tap()
    page.keyboard.type(CLINICIAN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("link", name="Enter results").first.tap()
    page.wait_for_url(re.compile(r"/cases/new$"))
    _no_sideways_scroll(page, "entry form")
    page.get_by_label("Patient identifier").fill("E2E-PHONE")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Birth date").fill("1980-05-01")
    for index, (analyte, value, unit, day) in enumerate(CASE):
        label = f"Result {index + 1}"
        assert page.get_by_label(f"{label} value", exact=True).is_visible()  # the stacked rows show their labels
        page.get_by_label(f"{label} analyte", exact=True).select_option(analyte)
        page.get_by_label(f"{label} value", exact=True).fill(value)
        page.get_by_label(f"{label} unit", exact=True).select_option(unit)
        page.get_by_label(f"{label} date", exact=True).fill(f"{day[4:]}-{day[:2]}-{day[2:4]}")
    page.get_by_label("No conditions (asked: none)").check()
    page.get_by_label("No medications (asked: none)").check()
    shot(page, "mobile-01-entry-form")
    page.get_by_role("button", name="Assess").tap()
    verdict = page.locator(".verdict-label")
    verdict.wait_for()
    assert "Partial selective IgM deficiency" in verdict.inner_text()
    _no_sideways_scroll(page, "assessment")
    box = verdict.bounding_box()
    assert box is not None and box["y"] < MOBILE["height"], "the verdict is not on the first screen of the phone"
    shot(page, "mobile-02-verdict-first-screen", full_page=False)
    shot(page, "mobile-03-assessment")
    shot(page, "mobile-04-igm-for-age", "#igm-age-figure")
    chart = page.locator("svg#igm-age")
    assert chart.bounding_box()["width"] <= MOBILE["width"]
    page.get_by_role("button", name="Save to registry").tap()
    page.wait_for_url(re.compile(r"/patients/[0-9a-f]{32}$"))
    _no_sideways_scroll(page, "patient page")
    shot(page, "mobile-05-patient-page")
    page.get_by_role("link", name="Follow-up").tap()
    page.wait_for_url(re.compile(r"/follow-up$"))
    _no_sideways_scroll(page, "follow-up list")
    assert page.get_by_role("link", name="E2E-PHONE").is_visible()
    shot(page, "mobile-06-follow-up")
    assert_accessible(page, "follow-up list on a phone")
