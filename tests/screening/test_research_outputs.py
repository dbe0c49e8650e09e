"""Research outputs: typed per-patient columns equal to the core's, CSV copies on request, the OMOP cohort table.

Synthetic patients only.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sigmd import content
from sigmd.core.assessment import assess
from sigmd.core.interpret import stated_z_score
from sigmd.core.model import Analyte
from sigmd.core.timeline import by_analyte, first_low
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.funnel import step_reached
from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF, core_cases

STATED = "jped_brazil_children"
"""The bundled set that states its intervals are central 95% (2.5th-97.5th percentile), so z-scores are given."""


def _rows(ids: dict[str, str]) -> list[dict[str, str]]:
    """Children of 5 years: plainly normal (one with the laboratory's range), persistently low IgM, single low."""
    birth = "2020-03-01"

    def row(pid: str, day: str, analyte: str, value: str, low: str = "", high: str = "") -> dict[str, str]:
        values = (ids[pid], "female", birth, day, analyte, value, "mg/dL", "", low, high)
        return dict(zip(CANONICAL_COLUMNS, values, strict=True))

    return [
        row("normal", "2025-05-02", "IgM", "110"),
        row("normal", "2025-05-02", "IgG", "1000"),
        row("ranged", "2025-05-02", "IgM", "120", "45", "200"),
        row("ranged", "2025-05-02", "IgG", "1000"),
        row("persistent", "2024-11-04", "IgM", "12"),
        row("persistent", "2025-06-02", "IgM", "10"),
        row("persistent", "2025-06-02", "IgG", "1000"),
        row("single", "2025-03-03", "IgM", "95"),
        row("single", "2025-06-02", "IgM", "15"),
        row("single", "2025-06-02", "IgG", "900"),
    ]


def _write(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CANONICAL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _expected(rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The research columns of every patient, computed by the core from the rows."""
    knowledge = content.load()
    found = {}
    for pid, case in core_cases(rows, None).items():
        assessment = assess(case, knowledge, as_of=AS_OF, reference_set_id=STATED)
        series = by_analyte(assessment.interpretations, Analyte.IGM)
        last, first = series[-1], first_low(series)
        esid = assess(case, knowledge, as_of=AS_OF, profile_id="esid", reference_set_id=STATED)
        found[pid] = {
            "label": assessment.diagnosis.label.value,
            "certainty": assessment.diagnosis.certainty.value,
            "igm_course": assessment.igm_course.value,
            "funnel_step": step_reached(esid),
            "index_date": None if first is None else first.result.collected,
            "latest_igm_date": last.result.collected,
            "latest_igm_mg_dl": last.result.quantity.value,
            "latest_igm_limit_mg_dl": None if last.low_limit is None else last.low_limit.value_mg_dl,
            "latest_igm_z": stated_z_score(last, assessment.reference_set),
            **{f"c_{c.id.value}": c.outcome.value for c in assessment.criteria},
        }
    return found


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    folder = tmp_path_factory.mktemp("research")
    ids = {name: str(100 + n) for n, name in enumerate(("normal", "ranged", "persistent", "single"))}
    rows = _rows(ids)
    screen(_write(rows, folder / "labs.csv"), folder / "out", reference=STATED, as_of=AS_OF, progress=False)
    return folder / "out", rows


def test_research_columns_are_typed(screened: tuple[Path, list[dict[str, str]]]) -> None:
    """Dates are dates, numbers are doubles and the course and funnel step are text, in patients.parquet."""
    schema = pq.read_schema(screened[0] / "patients.parquet")
    for name in ("index_date", "latest_igm_date"):
        assert schema.field(name).type == pa.date32()
    for name in ("latest_igm_mg_dl", "latest_igm_limit_mg_dl", "latest_igm_z"):
        assert schema.field(name).type == pa.float64()
    for name in ("igm_course", "funnel_step", "c_igm_low"):
        assert schema.field(name).type == pa.string()


def test_every_path_gives_the_cores_research_columns(screened: tuple[Path, list[dict[str, str]]]) -> None:
    """Plainly normal, set-wise and lab-range patients carry the core's course, step, dates, limit and z-score."""
    out, rows = screened
    got = {r["patient_id"]: r for r in pq.read_table(out / "patients.parquet").to_pylist()}
    expected = _expected(rows)
    assert {got[pid]["path"] for pid in got} == {"prefilter", "setwise"}
    for pid, want in expected.items():
        for name, value in want.items():
            seen = got[pid][name]
            assert seen == value or (isinstance(value, float) and math.isclose(seen, value, rel_tol=1e-12)), (
                pid,
                name,
                seen,
                value,
            )
    # The laboratory's range 45-200 mg/dL decides (its mean - 2 SD), and states no coverage: no z-score.
    assert (
        math.isclose(got["101"]["latest_igm_limit_mg_dl"], 44.3196, rel_tol=1e-5) and got["101"]["latest_igm_z"] is None
    )
    assert got["100"]["latest_igm_z"] is not None and got["100"]["reasons"] is None
    assert got["102"]["igm_course"] == "persistent" and got["102"]["index_date"] == date(2024, 11, 4)
    assert got["103"]["igm_course"] == "single_low" and got["102"]["reasons"]


def test_the_csv_copies_are_written_only_on_request(
    screened: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    """Without csv=True only Parquet is written; with it every table also has its CSV copy."""
    out, rows = screened
    assert not list(out.glob("*.csv"))
    screen(
        _write(rows, tmp_path / "labs.csv"), tmp_path / "out", reference=STATED, as_of=AS_OF, progress=False, csv=True
    )
    assert {p.name for p in (tmp_path / "out").glob("*.csv")} == {"patients.csv", "rejects.csv", "cohort.csv"}


def test_the_omop_cohort_holds_the_deficient_patients(screened: tuple[Path, list[dict[str, str]]]) -> None:
    """One cohort row per patient labelled SIgMD, from the first low IgM to the latest IgM, with integer ids."""
    out, _ = screened
    cohort = pq.read_table(out / "cohort.parquet")
    patients = pq.read_table(out / "patients.parquet").to_pylist()
    deficient = {r["patient_id"]: r for r in patients if r["label"] in ("partial_sigmd", "complete_sigmd")}
    assert deficient and cohort.schema.field("subject_id").type == pa.int64()
    assert cohort.to_pylist() == [
        {
            "cohort_definition_id": 1,
            "subject_id": int(pid),
            "cohort_start_date": row["index_date"],
            "cohort_end_date": row["latest_igm_date"],
        }
        for pid, row in sorted(deficient.items(), key=lambda item: int(item[0]))
    ]
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["omop_cohort"]["written"] is True


def test_no_cohort_is_written_when_an_id_is_not_an_integer(tmp_path: Path) -> None:
    """Ids such as MRNs cannot be OMOP person_ids: no cohort table is written, and summary.json says why."""
    ids = {"normal": "MRN-1", "ranged": "2", "persistent": "3", "single": "004"}
    source = _write(_rows(ids), tmp_path / "labs.csv")
    result = screen(source, tmp_path / "out", reference=STATED, as_of=AS_OF, progress=False, cohort_definition_id=7)
    assert not (tmp_path / "out" / "cohort.parquet").exists()
    assert result.summary["omop_cohort"]["written"] is False
    assert "2 patient id(s) are not whole numbers" in result.summary["omop_cohort"]["note"]
