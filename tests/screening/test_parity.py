"""Batch verdicts are the core's verdicts, patient by patient, and every engine writes what DuckDB writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sigmd import content
from sigmd.core.assessment import assess
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.funnel import Funnel
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles, synth
from tests.screening.conftest import AS_OF, core_cases, core_verdicts, screened_verdicts, used_rows

EDGE_ROWS = """patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high
E1,female,2000-01-31,2020-02-29,IgM,36.2,mg/dL,,,
E1,female,2000-01-31,2020-02-29,IgG,900,mg/dL,,,
E1,female,2000-01-31,2020-02-29,IgA,150,mg/dL,,,
E2,M,2019-08-31,2020-02-29,2472-9,<0.3,g/L,,,
E2,M,2019-08-31,2020-02-29,2465-3,5.1,g/L,,,
E3,male,1980-05-01,2025-01-10,immunoglobulin m,<50,mg/dL,,,
E3,male,1980-05-01,2025-01-10,IgG,1000,mg/dL,,,
E3,male,1980-05-01,2025-01-10,IgA,200,mg/dL,,,
E4,female,1990-03-15,2025-03-01,IgM,30,mg/dL,,25,200
E4,female,1990-03-15,2025-03-01,IgG,800,mg/dL,,,
E4,female,1990-03-15,2025-03-01,IgA,90,mg/dL,,,
E5,female,2015-06-15,2025-06-01,IgM,45,mg/dL,>,,
E5,female,2015-06-15,2025-06-01,IgG,900,mg/dL,,,
E5,female,2015-06-15,2025-06-01,IgA,100,mg/dL,,,
E6,other,2012-02-29,2025-02-28,IgM,60,mg/dL,,,
E6,other,2012-02-29,2025-02-28,IgG,9.0,g/L,,,
E6,other,2012-02-29,2025-02-28,IgA,1.0,g/L,,,
E7,male,1950-01-01,2025-01-01,IgM,300,[IU]/mL,,,
E8,female,1970-01-01,2025-01-01,IgM,≤4,mg/dL,,,
E8,female,1970-01-01,2025-01-01,IgG,800,mg/dL,,,
E8,female,1970-01-01,2025-01-01,IgA,60,mg/dL,,,
E9,female,1970-01-01,2027-01-01,IgM,20,mg/dL,,,
E9,female,1970-01-01,2025-01-01,IgM,200,mg/dL,,,
E10,male,1960-06-01,2025-01-01,IgM,60,mg/dL,,,
E10,male,1960-06-01,2025-01-01,IgG,1e400,mg/dL,,,
"""


def _check(source: Path, out: Path, records: Path | None, **options: str) -> int:
    result = screen(source, out, records=records, as_of=AS_OF, progress=False, csv=True, **options)  # type: ignore[arg-type]
    expected = core_verdicts(
        used_rows(source, out / "rejects.csv"), records, options.get("profile"), options.get("reference")
    )
    assert screened_verdicts(out) == expected
    assert result.rows_in == result.rows_used + result.rows_rejected
    return result.summary["patients_assessed_by_core"]


def test_every_patient_of_a_synthetic_cohort_gets_the_core_verdict(cohort: SynthFiles, tmp_path: Path) -> None:
    """DuckDB screening under the default profile and set gives each patient exactly the core's label and certainty."""
    assessed = _check(cohort.results, tmp_path / "out", cohort.records)
    assert 0 < assessed < 1500


@pytest.mark.parametrize(
    ("profile", "reference"),
    [("esid", "bozeman_sex"), ("medscape_40", "exeter_nhs"), ("spanish_2024", "auckland_labplus")],
)
def test_parity_holds_under_other_profiles_and_reference_sets(
    cohort: SynthFiles, tmp_path: Path, profile: str, reference: str
) -> None:
    """Sex-specific bands, absolute cut-offs and lower-limit profiles keep batch == core."""
    _check(cohort.results, tmp_path / "out", cohort.records, profile=profile, reference=reference)


