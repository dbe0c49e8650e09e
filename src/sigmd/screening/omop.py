"""OMOP CDM v5.4 tables to the long format: person and measurement, optionally condition_occurrence,
drug_exposure and concept, from a folder (.parquet, .csv or .tsv per table) or a database URL.

Each measurement row becomes one long-format row or one reject with a reason naming the OMOP field and
its value, except the rows of other analytes: a CDM's measurement table holds every laboratory result, so a row
whose concept is a LOINC code of another analyte (glucose, say) is not screening input. Those rows are counted
(summary.json `other_analytes`, with the most frequent codes and their names), not listed one by one as
rejects, which on a real CDM would be nearly the whole table; a code set aside whose concept name reads like an
immunoglobulin test raises a warning, since its results are then not screened. A row whose analyte cannot be told (no LOINC concept, a source value sigmd does not know) is
still a reject with its reason. The input rows are the other measurement rows. The conversion is SQL (`measurement_sql`, `records_sql`):
from a folder it runs in DuckDB over the files; a PostgreSQL CDM screened with the postgres engine is converted
in place, by the same SQL over views of its tables (`convert_in_engine`); another database is first copied
table by table to Parquet with SQLAlchemy (`export_database`).

Codes used (OMOP standardized vocabularies):
- gender_concept_id: 8507 MALE, 8532 FEMALE are the Gender domain's only standard concepts; every other
  value means unknown (OHDSI, Vocabulary-v5.0 wiki, "Vocab. GENDER",
  https://github.com/OHDSI/Vocabulary-v5.0/wiki/Vocab.-GENDER).
- operator_concept_id (domain "Meas Value Operator", concept_name is the symbol): 4171756 <, 4171754 <=,
  4172703 =, 4171755 >=, 4172704 >. 4172703 is verified against the CDM v5.4 field documentation
  (the project's OMOP research notes); the other four agree in two independent public ETLs
  (MIMIC-II to OMOP labevents, "SNOMED Meas Value Operator (<)" etc.; a Circe cohort example with
  4171756 "<") but were not checked in ATHENA: UNVERIFIED there.
- Analytes come from the concept table (vocabulary_id 'LOINC', concept_code) or measurement_source_value.
  The standard concepts for IgG 2465-3 (3005719), IgA 2458-8 (3007164) and IgM 2472-9 (3028026) are listed
  in one public mapping only (UNVERIFIED), so no concept id is built in: without a concept table the
  source value must hold the LOINC code or the analyte name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmd import content
from sigmd.screening.bands import analyte_rows
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.delimited import LINE_PROBLEM, convert_delimited, read_header
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.inputs import OtherAnalytes, Prepared, count_other_analytes
from sigmd.screening.portable import literal, to_date, to_double, to_integer

SCREENED = "reason IS NULL AND NOT other_analyte"
"""The converted measurement rows that are screening input and usable."""
GENDERS = {8507: "male", 8532: "female"}
OPERATORS = {4171756: "<", 4171754: "<=", 4172703: "=", 4171755: ">=", 4172704: ">"}
SYSTEMS = {"ICD10": "ICD-10", "ICD10CM": "ICD-10-CM", "ATC": "ATC"}
"""Vocabularies whose codes the core matches against its secondary-cause catalogue, as the core names them."""
TABLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "person": (
        ("person_id", "gender_concept_id", "year_of_birth"),
        ("month_of_birth", "day_of_birth", "birth_datetime"),
    ),
    "measurement": (
        ("person_id", "measurement_concept_id", "measurement_date", "value_as_number"),
        (
            "measurement_id",
            "measurement_datetime",
            "operator_concept_id",
            "unit_concept_id",
            "range_low",
            "range_high",
            "measurement_source_value",
            "unit_source_value",
            "value_source_value",
        ),
    ),
    "condition_occurrence": (
        ("person_id", "condition_concept_id"),
        ("condition_source_value", "condition_source_concept_id"),
    ),
    "drug_exposure": (("person_id", "drug_concept_id"), ("drug_source_value", "drug_source_concept_id")),
    "concept": (("concept_id", "vocabulary_id", "concept_code"), ("concept_name",)),
}
"""(required, optional) columns read from each table; other columns are ignored."""
REQUIRED_TABLES = ("person", "measurement")
SUFFIXES = (".parquet", ".csv", ".tsv")
URL = re.compile(r"^[a-z][a-z0-9+.-]+://", re.IGNORECASE)


@dataclass(frozen=True)
class TableFile:
    path: Path
    file_format: str
    """`parquet` (a file, or a folder of .parquet files) or `csv` (comma or tab separated)."""


def is_database_url(text: str) -> bool:
    """True for SQLAlchemy URLs such as `sqlite:///cdm.db` or `postgresql+psycopg://user@host/cdm`."""
    return bool(URL.match(text))


def table_files(folder: Path) -> dict[str, TableFile]:
    """The OMOP tables in a folder: `person.parquet`, `measurement.csv`, a folder `person/` of Parquet files..."""
    found: dict[str, TableFile] = {}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if path.is_dir() and name in TABLE_COLUMNS and any(path.glob("*.parquet")):
            found[name] = TableFile(path, "parquet")
            continue
        stem, suffix = Path(name).stem, Path(name).suffix
        if path.is_file() and stem in TABLE_COLUMNS and suffix in SUFFIXES and stem not in found:
            found[stem] = TableFile(path, "parquet" if suffix == ".parquet" else "csv")
    return found


def is_omop_folder(folder: Path) -> bool:
    return folder.is_dir() and any(name in table_files(folder) for name in REQUIRED_TABLES)


def _show(column: str) -> str:
    """`'text'` as Python's repr would show a string, for reasons; `None` when missing."""
    return f"coalesce('''' || {column} || '''', 'None')"


