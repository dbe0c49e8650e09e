"""Screening reads each Bulk NDJSON Observation as `sigmd assess` reads it in a Bundle (synthetic patients only)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from sigmd import content
from sigmd.adapters.fhir import load_fhir_json
from sigmd.adapters.fhir_bulk import BulkReader, ndjson_lines
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.assessment import assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import LabResult
from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
IGM, IGG = "2472-9", "2465-3"


def _obs(oid: str, pid: str, **change: Any) -> dict[str, Any]:
    """A final IgM of 40 mg/dL on 2025-01-01, with `change` applied (a None value removes the element)."""
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-01-01",
        "code": {"coding": [{"system": LOINC, "code": IGM}]},
        "valueQuantity": {"value": 40, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
    }
    observation.update(change)
    return {key: value for key, value in observation.items() if value is not None}


def _quantity(value: object, unit: str, code: str | None = None, **more: Any) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": unit, **more}
    if code is not None:
        quantity.update(system=UCUM, code=code)
    return quantity


SINGLE: dict[str, dict[str, Any]] = {
    **{status: {"status": status} for status in ("final", "amended", "corrected", "preliminary", "registered")},
    **{status: {"status": status} for status in ("unknown", "entered-in-error", "cancelled")},
    "no status": {"status": None},
    "not a status": {"status": "done"},
    "only issued": {"effectiveDateTime": None, "issued": "2025-01-02T10:00:00Z"},
    "no effective": {"effectiveDateTime": None},
    "period start": {"effectiveDateTime": None, "effectivePeriod": {"start": "2025-01-01T08:00:00+01:00"}},
    "period without start": {"effectiveDateTime": None, "effectivePeriod": {"end": "2025-01-01"}},
    "instant": {"effectiveDateTime": None, "effectiveInstant": "2025-01-01T08:00:00Z"},
    "partial date": {"effectiveDateTime": "2025-01"},
    "before 1900": {"effectiveDateTime": "1899-12-31"},
    "value string": {"valueQuantity": None, "valueString": "<0.05 g/L"},
    "no value": {"valueQuantity": None},
    "comparator": {"valueQuantity": _quantity(5, "mg/dL", "mg/dL", comparator="<")},
    "comparator ad": {"valueQuantity": _quantity(5, "mg/dL", "mg/dL", comparator="ad")},
    "g/L": {"valueQuantity": _quantity(0.4, "g/L", "g/L")},
    "unit text only": {"valueQuantity": _quantity(40, "mg/dL")},
    "UCUM code over unit text": {"valueQuantity": _quantity(0.4, "gram per litre", "g/L")},
    "unit text not a unit": {"valueQuantity": _quantity(40, "milligrams please")},
    "no unit": {"valueQuantity": {"value": 40}},
    "negative value": {"valueQuantity": _quantity(-4, "mg/dL", "mg/dL")},
    "reference range": {
        "referenceRange": [{"low": _quantity(40, "mg/dL", "mg/dL"), "high": _quantity(230, "mg/dL", "mg/dL")}]
    },
    "reference range in g/L": {
        "referenceRange": [{"low": _quantity(0.4, "g/L", "g/L"), "high": _quantity(2.3, "g/L")}]
    },
    "reference range low above high": {
        "referenceRange": [{"low": _quantity(9, "mg/dL"), "high": _quantity(3, "mg/dL")}]
    },
    "reference range only text": {"referenceRange": [{"text": "0.4-2.3 g/L"}]},
    "reference range not a quantity": {"referenceRange": [{"low": 5}]},
    "LOINC code without the LOINC system": {
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": IGM}]}
    },
    "unknown code system": {"code": {"coding": [{"system": "http://example.org/lab", "code": "IGM-S"}]}},
    "code text only": {"code": {"text": "IgM"}},
    "another LOINC code": {"code": {"coding": [{"system": LOINC, "code": "718-7"}]}},
    "IgG": {"code": {"coding": [{"system": LOINC, "code": IGG}]}, "valueQuantity": _quantity(9, "g/L", "g/L")},
    "subject not a reference": {"subject": "Patient/x"},
    "value not a number": {"valueQuantity": _quantity("forty", "mg/dL")},
    "collected before birth": {"effectiveDateTime": "1979-12-31"},
}
"""One Observation per patient: what the reader does with it is seen alone."""

GROUPS: dict[str, list[dict[str, Any]]] = {
    "amended by id": [{"valueQuantity": _quantity(10, "mg/dL")}, {"status": "amended"}],
    "corrected by analyte and time": [
        {"id": "first", "valueQuantity": _quantity(10, "mg/dL")},
        {"id": "second", "status": "corrected", "effectiveDateTime": "2025-01-01"},
    ],
    "correction before what it corrects": [{"status": "corrected"}, {"valueQuantity": _quantity(10, "mg/dL")}],
    "withdrawn copy": [{}, {"status": "entered-in-error"}],
    "identical copies": [{}, {}],
    "conflicting copies": [{}, {"valueQuantity": _quantity(10, "mg/dL")}],
}
"""Observations of one patient that settle each other (corrections, withdrawals, copies)."""


def _export() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    patients: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    for number, (name, change) in enumerate(SINGLE.items()):
        pid = f"s{number}"
        patients.append({"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1980-01-01"})
        observations.append(_obs(f"{pid}-{name.replace(' ', '-').replace('/', '-')}", pid, **change))
    for number, changes in enumerate(GROUPS.values()):
        pid = f"g{number}"
        patients.append({"resourceType": "Patient", "id": pid, "gender": "male", "birthDate": "1990-05-05"})
        observations.extend(_obs(f"{pid}-obs", pid, **change) for change in changes)
    patients.append({"resourceType": "Patient", "id": "nobirth", "gender": "female"})
    patients.append({"resourceType": "Patient", "id": "badgender", "gender": "woman", "birthDate": "1980-01-01"})
    observations += [
        _obs("nb1", "nobirth"),
        _obs("nb2", "nobirth", code={"coding": [{"system": LOINC, "code": IGG}]}),
        _obs("bg", "badgender"),
    ]
    observations.append(_obs("orphan", "nopatient"))
    return patients, observations


def _numbers(result: LabResult) -> tuple[object, ...]:
    """What the core judges: analyte, date, value in mg/dL with its comparator, the laboratory range in mg/dL."""
    lab = result.lab_range
    bounds = (None, None) if lab is None else (lab.low_mg_dl, lab.high_mg_dl)
    return (result.analyte, result.collected, result.quantity, result.reported_unit, *bounds)


def _bulk_outcomes(folder: Path, knowledge: Knowledge) -> tuple[list[str], dict[str, tuple[object, ...]], Counter[str]]:
    """The outcome of each Observation row in `sigmd screen`: `used Observation/x` or the reason, with the line's
    location written as the Bundle's (`Bundle.entry[i].resource`); the used rows by Observation; and the
    Observations of other analytes set aside, by code."""
    reader = BulkReader(knowledge)
    reader.read_file(folder / "Patient.ndjson")
    reader.read_file(folder / "Observation.ndjson")
    patients = sum(1 for _ in ndjson_lines(folder / "Patient.ndjson"))
    lines = (folder / "Observation.ndjson").read_text(encoding="utf-8").splitlines()
    outcomes: list[str] = []
    used: dict[str, tuple[object, ...]] = {}
    for row in reader.rows():
        line = int(row.where.rsplit(" ", 1)[1])
        name = f"Observation/{json.loads(lines[line - 1])['id']}"
        entry = f"Bundle.entry[{patients + line - 1}].resource"
        outcomes.append(row.reason.removesuffix(f" ({row.where})").replace(row.where, entry) or f"used {name}")
        if not row.reason:  # the long row, read back as screening's core pass reads it
            result, _ = build_result(
                analyte=resolve_analyte(str(row.loinc), "loinc", knowledge),
                value=str(row.value),
                unit=str(row.unit),
                collected=parse_date(str(row.collected_date), "collected_date"),
                knowledge=knowledge,
                field="row",
                comparator=row.comparator,
                range_low=row.ref_low,
                range_high=row.ref_high,
            )
            used[name] = _numbers(result)
    return outcomes, used, reader.other_codes


def _assess_outcomes(
    bundle: dict[str, Any], observations: list[dict[str, Any]], knowledge: Knowledge
) -> tuple[list[str], dict[str, tuple[object, ...]]]:
    """What `sigmd assess` does with each Observation of the same resources as a Bundle: used, listed as not used
    with the reason, or refused with its patient (the refusal counts once for each of that patient's Observations)."""
    subjects = [o["subject"].get("reference", "") for o in observations if isinstance(o.get("subject"), dict)]
    outcomes: list[str] = []
    used: dict[str, tuple[object, ...]] = {}
    for loaded in load_fhir_json(json.dumps(bundle), knowledge):
        if loaded.case is None:
            outcomes += [str(loaded.error)] * (subjects.count(f"Patient/{loaded.patient_key}") or 1)
            continue
        outcomes += [f"used {r.origin}" for r in loaded.case.results]
        outcomes += [note.describe() for note in loaded.case.input_notes]
        used.update((r.origin, _numbers(r)) for r in loaded.case.results)
    return outcomes, used


def test_every_bulk_observation_is_used_or_rejected_as_sigmd_assess_decides(tmp_path: Path) -> None:
    """Each Observation (every status, each effective[x], value and unit form, ranges, codes, corrections and
    copies) is used by screening exactly when `sigmd assess` uses it, with the same date, value and unit, and is
    otherwise rejected with the reason `sigmd assess` gives for it; a used row, read back as screening's core pass
    reads it, gives the result `sigmd assess` judges (date, value in mg/dL, comparator, laboratory range)."""
    knowledge = content.load()
    patients, observations = _export()
    (tmp_path / "Patient.ndjson").write_text("".join(json.dumps(p) + "\n" for p in patients), encoding="utf-8")
    (tmp_path / "Observation.ndjson").write_text("".join(json.dumps(o) + "\n" for o in observations), encoding="utf-8")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in patients + observations],
    }

    screened, screened_used, other = _bulk_outcomes(tmp_path, knowledge)
    assessed, assessed_used = _assess_outcomes(bundle, observations, knowledge)

    # an Observation of another analyte is not a row in screening but counted by code; `sigmd assess` skips it
    assert other == Counter({"718-7": 1})
    skipped = [
        reason for reason in assessed if "-another-LOINC-code was skipped: its code http://loinc.org|718-7" in reason
    ]
    assert len(skipped) == 1
    assessed.remove(skipped[0])

    # two differing copies refuse their patient in `sigmd assess`; screening rejects the earlier copy with that
    # refusal and the later one as the conflicting copy it lists
    conflict = next(reason for reason in assessed if "appears twice with different results" in reason)
    assessed.remove(conflict)
    assessed.append("Observation/g5-obs was skipped: IgM: conflicting copy of Observation/g5-obs")
    assert len(screened) == len(observations) - 1
    assert sorted(screened) == sorted(assessed)
    assert screened_used == assessed_used


