"""`screen()`: screen a lab extract for SIgMD and write the results folder."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sigmd import content
from sigmd.core.explain import DISCLAIMER
from sigmd.core.knowledge import CriterionId, Knowledge
from sigmd.core.model import Analyte, CodedText
from sigmd.screening import classify
from sigmd.screening.core_pass import Task
from sigmd.screening.delimited import LINE_PROBLEM
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.handover import Assessed, assess_residue, hand_over
from sigmd.screening.inputs import RECORD_COLUMNS, Prepared, prepare
from sigmd.screening.judge import judge_setwise
from sigmd.screening.omop import convert_in_engine, export_database, is_database_url
from sigmd.screening.portable import extract, literal
from sigmd.screening.prevalence import AGE_BANDS, prevalence_table, published_figures
from sigmd.screening.research import (
    DEFAULT_COHORT_DEFINITION_ID,
    cohort_plan,
    cohort_sql,
    prefilter_decisions,
    prefilter_results_sql,
    prefilter_sql,
)
from sigmd.screening.tables import content_tables, funnel_profile
from sigmd.screening.verdicts import PatientRecords, RecordFlags, record_flags

SIGMD_LABELS = ("partial_sigmd", "complete_sigmd")
RAW_COLUMNS = ("row_no", *classify.CANONICAL_COLUMNS)


@dataclass
class ScreenResult:
    rows_in: int
    rows_used: int
    rows_rejected: int
    patients: int
    out_dir: Path
    summary: dict[str, Any] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False)
    """Seconds spent in each stage of the run (not written to summary.json, which stays reproducible)."""


ENGINES = ("duckdb", "spark", "postgres")


def is_postgres_url(url: str) -> bool:
    from sigmd.screening.postgres_engine import is_postgres_url as matches

    return matches(url)


def same_database(first: str, second: str) -> bool:
    """Whether two PostgreSQL URLs name the same database (host, port and database name; not the user)."""
    psycopg = require("psycopg", "postgres")
    from sigmd.screening.postgres_engine import connection_url

    def key(url: str) -> tuple[str, str, str]:
        found = psycopg.conninfo.conninfo_to_dict(connection_url(url))
        return (str(found.get("host", "")), str(found.get("port", "5432")), str(found.get("dbname", "")))

    return is_postgres_url(first) and is_postgres_url(second) and key(first) == key(second)


def make_engine(name: str, url: str | None = None) -> Engine:
    """The engine `name`. `url` is where it runs: for postgres the database to work in (required), for spark the
    master URL (default: a local session, local[2]); duckdb takes none."""
    if name not in ENGINES:
        raise ValueError(f"engine: {name!r} is not one of {', '.join(ENGINES)}")
    if name == "duckdb":
        if url is not None:
            raise ValueError("engine-url: applies to --engine postgres and spark, not duckdb (embedded)")
        from sigmd.screening.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from sigmd.screening.spark_engine import SparkEngine

        return SparkEngine(master=url)
    if url is None:
        raise ValueError("engine-url: --engine postgres needs the database to work in (postgresql://user@host/db)")
    from sigmd.screening.postgres_engine import PostgresEngine

    return PostgresEngine(url)


def screen(
    source: Path | str,
    out_dir: Path,
    *,
    engine: str | Engine = "duckdb",
    engine_url: str | None = None,
    omop_schema: str | None = None,
    reference: str | None = None,
    profile: str | None = None,
    file_format: str = "auto",
    columns: dict[str, str] | None = None,
    records: Path | None = None,
    as_of: date | None = None,
    sensitivity: bool = True,
    progress: bool = True,
    knowledge: Knowledge | None = None,
    csv: bool = False,
    cohort_definition_id: int = DEFAULT_COHORT_DEFINITION_ID,
) -> ScreenResult:
    """Screen every patient in `source` and write results, rejects, summary.json and report.html to `out_dir`.

    `columns` maps canonical column names to the input's names; `records` is an optional table of
    conditions and medications (patient_id, kind, code, system, text) listing all of them for every patient.
    `knowledge` is the clinical content to judge with (default: the bundled content); the same content reaches
    every worker process of the core's pass. `csv` writes a CSV copy of every table beside its Parquet file;
    `cohort_definition_id` is the id of the OMOP cohort table's rows (see `research`).

    `source` may be a database URL of an OMOP CDM (tables in `omop_schema`). With the postgres engine and a
    PostgreSQL URL the CDM is screened in place, in that database; otherwise its tables are first copied to
    Parquet in `out_dir/converted-input`. `engine_url` is where the engine runs (`make_engine`); the postgres
    engine defaults to the input's database.
    """
    knowledge = knowledge if knowledge is not None else content.load()
    profile_id = profile or knowledge.default_profile
    set_id = reference or knowledge.default_reference_set
    if profile_id not in knowledge.profiles:
        raise ValueError(f"profile: {profile_id!r} is not a profile (known: {', '.join(knowledge.profiles)})")
    if set_id not in knowledge.reference_sets:
        raise ValueError(f"reference: {set_id!r} is not a reference set (known: {', '.join(knowledge.reference_sets)})")
    as_of = as_of or date.today()
    database = isinstance(source, str) and is_database_url(source)
    if database and file_format not in ("auto", "omop"):
        raise ValueError(f"format: {file_format!r} does not apply to a database URL, which is read as OMOP CDM")
    if not database and omop_schema is not None:
        raise ValueError(f"omop-schema: {omop_schema!r} applies to a database URL input only, not {str(source)!r}")
    in_place = database and engine == "postgres" and is_postgres_url(str(source))
    if in_place and engine_url is not None and not same_database(engine_url, str(source)):
        raise ValueError("engine-url: a PostgreSQL CDM is screened in its own database; leave out --engine-url")
    out_dir.mkdir(parents=True, exist_ok=True)
    own_engine = isinstance(engine, str)
    db = make_engine(engine, str(source) if in_place else engine_url) if isinstance(engine, str) else engine
    if database and not in_place and db.dialect == "postgres" and is_postgres_url(str(source)):
        in_place = same_database(getattr(db, "url", ""), str(source))
    steps = _Steps(progress)
    try:
        with steps:
            steps.next("reading input")
            if in_place:
                prepared = convert_in_engine(db, str(source), omop_schema, out_dir / "converted-input")
                prepared = prepared if records is None else replace(prepared, records=records)
            else:
                if database:
                    folder = export_database(str(source), out_dir / "converted-input" / "omop-tables", omop_schema)
                    prepared = prepare(folder, "omop", columns, records, out_dir, knowledge)
                else:
                    prepared = prepare(Path(source), file_format, columns, records, out_dir, knowledge)
                if prepared.path is None:
                    raise AssertionError("prepare() gave no file for the engine to load")
                db.load("raw", prepared.path, prepared.file_format, {**prepared.columns, LINE_PROBLEM: LINE_PROBLEM})
            content_set = content_tables(knowledge, knowledge.profiles[profile_id], set_id, every_set=sensitivity)
            for name, table in content_set.tables.items():
                db.register(name, table)
            options = row_options(knowledge, profile_id, set_id, as_of)
            steps.next("checking rows against age-matched limits")
            db.materialise("rows", classify.rows_sql(options, content_set.day_horizon))
            db.materialise("patients", classify.patients_sql())
            db.materialise("troubled", "SELECT patient_id, problem FROM patients WHERE problem IS NOT NULL")
            steps.next("assessing candidates with the core")
            run = _assess_all(
                db, knowledge, prepared, as_of, profile_id, set_id, options, content_set.day_horizon, sensitivity
            )
            steps.next("writing outputs")
            result = _write_outputs(
                db,
                knowledge,
                prepared,
                run,
                out_dir,
                _Run(profile_id, set_id, as_of, sensitivity, content_set.day_horizon, csv, cohort_definition_id),
            )
    finally:
        if own_engine:
            db.close()
    result.timings = steps.timings
    print(f"rows in: {result.rows_in}  used: {result.rows_used}  rejected: {result.rows_rejected}")
    return result


def row_options(knowledge: Knowledge, profile_id: str, set_id: str, as_of: date) -> classify.Options:
    """The choices the row rules (`classify.rows_sql`) read for a run under this profile, set and as-of date."""
    profile = knowledge.profiles[profile_id]
    funnel = funnel_profile(knowledge, profile)
    return classify.Options(
        as_of=as_of.isoformat(),
        minus_2sd=profile.low_limit.value == "minus_2sd",
        igm_cutoffs=bool(profile.igm_cutoffs),
        absent_igm_mg_dl=knowledge.thresholds.absent[Analyte.IGM].value,
        set_id=set_id,
        implausible_factor=knowledge.thresholds.implausible_factor.value,
        lab_range_max_ratio=knowledge.thresholds.lab_range_max_ratio.value,
        funnel_minus_2sd=None if funnel is None else funnel.low_limit.value == "minus_2sd",
        funnel_igm_cutoffs=funnel is not None and bool(funnel.igm_cutoffs),
    )


class _Steps:
    """A rich progress bar over the stages of a run (silent when disabled), timing each stage."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None
        self.timings: dict[str, float] = {}
        self._stage = ""
        self._started = 0.0

    def _close_stage(self) -> None:
        if self._stage:
            self.timings[self._stage] = time.perf_counter() - self._started

    def __enter__(self) -> _Steps:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("screening", total=4)
        return self

    def next(self, text: str) -> None:
        self._close_stage()
        self._stage, self._started = text, time.perf_counter()
        if self.bar is not None:
            started = self.bar.tasks[0].description != "screening"
            self.bar.update(self.task, description=text, advance=1 if started else 0)

    def __exit__(self, *exc: object) -> None:
        self._close_stage()
        if self.bar is not None:
            self.bar.update(self.task, completed=4)
            self.bar.__exit__(None, None, None)