def _source(found: TableFile) -> tuple[str, str, set[str]]:
    """(1-based position in file order, DuckDB relation over the file, columns the reader adds)."""
    path = found.path / "*.parquet" if found.path.is_dir() else found.path
    if found.file_format != "parquet":
        raise ValueError(f"input: {str(found.path)!r} must be converted to Parquet first (`_as_parquet`)")
    relation = f"read_parquet({literal(str(path))}, filename = true, file_row_number = true)"
    return "row_number() OVER (ORDER BY filename, file_row_number)", relation, {"filename", "file_row_number"}


def _as_parquet(table: str, found: TableFile, work_dir: Path) -> TableFile:
    """A CSV or TSV table read with the stated dialect of `delimited` (never a guessed one) as Parquet; lines that
    do not fit keep their reason in column LINE_PROBLEM."""
    if found.file_format == "parquet":
        return found
    target = work_dir / "omop-csv" / f"{table}.parquet"
    convert_delimited(found.path, {name: name for name in read_header(found.path)}, target)
    return TableFile(target, "parquet")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text_of(column: str) -> str:
    """A column as trimmed text, NULL when empty (every OMOP field is read as text)."""
    return f"nullif(trim(CAST({_identifier(column)} AS VARCHAR)), '')"


def _source_view(
    db: Engine, table: str, relation: str, present: dict[str, str], pos: str, problem: str, label: str
) -> None:
    """View `src_<table>`: pos, the table's columns (lower-case names) as trimmed text (NULL when absent), and
    line_problem. `present` maps lower-case names to the relation's own; a required column missing is an error
    naming the table as `label` says (its file, or its name in the database)."""
    required, optional = TABLE_COLUMNS[table]
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(
            f"input: OMOP table {table} ({label}) has no column {', '.join(missing)}; "
            f"it has {', '.join(sorted(present)) or 'no columns'}"
        )
    selected = [
        f"{_text_of(present[c])} AS {c}" if c in present else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in (*required, *optional)
    ]
    db.view(f"src_{table}", f"SELECT {pos} AS pos, {', '.join(selected)}, {problem} AS line_problem FROM {relation}")


def _file_view(db: Engine, table: str, found: TableFile) -> None:
    pos, relation, hidden = _source(found)
    described = db.fetch(f"DESCRIBE SELECT * FROM {relation}").column("column_name").to_pylist()
    present = {str(name).lower(): str(name) for name in described if str(name) not in hidden}
    problem = _identifier(LINE_PROBLEM) if LINE_PROBLEM in present else "CAST(NULL AS VARCHAR)"
    present.pop(LINE_PROBLEM, None)
    _source_view(db, table, relation, present, pos, problem, found.path.name)