def test_the_outcomes_cover_use_and_every_kind_of_refusal(tmp_path: Path) -> None:
    """The differential set is not trivially all-used or all-rejected: it holds used rows, skipped, replaced and
    ignored Observations, Observations the reader refuses, and Observations of a Patient it refuses."""
    patients, observations = _export()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in patients + observations],
    }
    assessed, _ = _assess_outcomes(bundle, observations, content.load())
    text = "\n".join(assessed)
    for seen in ("used Observation/", " was skipped: ", " was replaced: ", " was ignored: ", "unknown  (known: mg/dL"):
        assert seen in text
    assert "birthDate: None is missing" in text and "is not valid FHIR R4" in text


def test_screening_counts_every_line_and_rejects_what_is_not_an_observation(tmp_path: Path) -> None:
    """Rows in = used + rejected: a Patient line is not a row, an Encounter line is counted by type and not a row, a
    Bundle or a line of no FHIR resource type is a reject with its reason, and an Observation replaced by an amended
    one is a reject in the FHIR reader's words."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    lines = [
        patient,
        _obs("m1", "p1", valueQuantity=_quantity(10, "mg/dL")),
        _obs("m1", "p1", status="amended", valueQuantity=_quantity(80, "mg/dL")),
        _obs("g1", "p1", code={"coding": [{"system": LOINC, "code": IGG}]}, valueQuantity=_quantity(1000, "mg/dL")),
        {"resourceType": "Encounter", "id": "e1", "status": "finished"},
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Quantity", "value": 1},
        {"id": "x"},
    ]
    (tmp_path / "export.ndjson").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, sensitivity=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (6, 2, 4)
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert (
        "Observation/m1 was replaced: IgM: replaced by Observation/m1 (amended) with the same id (export.ndjson line 2)"
        in rejects
    )
    assert (
        "resourceType: 'Bundle' is not read from a Bulk export, which holds one resource a line (export.ndjson line 6)"
        in rejects
    )
    assert "resourceType: 'Quantity' is not a FHIR R4 resource type (export.ndjson line 7)" in rejects
    assert "resourceType: None is not a FHIR R4 resource type (export.ndjson line 8)" in rejects
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["other_resources"] == {"Encounter": 1}


@pytest.mark.parametrize("separator", [b"\n", b"\r\n", b"\r"])
def test_bulk_lines_may_end_with_lf_crlf_or_a_bare_cr_across_chunks(tmp_path: Path, separator: bytes) -> None:
    """Lines are numbered as the FHIR NDJSON reader numbers them, whatever ends them, also when the first chunk
    read ends between the CR and the LF of a CRLF."""
    head = separator.join([b'{"a": 1}', b"", b'{"b": 2}']) + separator
    long_line = b'"' + b"x" * ((1 << 20) - len(head) - 3) + b'"'
    body = head + long_line + b"\r\n" + b'{"c": 3}' + separator
    (tmp_path / "x.ndjson").write_bytes(body)
    assert len(head + long_line + b"\r") == 1 << 20
    numbers = [number for number, line in ndjson_lines(tmp_path / "x.ndjson") if line.strip()]
    assert numbers == [1, 3, 4, 5]


def test_observations_of_other_analytes_are_counted_by_code_not_rejected(tmp_path: Path) -> None:
    """A Bulk export holds every laboratory result: an Observation coded in LOINC with no immunoglobulin code is
    counted by code (with a warning when its name reads like an immunoglobulin test), not a row. Observations
    whose analyte cannot be told (local codes only, text only, an immunoglobulin code without the LOINC system, a
    malformed code) are still rows, rejected with the FHIR reader's reason."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    glucose = {"system": LOINC, "code": "2345-7", "display": "Glucose [Mass/volume] in Serum or Plasma"}
    lines = [
        patient,
        _obs("m1", "p1"),
        _obs("x1", "p1", code={"coding": [glucose]}),
        _obs("x2", "p1", code={"coding": [{"system": "http://example.org/lab", "code": "GLU"}, glucose]}),
        _obs("x3", "p1", code={"coding": [{"system": LOINC, "code": "99999-9"}], "text": "IgM, serum"}),
        _obs("x4", "p1", code={"coding": [{"system": LOINC, "code": "5244-3", "display": "Measles IgG Ab"}]}),
        # still rows (rejected): the analyte cannot be told, or the code is not the plain shape
        _obs("r1", "p1", code={"coding": [{"system": "http://example.org/lab", "code": "IGM-S"}]}),
        _obs("r2", "p1", code={"text": "IgM"}),
        _obs("r3", "p1", code={"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": IGM}, glucose]}),
        _obs("r4", "p1", code={"coding": [{"system": LOINC, "code": 2345}]}),
        _obs("r5", "p1", code={"coding": {"system": LOINC, "code": "2345-7"}}),
    ]
    (tmp_path / "export.ndjson").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.warns(UserWarning, match=r"1 result\(s\) have LOINC codes .*\(LOINC 99999-9 'IgM, serum' \(1 rows\)\)"):
        result = screen(tmp_path, tmp_path / "out", as_of=AS_OF, progress=False, sensitivity=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (6, 1, 5)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["other_analytes"] == {
        "rows": 4,
        "most_frequent": [
            {"loinc": "2345-7", "name": "Glucose [Mass/volume] in Serum or Plasma", "rows": 2},
            {"loinc": "5244-3", "name": "Measles IgG Ab", "rows": 1},
            {"loinc": "99999-9", "name": "IgM, serum", "rows": 1},
        ],
    }
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    for line in range(7, 12):
        assert f"export.ndjson line {line}" in rejects
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "4 results of other analytes (LOINC codes sigmd does not screen) were set aside" in report


ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"


def _low_igm_panels(pid: str) -> list[dict[str, Any]]:
    """IgM 12 mg/dL on two dates six months apart with normal IgG and IgA: persistent isolated low IgM, so that the
    records alone decide between partial SIgMD and secondary low IgM, and whether IgG is set aside."""
    panels = []
    for day in ("2025-01-10", "2025-07-20"):
        for code, value in ((IGM, 12), (IGG, 1000), ("2458-8", 200)):
            oid = f"{pid}-{code}-{day}"
            panels.append(
                _obs(
                    oid,
                    pid,
                    code={"coding": [{"system": LOINC, "code": code}]},
                    effectiveDateTime=day,
                    valueQuantity=_quantity(value, "mg/dL"),
                )
            )
    return panels


def _condition(cid: str, pid: str, **change: Any) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": ICD10, "code": "C91.1"}], "text": "chronic lymphocytic leukaemia"},
    }
    condition.update(change)
    return condition


