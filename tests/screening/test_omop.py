"""OMOP CDM input: the same synthetic patients screened from OMOP tables and from the long format agree."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sigmd import content
from sigmd.cli import app
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.inputs import detect, prepare
from sigmd.screening.omop import OPERATORS, export_database, is_database_url
from sigmd.screening.run import screen
from sigmd.screening.synth import synth
from tests.screening.conftest import AS_OF, screened_verdicts

LOCAL = 2_000_000_000
"""Concept ids of the test's own concept table are in OMOP's local range (> 2,000,000,000), not real ids."""
LOINC_CONCEPTS = {"2472-9": LOCAL + 1, "2465-3": LOCAL + 2, "2458-8": LOCAL + 3, "2345-7": LOCAL + 4}
UNIT_CONCEPTS = {"mg/dL": LOCAL + 11, "g/L": LOCAL + 12}
"""mg/L has no unit concept here: those rows carry only unit_source_value."""
CONCEPTS = [
    (LOCAL + 1, "LOINC", "2472-9", "IgM [Mass/volume] in Serum or Plasma"),
    (LOCAL + 2, "LOINC", "2465-3", "IgG [Mass/volume] in Serum or Plasma"),
    (LOCAL + 3, "LOINC", "2458-8", "IgA [Mass/volume] in Serum or Plasma"),
    (LOCAL + 4, "LOINC", "2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
    (LOCAL + 11, "UCUM", "mg/dL", "milligram per deciliter"),
    (LOCAL + 12, "UCUM", "g/L", "gram per liter"),
    (LOCAL + 21, "SNOMED", "92814006", "Chronic lymphoid leukemia"),
    (LOCAL + 22, "ICD10", "C91.1", "Chronic lymphocytic leukaemia of B-cell type"),
    (LOCAL + 23, "RxNorm", "197535", "clozapine 100 MG Oral Tablet"),
    (LOCAL + 24, "ATC", "N05AH02", "clozapine"),
]
RECORD_CONCEPTS = {"C91.1": (LOCAL + 21, LOCAL + 22), "N05AH02": (LOCAL + 23, LOCAL + 24)}
SYMBOLS = {v: k for k, v in OPERATORS.items()}


@dataclass
class Dataset:
    tables: dict[str, list[dict[str, Any]]]
    long_rows: list[dict[str, str]]
    long_records: list[dict[str, str]]
    injected: dict[int, str]
    """measurement position -> the start of the reason its OMOP-only row is rejected with."""
    other_analyte: tuple[int, ...]
    """measurement positions of rows of another LOINC analyte: not screening input, counted, not rejected."""


def _dataset(tmp: Path) -> Dataset:
    """OMOP tables and the long format of the same 150 synthetic patients, plus OMOP rows that cannot be used."""
    files = synth(150, 6, tmp / "synth.parquet", "parquet")
    rows = [r for r in pq.read_table(files.results).to_pylist() if r["value"] != "n/a" and r["unit"] != "mmol/L"]
    births = {r["patient_id"]: r["birth_date"] for r in rows if "/" not in r["birth_date"]}
    ids = {pid: index + 1 for index, pid in enumerate(sorted(births))}
    person, measurement, long_rows = [], [], []
    for pid, number in ids.items():
        born = date.fromisoformat(births[pid])
        sex = next(r["sex"] for r in rows if r["patient_id"] == pid) if number % 10 else "unknown"
        person.append(
            {
                "person_id": number,
                "gender_concept_id": {"female": 8532, "male": 8507}.get(sex, 0),
                "year_of_birth": born.year,
                "month_of_birth": born.month,
                "day_of_birth": born.day,
                "birth_datetime": datetime(born.year, born.month, born.day) if number % 3 else None,
            }
        )
    for index, r in enumerate(row for row in rows if row["patient_id"] in ids):
        number = ids[r["patient_id"]]
        text = r["value"].lstrip("<")
        symbol = "<" if r["value"].startswith("<") or r["comparator"] == "<" else ("=" if index % 2 else "")
        ranged = index % 13 == 0 and r["unit"] == "mg/dL"
        measurement.append(
            {
                "measurement_id": 10_000 + index,
                "person_id": number,
                "measurement_concept_id": LOINC_CONCEPTS.get(r["loinc"], 0),
                "measurement_date": date.fromisoformat(r["collected_date"]),
                "value_as_number": float(text),
                "operator_concept_id": SYMBOLS.get(symbol, 0 if index % 3 else None),
                "unit_concept_id": UNIT_CONCEPTS.get(r["unit"], 0),
                "unit_source_value": r["unit"],
                "range_low": 20.0 if ranged else None,
                "range_high": 250.0 if ranged else None,
                "measurement_source_value": r["loinc"],
                "value_source_value": r["value"],
            }
        )
        long_rows.append(
            {
                "patient_id": str(number),
                "sex": "unknown" if number % 10 == 0 else r["sex"],
                "birth_date": births[r["patient_id"]],
                "collected_date": r["collected_date"],
                "loinc": r["loinc"],
                "value": text,
                "unit": r["unit"],
                "comparator": "" if symbol == "=" else symbol,
                "ref_low": "20" if ranged else "",
                "ref_high": "250" if ranged else "",
            }
        )
    base = {k: None for k in measurement[0]}
    extra = [
        (
            {"person_id": 1, "measurement_concept_id": 0, "measurement_source_value": "GLU", "value_as_number": 90.0},
            "measurement_source_value: 'GLU' (measurement_concept_id '0', no LOINC concept for it in the concept table)"
            " is not an immunoglobulin result",
        ),
        ({"person_id": 999_999, "value_as_number": 50.0}, "person_id: '999999' has no row in the person table"),
        (
            {"person_id": 5_000, "value_as_number": 50.0},
            "month_of_birth: None is missing or not a month; sigmd needs the full birth date",
        ),
        (
            {"person_id": 1, "value_source_value": "positive"},
            "value_as_number: None is missing; sigmd needs a numeric result (value_source_value 'positive')",
        ),
        (
            {"person_id": 1, "value_as_number": 50.0, "operator_concept_id": 4172705},
            "operator_concept_id: '4172705' is not one of 4171756 (<)",
        ),
    ]
    injected = {}
    for offset, (fields, reason) in enumerate(extra):
        injected[len(measurement) + 1] = reason
        measurement.append(
            {
                **base,
                "measurement_id": 90_000 + offset,
                "measurement_concept_id": LOINC_CONCEPTS["2472-9"],
                "measurement_date": date(2024, 1, 1),
                "unit_concept_id": UNIT_CONCEPTS["mg/dL"],
                **fields,
            }
        )
    other_analyte = []
    for offset, value in enumerate((90.0, None)):  # glucose: even without a value, not a reject
        other_analyte.append(len(measurement) + 1)
        measurement.append(
            {
                **base,
                "measurement_id": 95_000 + offset,
                "person_id": 1 + offset,
                "measurement_concept_id": LOINC_CONCEPTS["2345-7"],
                "measurement_date": date(2024, 1, 1),
                "value_as_number": value,
            }
        )
    person.append(
        {
            "person_id": 5_000,
            "gender_concept_id": 8532,
            "year_of_birth": 1970,
            "month_of_birth": None,
            "day_of_birth": None,
            "birth_datetime": None,
        }
    )
    conditions, drugs, long_records = [], [], []
    with files.records.open(encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            if rec["patient_id"] not in ids:
                continue
            standard, source = RECORD_CONCEPTS[rec["code"]]
            number = ids[rec["patient_id"]]
            long_records.append({**rec, "patient_id": str(number)})
            if rec["kind"] == "condition":
                conditions.append(
                    {
                        "person_id": number,
                        "condition_concept_id": standard,
                        "condition_source_concept_id": source,
                        "condition_source_value": rec["code"],
                    }
                )
            else:
                drugs.append(
                    {
                        "person_id": number,
                        "drug_concept_id": standard,
                        "drug_source_concept_id": source,
                        "drug_source_value": rec["text"],
                    }
                )
    concept = [
        {"concept_id": c[0], "vocabulary_id": c[1], "concept_code": c[2], "concept_name": c[3]} for c in CONCEPTS
    ]
    tables = {
        "person": person,
        "measurement": measurement,
        "condition_occurrence": conditions,
        "drug_exposure": drugs,
        "concept": concept,
    }
    return Dataset(tables, long_rows, long_records, injected, tuple(other_analyte))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return _dataset(tmp_path_factory.mktemp("omop-synth"))


def _write_folder(data: Dataset, folder: Path, file_format: str) -> Path:
    folder.mkdir(parents=True)
    for name, rows in data.tables.items():
        table = pa.Table.from_pylist(rows)
        if file_format == "parquet":
            pq.write_table(table, folder / f"{name}.parquet")
        else:
            pcsv.write_csv(table, folder / f"{name.upper() if name == 'concept' else name}.csv")
    return folder


def _write_sqlite(data: Dataset, path: Path) -> str:
    types = {int: "INTEGER", float: "REAL", str: "TEXT", date: "DATE", datetime: "DATETIME"}
    with sqlite3.connect(path) as connection:
        for name, rows in data.tables.items():
            columns = list(rows[0])
            declared = {c: next((types[type(r[c])] for r in rows if r[c] is not None), "TEXT") for c in columns}
            connection.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {declared[c]}' for c in columns)})")
            values = [
                [
                    v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v
                    for v in r.values()
                ]
                for r in rows
            ]
            connection.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})", values)
    return f"sqlite:///{path}"


def _write_long(data: Dataset, folder: Path) -> tuple[Path, Path]:
    source, records = folder / "long.csv", folder / "long.records.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CANONICAL_COLUMNS)
        writer.writeheader()
        writer.writerows(data.long_rows)
    with records.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["patient_id", "kind", "code", "system", "text"])
        writer.writeheader()
        writer.writerows(data.long_records)
    return source, records


@pytest.mark.parametrize("kind", ["parquet", "csv", "sqlite"])
def test_omop_tables_give_the_verdicts_of_the_same_patients_in_long_format(
    dataset: Dataset, tmp_path: Path, kind: str
) -> None:
    """Each patient screened from OMOP (Parquet, CSV, or SQLite URL via the CLI) gets the long format's verdict."""
    source, records = _write_long(dataset, tmp_path)
    long_result = screen(source, tmp_path / "long", records=records, as_of=AS_OF, progress=False, csv=True)
    if kind == "sqlite":
        url = _write_sqlite(dataset, tmp_path / "cdm.db")
        with pytest.warns(UserWarning, match="1 person"):
            result = CliRunner().invoke(
                app, ["screen", url, "--out", str(tmp_path / "omop"), "--as-of", AS_OF.isoformat(), "--csv"]
            )
        assert result.exit_code == 0, result.output
    else:
        folder = _write_folder(dataset, tmp_path / "cdm", kind)
        assert detect(folder) == "omop"
        with pytest.warns(UserWarning, match="1 person"):
            screen(folder, tmp_path / "omop", as_of=AS_OF, progress=False, csv=True)
    verdicts = screened_verdicts(tmp_path / "omop")
    assert verdicts == screened_verdicts(tmp_path / "long")
    assert {label for label, _ in verdicts.values()} >= {"normal", "partial_sigmd", "secondary_low_igm"}
    with (tmp_path / "omop" / "rejects.csv").open(encoding="utf-8") as handle:
        rejects = {int(r["row_no"]): r["reason"] for r in csv.DictReader(handle)}
    for position, reason in dataset.injected.items():
        assert rejects[-position].startswith(reason), rejects[-position]
    assert not {-position for position in dataset.other_analyte} & set(rejects)
    with (tmp_path / "omop" / "summary.json").open(encoding="utf-8") as handle:
        summary = json.load(handle)
    rows = summary["rows"]
    assert summary["other_analytes"] == {
        "rows": len(dataset.other_analyte),
        "most_frequent": [{"loinc": "2345-7", "name": "Glucose [Mass/volume] in Serum or Plasma", "rows": 2}],
    }
    assert rows["in"] == len(dataset.tables["measurement"]) - 2 == rows["used"] + rows["rejected"]
    assert (rows["used"], rows["rejected"]) == (
        long_result.rows_used,
        long_result.rows_rejected + len(dataset.injected),
    )


