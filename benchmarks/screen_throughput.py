"""Screening throughput: rows per second, peak memory, and the ratio of `screen` to a minimal DuckDB scan.

The minimal scan, timed in the same run on the same file, reads every row, normalises units, computes
the age at collection and groups by patient. Peak memory is the largest resident set of this process
or of any worker process it started.

Run:
  python benchmarks/screen_throughput.py --patients 200000            # generates the data, then measures
  python benchmarks/screen_throughput.py --data labs.parquet --spark  # reuses an extract (and its .records.csv)
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from sigmd.screening.run import ScreenResult, screen
from sigmd.screening.synth import synth

BASELINE = """
SELECT patient_id, count(*) AS n, max(date_diff('day', try_cast(birth_date AS DATE), try_cast(collected_date AS DATE))) AS age,
  sum(try_cast(r.value AS DOUBLE) * u.factor) AS total
FROM read_parquet('{path}') r
LEFT JOIN (VALUES ('mg/dL', 1.0), ('g/L', 100.0), ('mg/L', 0.1)) u(unit, factor) ON u.unit = r.unit
GROUP BY patient_id
"""


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


def _timed(label: str, run: ScreenResult, elapsed: float, baseline: float, rows: int) -> None:
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in run.timings.items())
    print(f"{label}: {elapsed:.2f} s ({stages}); {rows / elapsed:,.0f} rows/s")
    print(f"{label}: ratio to the baseline scan {elapsed / baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=5_000_000)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (from `sigmd synth`)")
    parser.add_argument("--spark", action="store_true", help="also run the Spark engine")
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
    baseline = min(_baseline(data) for _ in range(3))
    print(f"rows {rows:,}; baseline scan {baseline:.2f} s (best of 3, warm cache)")
    options = {"records": records, "as_of": date(2026, 1, 1), "progress": False, "sensitivity": not args.no_sensitivity}
    started = time.perf_counter()
    result = screen(data, work / "out", **options)  # type: ignore[arg-type]
    _timed("duckdb", result, time.perf_counter() - started, baseline, rows)
    print(
        f"patients {result.patients:,}; assessed by the core {result.summary['patients_assessed_by_core']:,}; "
        f"peak RSS {peak_rss_gb():.2f} GB"
    )
    if args.spark:
        started = time.perf_counter()
        result = screen(data, work / "out-spark", engine="spark", **options)  # type: ignore[arg-type]
        _timed("spark", result, time.perf_counter() - started, baseline, rows)


if __name__ == "__main__":
    main()
