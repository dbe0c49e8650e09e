"""Differential suite: `sigmd screen` against the core, patient by patient, on Hypothesis-generated cohorts.

The expected verdict is computed by the core from ALL input rows (each row built as `sigmd assess` builds it,
refused rows left out), so a row the engine wrongly rejects or wrongly uses shows up as a difference. Label,
certainty, the outcome of every criterion and the research columns (IgM course, ESID funnel step, index date,
latest IgM with its limit and z-score) must match for every patient, whichever path judged it;
rejected rows must be the rows the core refuses, each naming the same field. Synthetic patients only.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmd import content
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.assessment import Assessment, AssessmentError, assess
from sigmd.core.interpret import stated_z_score
from sigmd.core.model import Analyte, Case, CodedText, Patient, Sex
from sigmd.core.timeline import by_analyte, first_low
from sigmd.errors import InputError
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.funnel import step_reached
from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF

HEADER = CANONICAL_COLUMNS
TYPICAL = {"IgM": 100.0, "IgG": 1000.0, "IgA": 200.0, "IgG1": 600.0, "IgG2": 300.0, "IgG3": 60.0, "IgG4": 40.0}
"""A typical adult value (mg/dL) per analyte, around which a synthetic person's values are drawn."""
ALIASES = {"2472-9": "IgM", "2465-3": "IgG", "2458-8": "IgA"}
ANALYTES = ("IgM", "IgM", "2472-9", "IgG", "2465-3", "IgA", "2458-8", "IgG1", "IgG2", "IgG3", "IgG4")
RECORDS = (
    ("condition", "C91.1", "ICD-10", "chronic lymphocytic leukaemia"),
    ("condition", "", "", "no history of chronic lymphocytic leukaemia"),
    ("medication", "N05AH02", "ATC", "clozapine"),
    ("medication", "", "", "intravenous immunoglobulin"),
    ("condition", "", "", "mother has lymphoma"),
    ("condition", "J45", "ICD-10", "asthma"),
)


@st.composite
def rows_of_patient(draw: st.DrawFn, pid: str) -> list[dict[str, str]]:
    sex = draw(st.sampled_from(("female", "male", "F", "m", "other", "unknown")))
    birth = date(1925, 1, 1) + timedelta(days=draw(st.integers(0, 36_500)))
    # A level per analyte for the person, so that repeat results agree (persistent or normalised courses).
    level = {code: draw(st.floats(-3.5, 1.0)) for code in TYPICAL}
    # The first sample's age (newborn to old), then repeats at gaps around the persistence spans (3 and 6 months).
    start = draw(st.sampled_from((0, 1, 60, 200, 400, 4000, 6500, 20_000))) + draw(st.integers(-5, 40))
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        start += draw(st.sampled_from((0, 0, 30, 89, 90, 92, 181, 183, 365, 2000))) + draw(st.integers(-2, 2))
        collected = birth + timedelta(days=start)
        # Often a panel (IgM, IgG and IgA on one day, as laboratories order them), else one analyte.
        panel = draw(st.integers(0, 3)) == 0
        for analyte in ("IgM", "IgG", "IgA") if panel else (draw(st.sampled_from(ANALYTES)),):
            unit = draw(st.sampled_from(("mg/dL", "mg/dL", "g/L", "mg/L", "furlongs")))
            # Log-normal around a typical adult value, as immunoglobulins are: low, absent and high values all come up.
            mg_dl = TYPICAL[ALIASES.get(analyte, analyte)] * math.exp(
                level[ALIASES.get(analyte, analyte)] + draw(st.floats(-0.4, 0.4))
            )
            magnitude = mg_dl / (100 if unit == "g/L" else 1)
            if unit == "mg/L":
                magnitude *= 10
            value = f"{magnitude:.3g}"
            comparator = ""
            form = draw(st.integers(0, 9))
            if form == 0:
                value = "<" + value
            elif form == 1:
                value = ">" + value
            elif form == 2:
                comparator = draw(st.sampled_from(("<=", ">=", "<", "=")))
            elif form == 3:
                value = draw(st.sampled_from(("", "n/a", "-3", "1e400")))
            ref_low = ref_high = ""
            if draw(st.integers(0, 19)) == 0:
                ref_low, ref_high = draw(st.sampled_from((("40", "230"), ("0.4", "2.3"), ("700", "1600"), ("300", ""))))
            rows.append(
                {
                    "patient_id": pid,
                    "sex": sex,
                    "birth_date": birth.isoformat(),
                    "collected_date": collected.isoformat() if collected < date(2030, 1, 1) else "2029-13-01",
                    "loinc": analyte,
                    "value": value,
                    "unit": unit,
                    "comparator": comparator,
                    "ref_low": ref_low,
                    "ref_high": ref_high,
                }
            )
    return rows


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[tuple[str, ...]]]:
    rows: list[dict[str, str]] = []
    records: list[tuple[str, ...]] = []
    for index in range(draw(st.integers(1, 6))):
        pid = f"P{index}"
        rows += draw(rows_of_patient(pid))
        for record in draw(st.lists(st.sampled_from(RECORDS), max_size=1)) if draw(st.integers(0, 3)) == 0 else ():
            records.append((pid, *record))
    return rows, records


