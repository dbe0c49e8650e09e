"""The shared SQL is written once (DuckDB) and means the same on DuckDB, PostgreSQL and Spark (synthetic values).

The probes run the portable spellings of `sigmd.screening.portable`, and the functions whose meaning sqlglot does
not carry over by itself, on every engine over the same values, and compare each engine's answers with DuckDB's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot.errors import UnsupportedError

from sigmd import content
from sigmd.adapters.results import EARLIEST_DATE, LATEST_DATE, parse_date
from sigmd.core.model import Analyte
from sigmd.core.values import VALUE_PATTERN
from sigmd.errors import InputError
from sigmd.screening import classify, omop
from sigmd.screening.classify import PLAIN_NUMBER
from sigmd.screening.duckdb_engine import DuckDBEngine
from sigmd.screening.engine import Engine, _transpile, transpile
from sigmd.screening.portable import (
    exponential,
    extract,
    literal,
    matches,
    product,
    regex,
    remove,
    to_date,
    to_double,
    to_integer,
)

TEXTS = [
    "30",
    " <5",
    "< 0.05",
    ">=200 ",
    "≤4",
    "≥ 7",
    ".5",
    "5.",
    "1e5",
    "2E-3",
    "-1",
    "+12",
    "1,5",
    "<<5",
    "5\n",
    "5\r\n",
    "\t5",
    "5\x0b",
    "5\x0c",
    "5\u00a0",
    "5\u0085",
    "5\u2028",
    "5\u2029",
    "n/a",
    "",
    "1e400",
    "1e-400",
    "5e-324",
    "1980.0",
    "12.5",
    "99999999999999999999",
    "NaN",
    "Infinity",
    "0x1F",
    "2020-02-29",
    "2019-02-29",
    "0000-01-01",
    "0000-02-29",
    "0001-01-01",
    "9999-12-31",
    "2020-1-5",
    "2020/01/05",
    "2020",
    "\t2020-01-05",
    " 2020-01-05T10:30:00+01:00 ",
    "2020-01-05T25:00",
    "2020-01-05\u2028",
    "2020-01-5 ",
    "+020-01-05",
    "２０２０-01-05",
    "2020-0a-05",
    "2020-01-05\xa0",
    "20200105",
    "2020-W01-1",
    "1900-02-29",
    "2000-02-29",
    "2100-02-29",
    "2021-02-30",
    "2021-04-31",
    "2021-06-30",
    "2021-11-31",
    "2021-12-31",
    "2021-13-01",
    "2021-00-10",
    "2021-01-00",
    "2021-01-32",
    "-0.0",
    "0.000",
    "0." + "0" * 297 + "1",
    "0." + "0" * 298 + "1",
    "9" * 300,
    "9" * 301,
    "1" + "0" * 308 + ".5",
    "it's \\s: 'quoted'",
    "µG/dL",
    "MG / DL",
    'Ig"M, serum',
    None,
]
"""Values where RE2, Java regex and PostgreSQL's ARE, or the engines' casts, could disagree."""
EXPRESSIONS = {
    "value_ok": matches("v", VALUE_PATTERN),
    "symbol": extract("v", VALUE_PATTERN, 1),
    "number": extract("v", VALUE_PATTERN, 2),
    "plain": matches("v", PLAIN_NUMBER),
    "date_part": classify._date_part("v"),
    "iso_date": classify._iso_date(classify._date_part("v")),
    "field": extract("v", "^([^:]*)", 1),
    "whole": extract("v", "^[0-9]+", 0),
    "no_spaces": remove("v", r"\s"),
    "integer": to_integer("v"),
    "double": to_double("v"),
    "date": to_date("v"),
    "lowered": "lower(v)",
    "shown": "coalesce('''' || CAST(v AS VARCHAR) || '''', 'None')",
}
NUMBERS = [
    0.0,
    5e-324,
    1e-320,
    1e-310,
    2.2e-308,
    1e-20,
    0.5,
    36.2,
    1e19,
    1e300,
    1e306,
    1.7976931348623157e308,
    math.inf,
]
FACTORS = [0.1, 0.847, 1.0, 100.0, 1000.0]
ENGINES = ["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.slow)]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine in turn: DuckDB, PostgreSQL on the test cluster, Spark on the local session."""
    opened: Engine
    if request.param == "duckdb":
        opened = DuckDBEngine()
    elif request.param == "postgres":
        from sigmd.screening.postgres_engine import PostgresEngine

        opened = PostgresEngine(request.getfixturevalue("postgres_url"))
    else:
        from sigmd.screening.spark_engine import SparkEngine

        opened = SparkEngine(request.getfixturevalue("spark"))
    try:
        yield opened
    finally:
        opened.close()


