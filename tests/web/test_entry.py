"""The result-entry form: form to case document, errors next to their field, the assessment page, saving."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

from sigmd.adapters.case_json import case_from_dict
from sigmd.web.forms import CaseForm, load_case_form, read_case_form
from sigmd.web.reports import build_report
from tests.web.conftest import TODAY, csrf_of, entry_form


def fields(**values: str | list[str]) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in values.items()}


def read(knowledge, **values: str | list[str]) -> CaseForm:
    return read_case_form(fields(**values), knowledge, TODAY)


def test_the_form_becomes_a_case_document_with_every_section(knowledge):
    """Rows, censored values, lab ranges, coded lines, titres and clinical features are copied as typed."""
    form = read(
        knowledge,
        patient_id="p-9",
        sex="male",
        birth_date="1990-02-03",
        r0_analyte="IgM",
        r0_value="<5",
        r0_unit="g/L",
        r0_date="2026-01-02",
        r0_low="0.4",
        r0_high="2.3",
        r4_analyte="IgG",
        r4_value="9.1",
        r4_unit="g/L",
        r4_date="2026-01-02",
        conditions="asthma\nchronic lymphocytic leukaemia | C91.1 | ICD-10",
        medications_none="on",
        ppsv23_vaccinated="2026-02-01",
        ppsv23_pre_date="2026-02-01",
        ppsv23_post_date="2026-03-01",
        pre_3="<0.3",
        post_3="1.2",
        i0_type="pneumonia",
        i0_date="2025-11-01",
        allergy=["asthma", "eczema"],
        bc_date="2026-01-02",
        bc_result="normal",
        t_cell_defect="no",
    )
    doc = form.document
    assert doc["patient"] == {"id": "p-9", "sex": "male", "birth_date": "1990-02-03"}
    assert doc["results"] == [
        {
            "analyte": "IgM",
            "value": "<5",
            "unit": "g/L",
            "date": "2026-01-02",
            "reference_range": {"low": "0.4", "high": "2.3"},
        },
        {"analyte": "IgG", "value": "9.1", "unit": "g/L", "date": "2026-01-02"},
    ]
    assert doc["conditions"] == [
        {"text": "asthma"},
        {"text": "chronic lymphocytic leukaemia", "code": "C91.1", "system": "ICD-10"},
    ]
    assert doc["medications"] == []
    assert doc["pneumococcal_challenge"]["titres"] == [
        {"serotype": "3", "value": "1.2", "date": "2026-03-01"},
        {"serotype": "3", "value": "<0.3", "date": "2026-02-01"},
    ]
    assert doc["clinical_features"] == {
        "infections": [{"type": "pneumonia", "date": "2025-11-01"}],
        "allergies": ["asthma", "eczema"],
    }
    assert doc["blood_count"] == {"date": "2026-01-02", "result": "normal"} and doc["t_cell_defect"] is False
    case = load_case_form(form, knowledge)
    assert case is not None and case.results[0].quantity.value == 500 and form.errors == {}


def test_unknown_and_none_are_kept_apart(knowledge):
    """An empty list box means not recorded (key left out); ticking 'none' means an empty list."""
    doc = read(knowledge, sex="female", birth_date="1980-01-01", conditions_none="on").document
    assert doc["conditions"] == [] and "medications" not in doc and "clinical_features" not in doc
    assert read(knowledge, sex="female", features_recorded="on").document["clinical_features"] == {}


def test_an_adapter_error_is_pinned_to_the_form_field_it_names(knowledge):
    """A bad unit in the sixth row (the second filled) is reported against that row's unit field, named as the form
    names it ("Result 6 unit"), not by its place in the case (`results[1].unit`)."""
    form = read(
        knowledge,
        sex="female",
        birth_date="1980-01-01",
        r0_analyte="IgM",
        r0_value="30",
        r0_unit="mg/dL",
        r0_date="2026-01-01",
        r5_analyte="IgG",
        r5_value="900",
        r5_unit="furlongs",
        r5_date="2026-01-01",
    )
    assert load_case_form(form, knowledge) is None
    assert list(form.errors) == ["r5_unit"]
    assert form.errors["r5_unit"].startswith("Result 6 unit: 'furlongs' unknown")
    assert "results[" not in form.errors["r5_unit"]


def test_ticking_none_while_listing_records_is_an_error(knowledge):
    """'No medications' together with a listed medication is refused, naming the field and the value."""
    form = read(knowledge, sex="female", medications="clozapine", medications_none="on")
    assert form.errors == {"medications": "Medications: 'clozapine' is listed although 'no medications' is ticked"}


def test_pasted_lines_are_read_and_a_bad_line_is_named(knowledge):
    """Pasted results are split on tabs, semicolons or commas; a short line is refused with its number."""
    form = read(knowledge, sex="female", birth_date="1980-01-01", pasted="IgM\t<5\tmg/dL\t2026-01-01\nIgG; 900")
    assert form.document["results"] == [{"analyte": "IgM", "value": "<5", "unit": "mg/dL", "date": "2026-01-01"}]
    assert form.errors == {
        "pasted": "Pasted results, line 2: 'IgG; 900' needs analyte, value, unit and date (and optionally range low, high)"
    }


def test_the_assessment_page_shows_the_cores_verdict_under_every_profile(client_as, knowledge):
    """Assessing shows the core's label and summary, every profile side by side, the disclaimer and sources."""
    client = client_as("clin")
    response = client.post("/cases/new", data=entry_form(csrf_of(client, "/cases/new"), "page-1"))
    assert response.status_code == 200
    form = read_case_form({k: [v] for k, v in entry_form("x", "page-1").items()}, knowledge, TODAY)
    case = load_case_form(form, knowledge)
    expected = build_report(case, knowledge, as_of=TODAY, patient_id="page-1")
    page = html.unescape(response.text)
    assert expected.diagnosis.summary in page
    for row in expected.by_profile:
        assert row.summary in page and row.name in page
    assert expected.disclaimer in page
    assert expected.profile.name in page and expected.reference_set.name in page
    assert expected.patient_summary in page
    for criterion in expected.criteria:
        assert criterion.reason in page
    assert '<svg class="chart" id="igm-age"' in response.text and "estimated centre (log-normal)" in page