def _concepts(db: Engine, present: bool, used: str | None) -> None:
    """Table `concepts`: one row per concept id (ids other than 0), only the ids in `used` (a query) when given;
    empty when there is no concept table."""
    if present:
        restricted = f" AND concept_id IN ({used})" if used else ""
        db.materialise(
            "concepts",
            "SELECT concept_id AS cid, min(vocabulary_id) AS vocabulary, min(concept_code) AS code,"
            " min(concept_name) AS name FROM src_concept WHERE concept_id IS NOT NULL AND concept_id <> '0'"
            f" AND line_problem IS NULL{restricted} GROUP BY concept_id",
        )
    else:
        db.materialise(
            "concepts",
            "SELECT CAST(NULL AS VARCHAR) AS cid, CAST(NULL AS VARCHAR) AS vocabulary, CAST(NULL AS VARCHAR) AS code,"
            " CAST(NULL AS VARCHAR) AS name WHERE false",
        )


BIRTH_REMEDY = (
    "; sigmd needs the full birth date (birth_datetime, or year, month and day of birth) for age-matched "
    "limits and does not estimate it"
)


def _birth_from_parts() -> str:
    """YYYY-MM-DD from year, month and day of birth (NULL unless each is in range, so the text is canonical)."""
    return (
        "CASE WHEN y BETWEEN 1 AND 9999 AND mo BETWEEN 1 AND 12 AND d BETWEEN 1 AND 31"
        " THEN lpad(CAST(y AS VARCHAR), 4, '0') || '-' || lpad(CAST(mo AS VARCHAR), 2, '0') || '-'"
        " || lpad(CAST(d AS VARCHAR), 2, '0') END"
    )


