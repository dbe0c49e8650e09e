"""report.html for readers: landmarks, text alternatives, words not ids, the summary's numbers, intervals, 390 px.

Built from a small synthetic screen (synthetic patients only). The browser test opens the report in Debian's
headless Chromium, saves screenshots at desktop and 390 px widths to test-artifacts/e2e/ and checks that
nothing scrolls sideways and no chart text is cut off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from sigmd import content
from sigmd.screening.prevalence import prevalence_table
from sigmd.screening.report import Names, render
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "col", "source", "area", "base", "track", "embed"}
SNAKE_ID = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
PERCENT_CI = re.compile(r"(\d+(?:\.\d+)?)%, 95% CI (\d+(?:\.\d+)?)–(\d+(?:\.\d+)?)%")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children if not _hidden(c))

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


def _hidden(node: Node | str) -> bool:
    return isinstance(node, Node) and node.tag in ("style", "script", "title")


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"</{tag}> closes nothing that is open"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(markup: str) -> Node:
    tree = _Tree()
    tree.feed(markup)
    tree.close()
    assert tree.current is tree.root, f"<{tree.current.tag}> is never closed"
    return tree.root


def by_id(root: Node, element_id: str) -> Node:
    return next(n for n in root.iter() if n.attrs.get("id") == element_id)


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def screened(cohort: SynthFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False)
    return out


@pytest.fixture(scope="module")
def summary(screened: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((screened / "summary.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def markup(screened: Path) -> str:
    return (screened / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(markup: str) -> Node:
    return parse(markup)


def test_page_has_a_language_landmarks_and_headings_in_order(markup: str, page: Node) -> None:
    """<html lang="en">, header, nav, main and footer holding all the content, one h1 and no skipped levels."""
    assert markup.startswith("<!doctype html>")
    html_node = next(page.iter("html"))
    assert html_node.attrs.get("lang") == "en"
    assert any(m.attrs.get("name") == "viewport" for m in page.iter("meta"))
    body = next(page.iter("body"))
    assert [c.tag for c in body.children if isinstance(c, Node)] == ["header", "nav", "main", "footer"]
    assert not "".join(c for c in body.children if isinstance(c, str)).strip()
    assert next(body.iter("nav")).attrs.get("aria-label")
    levels = [int(n.tag[1]) for n in page.iter() if re.fullmatch(r"h[1-6]", n.tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels
    for section in page.iter("section"):
        assert by_id(page, section.attrs["aria-labelledby"]).tag == "h2"
    ids = [n.attrs["id"] for n in page.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids))
    for link in page.iter("a"):
        target = link.attrs["href"]
        assert target.startswith("https://") or (target.startswith("#") and target[1:] in ids), target


def test_every_chart_has_a_text_alternative_and_scales(page: Node) -> None:
    """Each svg is an image with a name, inside a figure with a caption, scaled by its viewBox."""
    charts = list(page.iter("svg"))
    assert len(charts) == 3
    for chart in charts:
        assert chart.attrs.get("role") == "img" and len(chart.attrs.get("aria-label", "")) > 40
        assert re.fullmatch(r"0 0 \d+ \d+", chart.attrs.get("viewbox", ""))  # the parser lower-cases names
        assert "width" not in chart.attrs and "height" not in chart.attrs
        figure = next(a for a in chart.ancestors() if a.tag == "figure")
        assert words(next(figure.iter("figcaption")).text())


def test_tables_have_captions_scoped_headers_and_named_scroll_containers(page: Node) -> None:
    tables = list(page.iter("table"))
    assert len(tables) >= 7
    for table in tables:
        assert words(next(table.iter("caption")).text())
        assert all(th.attrs.get("scope") in ("col", "row") for th in table.iter("th"))
        wrap = table.parent
        assert wrap is not None and wrap.attrs.get("class") == "table-wrap"
        assert wrap.attrs.get("tabindex") == "0" and wrap.attrs.get("role") == "region"
        assert by_id(page, wrap.attrs["aria-labelledby"]).tag == "caption"


def test_no_machine_ids_are_shown(page: Node) -> None:
    """Labels, terms, groups, columns and sets are in words: no partial_sigmd, minus_2sd, not_met, birth_date."""
    shown = words(next(page.iter("body")).text())
    labels = " ".join(n.attrs.get("aria-label", "") for n in page.iter())
    for text in (shown, labels, words(next(page.iter("title")).text())):
        assert not SNAKE_ID.findall(text)
    for machine in ("partial_sigmd", "complete_sigmd", "minus_2sd", "not_met", "mayo", "idf", "low_igm_results"):
        assert machine not in shown
    assert "Partial selective IgM deficiency" in shown and "Complete selective IgM deficiency" in shown


def test_summary_paragraph_quotes_summary_json(summary: dict[str, Any], page: Node) -> None:
    """Patients, date range, cases by form and certainty, ESID count and both intervals are summary.json's."""
    text = words(by_id(page, "summary-text").text())
    knowledge = content.load()

    def row(form: str, stage: str) -> dict[str, Any]:
        return next(
            r for r in summary["prevalence"] if r["stratum"] == "overall" and (r["form"], r["stage"]) == (form, stage)
        )

    overall, confirmed = row("any", "any"), row("any", "confirmed")
    dates = summary["results_collected"]
    assert dates["first_date"] <= dates["last_date"] <= summary["as_of"]
    assert text.startswith(
        f"Of {summary['patients']:,} patients screened (results collected {dates['first_date']} to "
        f"{dates['last_date']}), {overall['cases']:,} ("
    )
    assert f"{row('partial', 'any')['cases']:,} partial and {row('complete', 'any')['cases']:,} complete" in text
    assert f"{confirmed['cases']:,} confirmed and {overall['cases'] - confirmed['cases']:,} provisional" in text
    met = next(s["count"] for s in summary["funnel"] if s["step"] == "esid_met")
    assert f"{met:,} (" in text and "met every ESID criterion" in text
    quoted = PERCENT_CI.findall(text)
    assert len(quoted) == 2
    estimate, low, high = (float(x) / 100 for x in quoted[0])
    tolerance = 0.0005  # half of the last shown decimal of a percentage at 1 decimal
    assert abs(estimate - overall["prevalence"]) <= tolerance
    assert abs(low - overall["ci95_low"]) <= tolerance and abs(high - overall["ci95_high"]) <= tolerance
    exact = re.search(r"exact \(Clopper–Pearson\) 95% interval of the overall prevalence is ([\d.]+)–([\d.]+)%", text)
    assert exact is not None
    assert abs(float(exact[1]) / 100 - overall["exact95_low"]) <= tolerance
    assert abs(float(exact[2]) / 100 - overall["exact95_high"]) <= tolerance
    assert knowledge.reference_sets[summary["reference_set"]].name in text
    assert knowledge.profiles[summary["profile"]].name in text
    assert "Wilson" in text