def _run(db: Engine, query: str, tables: dict[str, Any]) -> list[dict[str, Any]]:
    for name, table in tables.items():
        db.register(name, table)
    return list(db.fetch(query).to_pylist())


def _on_duckdb(query: str, tables: dict[str, Any]) -> list[dict[str, Any]]:
    reference = DuckDBEngine()
    try:
        return _run(reference, query, tables)
    finally:
        reference.close()


def test_text_probes_mean_on_each_engine_what_they_mean_in_duckdb(engine: Engine) -> None:
    """Regular expressions, extraction, the canonical casts, lower() and literal quoting give DuckDB's answers."""
    texts = pa.table({"id": pa.array(range(len(TEXTS)), pa.int64()), "v": pa.array(TEXTS, pa.string())})
    selected = ", ".join(f"{sql} AS {name}" for name, sql in EXPRESSIONS.items())
    query = f"SELECT id, {selected} FROM texts ORDER BY id"
    found = _run(engine, query, {"texts": texts})
    expected = _on_duckdb(query, {"texts": texts})
    for row, want in zip(found, expected, strict=True):
        assert row == want, TEXTS[row["id"]]
    by_text = {TEXTS[row["id"]]: row for row in expected}
    # The meanings themselves (DuckDB's): RE2 whitespace only, `$` at the very end, canonical casts.
    assert [by_text[t]["value_ok"] for t in ("5\n", "5\x0b", "5\u00a0", "5\u2028", "5\u0085")] == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert (by_text[" <5"]["symbol"], by_text[" <5"]["number"]) == ("<", "5")
    assert by_text["5\n"]["plain"] is False and by_text["5\u2028"]["date_part"] == ""
    assert by_text[" 2020-01-05T10:30:00+01:00 "]["date_part"] == "2020-01-05"
    assert by_text["\t2020-01-05"]["date_part"] == "2020-01-05"
    assert [by_text[t]["integer"] for t in ("+12", "1980.0", "12.5", "99999999999999999999", "0x1F")] == [
        12,
        1980,
        None,
        None,
        None,
    ]
    assert [by_text[t]["double"] for t in ("1e400", "1e-400", "5e-324", "5.", "NaN", "Infinity")] == [
        math.inf,
        0.0,
        5e-324,
        5.0,
        None,
        None,
    ]
    assert [str(by_text[t]["date"]) for t in ("2020-02-29", "2019-02-29", "0000-01-01", "0001-01-01", "2020-1-5")] == [
        "2020-02-29",
        "None",
        "None",
        "0001-01-01",
        "None",
    ]
    assert by_text["MG / DL"]["no_spaces"] == "MG/DL" and by_text["µG/dL"]["lowered"] == "µg/dl"
    assert by_text["it's \\s: 'quoted'"]["shown"] == "'it's \\s: 'quoted''" and by_text[None]["shown"] == "None"


