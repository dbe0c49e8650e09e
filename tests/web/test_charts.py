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
    assert [(r[0], r[6]) for r in rows] == [(str(r.date), r.status) for r in igm]
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


LABEL = re.compile(
    r'<text x="([-\d.]+)" y="([-\d.]+)" text-anchor="(\w+)"( dominant-baseline="central")?([^>]*)>([^<]*)</text>'
)


def labels(chart: str) -> list[dict]:
    """Every text label of a chart: position, anchor, whether centred, rotated, classes and text."""
    found = []
    for x, y, anchor, centred, rest, content in LABEL.findall(chart):
        css = re.search(r'class="([^"]+)"', rest)
        found.append(
            {
                "x": float(x),
                "y": float(y),
                "anchor": anchor,
                "centred": bool(centred),
                "rotated": "rotate(" in rest,
                "css": css.group(1) if css else "",
                "text": content,
            }
        )
    return found


def view_box(chart: str) -> tuple[float, float]:
    width, height = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', chart).groups()
    return float(width), float(height)


def extent(label: dict) -> tuple[float, float, float, float]:
    """A generous box (left, top, right, bottom) of a label at the largest font the stylesheet gives chart text."""
    length, font = svg.text_width(label["text"]), svg.MAX_FONT
    along = {"start": (0, length), "middle": (-length / 2, length / 2), "end": (-length, 0)}[label["anchor"]]
    across = (-0.5 * font, 0.5 * font) if label["centred"] else (-0.95 * font, 0.25 * font)
    if label["rotated"]:  # rotated -90 degrees about (x, y): the text runs upwards, its baseline vertical
        return label["x"] + across[0], label["y"] - along[1], label["x"] + across[1], label["y"] - along[0]
    return label["x"] + along[0], label["y"] + across[0], label["x"] + along[1], label["y"] + across[1]


def y_ticks(chart: str) -> list[dict]:
    return [t for t in labels(chart) if t["css"] == "tick" and t["centred"]]


def test_igm_for_age_is_drawn_on_a_log_axis_with_ticks_at_1_2_5_values(report, knowledge):
    """By default IgM is on a log axis labelled at 1-2-5 values (20, 50, 100, 200, 500 here), equal ratios apart."""
    chart = str(charts.igm_for_age(report, knowledge).svgs[0])
    ticks = y_ticks(chart)
    assert [t["text"] for t in ticks] == ["20", "50", "100", "200", "500"]
    ys = {float(t["text"]): t["y"] for t in ticks}
    assert ys[20] > ys[50] > ys[100] > ys[200] > ys[500]  # higher values further up
    assert ys[50] - ys[100] == pytest.approx(ys[100] - ys[200], abs=0.2)  # a doubling spans the same height
    assert "IgM (mg/dL, log scale)" in chart and "logarithmic axis" in chart


def test_igm_for_age_can_be_drawn_on_a_linear_axis_from_zero(report, knowledge):
    """log=False draws the axis linear from zero, with evenly spaced round ticks."""
    chart = str(charts.igm_for_age(report, knowledge, log=False).svgs[0])
    ticks = y_ticks(chart)
    values = [float(t["text"]) for t in ticks]
    assert values[0] == 0 and len({round(b - a, 6) for a, b in itertools.pairwise(values)}) == 1
    assert "IgM (mg/dL)" in chart and "log scale" not in chart


def _igm_case(knowledge, birth_date, *results, sex="female"):
    return build_report(
        build_case(knowledge, *results, birth_date=birth_date, sex=sex), knowledge, as_of=TODAY, patient_id="c"
    )


@pytest.fixture
def varied_reports(knowledge):
    """Synthetic reports that stretch the axes: an infant, censored and very low values, a wide IgM range,
    high IgG, results decades apart."""
    return [
        _igm_case(knowledge, "2026-03-01", ("IgM", "<1", "mg/dL", "2026-06-01"), ("IgG", 400, "mg/dL", "2026-06-01")),
        _igm_case(
            knowledge,
            "1950-01-01",
            ("IgM", 4000, "mg/dL", "1990-06-01"),
            ("IgM", 2, "mg/dL", "2026-06-01"),
            ("IgG", 2450, "mg/dL", "2026-06-01"),
            ("IgA", 1200, "mg/dL", "2026-06-01"),
        ),
        _igm_case(knowledge, "2012-07-01", ("IgM", 28, "mg/dL", "2019-01-10"), ("IgM", 0.25, "g/L", "2026-07-14")),
    ]


