"""Shared synthetic cohorts for the screening tests (synthetic patients only)."""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sigmd import content
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.assessment import assess
from sigmd.core.model import Case, CodedText, LabResult, Patient, Sex
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.synth import SynthFiles, synth
from tests.registry.conftest import PostgresCluster, postgres

AS_OF = date(2026, 1, 1)
__all__ = ["postgres"]
"""The registry tests' throw-away PostgreSQL cluster (initdb + pg_ctl on a free port, skipped with the reason when
the server binaries are not installed), shared by the PostgreSQL engine tests."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs a local Spark session (about a minute)")


def require_java() -> None:
    """Skip, saying why, when there is no Java runtime for PySpark (scripts/system-packages.sh installs one)."""
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (home and (Path(home) / "bin" / "java").exists()):
        pytest.skip(
            "no Java runtime (java on PATH or JAVA_HOME): PySpark needs Java 17; install openjdk-17-jre-headless"
        )


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the session's Spark tests (a process can hold one SparkContext)."""
    require_java()
    from sigmd.screening.spark_engine import local_session

    session = local_session(small_data=True)
    yield session
    session.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """A new empty database on the session's throw-away PostgreSQL cluster (a SQLAlchemy-style URL)."""
    return postgres.new_database()


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> SynthFiles:
    return synth(1500, 7, tmp_path_factory.mktemp("cohort") / "labs.parquet", "parquet")


def core_cases(rows: list[dict[str, str]], records: Path | None) -> dict[str, Case]:
    """Every patient's case, built row by row without the engines."""
    knowledge = content.load()
    by_patient: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_patient[row["patient_id"]].append(row)
    found: dict[str, tuple[list[CodedText], list[CodedText]]] = {}
    if records is not None:
        with records.open(encoding="utf-8") as handle:
            for rec in csv.DictReader(handle):
                lists = found.setdefault(rec["patient_id"], ([], []))
                lists[rec["kind"] == "medication"].append(CodedText(rec["text"], rec["code"], rec["system"]))
    cases = {}
    for pid, patient_rows in by_patient.items():
        first = patient_rows[0]
        sex = {"f": "female", "m": "male"}.get(first["sex"].strip().lower(), first["sex"].strip().lower())
        patient = Patient(Sex(sex), parse_date(first["birth_date"], "birth_date"))
        results: list[LabResult] = []
        for row in patient_rows:
            result, _ = build_result(
                analyte=resolve_analyte(row["loinc"], "loinc", knowledge),
                value=row["value"],
                unit=row["unit"],
                collected=parse_date(row["collected_date"], "collected_date"),
                knowledge=knowledge,
                field="row",
                comparator=row.get("comparator") or None,
                range_low=row.get("ref_low") or None,
                range_high=row.get("ref_high") or None,
            )
            results.append(result)
        conditions, medications = found.get(pid, ([], []))
        cases[pid] = (
            Case(patient, tuple(results), tuple(conditions), tuple(medications))
            if records is not None
            else Case(patient, tuple(results))
        )
    return cases


def core_verdicts(
    rows: list[dict[str, str]], records: Path | None, profile: str | None = None, reference: str | None = None
) -> dict[str, tuple[str, str]]:
    """The core's verdict for every patient, computed row by row without the engines."""
    knowledge = content.load()
    verdicts = {}
    for pid, case in core_cases(rows, records).items():
        diagnosis = assess(case, knowledge, as_of=AS_OF, profile_id=profile, reference_set_id=reference).diagnosis
        verdicts[pid] = (diagnosis.label.value, diagnosis.certainty.value)
    return verdicts


def used_rows(source: Path, rejects: Path) -> list[dict[str, str]]:
    """The input rows that screening did not reject (read with pyarrow, so CSV and Parquet both work)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = (
        pq.read_table(source)
        if source.suffix == ".parquet"
        else pcsv.read_csv(
            source,
            convert_options=pcsv.ConvertOptions(
                strings_can_be_null=False,
                column_types=dict.fromkeys(CANONICAL_COLUMNS, "string"),
            ),
        )
    )
    rejected = {int(r["row_no"]) for r in csv.DictReader(rejects.open(encoding="utf-8"))}
    return [
        {k: ("" if v is None else str(v)) for k, v in row.items()}
        for number, row in enumerate(table.to_pylist(), start=1)
        if number not in rejected
    ]


def screened_verdicts(out_dir: Path) -> dict[str, tuple[str, str]]:
    with (out_dir / "patients.csv").open(encoding="utf-8") as handle:
        return {row["patient_id"]: (row["label"], row["certainty"]) for row in csv.DictReader(handle)}
