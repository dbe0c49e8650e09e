"""Words for people: errors name fields as the form does, a page never contradicts itself, the verdict comes first."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sigmd.adapters.case_json import case_from_dict
from sigmd.web.forms import field_label, load_case_form, read_case_form
from tests.web.conftest import TODAY, csrf_of, entry_form

EXAMPLES = Path(__file__).parents[2] / "examples"
STANDALONE_WORDS = {
    "age_years": "or age in years",  # the form reads "Birth date ... or age in years"
    "display_name": "Name (optional)",
    "features_recorded": "Clinical history taken (what is listed below is all there is; nothing listed means none)",
}
"""Fields whose label leans on its neighbours; an error names them in words that stand alone."""


class Labels(HTMLParser):
    """label[for] -> its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "label":
            self._for = dict(attrs).get("for")
            if self._for:
                self.found[self._for] = ""

    def handle_data(self, data: str) -> None:
        if self._for:
            self.found[self._for] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._for = None


def read(knowledge, **values: str):
    return read_case_form({name: [value] for name, value in values.items()}, knowledge, TODAY)


def test_error_messages_name_each_field_as_the_entry_form_labels_it(client_as):
    """For every labelled field of the entry form (rows, serotypes, single fields), field_label gives its label."""
    parser = Labels()
    parser.feed(client_as("clin").get("/cases/new").text)
    labelled = {name: " ".join(text.split()) for name, text in parser.found.items() if not name.startswith("allergy-")}
    assert len(labelled) > 100 and {"r0_value", "i0_count", "a0_condition", "pre_6B", "t_cell_defect"} <= set(labelled)
    differing = {
        name: (text, field_label(name))
        for name, text in labelled.items()
        if field_label(name) != STANDALONE_WORDS.get(name, text) and text != STANDALONE_WORDS.get(name)
    }
    assert differing == {}
    assert field_label("age_years") == "Age in years" and field_label("features_recorded") == "Clinical history taken"


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        (
            {"r2_analyte": "IgM", "r2_value": "abc", "r2_unit": "mg/dL", "r2_date": "2026-01-01"},
            "r2_value",
            "Result 3 value: 'abc'",
        ),
        (
            {"r0_analyte": "IgM", "r0_value": "30", "r0_unit": "mg/dL", "r0_date": "2026-02-30"},
            "r0_date",
            "Result 1 date: '2026-02-30'",
        ),
        (
            {"r1_analyte": "IgM", "r1_value": "30", "r1_unit": "mg/dL", "r1_date": "2026-01-01", "r1_low": "x"},
            "r1_low",
            "Result 2 laboratory range low: 'x'",
        ),
        ({"i1_type": "pneumonia", "i1_count": "two"}, "i1_count", "Infection 2 number of episodes: 'two'"),
        (
            {"pre_6B": "lots", "ppsv23_vaccinated": "2026-01-01", "ppsv23_pre_date": "2025-12-01"},
            "pre_6B",
            "Serotype 6B pre-vaccination titre: 'lots'",
        ),
    ],
)
def test_a_problem_in_a_row_is_named_by_the_row_as_the_form_shows_it(knowledge, typed, field, message):
    """ "Result 3 value", "Infection 2 number of episodes": never the case path (`results[0].value`)."""
    valid = {"r5_analyte": "IgM", "r5_value": "30", "r5_unit": "mg/dL", "r5_date": "2026-01-01"}
    form = read(knowledge, sex="female", birth_date="1980-01-01", **valid, **typed)
    assert load_case_form(form, knowledge) is None
    assert field in form.errors, form.errors
    assert form.errors[field].startswith(message) and "[" not in form.errors[field].split(":")[0]


def test_the_assessments_own_refusal_names_the_results_section(client_as):
    """A case with no IgM is refused in the form's words: the results section, not the case path `results`."""
    client = client_as("clin")
    response = client.post(
        "/cases/new", data=entry_form(csrf_of(client, "/cases/new"), r0_analyte="IgA", r3_analyte="IgA")
    )
    assert response.status_code == 400
    assert "Immunoglobulin results: no IgM result on or before the as-of date" in html.unescape(response.text)


def _record(registry, document: dict, patient_id: str, knowledge) -> str:
    stored = registry.record(case_from_dict(document, knowledge), patient_id=patient_id, actor="test", as_of=TODAY)
    return stored.patient_ref


def _verdict(page: str) -> str:
    return " ".join(
        re.sub(r"<[^>]+>", " ", re.search(r'<p class="verdict-label">(.*?)</p>', page, re.S).group(1)).split()
    )


def test_a_possible_secondary_cause_is_never_called_confirmed(client_as, registry, knowledge):
    """The secondary-cause verdict says what is confirmed (the low IgM) and that the cause is possible, everywhere."""
    document = json.loads((EXAMPLES / "secondary-clozapine.json").read_text(encoding="utf-8"))
    ref = _record(registry, document, "words-secondary", knowledge)
    client = client_as("clin")
    page = html.unescape(client.get(f"/patients/{ref}").text)
    assert _verdict(page) == "Low IgM with a possible secondary cause (low IgM confirmed; possible cause to review)"
    assert "possible secondary cause (confirmed)" not in page
    history = re.search(r'id="history-title".*?</table>', page, re.S).group(0)
    assert "(low IgM confirmed; possible cause to review)" in history
    listed = html.unescape(client.get("/patients").text)
    assert "Low IgM with a possible secondary cause (low IgM confirmed; possible cause to review)" in listed


