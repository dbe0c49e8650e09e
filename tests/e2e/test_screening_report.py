"""The screening report (report.html written by `sigmd.screen`), opened from disk, checked with axe-core."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

import sigmd
from sigmd.screening.synth import synth
from tests.e2e.axe import check_file, describe
from tests.e2e.conftest import DESKTOP, MOBILE


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory):
    """report.html of a screen of 60 synthetic patients (a small CSV extract with its conditions and medications)."""
    extract = synth(60, 11, tmp_path_factory.mktemp("extract") / "labs.csv", "csv")
    out = tmp_path_factory.mktemp("screened")
    sigmd.screen(extract.results, out, records=extract.records, as_of=date(2026, 1, 1))
    report = out / "report.html"
    assert report.is_file() and report.stat().st_size > 0
    return report


@pytest.mark.parametrize("viewport", [MOBILE, DESKTOP], ids=["390px", "1280px"])
def test_the_screening_report_has_no_axe_violations(browser, report_html, viewport):
    """axe-core finds no violation in the static screening report, on a phone and on a desktop."""
    found = check_file(browser, report_html, viewport)
    assert not found, f"axe-core found {len(found)} violation(s) in report.html:\n{describe(found)}"


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CLIPPED_TEXT = """() => [...document.querySelectorAll('svg')].flatMap((svg) => {
  const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].filter((text) => {
    const r = text.getBoundingClientRect();
    return r.left < box.left - 0.5 || r.top < box.top - 0.5 || r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5;
  }).map((text) => text.textContent);
})"""


@pytest.mark.parametrize(("name", "width"), [("desktop", 1280), ("390px", 390)])
def test_report_fits_the_screen_and_keeps_chart_text(browser: Any, report_html: Path, name: str, width: int) -> None:
    """No sideways scroll (at 390 px too), no chart text outside its box; screenshots for people to look at."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        view = context.new_page()
        view.goto(report_html.resolve().as_uri())
        scroll, client = view.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"the page scrolls sideways at {width} px ({scroll} > {client})"
        assert view.evaluate(CLIPPED_TEXT) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(ARTIFACTS / f"screening-report-{name}.png"), full_page=True)
    finally:
        context.close()