def test_no_chart_label_reaches_outside_the_view_box(report, knowledge, varied_reports):
    """Every tick and axis label, measured at the largest font the stylesheet uses, lies inside the viewBox."""
    checked = 0
    for each in [report, *varied_reports]:
        figures = [charts.igm_for_age(each, knowledge), charts.igm_for_age(each, knowledge, log=False)]
        figures.append(charts.timeline(each))
        for chart in (str(c) for f in figures if f is not None for c in f.svgs):
            width, height = view_box(chart)
            for label in labels(chart):
                left, top, right, bottom = extent(label)
                assert left >= 0 and right <= width and top >= 0 and bottom <= height, (label, width, height)
                checked += 1
    assert checked > 100


def test_log_axis_labels_never_crowd_together(knowledge, varied_reports):
    """However many decades the log axis spans, labelled ticks stay at least LABEL_GAP chart units apart."""
    for each in varied_reports:
        ticks = y_ticks(str(charts.igm_for_age(each, knowledge).svgs[0]))
        assert len(ticks) >= 2
        gaps = [a["y"] - b["y"] for a, b in itertools.pairwise(ticks)]
        assert all(gap >= svg.LABEL_GAP for gap in gaps), [t["text"] for t in ticks]
        assert {float(t["text"]) / 10 ** int(f"{float(t['text']):e}".split("e")[1]) for t in ticks} <= {1, 2, 5}


@pytest.mark.parametrize(("values", "expected"), [([28, 25, 37, 286], (20, 500)), ([4.9, 5], (2, 10)), ([0.2], (1, 2))])
def test_the_log_domain_runs_between_1_2_5_values_around_the_data(values, expected):
    """The log axis starts at the 1-2-5 value below the smallest value (never below 1 mg/dL) and ends above the largest."""
    assert svg.log_domain(values) == expected


def test_a_result_judged_against_the_laboratorys_range_is_noted_on_the_chart(knowledge):
    """Where the laboratory's own range decided a result, a note names the result, the range and the limit used;
    its limit mark and legend entry differ from the reference set's."""
    lab = {"low": 50, "high": 300}
    case = build_case(
        knowledge,
        ("IgM", 45, "mg/dL", "2026-01-10", lab),
        ("IgG", 1000, "mg/dL", "2026-01-10"),
        ("IgA", 200, "mg/dL", "2026-01-10"),
        ("IgM", 30, "mg/dL", "2026-07-14"),
    )
    figure = charts.igm_for_age(build_report(case, knowledge, as_of=TODAY, patient_id="lab-1"), knowledge)
    note = next(n for n in figure.notes if "laboratory's own range decided" in n)
    assert "2026-01-10" in note and "50–300 mg/dL" in note and "2026-07-14" not in note
    assert str(figure.svgs[0]).count('class="limit-tick limit-lab"') == 1
    assert "low limit taken from the laboratory's own range" in dict(figure.legend).values()
    assert [row[5] for row in figure.tables[0].rows] == ["laboratory's own range", "reference set"]


def test_without_a_laboratory_range_no_such_note_is_shown(report, knowledge):
    figure = charts.igm_for_age(report, knowledge)
    assert not any("laboratory" in n for n in figure.notes)
    assert "limit-lab" not in str(figure.svgs[0])


def test_every_chart_has_a_text_summary_of_what_it_shows(report, knowledge):
    """Beside the title, description and tables, each figure says in a sentence what it shows: the latest values."""
    igm = charts.igm_for_age(report, knowledge)
    assert igm.summary.startswith("Latest IgM <25 mg/dL on 2026-07-14")
    assert "2 of 2 IgM results low or absent" in igm.summary and "low limit of" in igm.summary
    line = charts.timeline(report).summary
    assert line.startswith("Latest results: IgM <25 mg/dL on 2026-07-14") and "IgG" in line and "IgA" in line