def _medication(kind: str, mid: str, pid: str, code: str, text: str) -> dict[str, Any]:
    medication: dict[str, Any] = {
        "resourceType": kind,
        "id": mid,
        "status": "active",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": code}], "text": text},
    }
    if kind == "MedicationRequest":
        medication["intent"] = "order"
    return medication


def _records_export() -> dict[str, list[dict[str, Any]]]:
    """A Bulk export by file: patients with low IgM whose conditions and medications decide their verdict."""
    pids = ("cll", "cll-refuted", "ivig", "clozapine", "plain", "bad-condition")
    patients = [{"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1980-01-01"} for p in pids]
    return {
        "Patient": patients,
        "Observation": [o for p in pids for o in _low_igm_panels(p)],
        "Condition": [
            _condition("c1", "cll"),
            _condition(
                "c2",
                "cll-refuted",
                verificationStatus={"coding": [{"code": "refuted"}]},
            ),
            _condition("c3", "bad-condition", code="chronic lymphocytic leukaemia"),  # not valid FHIR R4
            _condition("c4", "plain", code={"text": "asthma"}),
        ],
        "MedicationRequest": [_medication("MedicationRequest", "m1", "ivig", "J06BA02", "immunoglobulin")],
        "MedicationStatement": [_medication("MedicationStatement", "m2", "clozapine", "N05AH02", "clozapine")],
        "Encounter": [{"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}}],
    }


def _write_export(folder: Path, export: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, resources in export.items():
        (folder / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")


def test_conditions_and_medications_of_an_export_decide_verdicts_as_in_sigmd_assess(tmp_path: Path) -> None:
    """The export's Condition, MedicationStatement and MedicationRequest resources are the records table: each
    patient's label and certainty equal what `sigmd assess` gives for the same resources as a Bundle (a cause on
    record makes the low IgM secondary; immunoglobulin treatment sets IgG aside; a refuted condition does not
    count); a condition the FHIR reader refuses refuses its patient in both; an Encounter is counted, not a row."""
    knowledge = content.load()
    export = _records_export()
    _write_export(tmp_path / "export", export)
    result = screen(tmp_path / "export", tmp_path / "out", as_of=AS_OF, progress=False, sensitivity=False, csv=True)

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for rs in export.values() for r in rs],
    }
    expected: dict[str, tuple[str, ...]] = {}
    refused: dict[str, str] = {}
    for loaded in load_fhir_json(json.dumps(bundle), knowledge):
        if loaded.case is None:
            refused[loaded.patient_key] = str(loaded.error)
            continue
        assessment = assess(loaded.case, knowledge, as_of=AS_OF)
        verdict = assessment.diagnosis
        criteria = tuple(f"{c.id.value}={c.outcome.value}" for c in assessment.criteria)
        expected[loaded.patient_key] = (verdict.label.value, verdict.certainty.value, *criteria)
    screened = {
        row["patient_id"]: (
            row["label"],
            row["certainty"],
            *(f"{c.split('=')[0]}={row['c_' + c.split('=')[0]]}" for c in expected[row["patient_id"]][2:]),
        )
        for row in pq.read_table(tmp_path / "out" / "patients.parquet").to_pylist()
    }
    assert screened == expected
    assert expected["cll"][0] == "secondary_low_igm" and expected["clozapine"][0] == "secondary_low_igm"
    assert expected["plain"][0] == "partial_sigmd" and expected["cll-refuted"] == expected["plain"]
    assert "igg_normal=unknown" in expected["ivig"] and "igg_normal=met" in expected["plain"]
    invalid = ".code: 'chronic lymphocytic leukaemia' is not valid FHIR R4"
    assert list(refused) == ["bad-condition"] and invalid in refused["bad-condition"]

    observations = len(export["Observation"])
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (observations, observations - 6, 6)
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert rejects.count(f"Condition.ndjson line 3{invalid}") == 6
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["other_resources"] == {"Encounter": 1}
    assert summary["records"] == {
        "table": "bulk.records.csv",
        "patients": 4,
        "conditions": 2,
        "medications": 2,
        "patients_with_a_secondary_cause": 2,
        "patients_with_treatment_setting_aside_igg": 1,
        "not_used": {"Condition": 1},
    }
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Encounter 1" in report and "2 conditions and 2 medications for 4 patients" in report
    assert "1 more was set aside (withdrawn, refuted" in report


def test_a_records_table_given_with_an_export_is_used_and_replaces_the_exports_own(tmp_path: Path) -> None:
    """`--records` with a Bulk export is the records table (it was once ignored); the export's own record lines are
    then counted, not read, with a warning. Without any records the report says secondary causes were not seen."""
    export = _records_export()
    del export["Condition"]  # its invalid Condition would refuse a patient if read
    _write_export(tmp_path / "export", export)
    side = tmp_path / "records.csv"
    side.write_text("patient_id,kind,code,system,text\nplain,condition,C91.1,ICD-10,\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"records\.csv' is the records table; the export's own 2 Condition"):
        screen(tmp_path / "export", tmp_path / "out", records=side, as_of=AS_OF, progress=False, sensitivity=False)
    screened = {r["patient_id"]: r["label"] for r in pq.read_table(tmp_path / "out" / "patients.parquet").to_pylist()}
    assert screened["plain"] == "secondary_low_igm"
    assert screened["ivig"] == screened["clozapine"] == "partial_sigmd"  # their export records were not read
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["other_resources"] == {"Encounter": 1, "MedicationRequest": 1, "MedicationStatement": 1}
    assert summary["records"]["table"] == "records.csv" and summary["records"]["patients_with_a_secondary_cause"] == 1

    for kind in ("MedicationRequest", "MedicationStatement"):
        (tmp_path / "export" / f"{kind}.ndjson").unlink()
    screen(tmp_path / "export", tmp_path / "bare", as_of=AS_OF, progress=False, sensitivity=False)
    summary = json.loads((tmp_path / "bare" / "summary.json").read_text(encoding="utf-8"))
    assert summary["records"] is None
    report = (tmp_path / "bare" / "report.html").read_text(encoding="utf-8")
    assert "No conditions or medications were given" in report


def test_an_export_with_conditions_only_is_read_with_a_warning_and_its_manifest_lists_record_files(
    tmp_path: Path,
) -> None:
    """A manifest's Condition file is read; an export with conditions but no medication resources still uses its
    conditions (they can name a cause), with a warning that medications cannot be seen."""
    export = _records_export()
    for kind in ("MedicationRequest", "MedicationStatement", "Encounter"):
        del export[kind]
    export["Condition"] = [c for c in export["Condition"] if c["id"] != "c3"]
    _write_export(tmp_path / "export", export)
    manifest = {
        "transactionTime": "2025-08-01T00:00:00Z",
        "request": "https://fhir.example/$export",
        "requiresAccessToken": False,
        "output": [{"type": k, "url": f"https://fhir.example/files/{k}.ndjson"} for k in export],
        "error": [],
    }
    (tmp_path / "export" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.warns(
        UserWarning,
        match=r"holds no medications \(no MedicationStatement, MedicationRequest or MedicationAdministration",
    ):
        screen(tmp_path / "export" / "manifest.json", tmp_path / "out", as_of=AS_OF, progress=False, sensitivity=False)
    screened = {r["patient_id"]: r["label"] for r in pq.read_table(tmp_path / "out" / "patients.parquet").to_pylist()}
    assert screened["cll"] == "secondary_low_igm" and screened["plain"] == "partial_sigmd"