def test_numeric_probes_never_raise_and_round_as_duckdb(engine: Engine) -> None:
    """Products overflow to infinity and underflow to zero (PostgreSQL would raise), exp underflows to zero,
    greatest and least skip NULL, count_if over no rows is NULL, and date arithmetic agrees."""
    numbers = pa.table(
        {
            "id": pa.array(range(len(NUMBERS) * len(FACTORS)), pa.int64()),
            "a": pa.array([a for a in NUMBERS for _ in FACTORS], pa.float64()),
            "b": pa.array([b for _ in NUMBERS for b in FACTORS], pa.float64()),
        }
    )
    query = (
        f"SELECT id, {product('a', 'b')} AS p, {exponential('-a')} AS e, {exponential('b * 0 - 745.2')} AS small,"
        " greatest(a, NULL) AS g, least(NULL, b) AS l FROM numbers ORDER BY id"
    )
    found = _run(engine, query, {"numbers": numbers})
    assert found == _on_duckdb(query, {"numbers": numbers})
    for row in found:
        a, b = NUMBERS[row["id"] // len(FACTORS)], FACTORS[row["id"] % len(FACTORS)]
        assert row["p"] == a * b, (a, b)
        assert (row["e"], row["small"], row["g"], row["l"]) == (math.exp(-a), 0.0, a, b)
    dates = (
        "SELECT date_diff('day', DATE '2020-01-31', DATE '2020-03-01') AS days, last_day(DATE '2020-02-10') AS month_end,"
        " year(DATE '2020-02-10') * 12 + month(DATE '2020-02-10') AS months, day(DATE '2024-02-29') AS day_of_month,"
        " 'it''s \\s' AS quoted, DATE '1900-01-01' AS earliest"
    )
    (row,) = _run(engine, dates, {})
    assert row == _on_duckdb(dates, {})[0]
    assert (row["days"], str(row["month_end"]), row["months"], row["day_of_month"]) == (30, "2020-02-29", 24242, 29)
    assert row["quoted"] == "it's \\s"
    # count_if over no rows is NULL in DuckDB (Spark's own count_if says 0).
    counted = "SELECT count_if(x > 0) AS n, count_if(x > 1) = 0 AS zero FROM (SELECT 1 AS x) t"
    assert _run(engine, counted, {}) == [{"n": 1, "zero": True}]
    assert _run(engine, counted + " WHERE false", {}) == [{"n": None, "zero": None}]


def test_regex_keeps_to_what_re2_java_and_postgres_share() -> None:
    """`\\s` is spelled as RE2's class; constructs the three read differently are refused when the SQL is built."""
    assert regex(r"^\s*[0-9]+$") == r"^[\t\n\f\r ]*[0-9]+$"
    assert regex(r"^[\s,;]+\.x$") == r"^[\t\n\f\r ,;]+\.x$"
    for pattern in (r"\d+", r"a.b", "(?i)a", "a(?=b)", "a*?", "[[:alpha:]]", "a$b", "[]a]", "x^", r"\w", "[a"):
        with pytest.raises(ValueError, match="regex"):
            regex(pattern)
    assert matches("v", "^a$") == "regexp_matches((v || '!'), '^a!$')"
    assert matches("v", "^a") == "regexp_matches(v, '^a')"
    assert literal("it's") == "'it''s'"


def test_transpile_is_cached_per_text_and_dialect() -> None:
    """A query is parsed once per engine dialect; DuckDB's own SQL is passed through unchanged."""
    query = "SELECT CAST(x AS VARCHAR) AS n FROM t -- cache probe"
    before = _transpile.cache_info()
    first = transpile(query, "spark")
    assert transpile(query, "spark") is first
    assert transpile(query, "postgres") != first
    after = _transpile.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (2, 1)
    assert transpile(query, "duckdb") is query


def test_hints_reach_spark_only() -> None:
    query = "SELECT /*+ BROADCAST(t) */ r.a FROM rows r JOIN t ON t.a = r.a"
    assert "/*+ BROADCAST(t) */" in transpile(query, "spark")
    assert "BROADCAST" not in transpile(query, "postgres")


@pytest.mark.parametrize(
    ("query", "dialect"),
    [
        ("SELECT regexp_replace(v, 'a', 'b') FROM t", "spark"),  # DuckDB replaces the first match only
        ("SELECT regexp_replace(v, '(a)', '\\1', 'g') FROM t", "spark"),  # \\1 in RE2, $1 in Java
        ("SELECT regexp_matches(v, 'a', 'i') FROM t", "spark"),  # the flag would be dropped
        ("SELECT try_cast(v AS VARCHAR) FROM t", "postgres"),  # no stand-in for this try_cast
    ],
)
def test_what_sqlglot_cannot_carry_over_is_refused(query: str, dialect: str) -> None:
    with pytest.raises(UnsupportedError):
        transpile(query, dialect)


def test_every_query_of_a_run_transpiles_to_spark_and_postgres() -> None:
    """The SQL of every profile's options, the OMOP conversion and the records read as each engine's dialect."""
    knowledge = content.load()
    absent = knowledge.thresholds.absent[Analyte.IGM].value
    queries = [classify.patients_sql(), classify.rejects_sql(), omop.measurement_sql()]
    for minus_2sd in (False, True):
        for cutoffs in (False, True):
            options = classify.Options("2026-01-01", minus_2sd, cutoffs, absent, "mayo", 10.0, 5.0)
            queries += [classify.rows_sql(options, 91), classify.sensitivity_sql(options, 91)]
    queries.append(omop.records_sql("drug_exposure", "drug_concept_id", "drug_source_value", "drug_source_concept_id"))
    for query in queries:
        spark, postgres = transpile(query, "spark"), transpile(query, "postgres")
        assert "try_cast" not in postgres.lower().replace("sigmd_try_", "")
        assert "REGEXP_EXTRACT" not in postgres and "MATERIALIZED" not in spark


def test_engines_are_chosen_by_name_and_url() -> None:
    """postgres needs the database to work in, duckdb takes no URL; URLs are libpq's or SQLAlchemy's."""
    from sigmd.screening.postgres_engine import connection_url, shown_url
    from sigmd.screening.run import make_engine, same_database

    with pytest.raises(ValueError, match="is not one of duckdb, spark, postgres"):
        make_engine("sqlite")
    with pytest.raises(ValueError, match="not duckdb"):
        make_engine("duckdb", "postgresql://me@db/cdm")
    with pytest.raises(ValueError, match="needs the database"):
        make_engine("postgres")
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        connection_url("sqlite:///cdm.db")
    assert connection_url("postgresql+psycopg://me:secret@db:5433/cdm") == "postgresql://me:secret@db:5433/cdm"
    assert shown_url("postgresql://me:secret@db/cdm") == "postgresql://me:***@db/cdm"
    assert same_database("postgresql://a@db:5432/cdm", "postgresql+psycopg://b@db/cdm")
    assert not same_database("postgresql://a@db/cdm", "postgresql://a@db/other")


def test_missing_psycopg_names_the_postgres_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import sys

    from sigmd.screening.run import make_engine

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'sigmd[postgres]'")):
        make_engine("postgres", "postgresql://me@db/cdm")


def test_postgres_refuses_text_it_cannot_hold(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold U+0000: such an input is refused by name rather than cut short."""
    import pyarrow.parquet as pq

    from sigmd.screening.postgres_engine import PostgresEngine

    source = tmp_path / "nul.parquet"
    pq.write_table(pa.table({"patient_id": ["P1"], "value": ["5\x00"]}), source)
    engine = PostgresEngine(postgres_url)
    try:
        with pytest.raises(ValueError, match="U\\+0000"):
            engine.load("raw", source, "parquet", {"patient_id": "patient_id", "value": "value"})
    finally:
        engine.close()


def test_screening_reads_a_date_exactly_when_the_core_does() -> None:
    """The SQL date of every probe is the core's `parse_date`, and NULL where the core refuses the text."""
    rows = _on_duckdb(
        f"SELECT v, {classify._iso_date(classify._date_part('v'))} AS fast FROM t",
        {"t": pa.table({"v": pa.array(TEXTS, pa.string())})},
    )
    read = 0
    for row in rows:
        try:
            expected = None if row["v"] is None else parse_date(row["v"], "v")
        except InputError:
            expected = None
        inside = row["fast"] if row["fast"] is not None and EARLIEST_DATE <= row["fast"] <= LATEST_DATE else None
        assert inside == expected, row["v"]
        read += expected is not None
    assert 3 <= read <= len(rows) - 10  # dates, date-times, and many texts both refuse
