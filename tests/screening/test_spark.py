"""The Spark engine gives the verdicts, rejects and row counts of DuckDB and the core (one local session)."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sigmd.cli import app
from sigmd.screening import core_pass, spark_pass
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.duckdb_engine import DuckDBEngine
from sigmd.screening.run import make_engine, screen
from sigmd.screening.spark_engine import SparkEngine
from sigmd.screening.synth import SynthFiles, synth
from tests.screening.conftest import AS_OF, core_verdicts, used_rows

pytestmark = pytest.mark.slow

EDGE_ROWS = [
    ["S1", "female", "2000-01-31", "2020-02-29", "IgM", "36.2", "mg/dL", "", "", ""],
    ["S1", "female", "2000-01-31", "2020-02-29", "IgG", "900", "mg/dL", "", "", ""],
    ["S2", "M", "2019-08-31", "2020-02-29", "2472-9", "<0.3", "g/L", "", "", ""],
    ["S3", "male", "1980-05-01", "2025-01-10", "immunoglobulin m", " < 50 ", "mg/dL", "", "", ""],
    ["S4", "female", "1990-03-15", "2025-03-01", "IgM", "30", "mg/dL", "", "25", "200"],
    ["S5", "female", "2015-06-15", "2025-06-01", "IgM", "45", "mg/dL", ">", "", ""],
    ["S6", "other", "2012-02-29", "2025-02-28", "IgM", "60", "µg/mL", "", "", ""],
    ["S7", "female", "1970-01-01", "2025-01-01", "IgM", "≤4", "mg/dL", "", "", ""],
    ["S8", "female", "1970-01-01", "2027-01-01", "IgM", "20", "mg/dL", "", "", ""],
    ["S9", "x", "1970-01-01", "2025-01-01", "IgM", "20", "mg/dL", "", "", ""],
    ["S10", "female", "1970-02-30", "2025-01-01", "IgM", "20", "mg/dL", "", "", ""],
    ["S12", "female", "1970-01-01", "2025-01-01", "IgM", "5\x0b", "mg/dL", "", "", ""],
    ["S13", "female", "1970-01-01", "2025-01-01", "IgM", "20", "mg/dL", "<>", "", ""],
    ["S14", "female", "1970-01-01", "2025-01-01", "IgM", "20", "mg/dL", "", "30", "10"],
    ["", "female", "1970-01-01", "2025-01-01", "IgM", "20", "mg/dL", "", "", ""],
    ["S15", "female", "1970-01-01", "2025-01-01", 'Ig"M, serum', "20", "mg/dL", "", "", ""],
]
"""Month ends, censoring, lab ranges, names, units and malformed rows; S12's vertical tab is not RE2 whitespace."""
BAD_LINES = [
    (b"B1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,,surplus", "cells: line"),
    (b"B2,female,1980-01-01,2025-01-01,IgM,60", "cells: line"),
    (b'B3,fem"ale,1980-01-01,2025-01-01,IgM,60,mg/dL,,,', "quotes: line"),
    (b'B4,"female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,', "quotes: line"),
    (b"B5,female,1980-01-01,2025-01-01,IgM,6\xff0,mg/dL,,,", "value: '6\\xff0' is not UTF-8 text (line"),
]
"""Lines that do not fit the CSV dialect (extra and missing cells, stray and unterminated quotes, bad bytes)."""


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> SynthFiles:
    return synth(300, 11, tmp_path_factory.mktemp("spark-cohort") / "labs.parquet", "parquet")


def _rejects(out: Path) -> list[tuple[int, str]]:
    with (out / "rejects.csv").open(encoding="utf-8") as handle:
        return sorted((int(r["row_no"]), r["reason"]) for r in csv.DictReader(handle))


def _patients(out: Path) -> dict[str, tuple[str, str, str]]:
    with (out / "patients.csv").open(encoding="utf-8") as handle:
        return {r["patient_id"]: (r["label"], r["certainty"], r["path"]) for r in csv.DictReader(handle)}


def _rows(out: Path) -> dict[str, int]:
    rows: dict[str, int] = json.loads((out / "summary.json").read_text(encoding="utf-8"))["rows"]
    return rows