def _core(
    rows: list[dict[str, str]], records: list[tuple[str, ...]]
) -> tuple[dict[str, dict[str, str]], dict[int, str]]:
    """The core's verdict per patient (label, certainty, criteria) and the rows it refuses (row number -> field)."""
    knowledge = content.load()
    refused: dict[int, str] = {}
    by_patient: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        by_patient[row["patient_id"]].append((number, row))
    verdicts: dict[str, dict[str, str]] = {}
    for pid, numbered in by_patient.items():
        results, used = [], []
        first = numbered[0][1]
        sex = {"f": "female", "m": "male"}.get(first["sex"].lower(), first["sex"].lower())
        for number, row in numbered:
            try:
                collected = parse_date(row["collected_date"], "collected_date")
                if collected > AS_OF:
                    raise InputError("collected_date", row["collected_date"], "is after the as-of date")
                if collected < parse_date(row["birth_date"], "birth_date"):
                    raise InputError("collected_date", row["collected_date"], "is before the birth date")
                result, _ = build_result(
                    analyte=resolve_analyte(row["loinc"], "loinc", knowledge),
                    value=row["value"],
                    unit=row["unit"],
                    collected=collected,
                    knowledge=knowledge,
                    field="value",
                    comparator=row["comparator"] or None,
                    range_low=row["ref_low"] or None,
                    range_high=row["ref_high"] or None,
                )
            except InputError as error:
                refused[number] = error.field.split("[")[0].split(".")[-1]
                continue
            results.append(result)
            used.append(number)
        conditions = tuple(CodedText(r[4], r[2], r[3]) for r in records if r[0] == pid and r[1] == "condition")
        medications = tuple(CodedText(r[4], r[2], r[3]) for r in records if r[0] == pid and r[1] == "medication")
        case = Case(
            Patient(Sex(sex), parse_date(first["birth_date"], "birth_date")), tuple(results), conditions, medications
        )
        try:
            assessment = assess(case, knowledge, as_of=AS_OF)
        except AssessmentError:
            for number in used:
                refused[number] = "patient_id"
            continue
        if not any(r.analyte.value == "IgM" for r in results):
            for number in used:
                refused[number] = "patient_id"
            continue
        verdicts[pid] = {
            "label": assessment.diagnosis.label.value,
            "certainty": assessment.diagnosis.certainty.value,
            **{f"c_{c.id.value}": c.outcome.value for c in assessment.criteria},
            **_research(case, assessment),
        }
    return verdicts, refused


def _research(case: Case, assessment: Assessment) -> dict[str, Any]:
    """The research columns as the core gives them: IgM course, ESID funnel step, latest IgM, its limit and z."""
    knowledge = content.load()
    series = by_analyte(assessment.interpretations, Analyte.IGM)
    last, first = series[-1], first_low(series)
    esid = assess(case, knowledge, as_of=AS_OF, profile_id="esid")
    return {
        "igm_course": assessment.igm_course.value,
        "funnel_step": step_reached(esid),
        "index_date": None if first is None else first.result.collected,
        "latest_igm_date": last.result.collected,
        "latest_igm_mg_dl": last.result.quantity.value,
        "latest_igm_limit_mg_dl": None if last.low_limit is None else last.low_limit.value_mg_dl,
        "latest_igm_z": stated_z_score(last, assessment.reference_set),
    }