def measurement_sql() -> str:
    """Every measurement row with its long-format fields, whether it is a result of another analyte (a LOINC
    concept sigmd does not screen: not input, no reason) and otherwise the first reason (if any) it cannot be used.

    Reads views src_person, src_measurement (see `_source_view`), tables concepts and omop_analytes (code).
    """
    gender = " ".join(f"WHEN {k} THEN '{v}'" for k, v in GENDERS.items())
    operator = " ".join(f"WHEN {k} THEN '{v}'" for k, v in OPERATORS.items())
    operators = ", ".join(f"{k} ({v})" for k, v in OPERATORS.items())
    return f"""
WITH people AS (
  SELECT person_id AS pid, count(*) AS copies, min(line_problem) AS person_problem,
    min(gender_concept_id) AS gender_concept_id,
    min(year_of_birth) AS year_of_birth, min(month_of_birth) AS month_of_birth,
    min(day_of_birth) AS day_of_birth, min(birth_datetime) AS birth_datetime
  FROM src_person GROUP BY person_id
), parts AS (
  SELECT *, {to_integer("year_of_birth")} AS y, {to_integer("month_of_birth")} AS mo,
    {to_integer("day_of_birth")} AS d
  FROM people
), born AS (
  SELECT *, CASE WHEN birth_datetime IS NOT NULL THEN {to_date("substr(birth_datetime, 1, 10)")}
      ELSE {to_date(_birth_from_parts())} END AS birth
  FROM parts
), m AS (
  SELECT m.*, p.pid, p.copies, p.person_problem, p.gender_concept_id, p.year_of_birth, p.month_of_birth, p.day_of_birth,
    p.birth_datetime, p.y, p.mo, p.d, p.birth,
    mc.vocabulary AS concept_vocabulary, mc.code AS concept_code, mc.name AS concept_name,
    CASE WHEN mc.vocabulary = 'LOINC' THEN mc.code ELSE m.measurement_source_value END AS loinc,
    CASE WHEN uc.vocabulary = 'UCUM' THEN uc.code ELSE m.unit_source_value END AS unit,
    coalesce(m.measurement_date, m.measurement_datetime) AS collected_text,
    {to_integer("m.operator_concept_id")} AS operator_id
  FROM src_measurement m
  LEFT JOIN born p ON p.pid = m.person_id
  LEFT JOIN concepts mc ON mc.cid = m.measurement_concept_id
  LEFT JOIN concepts uc ON uc.cid = m.unit_concept_id
), scoped AS (
  SELECT *, coalesce(line_problem IS NULL AND concept_vocabulary = 'LOINC'
    AND lower(concept_code) NOT IN (SELECT code FROM omop_analytes), false) AS other_analyte
  FROM m
)
SELECT pos, measurement_id, person_id AS patient_id, other_analyte,
  CASE WHEN other_analyte THEN concept_code END AS other_code,
  CASE WHEN other_analyte THEN concept_name END AS other_name,
  CASE WHEN pid IS NOT NULL THEN CASE {to_integer("gender_concept_id")} {gender} ELSE 'unknown' END END AS sex,
  strftime(birth, '%Y-%m-%d') AS birth_date,
  substr(collected_text, 1, 10) AS collected_date,
  loinc, value_as_number AS value, unit,
  CASE operator_id {operator} END AS comparator,
  range_low AS ref_low, range_high AS ref_high,
  CASE
    WHEN other_analyte THEN NULL
    WHEN line_problem IS NOT NULL THEN line_problem || ' (measurement table)'
    WHEN lower(coalesce(loinc, '')) NOT IN (SELECT code FROM omop_analytes)
      THEN 'measurement_source_value: ' || {_show("measurement_source_value")} || ' (measurement_concept_id '
        || {_show("measurement_concept_id")} || ', no LOINC concept for it in the concept table)'
        || ' is not an immunoglobulin result that sigmd screens'
    WHEN pid IS NULL THEN 'person_id: ' || {_show("person_id")} || ' has no row in the person table'
    WHEN copies > 1 THEN 'person_id: ' || {_show("person_id")} || ' has ' || CAST(copies AS VARCHAR)
      || ' rows in the person table'
    WHEN person_problem IS NOT NULL THEN 'person_id: ' || {_show("person_id")}
      || ' has a row in the person table that could not be read (' || person_problem || ')'
    WHEN birth_datetime IS NOT NULL AND birth IS NULL
      THEN 'birth_datetime: ' || {_show("birth_datetime")} || ' is not a date (YYYY-MM-DD...)'
    WHEN birth_datetime IS NULL AND y IS NULL
      THEN 'year_of_birth: ' || {_show("year_of_birth")} || ' is missing or not a year{BIRTH_REMEDY}'
    WHEN birth_datetime IS NULL AND mo IS NULL
      THEN 'month_of_birth: ' || {_show("month_of_birth")} || ' is missing or not a month{BIRTH_REMEDY}'
    WHEN birth_datetime IS NULL AND d IS NULL
      THEN 'day_of_birth: ' || {_show("day_of_birth")} || ' is missing or not a day{BIRTH_REMEDY}'
    WHEN birth IS NULL AND NOT y BETWEEN 1 AND 9999
      THEN 'year_of_birth: ' || {_show("year_of_birth")} || ' is not a year (1 to 9999)'
    WHEN birth IS NULL AND NOT mo BETWEEN 1 AND 12
      THEN 'month_of_birth: ' || {_show("month_of_birth")} || ' is not a month (1 to 12)'
    WHEN birth IS NULL THEN 'day_of_birth: ' || {_show("day_of_birth")} || ' is not a day of month '
      || {_show("month_of_birth")} || ' of ' || {_show("year_of_birth")}
    WHEN {to_date("substr(collected_text, 1, 10)")} IS NULL
      THEN 'measurement_date: ' || {_show("measurement_date")} || ' is not a date (YYYY-MM-DD)'
    WHEN value_as_number IS NULL THEN 'value_as_number: None is missing; sigmd needs a numeric result'
      || coalesce(' (value_source_value ' || {_show("value_source_value")} || ')', '')
    WHEN {to_double("value_as_number")} IS NULL
      THEN 'value_as_number: ' || {_show("value_as_number")} || ' is not a number'
    WHEN operator_concept_id IS NOT NULL AND operator_concept_id <> '0'
      AND (operator_id IS NULL OR operator_id NOT IN ({", ".join(str(k) for k in OPERATORS)}))
      THEN 'operator_concept_id: ' || {_show("operator_concept_id")} || ' is not one of {operators}'
    WHEN range_low IS NOT NULL AND {to_double("range_low")} IS NULL
      THEN 'range_low: ' || {_show("range_low")} || ' is not a number'
    WHEN range_high IS NOT NULL AND {to_double("range_high")} IS NULL
      THEN 'range_high: ' || {_show("range_high")} || ' is not a number'
  END AS reason
FROM scoped
"""