def test_spark_screening_equals_duckdb_and_the_core(spark: Any, small_cohort: SynthFiles, tmp_path: Path) -> None:
    """On a Parquet cohort, Spark gives each patient DuckDB's and the core's verdict, with the same rejects and counts."""
    runs = {}
    for engine in ("spark", "duckdb"):
        out = tmp_path / engine
        screen(
            small_cohort.results,
            out,
            engine=engine,
            records=small_cohort.records,
            as_of=AS_OF,
            progress=False,
            csv=True,
        )
        runs[engine] = out
    spark_out, duck_out = runs["spark"], runs["duckdb"]
    assert _patients(spark_out) == _patients(duck_out)
    assert len(_patients(spark_out)) > 290
    assert _rejects(spark_out) == _rejects(duck_out) != []
    assert _rows(spark_out) == _rows(duck_out)
    expected = core_verdicts(used_rows(small_cohort.results, spark_out / "rejects.csv"), small_cohort.records)
    assert {pid: v[:2] for pid, v in _patients(spark_out).items()} == expected
    summary = json.loads((spark_out / "summary.json").read_text(encoding="utf-8"))
    assert (
        summary["reference_set_sensitivity"]
        == json.loads((duck_out / "summary.json").read_text())["reference_set_sensitivity"]
    )


def jvm_of(daemon: int) -> str:
    """The command line of the JVM that started PySpark's daemon process `daemon` (Linux /proc)."""
    parent = Path(f"/proc/{daemon}/stat").read_text().rsplit(")", 1)[1].split()[1]
    return Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_the_core_pass_runs_in_spark_python_workers_not_in_the_driver(
    spark: Any, small_cohort: SynthFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On local[2] every patient the set-wise SQL left to the core is assessed in Spark's Python workers (children
    of the Spark JVM): the driver's own `assess_chunk` is a tripwire that no patient reaches, and the outputs are
    DuckDB's."""
    screen(
        small_cohort.results, tmp_path / "duckdb", records=small_cohort.records, as_of=AS_OF, progress=False, csv=True
    )

    def tripwire(*args: object) -> None:
        raise AssertionError("the core's pass ran in the driver process")

    monkeypatch.setattr(core_pass, "assess_chunk", tripwire)
    monkeypatch.setattr(spark_pass, "assess_chunk", tripwire)
    engine = SparkEngine(spark)
    try:
        result = screen(
            small_cohort.results,
            tmp_path / "spark",
            engine=engine,
            records=small_cohort.records,
            as_of=AS_OF,
            progress=False,
            csv=True,
        )
        tasks = [t for t in engine.fetch("SELECT * FROM core_pass_tasks").to_pylist() if t["patients"]]
        residue = engine.fetch("SELECT count(*) AS n FROM core_patients").to_pylist()[0]["n"]
    finally:
        engine.close()
    assert _patients(tmp_path / "spark") == _patients(tmp_path / "duckdb")
    assert _rejects(tmp_path / "spark") == _rejects(tmp_path / "duckdb")
    duck = json.loads((tmp_path / "duckdb" / "summary.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in result.summary.items() if k != "core_pass_ran_on"} == {
        k: v for k, v in duck.items() if k != "core_pass_ran_on"
    }
    assert result.summary["core_pass_ran_on"] == "spark executors"
    assert result.summary["patients_assessed_by_core"] > 0
    assert sum(t["patients"] for t in tasks) == residue >= result.summary["patients_assessed_by_core"]
    # Patients are dealt round-robin over at least defaultParallelism (2) partitions.
    assert len({t["partition_id"] for t in tasks}) == min(2, residue)
    assert all(t["process_id"] != os.getpid() for t in tasks)
    assert all("org.apache.spark.deploy.SparkSubmit" in jvm_of(t["parent_process_id"]) for t in tasks)


def test_cli_engine_spark_screens_a_csv_with_edge_rows_like_duckdb(
    spark: Any, small_cohort: SynthFiles, tmp_path: Path
) -> None:
    """`sigmd screen --engine spark` on a CSV with edge rows, IgM cut-offs and sex-specific bands matches DuckDB."""
    source = tmp_path / "labs.csv"
    table = pq.read_table(small_cohort.results)
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CANONICAL_COLUMNS)
        for row in table.to_pylist():
            writer.writerow([row.get(c) or "" for c in CANONICAL_COLUMNS])
        writer.writerows(EDGE_ROWS)
    clean = tmp_path / "clean.csv"
    clean.write_bytes(source.read_bytes())
    with source.open("ab") as handle:
        handle.write(b"\n".join(line for line, _ in BAD_LINES) + b"\n")
    options = {"profile": "medscape_40", "reference": "bozeman_sex"}
    args = ["--as-of", AS_OF.isoformat(), "--records", str(small_cohort.records)]
    args += [f"--{key}={value}" for key, value in options.items()]
    result = CliRunner().invoke(
        app, ["screen", str(source), "--out", str(tmp_path / "spark"), "--engine", "spark", "--csv", *args]
    )
    assert result.exit_code == 0, result.output
    screen(source, tmp_path / "duckdb", records=small_cohort.records, as_of=AS_OF, progress=False, csv=True, **options)  # type: ignore[arg-type]
    assert _patients(tmp_path / "spark") == _patients(tmp_path / "duckdb")
    assert _rejects(tmp_path / "spark") == _rejects(tmp_path / "duckdb")
    assert (
        _rows(tmp_path / "spark")
        == _rows(tmp_path / "duckdb")
        == {
            "in": table.num_rows + len(EDGE_ROWS) + len(BAD_LINES),
            "used": _rows(tmp_path / "spark")["used"],
            "rejected": len(_rejects(tmp_path / "spark")),
        }
    )
    reasons = dict((n, r) for n, r in _rejects(tmp_path / "spark"))
    edge = {row[0]: table.num_rows + i for i, row in enumerate(EDGE_ROWS, start=1)}
    assert reasons[edge["S12"]].startswith("value: '5\x0b' is not a non-negative number")
    assert reasons[edge["S15"]].startswith("loinc: 'Ig\"M, serum' is not a known analyte")
    assert reasons[edge["S9"]] == "sex: 'x' is not one of female, male, other, unknown"
    assert reasons[edge[""]] == "patient_id: None is missing"
    first_bad = table.num_rows + len(EDGE_ROWS) + 1
    for offset, (_, reason) in enumerate(BAD_LINES):
        assert reasons[first_bad + offset].startswith(f"{reason} {first_bad + offset + 1}"), reasons[first_bad + offset]
    # The bad lines (all rejected, at the end) are left out of the core's side, which reads the file with pyarrow.
    expected = core_verdicts(
        used_rows(clean, tmp_path / "spark" / "rejects.csv"), small_cohort.records, *options.values()
    )
    assert {pid: v[:2] for pid, v in _patients(tmp_path / "spark").items()} == expected


