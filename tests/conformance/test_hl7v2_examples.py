"""NIST, Cerner and athenahealth ORU^R01 examples, re-coded to IgM where they carry another test."""

from __future__ import annotations

from datetime import date

from sigmd.adapters.hl7v2 import load_hl7v2

from .conftest import FIXTURES

assert FIXTURES is not None  # the module is collected only when the fixtures exist


def test_nist_lead_message_recoded_to_igm_reports_its_free_text_range(knowledge):
    """NIST case 1 re-coded to IgM in mg/dL: OBX-7 '<9 mcg/dL: Acceptable...' is prose and is not used as a range."""
    text = (FIXTURES / "hl7v2" / "ORU_R01_2.5.1_SampleTestCase1.hl7").read_text()
    code = text.split("OBX|1|NM|")[1].split("|")[0]
    recoded = text.replace(code, "2472-9^IgM^LN").replace("ug/dL^", "mg/dL^")
    case = load_hl7v2(recoded, knowledge)[0].require()
    assert case.results and case.results[0].lab_range is None
    assert any("reference range" in w and "Acceptable" in w for w in case.warnings)


def test_nist_string_result_is_not_invented(knowledge):
    """NIST case 4 (OBX-2 ST 'Isolated') re-coded to IgM gives no result and a note why."""
    text = (FIXTURES / "hl7v2" / "ORU_R01_2.5.1_SampleTestCase4.hl7").read_text()
    code = text.split("OBX|1|ST|")[1].split("|")[0]
    case = load_hl7v2(text.replace(code, "2472-9^IgM^LN"), knowledge)[0].require()
    assert case.results == () and any(
        "Isolated" in n.reason and "not a non-negative number" in n.reason for n in case.input_notes
    )


def test_cerner_component_range_and_trailing_lf(knowledge):
    """Cerner lead (range '^^10.000000', final LF) re-coded to IgM: the component range is reported, value used."""
    text = (FIXTURES / "hl7v2" / "cerner_lead.hl7").read_text()
    case = load_hl7v2(text.replace("10368-9^Lead Level^LN", "2472-9^IgM^LN").replace("ug/dL^", "mg/dL^"), knowledge)[0]
    result = case.require().results[0]
    assert (result.quantity.value, result.collected) == (50.0, date(2010, 11, 4))


def test_unknown_unit_of_the_nist_hcv_message_is_named(knowledge):
    """NIST case 5 re-coded to IgM keeps 'iU/mL', which sigmd reads as IU/mL for IgM and warns is unverified."""
    text = (FIXTURES / "hl7v2" / "ORU_R01_2.5.1_SampleTestCase5.hl7").read_text()
    code = text.split("OBX|1|NM|")[1].split("|")[0]
    case = load_hl7v2(text.replace(code, "2472-9^IgM^LN"), knowledge)[0].require()
    assert case.results[0].reported_unit == "iU/mL" and any("not verified" in w for w in case.warnings)


def test_lf_separated_message_without_obx_is_one_patient_with_a_note(knowledge):
    """The athenahealth LF-separated ORU has no OBX: one patient, no results, and a warning says so."""
    [loaded] = load_hl7v2((FIXTURES / "hl7v2" / "oru-example.hl7").read_text(), knowledge)
    case = loaded.require()
    assert case.results == () and any("no OBX" in w for w in case.warnings)