def test_report_states_the_disclaimer_the_rows_and_the_setting(summary: dict[str, Any], page: Node) -> None:
    shown = words(next(page.iter("body")).text())
    rows = summary["rows"]
    assert summary["disclaimer"] in shown and "does not replace" in shown
    assert f"{rows['in']:,} rows in = {rows['used']:,} used + {rows['rejected']:,} rejected" in shown
    facts = words(next(page.iter("header")).text())
    knowledge = content.load()
    assert knowledge.reference_sets[summary["reference_set"]].name in facts
    assert knowledge.profiles[summary["profile"]].name in facts


def test_prevalence_table_shows_wilson_and_exact_intervals(summary: dict[str, Any], page: Node) -> None:
    """Every group's prevalence reads `p% (low–high%)` (Wilson) beside the exact interval, as summary.json has them."""
    table = by_id(page, "prevalence-table")
    headers = [words(th.text()) for th in table.iter("th") if th.attrs.get("scope") == "col"]
    assert "Prevalence (Wilson 95% CI)" in headers and "Exact 95% CI (Clopper–Pearson)" in headers
    rows = [r for r in summary["prevalence"] if r["form"] == "any" and r["stage"] == "any"]
    body = list(next(table.iter("tbody")).iter("tr"))
    assert len(body) == len(rows)
    for tr, row in zip(body, rows, strict=True):
        cells = [words(c.text()) for c in tr.iter() if c.tag in ("th", "td")]
        assert cells[1] == f"{row['patients']:,}" and cells[2] == f"{row['cases']:,}"
        if row["prevalence"] is None:
            assert cells[3] == "no patients"
            continue
        found = re.fullmatch(r"(\d+(?:\.\d+)?)% \((\d+(?:\.\d+)?)–(\d+(?:\.\d+)?)%\)", cells[3])
        assert found is not None, cells[3]
        decimals = len(found[1].partition(".")[2])
        tolerance = 0.5 * 10**-decimals / 100 + 1e-12
        for shown, key in zip(found.groups(), ("prevalence", "ci95_low", "ci95_high"), strict=True):
            assert abs(float(shown) / 100 - row[key]) <= tolerance or float(shown) == row[key] == 0
        exact = re.fullmatch(r"(\d+(?:\.\d+)?)–(\d+(?:\.\d+)?)%", cells[4])
        assert exact is not None, cells[4]
        assert abs(float(exact[1]) / 100 - row["exact95_low"]) <= tolerance
        assert abs(float(exact[2]) / 100 - row["exact95_high"]) <= tolerance