def test_the_verdict_and_every_warning_come_before_the_details(client_as, registry, knowledge):
    """Verdict, certainty, then warnings and the laboratory-range note, then profile, reference set and the rest."""
    document = json.loads((EXAMPLES / "esid-complete-workup.json").read_text(encoding="utf-8"))
    ref = _record(registry, document, "words-order", knowledge)
    page = html.unescape(client_as("clin").get(f"/patients/{ref}").text)
    order = [
        page.index('class="verdict-label"'),
        page.index('id="warnings-title"'),
        page.index("<dt>Rule profile</dt>"),
        page.index('id="profiles-title"'),
        page.index('id="results-title"'),
    ]
    assert order == sorted(order)
    assert "birth date estimated" in page[order[1] : order[2]]


def test_a_laboratorys_own_range_that_decided_a_result_is_said_beside_the_verdict(client_as, registry, knowledge):
    document = {
        "patient": {"sex": "female", "birth_date": "1980-05-01"},
        "results": [
            {
                "analyte": "IgM",
                "value": 45,
                "unit": "mg/dL",
                "date": "2026-01-10",
                "reference_range": {"low": 50, "high": 300},
            },
            {"analyte": "IgG", "value": 1000, "unit": "mg/dL", "date": "2026-01-10"},
            {"analyte": "IgA", "value": 200, "unit": "mg/dL", "date": "2026-01-10"},
        ],
    }
    ref = _record(registry, document, "words-lab", knowledge)
    page = html.unescape(client_as("clin").get(f"/patients/{ref}").text)
    header = re.search(r'<header class="verdict.*?</header>', page, re.S).group(0)
    assert "The laboratory's own range decided this result:" in header and "IgM on 2026-01-10" in header
    assert "The laboratory's own range decided this result: IgM" in page[page.index('id="igm-age-caption"') :]


def test_a_pattern_outside_the_named_ones_is_said_in_words(client_as, registry, knowledge):
    """Low IgM and IgA (no named pattern): the label and the pattern line agree, without a bare "other"."""
    document = {
        "patient": {"sex": "male", "birth_date": "1975-02-01"},
        "results": [
            {"analyte": a, "value": 20, "unit": "mg/dL", "date": d}
            for d in ("2026-01-10", "2026-07-14")
            for a in ("IgM", "IgA")
        ],
    }
    ref = _record(registry, document, "words-other", knowledge)
    page = html.unescape(client_as("clin").get(f"/patients/{ref}").text)
    assert _verdict(page).startswith("Another abnormal antibody pattern")
    assert "Pattern: none of the named patterns:" in " ".join(re.sub(r"<[^>]+>", "", page).split())


def test_an_import_that_stored_some_patients_says_which_were_not_stored(client_as):
    """The heading counts the saved and the refused; a refused patient is listed first, never under "Saved"."""
    rows = [
        "patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high",
        "words-csv-1,female,1980-05-01,2026-01-10,2472-9,20,mg/dL,,,",
        "words-csv-1,female,1980-05-01,2026-01-10,2465-3,1000,mg/dL,,,",
        "words-csv-2,female,1980-05-01,2026-01-10,2472-9,lots,mg/dL,,,",
    ]
    client = client_as("clin")
    token = csrf_of(client, "/import")
    response = client.post("/import", data={"csrf_token": token}, files={"file": ("x.csv", "\n".join(rows).encode())})
    page = html.unescape(response.text)
    heading = re.search(r'<h2 id="outcomes-title">(.*?)</h2>', page).group(1)
    assert heading == "1 patient saved to the registry; 1 not stored"
    table = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert table.index("words-csv-2") < table.index("words-csv-1")
    assert "Not stored:" in table and "Saved: " in table


def test_an_import_that_stored_nothing_does_not_say_saved(client_as):
    rows = [
        "patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high",
        "words-csv-3,female,1980-05-01,2026-01-10,2472-9,lots,mg/dL,,,",
    ]
    client = client_as("clin")
    token = csrf_of(client, "/import")
    page = html.unescape(
        client.post("/import", data={"csrf_token": token}, files={"file": ("x.csv", "\n".join(rows).encode())}).text
    )
    assert (
        re.search(r'<h2 id="outcomes-title">(.*?)</h2>', page).group(1)
        == "Nothing was saved to the registry; 1 not stored"
    )
    assert "Saved: " not in page


def test_the_patient_page_title_is_plain_text(client_as, registry, knowledge):
    """The <title> names the patient and nothing else (no markup leaking into it)."""
    document = json.loads((EXAMPLES / "partial-sigmd-persistent.json").read_text(encoding="utf-8"))
    ref = _record(registry, document, "words-title", knowledge)
    page = client_as("admin").get(f"/patients/{ref}").text
    assert re.search(r"<title>(.*?)</title>", page, re.S).group(1) == "Patient words-title · sigmd"
    assert page.count('id="erase-title"') == 1
