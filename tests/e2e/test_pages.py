"""Every page, on a desktop and on a 390 px phone: no axe-core violation, no sideways scrolling, legible charts.

The pages are reached as a signed-in administrator (who sees every control) over a registry seeded with
synthetic patients (one whose low IgM was judged against the laboratory's own range, one with a possible
secondary cause, one with no named pattern) and a screening job run on a small synthetic extract. Each page
is also shown in its other states (a form with errors, an assessment, an import preview and its outcome).
Screenshots: test-artifacts/e2e/pages-<page>-<width>.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sigmd import content
from sigmd.adapters.case_json import case_from_dict
from sigmd.screening.synth import synth
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import ADMIN, DESKTOP, MOBILE, PASSWORD, TODAY, Server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LAB_RANGE_CASE = {
    "patient": {"sex": "female", "birth_date": "1980-05-01"},
    "results": [
        {"analyte": a, "value": v, "unit": "mg/dL", "date": d, **({"reference_range": r} if r else {})}
        for d in ("2026-01-10", "2026-07-14")
        for a, v, r in (("IgM", 45, {"low": 50, "high": 300}), ("IgG", 1000, None), ("IgA", 200, None))
    ],
    "conditions": [],
    "medications": [],
}
OTHER_PATTERN_CASE = {
    "patient": {"sex": "male", "birth_date": "1975-02-01"},
    "results": [
        {"analyte": a, "value": v, "unit": "mg/dL", "date": d}
        for d in ("2026-01-10", "2026-07-14")
        for a, v in (("IgM", 20), ("IgA", 20))
    ],
}


@dataclass(frozen=True)
class Site:
    state: dict[str, Any]
    """Playwright storage state of the signed-in administrator."""
    lab_range_ref: str
    secondary_ref: str
    other_ref: str
    job_url: str


def _sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.fixture(scope="module")
def site(browser: Any, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Synthetic patients in the registry, a finished screening job, and an administrator's signed-in session."""
    knowledge = content.load()
    lab = server.registry.record(
        case_from_dict(LAB_RANGE_CASE, knowledge), patient_id="E2E-LAB", actor="e2e", as_of=TODAY
    )
    secondary_doc = json.loads((EXAMPLES / "secondary-clozapine.json").read_text(encoding="utf-8"))
    secondary = server.registry.record(
        case_from_dict(secondary_doc, knowledge),
        patient_id="E2E-SEC",
        actor="e2e",
        as_of=TODAY,
        display_name="Synthetic Secondary",
    )
    other = server.registry.record(
        case_from_dict(OTHER_PATTERN_CASE, knowledge), patient_id="E2E-OTHER", actor="e2e", as_of=TODAY
    )
    extract = synth(40, 3, tmp_path_factory.mktemp("extract") / "labs.csv", "csv").results
    ctx = browser.new_context(base_url=server.url, viewport=DESKTOP)
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    _sign_in(page, ADMIN)
    page.goto("/screenings")
    page.get_by_label("Lab extract (.csv or .parquet)").set_input_files(str(extract))
    page.get_by_label("Assess as of").fill(TODAY.isoformat())
    page.get_by_role("button", name="Start screening").click()
    page.wait_for_url(re.compile(r"/screenings/[0-9a-f]{16}$"))
    job_url = page.url
    for _ in range(60):
        if page.get_by_role("link", name="View the report").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    assert page.get_by_role("link", name="View the report").count() == 1, page.content()
    state = ctx.storage_state()
    ctx.close()
    yield Site(state, lab.patient_ref, secondary.patient_ref, other.patient_ref, job_url)


def _fill_case(page: Any) -> None:
    page.goto("/cases/new")
    page.get_by_label("Patient identifier").fill("E2E-SWEEP")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Birth date").fill("1980-05-01")
    rows = [("IgM", "28", "mg/dL", "2026-01-10"), ("IgG", "1020", "mg/dL", "2026-01-10")]
    rows += [("IgA", "190", "mg/dL", "2026-01-10"), ("IgM", "<25", "mg/dL", "2026-07-14")]
    for index, (analyte, value, unit, day) in enumerate(rows):
        page.locator(f"#r{index}_analyte").select_option(analyte)
        page.locator(f"#r{index}_value").fill(value)
        page.locator(f"#r{index}_unit").select_option(unit)
        page.locator(f"#r{index}_date").fill(day)


def _assessment(page: Any, site: Site) -> None:
    _fill_case(page)
    page.get_by_role("button", name="Assess").click()
    page.locator(".verdict-label").wait_for()


def _form_errors(page: Any, site: Site) -> None:
    _fill_case(page)
    page.locator("#r1_value").fill("2,5")
    page.locator("#r2_unit").select_option("")
    page.get_by_role("button", name="Assess").click()
    page.locator("#error-summary").wait_for()


def _import_preview(page: Any, site: Site) -> None:
    page.goto("/import")
    page.get_by_label("File").set_input_files(str(EXAMPLES / "oru-low-igm.hl7"))
    page.get_by_role("button", name="Read and assess").click()
    page.locator(".verdict-label").wait_for()


