"""Screening and `sigmd assess` agree on the patients where they used to differ (synthetic patients only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sigmd import content
from sigmd.adapters.detect import load_cases
from sigmd.core.assessment import assess
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF, core_cases, core_verdicts, screened_verdicts, used_rows

TREATMENTS = {
    "ivig": ("medication", "J06BA02", "ATC", "intravenous immunoglobulin"),
    "rituximab": ("medication", "", "", "rituximab 1 g"),
    "clozapine": ("medication", "N05AH02", "ATC", "clozapine"),
}
"""Immunoglobulin replacement and anti-CD20 therapy blind IgG results in the core; clozapine does not."""


def _paths(path: Path) -> dict[str, str]:
    with (path / "patients.csv").open(encoding="utf-8") as handle:
        return {row["patient_id"]: row["path"] for row in csv.DictReader(handle)}


def test_all_normal_patients_on_ig_replacement_or_anti_cd20_get_the_cores_provisional_verdict(tmp_path: Path) -> None:
    """A patient with normal IgM, IgG and IgA on IVIG or rituximab is normal but provisional (the core sets the IgG
    aside), never normal and confirmed from the pre-filter; without such a drug the same results are confirmed."""
    source = tmp_path / "labs.csv"
    lines = ["patient_id,sex,birth_date,collected_date,loinc,value,unit"]
    for pid in (*TREATMENTS, "untreated"):
        for loinc, value in (("IgM", "80"), ("IgG", "1000"), ("IgA", "200")):
            lines.append(f"{pid},female,1980-01-01,2025-01-01,{loinc},{value},mg/dL")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = tmp_path / "records.csv"
    with records.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "kind", "code", "system", "text"])
        writer.writerows([pid, *record] for pid, record in TREATMENTS.items())
    out = tmp_path / "out"
    screen(source, out, records=records, as_of=AS_OF, progress=False, csv=True)
    expected = core_verdicts(used_rows(source, out / "rejects.csv"), records)
    assert screened_verdicts(out) == expected
    assert expected["ivig"] == expected["rituximab"] == ("normal", "provisional")
    assert expected["untreated"] == expected["clozapine"] == ("normal", "confirmed")
    paths = _paths(out)
    # Treated patients are judged set-wise (their IgG set aside as the core sets it aside), never pre-filtered.
    assert (paths["ivig"], paths["rituximab"], paths["untreated"], paths["clozapine"]) == (
        "setwise",
        "setwise",
        "prefilter",
        "prefilter",
    )


def test_a_cohort_with_treated_normal_patients_keeps_parity_with_the_core(cohort: SynthFiles, tmp_path: Path) -> None:
    """Planted normal patients given IVIG or rituximab records get, like everyone else, the core's verdict."""
    with cohort.truth.open(encoding="utf-8") as handle:
        normal = [row["patient_id"] for row in csv.DictReader(handle) if row["planted"] == "normal"]
    treated = normal[::40]
    records = tmp_path / "records.csv"
    with records.open("w", encoding="utf-8", newline="") as handle:
        handle.write(cohort.records.read_text(encoding="utf-8"))
        writer = csv.writer(handle)
        for index, pid in enumerate(treated):
            writer.writerow([pid, *TREATMENTS["ivig" if index % 2 else "rituximab"]])
    out = tmp_path / "out"
    result = screen(cohort.results, out, records=records, as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    expected = core_verdicts(used_rows(cohort.results, out / "rejects.csv"), records)
    assert screened_verdicts(out) == expected
    provisional = [pid for pid in treated if expected.get(pid) == ("normal", "provisional")]
    assert len(provisional) > 10 and result.rows_in == result.rows_used + result.rows_rejected


def _observation(oid: str, code: str, value: float, day: str, status: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": day,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
    }


@pytest.mark.parametrize(
    ("status", "used"), [("entered-in-error", False), ("cancelled", False), ("final", True), ("amended", True)]
)
def test_bulk_observations_entered_in_error_or_cancelled_are_not_used_as_by_the_core(
    tmp_path: Path, status: str, used: bool
) -> None:
    """A low IgM marked entered-in-error or cancelled is a reject, as the core's FHIR reader ignores it; a final or
    amended one is used; either way screening's verdict is the core's verdict for the same NDJSON."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    observations = [
        _observation("m1", "2472-9", 80, "2024-01-01", "final"),
        _observation("g1", "2465-3", 1000, "2024-01-01", "final"),
        _observation("a1", "2458-8", 200, "2024-01-01", "final"),
        _observation("m2", "2472-9", 10, "2025-01-01", status),
    ]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    body = "\n".join(json.dumps(o) for o in observations) + "\n"
    (tmp_path / "Observation.ndjson").write_text(body, encoding="utf-8")
    result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used) == (4, 4 if used else 3)
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert (f"Observation/m2 was ignored: IgM: its status is {status}" in rejects) is not used

    knowledge = content.load()
    (loaded,) = load_cases(json.dumps(patient) + "\n" + body, knowledge)
    diagnosis = assess(loaded.require(), knowledge, as_of=AS_OF).diagnosis
    assert screened_verdicts(tmp_path / "out") == {"p1": (diagnosis.label.value, diagnosis.certainty.value)}
    assert (diagnosis.label.value == "normal") is not used


EXTREME_ROWS = """patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high
X1,female,1980-01-01,2025-01-01,IgM,1e307,g/L,,,
X1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,
X2,female,1980-01-01,2025-01-01,IgM,1e-400,mg/dL,,,
X3,female,1980-01-01,2025-01-01,IgM,NaN,mg/dL,,,
X4,female,1980-01-01,2025-01-01,IgM,inf,mg/dL,,,
X5,female,0001-01-01,2025-01-01,IgM,60,mg/dL,,,
X6,female,0000-01-01,2025-01-01,IgM,60,mg/dL,,,
X7,female,1980-01-01,9999-12-31,IgM,60,mg/dL,,,
X8,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,1e400,
X9,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,1e-300,1e308
X10,female,1980-01-01,2025-01-01,IgM,99999999999999999999999999999999999999999999999,mg/dL,,,
X11,female,1980-01-01,2025-01-01T10:30:00+01:00,IgM,60,mg/dL,,,
X12,female,1980-01-01,2025-01-01T25:00,IgM,60,mg/dL,,,
X13,female,1980-01-01,2025-01-01garbage,IgM,60,mg/dL,,,
"""


def test_extreme_numbers_and_dates_are_rejects_with_reasons_or_get_the_cores_verdict(tmp_path: Path) -> None:
    """A value that overflows to infinity once converted, a non-number, a year outside 1900-2199 or a malformed
    time is a reject with its reason; the extreme rows the core reads (tiny values, huge finite ones, a date-time)
    are used and get the core's verdict."""
    source = tmp_path / "extreme.csv"
    source.write_text(EXTREME_ROWS, encoding="utf-8")
    out = tmp_path / "out"
    result = screen(source, out, as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    assert result.rows_in == 14 == result.rows_used + result.rows_rejected
    with (out / "rejects.csv").open(encoding="utf-8") as handle:
        reasons = {int(row["row_no"]): row["reason"] for row in csv.DictReader(handle)}
    assert reasons[1] == "value: '1e307' is too large a number: in mg/dL it is inf"
    assert reasons[4].startswith("value: 'NaN' is not a non-negative number")
    assert reasons[5].startswith("value: 'inf' is not a non-negative number")
    outside = "is outside the dates sigmd reads (1900-01-01 to 2199-12-31)"
    assert reasons[6] == f"birth_date: '0001-01-01' {outside}"
    assert reasons[7] == "birth_date: '0000-01-01' is not an ISO date (YYYY-MM-DD)"  # the core's words: no year 0
    assert reasons[8] == f"collected_date: '9999-12-31' {outside}"
    assert reasons[9] == "ref_low: '1e400' is not a finite number"
    assert (
        reasons[13]
        == reasons[14].replace("garbage", "T25:00")
        == ("collected_date: '2025-01-01T25:00' is not an ISO date (YYYY-MM-DD)")
    )
    assert set(reasons) == {1, 4, 5, 6, 7, 8, 9, 13, 14}
    verdicts = screened_verdicts(out)
    assert verdicts == core_verdicts(used_rows(source, out / "rejects.csv"), None)
    assert {"X1", "X2", "X9", "X10", "X11"} <= set(verdicts)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"patient_id,kind,code,system,text\nT1,medications,,,ivig\n", "kind 'medications' on line 2"),
        (b"patient_id,kind,code,system,text\nT1,medication,,,ivig,extra\n", "line 2 of 'records.csv' does not have"),
        (b"patient_id,kind,text\nT1,medication,ivig\n", "has no column code, system"),
        (b"patient_id,kind,code,system,text\nT1,medication,,,imm\xfcnoglobulin\n", "is not UTF-8 text"),
    ],
)
def test_a_records_file_that_cannot_be_read_whole_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    """A misspelt kind, a ragged line, a missing column or bad bytes in the records refuse the run: a dropped
    line could hide immunoglobulin replacement or a secondary cause."""
    source = tmp_path / "labs.csv"
    source.write_text(
        "patient_id,sex,birth_date,collected_date,loinc,value,unit\nT1,female,1980-01-01,2025-01-01,IgM,80,mg/dL\n"
    )
    records = tmp_path / "records.csv"
    records.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        screen(source, tmp_path / "out", records=records, as_of=AS_OF, progress=False, csv=True)
    records.write_bytes(b"patient_id,kind,code,system,text\nT1,medication,,,ivig\n")
    assert screen(source, tmp_path / "out", records=records, as_of=AS_OF, progress=False, csv=True).rows_used == 1