def test_a_bad_value_is_shown_next_to_its_field_with_the_value(client_as):
    """A value with a decimal comma is refused with 400, and the message sits by that value field."""
    client = client_as("clin")
    response = client.post("/cases/new", data=entry_form(csrf_of(client, "/cases/new"), r3_value="2,5"))
    assert response.status_code == 400
    assert 'id="r3_value-error"' in response.text
    assert "Result 4 value: &#39;2,5&#39; contains a comma" in response.text
    assert 'value="2,5"' in response.text


def test_a_case_without_igm_gets_the_assessments_own_reason(client_as):
    """A case the core cannot assess (no IgM) shows the core's reason on the form."""
    client = client_as("clin")
    form = entry_form(csrf_of(client, "/cases/new"), r0_analyte="IgA", r3_analyte="IgA")
    response = client.post("/cases/new", data=form)
    assert response.status_code == 400 and "no IgM result on or before the as-of date" in response.text


def test_more_rows_without_javascript_keeps_what_was_typed(client_as):
    """The 'add another row' button works as a plain submit: one more row, the typed values kept."""
    client = client_as("clin")
    form = entry_form(csrf_of(client, "/cases/new"), r5_analyte="IgM", r5_value="31", action="more_r")
    page = client.post("/cases/new", data=form).text
    assert 'name="r6_value"' in page and 'name="r7_value"' not in page
    assert 'id="r5_value" name="r5_value" type="text" value="31"' in page
    assert "Verdict under each profile" not in page