def _tables(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{name}.parquet")
    return folder


PEOPLE = [
    {
        "person_id": 1,
        "gender_concept_id": 8507,
        "year_of_birth": 1980,
        "month_of_birth": 5,
        "day_of_birth": 1,
        "birth_datetime": "1980-05-01T08:30:00",
    },
    {
        "person_id": 2,
        "gender_concept_id": 8532,
        "year_of_birth": 1990,
        "month_of_birth": 2,
        "day_of_birth": 28,
        "birth_datetime": None,
    },
    {
        "person_id": 3,
        "gender_concept_id": 0,
        "year_of_birth": 1990,
        "month_of_birth": 2,
        "day_of_birth": 28,
        "birth_datetime": None,
    },
    {
        "person_id": 4,
        "gender_concept_id": 8551,
        "year_of_birth": 1990,
        "month_of_birth": 2,
        "day_of_birth": 28,
        "birth_datetime": None,
    },
    {
        "person_id": 5,
        "gender_concept_id": 8532,
        "year_of_birth": 1990,
        "month_of_birth": 2,
        "day_of_birth": 30,
        "birth_datetime": None,
    },
    {
        "person_id": 6,
        "gender_concept_id": 8532,
        "year_of_birth": 1990,
        "month_of_birth": 13,
        "day_of_birth": 1,
        "birth_datetime": None,
    },
]


def _measure(person: int, operator: int | None, value: float | None = 20.0) -> dict[str, Any]:
    return {
        "person_id": person,
        "measurement_concept_id": 0,
        "measurement_source_value": "2472-9",
        "measurement_date": "2024-03-01",
        "value_as_number": value,
        "operator_concept_id": operator,
        "unit_source_value": "mg/dL",
    }


def test_operator_gender_and_birth_fields_map_to_the_long_format(tmp_path: Path) -> None:
    """Operator concepts become < <= = >= >, genders 8507/8532 male/female and others unknown, births full dates."""
    operators = [4171756, 4171754, 4172703, 4171755, 4172704, 0, None]
    measurement = [_measure(1, op) for op in operators] + [_measure(p, None) for p in (2, 3, 4, 5, 6)]
    folder = _tables(tmp_path / "cdm", {"person": PEOPLE, "measurement": measurement})
    prepared = prepare(folder, "auto", None, None, tmp_path / "work", content.load())
    rows = pq.read_table(prepared.path).to_pylist()
    assert [r["comparator"] for r in rows[: len(operators)]] == ["<", "<=", "=", ">=", ">", None, None]
    assert {r["patient_id"]: (r["sex"], r["birth_date"]) for r in rows} == {
        "1": ("male", "1980-05-01"),
        "2": ("female", "1990-02-28"),
        "3": ("unknown", "1990-02-28"),
        "4": ("unknown", "1990-02-28"),
    }
    assert prepared.records is None
    assert [(r["row_no"], r["reason"]) for r in prepared.rejects.to_pylist()] == [
        (1 - len(measurement), "day_of_birth: '30' is not a day of month '2' of '1990'"),
        (-len(measurement), "month_of_birth: '13' is not a month (1 to 12)"),
    ]


def test_a_code_set_aside_whose_name_reads_like_an_immunoglobulin_test_is_warned_about(tmp_path: Path) -> None:
    """Rows of another LOINC code are counted, not rejected; when its concept name reads like an immunoglobulin
    test (an IgM result mapped to a code sigmd does not know), the run warns that those results are not screened."""
    concept = [
        {"concept_id": 7001, "vocabulary_id": "LOINC", "concept_code": "99999-9", "concept_name": "IgM Ser-mCnc"},
        {"concept_id": 7002, "vocabulary_id": "LOINC", "concept_code": "2345-7", "concept_name": "Glucose"},
        {"concept_id": 7003, "vocabulary_id": "LOINC", "concept_code": "5244-3", "concept_name": "Measles IgG Ab"},
    ]
    other = [{**_measure(1, None), "measurement_concept_id": c} for c in (7001, 7001, 7002, 7003)]
    tables = {"person": PEOPLE[:1], "measurement": [_measure(1, None), *other], "concept": concept}
    folder = _tables(tmp_path / "cdm", tables)
    with pytest.warns(
        UserWarning, match=r"2 result\(s\) have LOINC codes .*\(LOINC 99999-9 'IgM Ser-mCnc' \(2 rows\)\)"
    ):
        prepared = prepare(folder, "omop", None, None, tmp_path / "work", content.load())
    assert prepared.other_analytes is not None
    assert prepared.other_analytes.rows == 4  # an antibody test is not warned about
    assert [(c.loinc, c.rows) for c in prepared.other_analytes.most_frequent] == [
        ("99999-9", 2),
        ("2345-7", 1),
        ("5244-3", 1),
    ]
    assert prepared.rejects.num_rows == 0 and pq.read_table(prepared.path).num_rows == 1


def test_conditions_without_drug_exposure_are_used_with_a_warning(tmp_path: Path) -> None:
    """condition_occurrence alone is still the records table (a condition read can name a secondary cause), with a
    warning that medications cannot be seen."""
    conditions = [{"person_id": 1, "condition_concept_id": 0, "condition_source_value": "C91.1"}]
    folder = _tables(
        tmp_path / "cdm", {"person": PEOPLE[:1], "measurement": [_measure(1, None)], "condition_occurrence": conditions}
    )
    with pytest.warns(UserWarning, match="drug_exposure is not: secondary causes and treatment among the medications"):
        prepared = prepare(folder, "omop", None, None, tmp_path / "work", content.load())
    assert prepared.records is not None
    with prepared.records.open(encoding="utf-8", newline="") as handle:
        listed = [(r["patient_id"], r["kind"], r["code"]) for r in csv.DictReader(handle)]
    assert listed == [("1", "condition", "C91.1")]


def test_missing_tables_and_columns_are_named(tmp_path: Path) -> None:
    """A folder without measurement, or a measurement table without value_as_number, fails naming what is missing."""
    person_only = _tables(tmp_path / "a", {"person": PEOPLE})
    with pytest.raises(ValueError, match="has no measurement table"):
        prepare(person_only, "auto", None, None, tmp_path / "work", content.load())
    rows = [{k: v for k, v in _measure(1, None).items() if k != "value_as_number"}]
    no_value = _tables(tmp_path / "b", {"person": PEOPLE, "measurement": rows})
    with pytest.raises(ValueError, match=r"measurement .* has no column value_as_number"):
        prepare(no_value, "auto", None, None, tmp_path / "work", content.load())


def test_database_urls_are_recognised_and_a_database_without_omop_tables_is_an_error(tmp_path: Path) -> None:
    """SQLAlchemy URLs are database input; a database without person and measurement fails naming them."""
    assert is_database_url("sqlite:///cdm.db") and is_database_url("postgresql+psycopg://u@h/cdm")
    assert not is_database_url("/data/cdm") and not is_database_url("labs.csv")
    sqlite3.connect(tmp_path / "empty.db").close()
    with pytest.raises(ValueError, match="has no OMOP table person, measurement"):
        export_database(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "out")
    with pytest.raises(ValueError, match="not a database URL"):
        export_database("nosuchdialect://x/y", tmp_path / "out")
    result = CliRunner().invoke(app, ["screen", str(tmp_path), "--out", str(tmp_path / "o"), "--omop-schema", "cdm"])
    assert result.exit_code == 2 and "omop-schema" in result.output


CDM_TYPES = {"_id": "BIGINT", "_date": "DATE", "_datetime": "TIMESTAMP", "_number": "NUMERIC", "range_": "NUMERIC"}
"""Column types as the OHDSI PostgreSQL DDL declares them (by name ending or start); other columns VARCHAR."""


def _cdm_type(column: str) -> str:
    if column.endswith("_of_birth"):
        return "INTEGER"
    if column == "vocabulary_id":
        return "VARCHAR(20)"
    return next((t for key, t in CDM_TYPES.items() if column.endswith(key) or column.startswith(key)), "VARCHAR(255)")


def _write_postgres(data: Dataset, url: str, schema: str) -> None:
    """The dataset as CDM tables in `schema` of a PostgreSQL database (types of the OHDSI DDL)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for name, rows in data.tables.items():
            columns = list(rows[0])
            declared = ", ".join(f"{c} {_cdm_type(c)}" for c in columns)
            conn.execute(f"CREATE TABLE {schema}.{name} ({declared})")
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {schema}.{name} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row([row[c] for c in columns])


def _run_outputs(out: Path) -> dict[str, Any]:
    found: dict[str, Any] = {"summary": json.loads((out / "summary.json").read_text(encoding="utf-8"))}
    for name in ("patients", "rejects"):
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            found[name] = list(csv.DictReader(handle))
        found[f"{name}.parquet"] = pq.read_table(out / f"{name}.parquet").to_pylist()
    return found


def test_a_postgres_cdm_screened_in_place_equals_the_copied_cdm(
    dataset: Dataset, postgres_url: str, tmp_path: Path
) -> None:
    """`--engine postgres` screens a CDM in its own database (no copy of its tables leaves it) and writes what DuckDB
    writes from the copied tables: the same verdicts, rejects (measurement rows numbered alike) and summary."""
    _write_postgres(dataset, postgres_url, "cdm")
    runs = {}
    for engine in ("duckdb", "postgres"):
        out = tmp_path / engine
        args = ["screen", postgres_url, "--omop-schema", "cdm", "--engine", engine, "--out", str(out), "--csv"]
        with pytest.warns(UserWarning, match="1 person"):
            result = CliRunner().invoke(app, [*args, "--as-of", AS_OF.isoformat()])
        assert result.exit_code == 0, result.output
        runs[engine] = _run_outputs(out)
    assert (tmp_path / "duckdb" / "converted-input" / "omop-tables" / "measurement.parquet").exists()
    assert not (tmp_path / "postgres" / "converted-input" / "omop-tables").exists()
    assert runs["postgres"] == runs["duckdb"]
    rejects = {int(r["row_no"]): r["reason"] for r in runs["postgres"]["rejects"]}
    for position, reason in dataset.injected.items():
        assert rejects[-position].startswith(reason), rejects[-position]
    assert runs["postgres"]["summary"]["rows"]["in"] == len(dataset.tables["measurement"]) - len(dataset.other_analyte)
    assert runs["postgres"]["summary"]["other_analytes"]["rows"] == len(dataset.other_analyte)
    assert {r["label"] for r in runs["postgres"]["patients"]} >= {"normal", "partial_sigmd", "secondary_low_igm"}


def test_postgres_in_place_names_what_the_cdm_lacks(postgres_url: str, tmp_path: Path) -> None:
    """A schema without the OMOP tables, or a measurement table without value_as_number, is refused by name."""
    import psycopg

    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("CREATE TABLE person (person_id BIGINT, gender_concept_id BIGINT, year_of_birth INTEGER)")
    args = ["screen", postgres_url, "--engine", "postgres", "--out", str(tmp_path / "a")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "has no OMOP table measurement" in result.output, result.output
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE measurement (person_id BIGINT, measurement_concept_id BIGINT, measurement_date DATE)"
        )
    result = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "b")])
    assert result.exit_code == 2 and "has no column value_as_number" in result.output, result.output
    other = CliRunner().invoke(app, [*args, "--engine-url", "postgresql://someone@elsewhere/db"])
    assert other.exit_code == 2 and "engine-url" in other.output