def test_funnel_is_counted_in_patients(summary: dict[str, Any], page: Node) -> None:
    """The funnel starts at the patients screened and narrows; the count of low results is no step of it."""
    table = by_id(page, "funnel-table")
    steps = [
        [words(c.text()) for c in tr.iter() if c.tag in ("th", "td")] for tr in next(table.iter("tbody")).iter("tr")
    ]
    counts = [int(s[1].replace(",", "")) for s in steps]
    patient_steps = [s["count"] for s in summary["funnel"] if s["step"] != "low_igm_results"]
    judged = summary["patients_assessed_by_core"] + summary["patients_judged_setwise"]
    assert counts == [summary["patients"], judged, *patient_steps]
    assert counts == sorted(counts, reverse=True)
    low_results = next(s["count"] for s in summary["funnel"] if s["step"] == "low_igm_results")
    assert f"counts patients, not results: the assessed patients had {low_results:,} IgM results" in words(
        next(page.iter("body")).text()
    )


def test_report_is_self_contained(markup: str) -> None:
    """No scripts, no external assets: only links to sources, which the reader may follow."""
    assert "<script" not in markup and "<link" not in markup and "<img" not in markup and "@import" not in markup
    assert "url(" not in markup and "http://" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_text_from_the_summary_is_escaped_and_no_patients_reads_plainly(summary: dict[str, Any]) -> None:
    """An unknown profile id with markup is shown as text; a screen without patients still renders every section."""
    empty = dict(summary)
    empty.update(
        profile="<b>x</b>",
        patients=0,
        patients_assessed_by_core=0,
        patients_judged_setwise=0,
        labels={},
        prevalence=prevalence_table({}, {}),
        funnel=[{**s, "count": 0} for s in summary["funnel"]],
        results_collected={"first_date": None, "last_date": None},
        reference_set_sensitivity=[],
    )
    markup = render(empty, [], Names.of(None))
    page = parse(markup)
    text = words(by_id(page, "summary-text").text())
    assert text.startswith("No patient could be screened") and "“<b>x</b>”" in text
    assert "<b>x</b>" not in markup and "&lt;b&gt;x&lt;/b&gt;" in markup
    assert len(list(page.iter("svg"))) == 2  # the funnel and prevalence charts; no IgM plot without points