class Controls(HTMLParser):
    """The form controls of a page (id and type) and the ids that labels point to."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))


def test_every_form_input_has_a_label(client_as):
    """Each visible input, select and textarea of the entry form has an id that a label names."""
    parser = Controls()
    parser.feed(client_as("clin").get("/cases/new").text)
    assert len(parser.controls) > 100
    unlabelled = [c for c in parser.controls if c.get("id") not in parser.labelled]
    assert unlabelled == []


def test_saving_stores_the_case_and_shows_the_patient_page(client_as, registry):
    """Saving records the case in the registry; the patient page shows the assessment, history and audit trail."""
    client = client_as("clin")
    token = csrf_of(client, "/cases/new")
    preview = client.post("/cases/new", data=entry_form(token, "save-1")).text
    document = html.unescape(re.search(r'name="case_json" value="([^"]+)"', preview).group(1))
    save = {
        "csrf_token": token,
        "case_json": document,
        "as_of": TODAY.isoformat(),
        "profile": "esid",
        "reference_set": "mayo",
        "save_patient_id": "save-1",
        "save_display_name": "Synthetic Patient",
    }
    response = client.post("/cases/save", data=save, follow_redirects=False)
    stored = registry.patient("save-1")
    assert response.status_code == 303 and response.headers["location"] == f"/patients/{stored.summary.ref}"
    assert "save-1" not in response.headers["location"] and len(stored.summary.ref) == 32
    assert stored.summary.display_name == "Synthetic Patient" and len(stored.case.results) == 4
    assert stored.assessments[0].profile_id == "esid" and stored.assessments[0].actor == "clin"
    page = html.unescape(client.get(response.headers["location"]).text)
    assert stored.assessments[0].report.diagnosis.summary in page
    assert "Assessment history" in page and "assessment.create" in page
    due = client.get("/follow-up?within=365").text
    assert "save-1" in due


def test_saving_needs_a_patient_identifier(client_as, registry):
    """Saving without an identifier is refused with the field named, and nothing is stored."""
    client = client_as("clin")
    token = csrf_of(client, "/cases/new")
    document = json.dumps(entry_form_document())
    before = len(registry.list_patients())
    response = client.post(
        "/cases/save",
        data={"csrf_token": token, "case_json": document, "as_of": TODAY.isoformat(), "save_patient_id": ""},
    )
    assert response.status_code == 400 and "Patient identifier: &#39;&#39; is required" in response.text
    assert len(registry.list_patients()) == before


def entry_form_document() -> dict[str, object]:
    return {
        "patient": {"sex": "female", "birth_date": "1980-05-01"},
        "results": [{"analyte": "IgM", "value": "20", "unit": "mg/dL", "date": "2026-01-10"}],
    }


def test_exports_give_a_valid_case_and_a_fhir_bundle(client_as, registry, knowledge):
    """The case JSON export reads back through the case adapter; the FHIR export is a Bundle."""
    registry.record(case_from_dict(entry_form_document(), knowledge), patient_id="export-1", actor="test", as_of=TODAY)
    client = client_as("view")
    ref = registry.patient("export-1").summary.ref
    case = client.get(f"/patients/{ref}/case.json")
    assert case.headers["content-disposition"].startswith("attachment")
    assert case_from_dict(case.json(), knowledge).results[0].quantity.value == 20
    assert client.get(f"/patients/{ref}/fhir.json").json()["resourceType"] == "Bundle"
    assert client.get("/patients/0123456789abcdef0123456789abcdef/case.json").status_code == 404


def test_an_unknown_patient_reference_is_a_404(client_as, registry, knowledge):
    """A reference the registry does not hold gives 404; a stored patient's reference opens their page."""
    registry.record(case_from_dict(entry_form_document(), knowledge), patient_id="known-7", actor="t", as_of=TODAY)
    client = client_as("view")
    response = client.get("/patients/ghost-7")
    assert response.status_code == 404 and "There is no such patient" in response.text
    assert client.get(f"/patients/{registry.patient('known-7').summary.ref}").status_code == 200


def test_patient_identifiers_are_not_page_addresses(client_as, registry, knowledge):
    """The old address with the identifier in the query is gone, and no link on the list carries an identifier."""
    registry.record(case_from_dict(entry_form_document(), knowledge), patient_id="MRN-4711", actor="t", as_of=TODAY)
    client = client_as("view")
    assert client.get("/patient?id=MRN-4711").status_code == 404
    links = re.findall(r'href="([^"]+)"', client.get("/patients").text)
    assert f"/patients/{registry.patient('MRN-4711').summary.ref}" in links
    assert not [link for link in links if "MRN-4711" in link]


def test_adding_results_for_a_stored_patient_starts_from_their_details(client_as, registry, knowledge):
    """'Add results' opens the form with the stored patient's identifier, sex and birth date filled in."""
    registry.record(case_from_dict(entry_form_document(), knowledge), patient_id="again-1", actor="t", as_of=TODAY)
    ref = registry.patient("again-1").summary.ref
    page = client_as("clin").get(f"/cases/new?patient={ref}").text
    assert 'id="patient_id" name="patient_id" type="text" value="again-1"' in page
    assert 'value="1980-05-01"' in page and '<option value="female" selected>' in page


def test_the_stylesheets_and_script_are_served_without_signing_in(anonymous):
    """The app's own CSS and JavaScript are public static files (no patient data)."""
    for name in ("sigmd.css", "print.css", "sigmd.js"):
        assert anonymous.get(f"/static/{name}").status_code == 200
