"""Screening throughput: rows per second, peak RSS, and the ratio of `screen` to a minimal DuckDB scan.

Run: python benchmarks/screen_throughput.py --patients 200000 [--spark]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from sigmd.screening.run import screen
from sigmd.screening.synth import synth

BASELINE = """
SELECT patient_id, count(*) AS n, max(date_diff('day', try_cast(birth_date AS DATE), try_cast(collected_date AS DATE))) AS age,
  sum(try_cast(r.value AS DOUBLE) * u.factor) AS total
FROM read_parquet('{path}') r
LEFT JOIN (VALUES ('mg/dL', 1.0), ('g/L', 100.0), ('mg/L', 0.1)) u(unit, factor) ON u.unit = r.unit
GROUP BY patient_id
"""


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=5_000_000)
    parser.add_argument("--spark", action="store_true", help="also run the Spark engine")
    parser.add_argument("--no-sensitivity", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sigmd-bench-"))
    started = time.perf_counter()
    files = synth(args.patients, 1, work / "labs.parquet", "parquet")
    print(f"generated {args.patients} patients in {time.perf_counter() - started:.1f} s")
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{files.results}')").fetchall()[0][0]
    started = time.perf_counter()
    duckdb.sql(BASELINE.format(path=files.results)).fetchall()
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    screen(
        files.results,
        work / "out",
        records=files.records,
        as_of=date(2026, 1, 1),
        progress=False,
        sensitivity=not args.no_sensitivity,
    )
    elapsed = time.perf_counter() - started
    print(f"rows {rows}; baseline scan {baseline:.2f} s; screen {elapsed:.2f} s; {rows / elapsed:,.0f} rows/s")
    print(f"ratio screen/baseline {elapsed / baseline:.2f}; peak RSS {peak_rss_gb():.2f} GB")
    if args.spark:
        started = time.perf_counter()
        screen(
            files.results,
            work / "out-spark",
            engine="spark",
            records=files.records,
            as_of=date(2026, 1, 1),
            progress=False,
            sensitivity=not args.no_sensitivity,
        )
        spark = time.perf_counter() - started
        print(f"spark screen {spark:.2f} s; ratio spark/baseline {spark / baseline:.2f}")


if __name__ == "__main__":
    main()