@pytest.mark.parametrize("profile", ["idf", "medscape_20"])
def test_edge_rows_month_ends_censoring_lab_ranges_and_names(tmp_path: Path, profile: str) -> None:
    """Month-end birthdays, censored values, laboratory ranges, analyte names, IU/mL and overflow match the core."""
    source = tmp_path / "edge.csv"
    source.write_text(EDGE_ROWS, encoding="utf-8")
    _check(source, tmp_path / "out", None, profile=profile)
    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8") as handle:
        reasons = {row["patient_id"]: row["reason"] for row in csv.DictReader(handle)}
    assert reasons["E9"].startswith("collected_date: '2027-01-01' is after the as-of date")
    assert reasons["E10"] == "value: '1e400' is not a finite number"


def test_prefilter_patients_are_normal_for_the_core(cohort: SynthFiles, tmp_path: Path) -> None:
    """Every patient the engine declared normal without the core is normal, with the same certainty, for the core."""
    out = tmp_path / "out"
    screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    with (out / "patients.csv").open(encoding="utf-8") as handle:
        prefiltered = {
            r["patient_id"]: (r["label"], r["certainty"]) for r in csv.DictReader(handle) if r["path"] == "prefilter"
        }
    expected = core_verdicts(used_rows(cohort.results, out / "rejects.csv"), cohort.records)
    assert len(prefiltered) > 1000
    assert {pid: expected[pid] for pid in prefiltered} == prefiltered


def test_reference_set_sensitivity_counts_equal_the_core_on_every_patient(cohort: SynthFiles, tmp_path: Path) -> None:
    """Partial and complete SIgMD counted under each bundled reference set equal the core's verdicts for everyone."""
    out = tmp_path / "out"
    result = screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, csv=True)
    rows = used_rows(cohort.results, out / "rejects.csv")
    screened = {s["reference_set"]: s for s in result.summary["reference_set_sensitivity"]}
    for set_id, counts in screened.items():
        labels = [label for label, _ in core_verdicts(rows, cohort.records, reference=set_id).values()]
        assert (counts["partial_sigmd"], counts["complete_sigmd"]) == (
            labels.count("partial_sigmd"),
            labels.count("complete_sigmd"),
        ), set_id
    assert sum(s["deficient"] for s in screened.values()) > 0


@pytest.mark.parametrize("profile", ["idf", "medscape_40"])
def test_the_esid_funnel_equals_the_core_on_every_patient(cohort: SynthFiles, tmp_path: Path, profile: str) -> None:
    """The Janssen funnel counted by screening equals the funnel of the core's ESID assessment of every patient."""
    out = tmp_path / "out"
    result = screen(
        cohort.results,
        out,
        records=cohort.records,
        as_of=AS_OF,
        progress=False,
        csv=True,
        sensitivity=False,
        profile=profile,
    )
    knowledge = content.load()
    expected = Funnel()
    for case in core_cases(used_rows(cohort.results, out / "rejects.csv"), cohort.records).values():
        expected.add(assess(case, knowledge, as_of=AS_OF, profile_id="esid"))
    assert result.summary["funnel"] == expected.table()
    assert expected.counts["isolated_low_igm"] > 0


