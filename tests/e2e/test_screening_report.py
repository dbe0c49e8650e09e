"""The screening report (report.html written by `sigmd.screen`), opened from disk, checked with axe-core."""

from __future__ import annotations

from datetime import date

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
