"""Screening throughput: rows per second, peak memory, and the ratio of `screen` to a minimal scan on each engine.

The minimal scan, timed in the same run on the same file, reads every row, normalises units, computes
the age at collection and groups by patient. On DuckDB it reads the Parquet file directly (best of three).
On Spark and PostgreSQL it is the same query run on that engine, after the engine's own load of the file
(`Engine.load`, which `screen` also does), so each engine's ratio compares it with itself. Peak memory is
the largest resident set of this process or of any worker process it started (not the PostgreSQL server's).

Run:
  python benchmarks/screen_throughput.py --patients 200000                  # generates the data, then measures
  python benchmarks/screen_throughput.py --data labs.parquet --engine spark --engine postgres
      # reuses an extract (and its .records.csv); postgres runs on a throw-away cluster (tests/postgres_cluster.py)
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import duckdb

from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.portable import to_date, to_double
from sigmd.screening.run import ScreenResult, make_engine, screen
from sigmd.screening.synth import synth

BASELINE = """
SELECT patient_id, count(*) AS n, max(date_diff('day', try_cast(birth_date AS DATE), try_cast(collected_date AS DATE))) AS age,
  sum(try_cast(r.value AS DOUBLE) * u.factor) AS total
FROM read_parquet('{path}') r
LEFT JOIN (VALUES ('mg/dL', 1.0), ('g/L', 100.0), ('mg/L', 0.1)) u(unit, factor) ON u.unit = r.unit
GROUP BY patient_id
"""

ENGINE_BASELINE = f"""
SELECT count(*) AS patients, sum(n) AS rows_read FROM (
  SELECT patient_id, count(*) AS n,
    max(date_diff('day', {to_date("birth_date")}, {to_date("collected_date")})) AS age,
    sum({to_double("r.value")} * u.factor) AS total
  FROM raw r
  LEFT JOIN (VALUES ('mg/dL', 1.0), ('g/L', 100.0), ('mg/L', 0.1)) u(unit, factor) ON u.unit = r.unit
  GROUP BY patient_id
) g
"""
"""The minimal scan in the portable spelling, over the engine's own load of the file (view `raw`)."""

PART = 1_000_000
"""Patients generated per part; large cohorts are written part by part to keep generation memory bounded."""


def generate(patients: int, folder: Path) -> tuple[Path, Path]:
    """A synthetic extract of `patients` patients (parts with their own seeds and patient-id prefixes)."""
    if patients <= PART:
        files = synth(patients, 1, folder / "labs.parquet", "parquet")
        return files.results, files.records
    parts = []
    for number, start in enumerate(range(0, patients, PART), start=1):
        files = synth(min(PART, patients - start), number, folder / f"part{number}.parquet", "parquet")
        parts.append((number, files))
    results, records = folder / "labs.parquet", folder / "labs.records.csv"
    union = " UNION ALL ".join(
        f"SELECT * REPLACE ('{n}-' || patient_id AS patient_id) FROM read_parquet('{f.results}')" for n, f in parts
    )
    duckdb.sql(f"COPY ({union}) TO '{results}' (FORMAT parquet)")
    union = " UNION ALL ".join(
        f"SELECT * REPLACE ('{n}-' || patient_id AS patient_id) FROM read_csv('{f.records}', all_varchar = true)"
        for n, f in parts
    )
    duckdb.sql(f"COPY ({union}) TO '{records}' (FORMAT csv, HEADER)")
    for _, files in parts:
        for path in (files.results, files.records, files.truth):
            path.unlink()
    return results, records


def peak_rss_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024**2


def _baseline(data: Path) -> float:
    started = time.perf_counter()
    duckdb.sql(BASELINE.format(path=data)).fetchall()
    return time.perf_counter() - started


def _engine_baseline(engine: str, url: str | None, data: Path) -> float:
    """Load the file into the engine and run the minimal scan there; seconds for both."""
    db = make_engine(engine, url)
    try:
        started = time.perf_counter()
        db.load("raw", data, "parquet", {c: c for c in CANONICAL_COLUMNS})
        db.fetch(ENGINE_BASELINE)
        return time.perf_counter() - started
    finally:
        db.close()


def _timed(label: str, run: ScreenResult, elapsed: float, baseline: float, rows: int) -> None:
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in run.timings.items())
    print(f"{label}: {elapsed:.2f} s ({stages}); {rows / elapsed:,.0f} rows/s")
    print(f"{label}: ratio to the baseline scan {elapsed / baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=5_000_000)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (from `sigmd synth`)")
    parser.add_argument(
        "--engine",
        action="append",
        choices=("duckdb", "spark", "postgres"),
        help="engines to measure, each against its own minimal scan (repeatable; default: duckdb)",
    )
    parser.add_argument("--generate-only", action="store_true", help="write the extract and stop")
    parser.add_argument("--no-sensitivity", action="store_true", help="skip the reference-set sensitivity table")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sigmd-bench-"))
    if args.data is None:
        started = time.perf_counter()
        data, records = generate(args.patients, work)
        print(f"generated {args.patients:,} patients in {time.perf_counter() - started:.1f} s")
    else:
        data, records = args.data, args.data.with_suffix(".records.csv")
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{data}')").fetchall()[0][0]
    if args.generate_only:
        print(f"wrote {data} ({rows:,} rows) and {records}")
        return
    options = {"records": records, "as_of": date(2026, 1, 1), "progress": False, "sensitivity": not args.no_sensitivity}
    with ExitStack() as stack:
        for engine in args.engine or ["duckdb"]:
            url = None
            if engine == "postgres":
                sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/
                from tests.postgres_cluster import throwaway_cluster

                url = stack.enter_context(throwaway_cluster()).new_database()
            if engine == "duckdb":
                baseline = min(_baseline(data) for _ in range(3))
                print(f"rows {rows:,}; duckdb baseline scan {baseline:.2f} s (best of 3, warm cache)")
            else:
                baseline = _engine_baseline(engine, url, data)
                print(f"rows {rows:,}; {engine} baseline (load + minimal scan on {engine}) {baseline:.2f} s")
            started = time.perf_counter()
            result = screen(data, work / f"out-{engine}", engine=engine, engine_url=url, **options)  # type: ignore[arg-type]
            _timed(engine, result, time.perf_counter() - started, baseline, rows)
            print(
                f"{engine}: patients {result.patients:,}; assessed by the core "
                f"{result.summary['patients_assessed_by_core']:,}; peak RSS so far {peak_rss_gb():.2f} GB"
            )


if __name__ == "__main__":
    main()