def records_sql(table: str, concept_column: str, source_value: str, source_concept: str) -> str:
    """Conditions or medications in the records layout (patient_id, kind, code, system, text).

    The code is the first ICD-10, ICD-10-CM or ATC code among the source and standard concepts (the
    vocabularies the core matches); otherwise the standard concept's code and vocabulary, or the source
    value. The text joins the concept names and the source value, for the core's term matching.
    """
    kind = "condition" if table == "condition_occurrence" else "medication"
    systems = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in SYSTEMS.items())
    known = ", ".join(literal(k) for k in SYSTEMS)
    return f"""
SELECT t.person_id AS patient_id, '{kind}' AS kind,
  CASE WHEN sc.vocabulary IN ({known}) THEN sc.code WHEN c.vocabulary IN ({known}) THEN c.code
    ELSE coalesce(c.code, t.{source_value}, '') END AS code,
  CASE WHEN sc.vocabulary IN ({known}) THEN CASE sc.vocabulary {systems} END
    WHEN c.vocabulary IN ({known}) THEN CASE c.vocabulary {systems} END
    ELSE coalesce(c.vocabulary, '') END AS system,
  concat_ws(' | ', c.name, sc.name, t.{source_value}) AS text
FROM src_{table} t
LEFT JOIN concepts c ON c.cid = t.{concept_column}
LEFT JOIN concepts sc ON sc.cid = t.{source_concept}
WHERE t.person_id IS NOT NULL
"""


def _convert(db: Engine, tables: set[str], work_dir: Path, materialised: bool) -> Path | None:
    """`converted` (measurement_sql) over the `src_` views and `concepts`, with its warnings; the records file."""
    pa = require("pyarrow", "screen")
    knowledge = content.load()
    db.register("omop_analytes", pa.table({"code": [code.lower() for code, _ in analyte_rows(knowledge)]}))
    if materialised:
        db.materialise("converted", measurement_sql())
    else:
        db.view("converted", measurement_sql())
    _warn_about_birth_dates(db)
    return _write_records(db, tables, work_dir / "omop.records.csv")