def _same(got: dict[str, Any], want: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The columns where screening and the core differ (numbers within a relative 1e-12)."""
    return {
        k: (got[k], v)
        for k, v in want.items()
        if not (
            got[k] == v
            or (isinstance(v, float) and isinstance(got[k], float) and math.isclose(got[k], v, rel_tol=1e-12))
        )
    }


def _screened(out: Path) -> dict[str, dict[str, Any]]:
    return {r["patient_id"]: r for r in pq.read_table(out / "patients.parquet").to_pylist()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cohorts())
def test_screening_gives_the_core_verdict_and_criteria_for_every_patient(
    cohort: tuple[list[dict[str, str]], list[tuple[str, ...]]],
) -> None:
    rows, records = cohort
    expected, refused = _core(rows, records)
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "labs.csv"
        with source.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, HEADER)
            writer.writeheader()
            writer.writerows(rows)
        side = folder / "records.csv"
        with side.open("w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(("patient_id", "kind", "code", "system", "text"))
            out.writerows(records)
        result = screen(source, folder / "out", records=side, as_of=AS_OF, progress=False, csv=True)
        screened = _screened(folder / "out")
        with (folder / "out" / "rejects.csv").open(encoding="utf-8") as handle:
            rejects = {int(r["row_no"]): r["reason"].split(":")[0] for r in csv.DictReader(handle)}
    assert result.rows_in == len(rows) == result.rows_used + result.rows_rejected
    assert sorted(rejects) == sorted(refused), (rejects, refused)
    assert set(screened) == set(expected)
    for pid, want in expected.items():
        got = screened[pid]
        assert (got["label"], got["certainty"]) == (want["label"], want["certainty"]), (pid, got["path"], got, want)
        assert not _same(got, want), (pid, got["path"], _same(got, want))


def _boundary_cohort() -> list[dict[str, str]]:
    """Patients at the edges of the set-wise rules: persistence spans either side of 3 and 6 months (adult and
    child), low IgG and IgA with normal or high IgM at ages either side of the CVID age, IgA absent, censored IgM."""
    rows: list[dict[str, str]] = []

    def add(pid: str, birth: date, day: date, analyte: str, value: str) -> None:
        rows.append(
            dict(
                zip(
                    HEADER,
                    (pid, "female", birth.isoformat(), day.isoformat(), analyte, value, "mg/dL", "", "", ""),
                    strict=True,
                )
            )
        )

    adult, child = date(1970, 5, 31), date(2015, 8, 31)
    for birth, tag in ((adult, "A"), (child, "C")):
        for gap in (89, 90, 91, 92, 181, 182, 183, 184):
            pid, first = f"span-{tag}-{gap}", date(2024, 11, 30)
            for day in (first, first + timedelta(days=gap)):
                add(pid, birth, day, "IgM", "9")
                add(pid, birth, day, "IgG", "1000")
                add(pid, birth, day, "IgA", "200")
    for years in (3, 5, 40):
        for igm in ("60", "900", "<30", "<200"):
            pid, birth = f"gag-{years}-{igm}", date(2025 - years, 3, 1)
            for day in (date(2025, 1, 10), date(2025, 6, 10)):
                add(pid, birth, day, "IgM", igm)
                add(pid, birth, day, "IgG", "150")
                add(pid, birth, day, "IgA", "5")
        pid = f"iga-{years}"
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgM", "80")
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgG", "900")
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgA", "<7")
    return rows


def test_screening_gives_the_core_verdict_at_the_edges_of_the_rules(tmp_path: Path) -> None:
    """Fixed cases at each rule's boundary (a generated cohort may not land on them): same verdict and criteria."""
    rows = _boundary_cohort()
    expected, refused = _core(rows, [])
    source = tmp_path / "labs.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    screen(source, tmp_path / "out", as_of=AS_OF, progress=False)
    screened = _screened(tmp_path / "out")
    assert not refused and set(screened) == set(expected)
    assert {r["path"] for r in screened.values()} >= {"setwise"}
    for pid, want in expected.items():
        got = screened[pid]
        assert not _same(got, want), (pid, got["path"], _same(got, want))