def _import_outcomes(page: Any, site: Site) -> None:
    page.goto("/import")
    rows = [
        "patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high",
        "E2E-CSV-1,female,1980-05-01,2026-01-10,2472-9,20,mg/dL,,,",
        "E2E-CSV-1,female,1980-05-01,2026-01-10,2465-3,1000,mg/dL,,,",
        "E2E-CSV-1,female,1980-05-01,2026-01-10,2458-8,200,mg/dL,,,",
        "E2E-CSV-2,female,1980-05-01,2026-01-10,2472-9,lots,mg/dL,,,",
    ]
    page.get_by_label("File").set_input_files(
        {"name": "extract.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}
    )
    page.get_by_role("button", name="Read and assess").click()
    page.locator("#outcomes-title").wait_for()


def _goto(path: str | Callable[[Site], str]) -> Callable[[Any, Site], None]:
    def visit(page: Any, site: Site) -> None:
        page.goto(path(site) if callable(path) else path)

    return visit


PAGES: dict[str, Callable[[Any, Site], None]] = {
    "start": _goto("/"),
    "patient-list": _goto("/patients"),
    "new-case-form": _goto("/cases/new"),
    "new-case-form-with-errors": _form_errors,
    "assessment-result": _assessment,
    "patient-lab-range": _goto(lambda s: f"/patients/{s.lab_range_ref}"),
    "patient-secondary": _goto(lambda s: f"/patients/{s.secondary_ref}"),
    "patient-other-pattern": _goto(lambda s: f"/patients/{s.other_ref}"),
    "follow-up": _goto("/follow-up"),
    "import": _goto("/import"),
    "import-preview": _import_preview,
    "import-outcomes": _import_outcomes,
    "screenings": _goto("/screenings"),
    "screening-job": _goto(lambda s: s.job_url),
    "account": _goto("/account"),
    "users": _goto("/users"),
    "not-found": _goto("/patients/0123456789abcdef0123456789abcdef"),
}

LEGIBLE_PX = 11
WIDER_THAN_WINDOW = """(width) => Array.from(document.querySelectorAll('body *'))
  .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !el.closest('.visually-hidden, .skip-link'))
  .filter((el) => !Array.from(el.children).some((c) => c.getBoundingClientRect().right > width + 0.5))
  .slice(0, 5).map((el) => el.outerHTML.slice(0, 160))"""
CHART_TEXT = """() => Array.from(document.querySelectorAll('svg.chart')).flatMap((svg) => {
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  return Array.from(svg.querySelectorAll('text')).filter((t) => getComputedStyle(t).display !== 'none').map((t) => {
    const r = t.getBoundingClientRect();
    return {chart: svg.id, text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5
                    && r.bottom <= box.bottom + 0.5};
  });
})"""


def open_page(browser: Any, server: Server, site: Site, viewport: dict[str, int]) -> Any:
    mobile = viewport["width"] < 600
    context = browser.new_context(
        base_url=server.url,
        viewport=viewport,
        storage_state=site.state,
        is_mobile=mobile,
        has_touch=mobile,
        device_scale_factor=2 if mobile else 1,
    )
    context.set_default_timeout(30_000)
    return context


def check_layout(page: Any, width: int, name: str) -> None:
    """No sideways scrolling; every chart's text inside its chart and (on a phone) at least LEGIBLE_PX high."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        widest = "\n  ".join(page.evaluate(WIDER_THAN_WINDOW, width))
        pytest.fail(f"{name}: the page is {scroll} px wide in a {width} px window; reaching past it:\n  {widest}")
    texts = page.evaluate(CHART_TEXT)
    clipped = [t for t in texts if not t["inside"]]
    assert clipped == [], f"{name}: chart text outside its chart: {clipped}"
    if width <= MOBILE["width"]:
        small = [t for t in texts if t["px"] < LEGIBLE_PX - 0.05]
        assert small == [], f"{name}: chart text smaller than {LEGIBLE_PX} px: {small[:5]}"


@pytest.mark.parametrize("viewport", [MOBILE, DESKTOP], ids=["390px", "1280px"])
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_is_accessible_and_fits_the_screen(browser, server, site, shot, name, viewport):
    """axe-core finds no violation; nothing scrolls sideways; chart text is inside the chart and legible."""
    context = open_page(browser, server, site, viewport)
    try:
        page = context.new_page()
        PAGES[name](page, site)
        assert page.locator("main h1").count() == 1
        shot(page, f"pages-{name}-{viewport['width']}")
        check_layout(page, viewport["width"], name)
        assert_accessible(page, f"{name} at {viewport['width']} px")
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [MOBILE, DESKTOP], ids=["390px", "1280px"])
def test_the_login_page_is_accessible_and_fits_the_screen(browser, server, shot, viewport):
    """The signed-out login page, with and without an error, passes axe-core and fits a phone."""
    context = browser.new_context(base_url=server.url, viewport=viewport)
    try:
        page = context.new_page()
        page.goto("/login")
        check_layout(page, viewport["width"], "login")
        assert_accessible(page, f"login at {viewport['width']} px")
        page.get_by_label("Username").fill("nobody")
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Sign in").click()
        page.locator("#error-summary").wait_for()
        shot(page, f"pages-login-error-{viewport['width']}")
        check_layout(page, viewport["width"], "login with an error")
        assert_accessible(page, f"login with an error at {viewport['width']} px")
    finally:
        context.close()