def convert_omop(source: Path, work_dir: Path) -> Prepared:
    """Convert an OMOP folder to `work_dir/omop.parquet` (+ `omop.records.csv`); unusable rows become rejects."""
    from sigmd.screening.duckdb_engine import DuckDBEngine

    pa = require("pyarrow", "screen")
    found = table_files(source)
    missing = [t for t in REQUIRED_TABLES if t not in found]
    if missing:
        raise ValueError(
            f"input: OMOP folder {str(source)!r} has no {' or '.join(missing)} table "
            f"(expected {missing[0]}.parquet, {missing[0]}.csv or a folder {missing[0]}/ of Parquet files)"
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    db = DuckDBEngine()
    try:
        for table, file in found.items():
            _file_view(db, table, _as_parquet(table, file, work_dir))
        _concepts(db, "concept" in found, None)
        records = _convert(db, set(found), work_dir, materialised=True)
        path = work_dir / "omop.parquet"
        fields = ", ".join(CANONICAL_COLUMNS)
        db.export(f"SELECT {fields}, measurement_id FROM converted WHERE {SCREENED} ORDER BY pos", path, "parquet")
        rejects = db.fetch(
            f"SELECT -pos AS row_no, {fields}, reason FROM converted WHERE reason IS NOT NULL ORDER BY pos"
        )
        other = _other_analytes(db)
    finally:
        db.close()
    reject_schema = pa.schema(
        [("row_no", pa.int64()), *[(n, pa.string()) for n in CANONICAL_COLUMNS], ("reason", pa.string())]
    )
    return Prepared(
        path, "parquet", {n: n for n in CANONICAL_COLUMNS}, records, rejects.cast(reject_schema), other_analytes=other
    )


def convert_in_engine(db: Engine, url: str, schema: str | None, work_dir: Path) -> Prepared:
    """Convert an OMOP CDM in the engine's own database in place: the engine reads the CDM's tables where they
    are and keeps table `raw` (the long format) and view `early_rejects`; nothing of measurement leaves the
    database. The same SQL as `convert_omop` (`measurement_sql`, `records_sql`) over views of the tables."""
    where = literal(schema) if schema else "current_schema()"
    listed = db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        f" WHERE table_schema = {where} ORDER BY table_name, ordinal_position"
    ).to_pylist()
    tables: dict[str, tuple[str, dict[str, str]]] = {}
    for row in listed:
        name = str(row["table_name"])
        if name.lower() in TABLE_COLUMNS:
            tables.setdefault(name.lower(), (name, {}))[1][str(row["column_name"]).lower()] = str(row["column_name"])
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        from sigmd.screening.postgres_engine import shown_url

        shown = f" schema {schema!r}" if schema else ""
        raise ValueError(f"input: database {shown_url(url)}{shown} has no OMOP table {', '.join(missing)}")
    relations = {
        table: f"{_identifier(schema)}.{_identifier(name)}" if schema else _identifier(name)
        for table, (name, _) in tables.items()
    }
    for table, (_, present) in tables.items():
        pos = "CAST(NULL AS BIGINT)"
        if table == "measurement":
            order = f"ORDER BY {_identifier(present['measurement_id'])}" if "measurement_id" in present else ""
            pos = f"row_number() OVER ({order})"
        _source_view(db, table, relations[table], present, pos, "CAST(NULL AS VARCHAR)", relations[table])
    used = " UNION ".join(
        f"SELECT {_text_of(column)} FROM {relations[table]}"
        for table, (_, present) in tables.items()
        if table != "concept"
        for name, column in present.items()
        if name.endswith("_concept_id") and name in (*TABLE_COLUMNS[table][0], *TABLE_COLUMNS[table][1])
    )
    _concepts(db, "concept" in tables, used or "SELECT CAST(NULL AS VARCHAR) WHERE false")
    work_dir.mkdir(parents=True, exist_ok=True)
    records = _convert(db, set(tables), work_dir, materialised=False)
    fields = ", ".join(CANONICAL_COLUMNS)
    db.materialise(
        "raw",
        f"SELECT row_number() OVER (ORDER BY pos) AS row_no, {fields}, CAST(NULL AS VARCHAR) AS {LINE_PROBLEM}"
        f" FROM converted WHERE {SCREENED}",
    )
    db.view("early_rejects", f"SELECT -pos AS row_no, {fields}, reason FROM converted WHERE reason IS NOT NULL")
    other = _other_analytes(db)
    return Prepared(None, "engine", {n: n for n in CANONICAL_COLUMNS}, records, in_engine=True, other_analytes=other)


def _other_analytes(db: Engine) -> OtherAnalytes:
    """The rows of other analytes by code (one pass), with a warning when a code's name reads like an immunoglobulin."""
    by_code = db.fetch(
        "SELECT other_code AS code, min(other_name) AS name, count(*) AS n FROM converted WHERE other_analyte"
        " GROUP BY other_code"
    ).to_pylist()
    return count_other_analytes(
        ((str(r["code"]), str(r["name"] or ""), int(r["n"])) for r in by_code), "OMOP measurement"
    )


def _warn_about_birth_dates(db: Engine) -> None:
    found = db.fetch(
        "SELECT count(DISTINCT patient_id) AS persons, count(*) AS n FROM converted"
        " WHERE reason LIKE '%does not estimate it'"
    ).to_pylist()[0]
    if found["n"]:
        warnings.warn(
            f"OMOP person: {found['persons']} person(s) have no full birth date (month_of_birth or day_of_birth "
            f"missing); their {found['n']} measurement row(s) are rejected, not screened with an estimated age",
            UserWarning,
            stacklevel=4,
        )