ENGINE_ROWS = (
    EDGE_ROWS
    + """N1,female,1985-05-05,2025-05-05,IgM,5\u2028,mg/dL,,,
N2,female,1985-05-05,2025-05-05,IgM,5\u000b,mg/dL,,,
N3,female,1985-05-05,2025-05-05,IgM,\u00a05,mg/dL,,,
N4,female,\t1985-05-05,2025-05-05,IgM,5,mg/dL,,,
N5,female,0000-02-29,2025-05-05,IgM,5,mg/dL,,,
N6,female,1985-05-05,2025-05-05\u2028,IgM,5,mg/dL,,,
N7,female,1985-05-05,2025-05-05,IgM,1e307,g/L,,,
N8,female,1985-05-05,2025-05-05,IgM,5e-324,mg/dL,,,
N9,female,1985-05-05,2025-05-05,IgM,20,mg/dL,,1e-300,1e300
N10,female,1985-05-05,2025-05-05,IgM,20,mg/dL,,1e-320,1e308
N11,female,1985-05-05,2025-05-05,IgM,40,µg/mL,,,
N12,FEMALE,1985-05-05,2025-05-05,IMMUNOGLOBULIN M,40, MG / DL ,,,
N13,female,1985-05-05,2025-05-05,IgM,"it's \\s",mg/dL,,,
N14,female,1985-05-05,2025-05-05,"IgM
serum",40,mg/dL,,,
N15,female,1985-05-05,2025-05-05T10:30:00+01:00 ,IgM,40,mg/dL,,,
"""
    # A low IgM beside an IgG in g/L labelled mg/dL (a possible unit slip): patients for the core's pass (under
    # sets with an IgG interval, the sensitivity table's too), spread over the executors.
    + "".join(
        f"S{n},female,1980-01-01,2025-01-01,IgM,30,mg/dL,,,\nS{n},female,1980-01-01,2025-01-01,IgG,{8 + n}.5,mg/dL,,,\n"
        for n in range(1, 9)
    )
)
"""Where the engines' regular expressions, casts and arithmetic would differ if the SQL were not portable."""
BAD_LINES = b'B1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,,surplus\nB2,fem"ale,1980-01-01\nB3,female,1980-01-01,2025-01-01,IgM,6\xff0,mg/dL,,,\n'


def _outputs(out: Path) -> dict[str, object]:
    """Everything a run writes that the engine decides: the result and reject tables (CSV and Parquet) and summary
    (but where the core's pass ran)."""
    import pyarrow.parquet as pq

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    found: dict[str, object] = {"summary": summary, "core_pass_ran_on": summary.pop("core_pass_ran_on")}
    for name in ("patients", "rejects"):
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            found[f"{name}.csv"] = list(csv.DictReader(handle))
        found[f"{name}.parquet"] = pq.read_table(out / f"{name}.parquet").to_pylist()
    return found


@pytest.fixture(scope="module")
def engine_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CSV extract: 300 synthetic patients, then the edge rows and lines that do not fit the CSV dialect."""
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("engines")
    files = synth(300, 11, folder / "cohort.parquet", "parquet")
    source = folder / "labs.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CANONICAL_COLUMNS)
        for row in pq.read_table(files.results).to_pylist():
            writer.writerow([row.get(c) or "" for c in CANONICAL_COLUMNS])
        handle.write(ENGINE_ROWS.split("\n", 1)[1])
    with source.open("ab") as handle:
        handle.write(BAD_LINES)
    return source, files.records


@pytest.fixture(scope="module")
def duckdb_outputs(engine_input: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    source, records = engine_input
    out = tmp_path_factory.mktemp("duckdb-run")
    screen(
        source,
        out,
        records=records,
        as_of=AS_OF,
        progress=False,
        csv=True,
        profile="medscape_40",
        reference="bozeman_sex",
    )
    found = _outputs(out)
    assert found.pop("core_pass_ran_on") == "the screening process"
    reasons = {r["patient_id"]: r["reason"] for r in found["rejects.csv"]}  # type: ignore[attr-defined]
    assert len(found["rejects.csv"]) >= 20 and len(found["patients.csv"]) > 290  # type: ignore[arg-type]
    assert reasons["N7"] == "value: '1e307' is too large a number: in mg/dL it is inf"
    assert reasons["N1"].startswith("value: '5\u2028' is not a non-negative number")
    return found


def _engine_run(engine: str, engine_input: tuple[Path, Path], out: Path, url: str | None = None) -> dict[str, object]:
    source, records = engine_input
    options = {"profile": "medscape_40", "reference": "bozeman_sex"}
    screen(
        source, out, engine=engine, engine_url=url, records=records, as_of=AS_OF, progress=False, csv=True, **options
    )  # type: ignore[arg-type]
    return _outputs(out)


def test_postgres_writes_what_duckdb_writes(
    engine_input: tuple[Path, Path], duckdb_outputs: dict[str, object], postgres_url: str, tmp_path: Path
) -> None:
    """The same run on PostgreSQL gives DuckDB's results, rejects (with reasons) and summary, value for value."""
    found = _engine_run("postgres", engine_input, tmp_path / "pg", postgres_url)
    assert found.pop("core_pass_ran_on") == "the screening process"
    assert found == duckdb_outputs