def _records(prepared: Prepared) -> dict[str, PatientRecords] | None:
    if prepared.records is None:
        return None
    found: dict[str, tuple[list[CodedText], list[CodedText]]] = {}
    name = prepared.records.name
    # The records must list every condition and medication: a file that cannot be read whole is refused, since
    # a silently dropped line could hide a secondary cause.
    try:
        with prepared.records.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, strict=True)
            missing = [c for c in RECORD_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"records: {name!r} has no column {', '.join(missing)}; it needs {', '.join(RECORD_COLUMNS)}"
                )
            for index, row in enumerate(reader, start=2):
                if None in row or None in row.values():
                    raise ValueError(
                        f"records: line {reader.line_num} of {name!r} does not have the header's number of cells"
                    )
                if row["kind"] not in ("condition", "medication"):
                    raise ValueError(
                        f"records: kind {row['kind']!r} on line {reader.line_num} of {name!r} is not condition or medication"
                    )
                origin = row.get("origin") or f"records line {index}"
                entry = CodedText(row["text"] or "", row["code"] or "", row["system"] or "", origin)
                lists = found.setdefault(row["patient_id"].strip(" "), ([], []))
                lists[1 if row["kind"] == "medication" else 0].append(entry)
    except UnicodeDecodeError as error:
        raise ValueError(f"records: {name!r} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except csv.Error as error:
        raise ValueError(f"records: {name!r} cannot be read as CSV ({error})") from None
    return {pid: PatientRecords(tuple(c), tuple(m)) for pid, (c, m) in found.items()}


def _assess_all(
    db: Engine,
    knowledge: Knowledge,
    prepared: Prepared,
    as_of: date,
    profile_id: str,
    set_id: str,
    options: classify.Options,
    horizon: int,
    sensitivity: bool,
) -> Assessed:
    if sensitivity:
        db.materialise("flagged", classify.sensitivity_sql(options, horizon))
    else:
        db.materialise(
            "flagged",
            "SELECT CAST(NULL AS VARCHAR) AS set_id, CAST(NULL AS VARCHAR) AS patient_id,"
            " CAST(NULL AS BOOLEAN) AS latest_may_be_low WHERE false",
        )
    records = _records(prepared)
    pa = require("pyarrow", "screen")
    flags = record_flags(records, knowledge)
    flag_schema = pa.schema([("patient_id", pa.string()), ("blinded", pa.bool_()), ("secondary_named", pa.bool_())])
    db.register(
        "record_flags",
        pa.Table.from_pylist(
            [
                {"patient_id": pid, "blinded": f.blinded, "secondary_named": f.secondary_named}
                for pid, f in flags.items()
            ],
            schema=flag_schema,
        ),
    )
    # A patient whose IgG the core sets aside (treatment on record) is not plainly normal: the pre-filter reads
    # every IgG result, the core does not.
    blinded = "patient_id IN (SELECT patient_id FROM record_flags WHERE blinded)"
    db.materialise(
        "cohort",
        f"SELECT patient_id, NOT all_not_low OR {blinded} AS is_candidate, used_rows FROM patients"
        f" WHERE problem IS NULL AND (NOT all_not_low OR patient_id IN (SELECT patient_id FROM flagged) OR {blinded})",
    )
    setwise_run = judge_setwise(db, knowledge, profile_id, set_id, horizon, sensitivity)
    # What the set-wise pass settled is left out: its patients' verdicts, and their labels under the sets it judged.
    db.materialise(
        "core_sets",
        "SELECT f.* FROM flagged f LEFT JOIN setwise_sets w ON w.patient_id = f.patient_id AND w.set_id = f.set_id"
        " WHERE w.patient_id IS NULL",
    )
    db.materialise(
        "core_patients",
        "SELECT patient_id, is_candidate AND patient_id NOT IN (SELECT patient_id FROM setwise_patients)"
        " AS is_candidate, used_rows FROM cohort WHERE patient_id NOT IN (SELECT patient_id FROM setwise_patients)"
        f" OR patient_id IN (SELECT patient_id FROM core_sets WHERE latest_may_be_low AND set_id <> {literal(set_id)})",
    )
    residue = assess_residue(db, Task(as_of, profile_id, set_id, knowledge), records)
    run = hand_over(db, residue, setwise_run)
    labels = db.fetch("SELECT label, count(*) AS n FROM core_verdicts GROUP BY label").to_pylist()
    main_counts = Counter({row["label"]: int(row["n"]) for row in labels})
    # Without the sensitivity pass only the chosen set is known: other sets are left out, never shown as zero.
    run.sensitivity = {s: run.sensitivity.get(s, Counter()) for s in knowledge.reference_sets} if sensitivity else {}
    run.sensitivity[set_id] = main_counts
    run.records = _records_summary(prepared, records, flags)
    return run


def _records_summary(
    prepared: Prepared, records: dict[str, PatientRecords] | None, flags: dict[str, RecordFlags]
) -> dict[str, Any] | None:
    """What the records table held and what the core found in it (summary.json `records`); None without one."""
    if prepared.records is None or records is None:
        return None
    return {
        "table": prepared.records.name,
        "patients": len(records),
        "conditions": sum(len(r.conditions) for r in records.values()),
        "medications": sum(len(r.medications) for r in records.values()),
        "patients_with_a_secondary_cause": sum(f.secondary_named for f in flags.values()),
        "patients_with_treatment_setting_aside_igg": sum(f.blinded for f in flags.values()),
        "not_used": prepared.records_not_used,
    }


def _age_band_sql(months: str) -> str:
    """The AGE_BANDS band of an age in whole months (a missing age counts as 0, as in `age_band`)."""
    bands = " ".join(f"WHEN coalesce({months}, 0) < {12 * end} THEN '{name}'" for name, _, end in AGE_BANDS[:-1])
    return f"CASE {bands} ELSE '{AGE_BANDS[-1][0]}' END"


@dataclass(frozen=True)
class _Run:
    """The run's choices that shape its outputs."""

    profile_id: str
    set_id: str
    as_of: date
    sensitivity: bool
    horizon: int
    csv: bool
    cohort_definition_id: int


PATIENT_PROBLEMS = {"birth_date": "birth_dates_conflict", "sex": "sexes_conflict", "no_igm": "no_usable_igm"}
"""`patients.problem` (see `classify.patients_sql`) as named in summary.json's `patients_refused`."""


def _patients_refused(db: Engine, screened: int, early: bool) -> dict[str, int]:
    """Patients read but not screened, by reason, so that patient ids read = screened + refused.

    A patient id counts when some input row names it (blank ids are rows without a patient). Reasons: every row
    refused on its own; conflicting birth dates or sexes; no usable IgM result; refused by the core."""
    early_ids = " UNION ALL SELECT CAST(patient_id AS VARCHAR) AS patient_id FROM early_rejects" if early else ""
    unused = db.fetch(
        "SELECT count(DISTINCT patient_id) AS n FROM ("
        f"SELECT CAST(patient_id AS VARCHAR) AS patient_id FROM rows WHERE row_reason IS NOT NULL{early_ids}) ids"
        " WHERE patient_id IS NOT NULL AND trim(patient_id) <> ''"
        # an anti-join: PostgreSQL ran NOT IN over a million patients as a nested loop (265 s at 1 M patients)
        " AND NOT EXISTS (SELECT 1 FROM patients p WHERE CAST(p.patient_id AS VARCHAR) = ids.patient_id)"
    ).to_pylist()[0]["n"]
    problems = db.fetch("SELECT problem, count(*) AS n FROM patients GROUP BY problem").to_pylist()
    counts: dict[str | None, int] = {r["problem"]: int(r["n"]) for r in problems}
    by_core = counts.pop(None, 0) - screened
    if by_core < 0 or not set(counts) <= set(PATIENT_PROBLEMS):
        raise AssertionError(f"patients screened {screened} do not match the patients read: {counts}")
    refused = {"every_row_refused": int(unused)}
    refused |= {name: counts.get(problem, 0) for problem, name in PATIENT_PROBLEMS.items()}
    refused["refused_by_core"] = by_core
    return {"total": sum(refused.values()), **refused}


def _export(db: Engine, query: str, out_dir: Path, name: str, with_csv: bool) -> None:
    """Write `query` to `name`.parquet, and to `name`.csv when the CSV copies were asked for.

    The CSV copy is written from the Parquet file, in batches, so that it is the same file whichever engine ran
    (engines print numbers differently: 134 or 134.0): text quoted, a missing value empty, an empty text "".
    """
    parquet = out_dir / f"{name}.parquet"
    db.export(query, parquet, "parquet")
    if not with_csv:
        return
    pq = require("pyarrow.parquet", "screen")
    pcsv = require("pyarrow.csv", "screen")
    source = pq.ParquetFile(str(parquet))
    options = pcsv.WriteOptions(include_header=False)
    with (out_dir / f"{name}.csv").open("wb") as handle:
        handle.write((",".join(source.schema_arrow.names) + "\n").encode())  # plain names: no quotes needed
        with pcsv.CSVWriter(handle, source.schema_arrow, write_options=options) as writer:
            for batch in source.iter_batches(batch_size=65536):
                writer.write_batch(batch)


RESULT_COLUMNS = (
    "patient_id",
    "label",
    "certainty",
    "reasons",
    "path",
    "sex",
    "age_band",
    "igm_course",
    "funnel_step",
    "index_date",
    "latest_igm_date",
    "latest_igm_mg_dl",
    "latest_igm_limit_mg_dl",
    "latest_igm_z",
)
"""The columns of patients.parquet before the criteria (`c_<criterion>`)."""


def _write_outputs(
    db: Engine,
    knowledge: Knowledge,
    prepared: Prepared,
    run: Assessed,
    out_dir: Path,
    choices: _Run,
) -> ScreenResult:
    """Write the per-patient results and the rejects with the engine (never all in memory) and the summary, from
    the engine's tables `core_verdicts` and `late_ids` (see `handover`)."""
    profile_id, set_id, as_of, sensitivity = choices.profile_id, choices.set_id, choices.as_of, choices.sensitivity
    criteria = [f"c_{c.value}" for c in CriterionId]
    age_band = _age_band_sql("p.igm_age_months")
    db.materialise("prefiltered", prefilter_sql(knowledge, profile_id, set_id, choices.horizon))
    db.register("prefilter_decided", prefilter_decisions(knowledge, profile_id))
    judged = ", ".join(
        f"p.{c}" if c == "sex" else f"{age_band} AS age_band" if c == "age_band" else f"v.{c}"
        for c in (*RESULT_COLUMNS, *criteria)
    )
    db.materialise(
        "results",
        f"SELECT {judged} FROM core_verdicts v JOIN patients p ON p.patient_id = v.patient_id"
        f" UNION ALL {prefilter_results_sql(age_band, criteria)}",
    )
    _export(db, "SELECT * FROM results ORDER BY patient_id", out_dir, "patients", choices.csv)
    cohort = cohort_plan(db, choices.cohort_definition_id)
    if cohort.written:
        _export(db, cohort_sql(choices.cohort_definition_id), out_dir, "cohort", choices.csv)

    raw = ", ".join(f"raw.{c}" for c in RAW_COLUMNS)
    parts = [
        f"SELECT {raw}, reason FROM ({classify.rejects_sql()}) raw",
        f"SELECT /*+ BROADCAST(l) */ {raw}, l.late_reason AS reason FROM raw JOIN late_ids l ON raw.row_no = l.row_no",
    ]
    early = prepared.in_engine or prepared.rejects is not None
    if prepared.rejects is not None:
        db.register("early_rejects", prepared.rejects)
    if early:
        columns = ", ".join(
            f"CAST({c} AS BIGINT) AS {c}" if c == "row_no" else f"CAST({c} AS VARCHAR) AS {c}"
            for c in (*RAW_COLUMNS, "reason")
        )
        parts.insert(0, f"SELECT {columns} FROM early_rejects")
    db.materialise("rejects", " UNION ALL ".join(parts))
    _export(db, "SELECT * FROM rejects ORDER BY row_no", out_dir, "rejects", choices.csv)

    read = int(db.fetch("SELECT count(*) AS n FROM rows").to_pylist()[0]["n"])
    used = db.fetch("SELECT coalesce(sum(used_rows), 0) AS n FROM patients WHERE problem IS NULL").to_pylist()[0]["n"]
    pre_rejected = int(db.fetch("SELECT count(*) AS n FROM early_rejects").to_pylist()[0]["n"]) if early else 0
    rows_in = read + pre_rejected
    rows_rejected = int(db.fetch("SELECT count(*) AS n FROM rejects").to_pylist()[0]["n"])
    late = int(db.fetch("SELECT count(*) AS n FROM late_ids").to_pylist()[0]["n"])
    rows_used = int(used) - late
    if rows_in != rows_used + rows_rejected:
        raise AssertionError(f"rows in {rows_in} != used {rows_used} + rejected {rows_rejected}")
    collected = db.fetch(
        "SELECT min(r.collected) AS first_date, max(r.collected) AS last_date FROM rows r"
        " JOIN results s ON s.patient_id = r.patient_id"
        " WHERE r.row_reason IS NULL AND r.row_no NOT IN (SELECT row_no FROM late_ids)"
    ).to_pylist()[0]

    denominators: Counter[tuple[str, str]] = Counter()
    deficient: Counter[tuple[str, str, str, str]] = Counter()
    labels: Counter[str] = Counter()
    strata = db.fetch(
        "SELECT age_band, sex, label, certainty, count(*) AS n FROM results GROUP BY age_band, sex, label, certainty"
    ).to_pylist()
    for row in strata:
        denominators[(row["age_band"], row["sex"])] += row["n"]
        labels[f"{row['label']}/{row['certainty']}"] += row["n"]
        if row["label"] in SIGMD_LABELS:
            deficient[(row["age_band"], row["sex"], row["label"], row["certainty"])] += row["n"]
    field = extract("reason", "^([^:]*)", 1)
    reject_fields = db.fetch(f"SELECT {field} AS field, count(*) AS n FROM rejects GROUP BY {field}").to_pylist()
    patients = sum(denominators.values())
    refused = _patients_refused(db, patients, early)
    by_path = db.fetch("SELECT path, count(*) AS n FROM core_verdicts GROUP BY path").to_pylist()
    paths: Counter[str] = Counter({row["path"]: int(row["n"]) for row in by_path})
    summary: dict[str, Any] = {
        "disclaimer": DISCLAIMER,
        "content_version": knowledge.content_version,
        "profile": profile_id,
        "reference_set": set_id,
        "as_of": as_of.isoformat(),
        "rows": {"in": rows_in, "used": rows_used, "rejected": rows_rejected},
        "other_analytes": None if prepared.other_analytes is None else asdict(prepared.other_analytes),
        "other_resources": prepared.other_resources,
        "records": run.records,
        "results_collected": {k: None if d is None else d.isoformat() for k, d in collected.items()},
        "patients": patients,
        "patients_refused": refused,
        "patients_assessed_by_core": paths["core"],
        "patients_judged_setwise": paths["setwise"],
        "core_pass_ran_on": run.ran_on,
        "labels": dict(sorted(labels.items())),
        "funnel": run.funnel.table(),
        "prevalence": prevalence_table(dict(denominators), dict(deficient)),
        "published_prevalence": [vars(p) for p in published_figures()],
        "reference_set_sensitivity_scope": (
            "every bundled reference set"
            if sensitivity
            else "the chosen reference set only: the table was skipped (--no-sensitivity)"
        ),
        "reference_set_sensitivity": [
            {
                "reference_set": s,
                "partial_sigmd": c["partial_sigmd"],
                "complete_sigmd": c["complete_sigmd"],
                "deficient": c["partial_sigmd"] + c["complete_sigmd"],
            }
            for s, c in run.sensitivity.items()
        ],
        "reject_reasons": {r["field"]: r["n"] for r in sorted(reject_fields, key=lambda r: (-r["n"], r["field"]))},
        "omop_cohort": {"written": cohort.written, "rows": cohort.rows, "note": cohort.note},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    from sigmd.screening.report import write_report

    write_report(out_dir / "report.html", summary, run.scatter, knowledge)
    return ScreenResult(rows_in, rows_used, rows_rejected, patients, out_dir, summary)