def test_row_numbers_follow_the_file_across_row_groups(spark: Any, small_cohort: SynthFiles, tmp_path: Path) -> None:
    """A Parquet file read in many small row groups gets DuckDB's 1-based row numbers (CSV is converted to Parquet
    before either engine reads it)."""
    table = pq.read_table(small_cohort.results)
    source = tmp_path / "labs.parquet"
    file_format = "parquet"
    pq.write_table(table, source, row_group_size=100)
    columns = {c: c for c in CANONICAL_COLUMNS}
    query = "SELECT row_no, patient_id, collected_date, loinc, value FROM raw ORDER BY row_no"
    duck = DuckDBEngine()
    try:
        duck.load("raw", source, file_format, columns)
        expected = duck.fetch(query).to_pylist()
    finally:
        duck.close()
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    engine = SparkEngine()
    try:
        assert spark.read.format(file_format).load(str(source)).rdd.getNumPartitions() > 4
        engine.load("raw", source, file_format, columns)
        assert engine.fetch(query).to_pylist() == expected
    finally:
        engine.close()
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert [r["row_no"] for r in expected] == list(range(1, table.num_rows + 1))


def test_missing_pyspark_names_the_spark_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyspark, make_engine("spark") fails with the pip install line of the `spark` extra."""
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'sigmd[spark]'")):
        make_engine("spark")


def test_a_master_spark_cannot_start_on_is_refused_naming_the_engine_url() -> None:
    """Whatever PySpark raises when its session cannot start becomes one clear refusal naming the option. Run in a
    fresh process: in this one an earlier test's session may be running, which Spark would hand back instead."""
    import subprocess

    script = (
        "from sigmd.screening.spark_engine import local_session\n"
        "try:\n    local_session(master='bogus://nowhere')\n"
        "except ValueError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.startswith("engine-url: Spark could not start on master 'bogus://nowhere'")