UCUM_SYSTEM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("change", "used"),
    [
        ({"effectiveDateTime": None, "effectivePeriod": {"start": "2025-01-01"}}, True),
        ({"effectiveDateTime": None, "issued": "2025-01-02T10:00:00Z"}, False),
        ({"code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "2472-9"}]}}, False),
        (
            {"valueQuantity": {"value": 10, "unit": "milligram per deciliter", "system": UCUM_SYSTEM, "code": "mg/dL"}},
            True,
        ),
        ({"code": None}, False),
    ],
)
def test_bulk_observations_are_read_as_the_cores_fhir_reader_reads_them(
    tmp_path: Path, change: dict[str, object], used: bool
) -> None:
    """The collection time (effective[x], never issued), the LOINC system, the UCUM code and malformed elements
    decide use as in the core's FHIR reader: screening's verdict for the NDJSON is the core's, and nothing crashes."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    low = {**_observation("m2", "2472-9", 10, "2025-01-01", "final"), **change}
    low = {key: value for key, value in low.items() if value is not None or key == "code"}
    observations = [
        _observation("m1", "2472-9", 80, "2024-01-01", "final"),
        _observation("g1", "2465-3", 1000, "2024-01-01", "final"),
        _observation("a1", "2458-8", 200, "2024-01-01", "final"),
        low,
    ]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    body = "\n".join(json.dumps(o) for o in observations) + "\n"
    (tmp_path / "Observation.ndjson").write_text(body, encoding="utf-8")
    result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used) == (4, 4 if used else 3)
    knowledge = content.load()
    (loaded,) = load_cases(json.dumps(patient) + "\n" + body, knowledge)
    diagnosis = assess(loaded.require(), knowledge, as_of=AS_OF).diagnosis
    assert screened_verdicts(tmp_path / "out") == {"p1": (diagnosis.label.value, diagnosis.certainty.value)}


def test_malformed_bulk_lines_are_rejects_with_reasons_not_crashes(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, an integer too long to read, a subject that is not a Reference and a range bound
    that is not a Quantity each reject their own line, in the readers' own words; the good Observation is used."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    good = _observation("m1", "2472-9", 80, "2024-01-01", "final")
    lines = [
        json.dumps(good).encode(),
        json.dumps({**good, "id": "x1"}).encode().replace(b'"mg/dL"', b'"mg/d\xffL"'),
        json.dumps({**good, "id": "x2"}).replace('"value": 80', '"value": ' + "9" * 5000).encode(),
        json.dumps({**good, "id": "x3", "subject": "Patient/p1"}).encode(),
        json.dumps({**good, "id": "x4", "referenceRange": [{"low": 5}]}).encode(),
        b'{"resourceType": "Observation", "valueQuantity": \xff}',
    ]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    (tmp_path / "Observation.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (6, 1, 5)
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert "is a longer number than sigmd reads (40 characters at most) (Observation.ndjson line 3)" in rejects
    assert "is not UTF-8 text (invalid start byte); save the file as UTF-8 (Observation.ndjson line 6)" in rejects
    assert "Observation.ndjson line 4.subject: 'Patient/p1' is not valid FHIR R4" in rejects
    assert "Observation.ndjson line 5.referenceRange.0.low.root: 5 is not valid FHIR R4" in rejects
    assert "at byte 254 is not UTF-8 text" in rejects and "(Observation.ndjson line 2)" in rejects


def test_bulk_lines_outside_the_readers_limits_are_rejects_in_the_readers_words(tmp_path: Path) -> None:
    """A NaN value and a line nested deeper than the readers read are each a reject with the limit named."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    good = _observation("m1", "2472-9", 80, "2024-01-01", "final")
    nan = json.dumps({**good, "id": "n1"}).replace('"value": 80', '"value": NaN')
    deep = json.dumps({**good, "id": "d1", "note": [{"text": "x"}]}).replace('[{"text": "x"}]', "[" * 100 + "]" * 100)
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    (tmp_path / "Observation.ndjson").write_text("\n".join([json.dumps(good), nan, deep]) + "\n", encoding="utf-8")
    result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (3, 1, 2)
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert "NaN" in rejects and "(Observation.ndjson line 2)" in rejects
    assert "deeper than sigmd reads" in rejects and "(Observation.ndjson line 3)" in rejects


def test_a_patient_plainly_normal_under_the_run_profile_but_low_under_esid_reaches_the_funnel(tmp_path: Path) -> None:
    """Under a profile with an absolute IgM cut-off (medscape_20: below 20 mg/dL), IgM 20.02 mg/dL in a child of
    four is not low, but under ESID (mean - 2 SD of the set) it may be: the pre-filter must not settle the patient,
    so that the funnel step (counted under ESID) is the core's."""
    from sigmd.screening.funnel import step_reached

    source = tmp_path / "labs.csv"
    lines = ["patient_id,sex,birth_date,collected_date,loinc,value,unit"]
    values = (("IgM", "20.02"), ("IgG", "1470"), ("IgA", "256"))
    lines += [f"child,female,2021-01-01,2025-02-09,{loinc},{value},mg/dL" for loinc, value in values]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    screen(source, out, as_of=AS_OF, progress=False, csv=True, profile="medscape_20", reference="mayo")
    with (out / "patients.csv").open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    knowledge = content.load()
    case = core_cases(used_rows(source, out / "rejects.csv"), None)["child"]
    main = assess(case, knowledge, as_of=AS_OF, profile_id="medscape_20", reference_set_id="mayo")
    esid = assess(case, knowledge, as_of=AS_OF, profile_id="esid", reference_set_id="mayo")
    assert (row["label"], row["certainty"]) == (main.diagnosis.label.value, main.diagnosis.certainty.value)
    assert step_reached(esid) is not None, "the case no longer tests what it says: IgM is not low under ESID"
    assert row["funnel_step"] == step_reached(esid) and row["path"] != "prefilter"
