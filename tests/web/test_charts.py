"""The charts: every number drawn comes from the report or the reference set, with a text alternative."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from sigmd.core.model import Analyte
from sigmd.core.stats import LogNormalFit
from sigmd.web import charts, svg
from sigmd.web.reports import build_report
from tests.cases import build_case
from tests.web.conftest import TODAY


@pytest.fixture
def report(knowledge):
    """A synthetic woman born 1980 with IgM low twice (once censored), IgG and IgA normal."""
    case = build_case(
        knowledge,
        ("IgM", 28, "mg/dL", "2026-01-10"),
        ("IgG", 10.2, "g/L", "2026-01-10"),
        ("IgA", 190, "mg/dL", "2026-01-10"),
        ("IgM", "<25", "mg/dL", "2026-07-14"),
    )
    return build_report(case, knowledge, as_of=TODAY, patient_id="chart-1")


def test_the_band_is_the_reference_sets_igm_interval_with_its_log_normal_centre(knowledge):
    """The band of an adult woman is the set's adult IgM row; its centre is the log-normal geometric mean."""
    steps = charts.band_steps(knowledge, "mayo", "female", 40, 50)
    row = next(
        i
        for i in knowledge.reference_sets["mayo"].intervals
        if i.analyte is Analyte.IGM and i.age_from.approx_years <= 40 < i.age_to.approx_years
    )
    assert [s.row for s in steps] == [row]
    assert (steps[0].age_from, steps[0].age_to) == (40, 50)
    assert steps[0].centre == pytest.approx(LogNormalFit.from_interval(row.lower_mg_dl, row.upper_mg_dl).geometric_mean)


def test_sex_specific_rows_are_chosen_for_the_patients_sex(knowledge):
    """Where a set publishes IgM by sex, a girl's band uses the female rows and a boy's the male rows."""
    girl = charts.band_steps(knowledge, "bozeman_sex", "female", 4, 10)
    boy = charts.band_steps(knowledge, "bozeman_sex", "male", 4, 10)
    assert {s.row.sex.value for s in girl} == {"female"} and {s.row.sex.value for s in boy} == {"male"}
    assert girl[0].upper != boy[0].upper


def test_patients_of_unknown_sex_get_only_pooled_rows(knowledge):
    """With sex unknown, sex-specific rows are not drawn (the core does not use them either)."""
    assert charts.band_steps(knowledge, "bozeman_sex", "unknown", 4, 10) == []


def test_igm_for_age_plots_each_igm_result_at_its_age(report, knowledge):
    """Every IgM result of the report is a marker and a table row with its age, value, limit and status."""
    figure = charts.igm_for_age(report, knowledge)
    igm = [r for r in report.results if r.analyte == "IgM"]
    chart = str(figure.svgs[0])
    assert chart.count('class="point point-low"') == len(igm) == 2
    assert chart.count("<circle") == 1 and chart.count('Z"/>') >= 1  # one measured value, one censored triangle
    rows = figure.tables[0].rows
    assert [(r[0], r[5]) for r in rows] == [(str(r.date), r.status) for r in igm]
    assert rows[1][3] == "<25"
    assert f"{igm[0].limit_used_mg_dl:g}" in rows[0][4]


def test_igm_for_age_has_a_title_description_and_labelled_centre(report, knowledge):
    """The SVG is an image named by its title and description; the centre is labelled as a log-normal estimate."""
    figure = charts.igm_for_age(report, knowledge)
    chart = str(figure.svgs[0])
    assert 'role="img"' in chart and 'aria-labelledby="igm-age-title igm-age-desc"' in chart
    assert '<title id="igm-age-title">IgM for age</title>' in chart
    description = re.search(r"<desc[^>]*>(.*?)</desc>", chart).group(1)
    assert "28 mg/dL on 2026-01-10" in description and report.reference_set.name in description
    assert charts.CENTRE_LABEL in figure.tables[1].columns[-1]
    assert "estimated centre (log-normal)" in dict(figure.legend).values()


def test_the_timeline_has_one_panel_per_immunoglobulin_with_its_limits(report):
    """IgM, IgG and IgA each get a panel; the table lists every result with the age-matched limit used."""
    figure = charts.timeline(report)
    assert [re.search(r'id="([^"]+)"', str(s)).group(1) for s in figure.svgs] == [
        "timeline-igm",
        "timeline-igg",
        "timeline-iga",
    ]
    assert len(figure.tables[0].rows) == len(report.results)
    igg = next(r for r in report.results if r.analyte == "IgG")
    row = next(r for r in figure.tables[0].rows if r[1] == "IgG")
    assert row[4] == charts._num(igg.limit_used_mg_dl) and row[3] == charts._num(igg.value_mg_dl, 2)


def test_a_report_without_igm_draws_no_igm_chart(report, knowledge):
    """No IgM results means no IgM chart rather than an empty one."""
    stripped = dataclasses.replace(report, results=tuple(r for r in report.results if r.analyte != "IgM"))
    assert charts.igm_for_age(stripped, knowledge) is None
    assert [str(s).count("<svg") for s in charts.timeline(stripped).svgs] == [1, 1]


@pytest.mark.parametrize(("lo", "hi"), [(0, 36.2), (0, 1), (3.5, 48.2), (0, 1500)])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    """Tick values are evenly spaced round numbers inside the range."""
    ticks = svg.nice_ticks(lo, hi)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and ticks[0] >= lo and ticks[-1] <= hi + 1e-9 and len(ticks) >= 3


def test_the_top_of_an_axis_is_at_or_above_the_largest_value():
    """The y axis always reaches the largest value drawn."""
    for value in (0.3, 36.2, 286, 1020, 999.9):
        assert svg.nice_top(value) >= value