@pytest.mark.slow
def test_spark_local_writes_what_duckdb_writes(
    engine_input: tuple[Path, Path], duckdb_outputs: dict[str, object], spark: object, tmp_path: Path
) -> None:
    """The same run on Spark (the tests' local[2] session) gives DuckDB's results, rejects and summary."""
    found = _engine_run("spark", engine_input, tmp_path / "spark")
    assert found.pop("core_pass_ran_on") == "spark executors"
    assert found == duckdb_outputs


CLUSTER_RUN = """
import sys, time
from datetime import date
from pathlib import Path
from sigmd.screening.run import make_engine, screen

engine = make_engine("spark", sys.argv[1])
context = engine.spark.sparkContext
deadline = time.monotonic() + 180
while context._jsc.sc().getExecutorMemoryStatus().size() < 3 and time.monotonic() < deadline:
    time.sleep(1)
print("master", context.master, "executors", context._jsc.sc().getExecutorMemoryStatus().size() - 1, flush=True)
try:
    screen(Path(sys.argv[2]), Path(sys.argv[3]), engine=engine, records=Path(sys.argv[4]), as_of=date.fromisoformat(sys.argv[5]),
           progress=False, csv=True, profile="medscape_40", reference="bozeman_sex")
    # Where the core's pass ran: the JVM that started each Python worker's daemon (Linux /proc).
    for task in engine.fetch("SELECT * FROM core_pass_tasks WHERE patients > 0").to_pylist():
        parent = Path(f"/proc/{task['parent_process_id']}/stat").read_text().rsplit(")", 1)[1].split()[1]
        jvm = Path(f"/proc/{parent}/cmdline").read_bytes().replace(bytes(1), b" ").decode()
        where = "executor" if "CoarseGrainedExecutorBackend" in jvm else "elsewhere"
        print("task", task["partition_id"], "patients", task["patients"], "jvm", parent, where, flush=True)
finally:
    engine.close()
"""


@pytest.mark.slow
def test_spark_local_cluster_writes_what_duckdb_writes(
    engine_input: tuple[Path, Path], duckdb_outputs: dict[str, object], tmp_path: Path
) -> None:
    """On a local-cluster master (two executor JVMs beside the driver, in a process of its own, as one process
    holds one SparkContext) Spark gives DuckDB's results, rejects and summary, and the core's pass runs in both
    executors."""
    import os
    import subprocess
    import sys

    from tests.screening.conftest import require_java

    require_java()
    source, records = engine_input
    master = "local-cluster[2,1,1024]"
    run = subprocess.run(
        [sys.executable, "-c", CLUSTER_RUN, master, str(source), str(tmp_path / "cluster"), str(records), str(AS_OF)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        # The executors' Python workers start in the executors' own folders: the import path must be absolute.
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
            ),
        },
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert f"master {master} executors 2" in run.stdout
    found = _outputs(tmp_path / "cluster")
    assert found.pop("core_pass_ran_on") == "spark executors"
    assert found == duckdb_outputs
    # The core's pass ran in Python workers of both executor JVMs.
    tasks = [line.split() for line in run.stdout.splitlines() if line.startswith("task ")]
    assert {words[6] for words in tasks} == {"executor"}, run.stdout
    assert len({words[5] for words in tasks}) == 2, run.stdout