def _write_records(db: Engine, tables: set[str], path: Path) -> Path | None:
    """The records table from condition_occurrence and drug_exposure, or None when neither is given.

    One table without the other, or lines that could not be read, leave the rest of the records in use, with a
    warning: a record read can name a secondary cause, and one missing cannot be seen either way, so dropping
    what was read would only hide causes (as with a FHIR Bulk export)."""
    have = [t for t in ("condition_occurrence", "drug_exposure") if t in tables]
    if not have:
        return None
    if len(have) == 1:
        other = "drug_exposure" if have[0] == "condition_occurrence" else "condition_occurrence"
        lacking = "medications" if other == "drug_exposure" else "conditions"
        warnings.warn(
            f"OMOP {have[0]} is given but {other} is not: secondary causes and treatment among the {lacking} "
            "cannot be seen",
            UserWarning,
            stacklevel=4,
        )
    for table in have:
        unread = db.fetch(f"SELECT count(*) AS n FROM src_{table} WHERE line_problem IS NOT NULL").to_pylist()[0]["n"]
        if unread:
            warnings.warn(
                f"OMOP {table}: {unread} line(s) could not be read; the lines read are used, and secondary causes "
                "on the unread ones cannot be seen",
                UserWarning,
                stacklevel=4,
            )
    parts = {
        "condition_occurrence": records_sql(
            "condition_occurrence", "condition_concept_id", "condition_source_value", "condition_source_concept_id"
        ),
        "drug_exposure": records_sql("drug_exposure", "drug_concept_id", "drug_source_value", "drug_source_concept_id"),
    }
    db.export(" UNION ALL ".join(parts[t] for t in have), path, "csv")
    return path


def export_database(url: str, folder: Path, schema: str | None = None, batch_rows: int = 50_000) -> Path:
    """Copy the OMOP tables of a database (SQLAlchemy URL) to `folder/<table>.parquet`, every value as text.

    Only the columns screening reads are copied; concept rows only for the concept ids those tables use.
    Measurement rows are copied in measurement_id order, which numbers the rejects.
    """
    sa = require("sqlalchemy", "registry")
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        raise ValueError(
            f"input: {url.split('://', 1)[0]}://... is not a database URL SQLAlchemy can open ({error})"
        ) from None
    shown = engine.url.render_as_string(hide_password=True)
    try:
        return _export(sa, engine, folder, schema, batch_rows)
    except sa.exc.SQLAlchemyError as error:
        raise ValueError(f"input: database {shown}: {str(error).splitlines()[0]}") from None
    finally:
        engine.dispose()


def _export(sa: Any, engine: Any, folder: Path, schema: str | None, batch_rows: int) -> Path:
    pa = require("pyarrow", "screen")
    pq = require("pyarrow.parquet", "screen")
    inspector = sa.inspect(engine)
    names = {n.lower(): n for n in inspector.get_table_names(schema=schema)}
    missing = [t for t in REQUIRED_TABLES if t not in names]
    if missing:
        where = f" schema {schema!r}" if schema else ""
        shown = engine.url.render_as_string(hide_password=True)
        raise ValueError(f"input: database {shown}{where} has no OMOP table {', '.join(missing)}")
    tables: dict[str, Any] = {}
    for table in (t for t in TABLE_COLUMNS if t in names):
        present = {c["name"].lower(): c["name"] for c in inspector.get_columns(names[table], schema=schema)}
        wanted = [present[c] for c in (*TABLE_COLUMNS[table][0], *TABLE_COLUMNS[table][1]) if c in present]
        tables[table] = sa.table(names[table], *(sa.column(c) for c in wanted), schema=schema)
    folder.mkdir(parents=True, exist_ok=True)
    with engine.connect() as connection:
        for table, handle in tables.items():
            query = sa.select(*handle.c)
            if table == "measurement" and "measurement_id" in {c.name.lower() for c in handle.c}:
                query = query.order_by(_column(handle, "measurement_id"))
            if table == "concept":
                query = query.where(_used_concepts(sa, handle, tables))
            schema_out = pa.schema([(c.name.lower(), pa.string()) for c in handle.c])
            result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            with pq.ParquetWriter(str(folder / f"{table}.parquet"), schema_out) as writer:
                for rows in result.partitions():
                    columns = list(zip(*rows, strict=True))
                    arrays = [pa.array([_text(v) for v in column], pa.string()) for column in columns]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema_out))
    return folder


def _column(handle: Any, name: str) -> Any:
    return next(c for c in handle.c if c.name.lower() == name)


def _used_concepts(sa: Any, concept: Any, tables: dict[str, Any]) -> Any:
    """concept_id IN any concept column of the other tables."""
    concept_id = _column(concept, "concept_id")
    used = [
        concept_id.in_(sa.select(c))
        for table, handle in tables.items()
        if table != "concept"
        for c in handle.c
        if c.name.lower().endswith("_concept_id")
    ]
    return sa.or_(*used) if used else sa.false()


def _text(value: object) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
