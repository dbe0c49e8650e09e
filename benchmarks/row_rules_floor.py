"""The floor under screening's cost: the row rules alone, as a ratio to the minimal scan, measured in one run.

Every input row must be read as the core reads it (value, comparator, unit, dates, laboratory range, the reason a
row is refused) and compared with its age-matched limit before any verdict exists: `classify.rows_sql`. This script
times that query on DuckDB without writing its rows anywhere (an aggregate over every column later stages use),
and the minimal scan of `screen_throughput.py`, best of three each, and prints both ratios to the scan. The full
`screen` cannot cost less than the row rules, so a target ratio below theirs needs the rules themselves to be
cheaper (see benchmarks/README.md).

Run:
  python benchmarks/row_rules_floor.py --data labs.parquet      # an extract from `sigmd synth` (Parquet)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screen_throughput import BASELINE

from sigmd import content
from sigmd.screening import classify
from sigmd.screening.delimited import LINE_PROBLEM
from sigmd.screening.inputs import prepare
from sigmd.screening.run import make_engine, row_options
from sigmd.screening.tables import content_tables

USED = (
    "count(*), count(row_reason), sum(age_days), sum(limit_mg_dl), sum(lab_limit_mg_dl), count_if(clear),"
    " count_if(not_low), count_if(maybe_absent), max(patient_id), max(collected), max(birth), max(comparator_code),"
    " sum(value_mg_dl), sum(lab_high), max(sex), max(analyte)"
)
"""Every column of the rows table that later stages read, so that none of the rules is optimised away."""


def best_of_three(run: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="a Parquet extract (from `sigmd synth`)")
    args = parser.parse_args()
    knowledge = content.load()
    profile_id, set_id = knowledge.default_profile, knowledge.default_reference_set
    db = make_engine("duckdb", None)
    with tempfile.TemporaryDirectory() as work:
        prepared = prepare(args.data, "parquet", None, None, Path(work), knowledge)
        db.load("raw", args.data, "parquet", {**prepared.columns, LINE_PROBLEM: LINE_PROBLEM})
        tables = content_tables(knowledge, knowledge.profiles[profile_id], set_id, every_set=False)
        for name, table in tables.tables.items():
            db.register(name, table)
        rows = classify.rows_sql(row_options(knowledge, profile_id, set_id, date(2026, 1, 1)), tables.day_horizon)
        baseline = best_of_three(lambda: duckdb.sql(BASELINE.format(path=args.data)).fetchall())
        rules = best_of_three(lambda: db.fetch(f"SELECT {USED} FROM ({rows}) r"))
        grouped = best_of_three(
            lambda: db.fetch(
                "SELECT count(*), sum(n) FROM (SELECT patient_id, count(*) AS n, bool_and(not_low) AS plain,"
                f" max(collected) AS latest FROM ({rows}) r GROUP BY patient_id) g"
            )
        )
    db.close()
    print(f"minimal scan {baseline:.2f} s (best of 3)")
    print(f"row rules alone {rules:.2f} s: ratio {rules / baseline:.2f}")
    print(f"row rules grouped by patient {grouped:.2f} s: ratio {grouped / baseline:.2f}")


if __name__ == "__main__":
    main()
