"""The PostgreSQL engine (psycopg 3), for screening where OMOP CDMs usually live.

Everything the engine creates is temporary (tables, views and sigmd's try_cast functions live in the
session's `pg_temp` schema and vanish with the connection), so it needs no rights beyond reading the
CDM and creating temporary objects. Arrow tables come in with COPY (written as CSV by pyarrow) and go
out with COPY ... TO STDOUT read by pyarrow's streaming CSV reader, so an export never holds its whole
result in memory. A Parquet input is read by DuckDB with the DuckDB engine's own query, so the text of
every cell is the text the DuckDB engine sees.

The engine's text columns use the "C" collation, so that ORDER BY sorts by code point as DuckDB and
Spark do (a database's default collation may sort linguistically); `lower` and `upper` keep the
database's default collation (see `sigmd.screening.dialects`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sigmd.screening.dialects import TRY_CAST_FUNCTIONS
from sigmd.screening.engine import transpile
from sigmd.screening.extras import require

SCHEMES = re.compile(r"^(postgresql|postgres)(\+psycopg2?)?://", re.IGNORECASE)
"""URLs the engine opens: libpq's (postgresql://, postgres://) and SQLAlchemy's (postgresql+psycopg://...)."""
SESSION = (
    "SET standard_conforming_strings = on",  # a backslash in a literal is itself, as in the SQL sqlglot writes
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET TimeZone = 'UTC'",
    "SET extra_float_digits = 1",  # doubles print in the shortest form that reads back exactly
    "SET client_encoding = 'UTF8'",
    "SET jit = off",  # compiling the long CASE expressions costs more than it saves on one pass
    # The joins have no index to use and CTEs carry no statistics, so PostgreSQL chose to sort all rows to merge
    # them with the small limit tables (2.5 s of 16 s at 200 k patients); a hash join reads them once (1 s).
    "SET enable_mergejoin = off",
)
OVERFLOW = str(2**1024 - 2**970)
"""The least decimal that rounds to an infinite double (halfway between the largest double and 2**1024)."""
UNDERFLOW = "0." + str(5**1075).rjust(1075, "0")
"""2**-1075, exactly: half the least positive double; it and anything smaller round to 0."""
NUMBER = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
TRY_CAST_SQL = {
    "sigmd_try_bigint": (
        "bigint",
        "SELECT CASE WHEN t ~ '^[-+]?0*[0-9]{1,19}$' THEN CASE WHEN t::numeric"
        " BETWEEN -9223372036854775808 AND 9223372036854775807 THEN t::bigint END END",
    ),
    "sigmd_try_integer": (
        "integer",
        "SELECT CASE WHEN t ~ '^[-+]?0*[0-9]{1,10}$' THEN CASE WHEN t::numeric"
        " BETWEEN -2147483648 AND 2147483647 THEN t::integer END END",
    ),
    "sigmd_try_double": (
        "double precision",
        f"SELECT CASE WHEN t ~ '{NUMBER}' AND length(t) <= 10000 THEN"
        # Without an exponent, 300 characters cannot reach 1e300 nor go below 1e-299: no overflow or underflow.
        " CASE WHEN length(t) <= 300 AND strpos(lower(t), 'e') = 0 THEN t::float8"
        # An exponent of 5 digits or more is beyond numeric: the double is zero or infinite.
        " WHEN t ~ '[eE][-+]?0*[0-9]{5,}$' THEN CASE WHEN t ~ '^[-+]?[0.]*[eE]' OR t ~ '[eE]-'"
        "   THEN CASE WHEN t LIKE '-%' THEN '-0'::float8 ELSE 0::float8 END"
        "   ELSE CASE WHEN t LIKE '-%' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END END"
        f" WHEN abs(t::numeric) >= {OVERFLOW}"
        "   THEN CASE WHEN t LIKE '-%' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END"
        f" WHEN abs(t::numeric) <= {UNDERFLOW} THEN CASE WHEN t LIKE '-%' THEN '-0'::float8 ELSE 0::float8 END"
        " ELSE t::float8 END END",
    ),
    "sigmd_try_date": (
        "date",
        # The day is checked as text (no day 30 or 31 in February, no day 31 in a 30-day month) and only
        # 29 February by arithmetic: a third faster than building the month's last day with make_date.
        "SELECT CASE WHEN t ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' AND substr(t, 1, 4) <> '0000'"
        " AND substr(t, 6, 5) NOT IN ('02-30', '02-31', '04-31', '06-31', '09-31', '11-31') THEN"
        " CASE WHEN substr(t, 6, 5) <> '02-29' OR (substr(t, 1, 4)::int % 4 = 0"
        " AND (substr(t, 1, 4)::int % 100 <> 0 OR substr(t, 1, 4)::int % 400 = 0)) THEN t::date END END",
    ),
}
"""try_cast from text for the types the shared SQL casts to: the value of canonical text (what `portable`
passes: '12', '-3', '1.5e3', '2024-02-29'), NULL for anything else. Doubles round as DuckDB's do, to
infinity or zero when out of range (PostgreSQL's own cast raises there).

They are declared STABLE, not IMMUTABLE: the cast from text to date is stable (it reads DateStyle), and PostgreSQL
does not inline an IMMUTABLE SQL function whose body is not, so each call went through the SQL function executor
(4.0 s against 1.3 s for 1.1 M dates)."""
if set(TRY_CAST_SQL) != set(TRY_CAST_FUNCTIONS.values()):  # pragma: no cover - a programming error
    raise AssertionError("every try_cast the PostgreSQL dialect writes needs its function here")
TEXT_TYPES = {25: "text", 1043: "varchar", 1042: "bpchar", 19: "name"}
"""Type OIDs of text columns (read as Arrow strings; given the C collation in the engine's tables)."""


def is_postgres_url(url: str) -> bool:
    return bool(SCHEMES.match(url))


def connection_url(url: str) -> str:
    """A libpq URL for psycopg from a PostgreSQL URL (SQLAlchemy's `postgresql+psycopg://` included)."""
    if not is_postgres_url(url):
        raise ValueError(f"engine: {url.split('://', 1)[0]}://... is not a PostgreSQL URL (postgresql://...)")
    return SCHEMES.sub("postgresql://", url, count=1)


def shown_url(url: str) -> str:
    """`url` without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _arrow_types(pa: Any) -> dict[int, Any]:
    return {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        1082: pa.date32(),
        1114: pa.timestamp("us"),
    }


def _column_type(pa: Any, field: Any) -> str:
    kind = field.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return 'text COLLATE "C"'
    for test, name in (
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "smallint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_date32, "date"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_decimal, "numeric"),
        (pa.types.is_null, 'text COLLATE "C"'),
    ):
        if test(kind):
            return name
    raise ValueError(f"engine: column {field.name!r} of type {kind} cannot be handed to PostgreSQL")


class _CopyStream(io.RawIOBase):
    """The data of a COPY ... TO STDOUT as a readable file, block by block."""

    def __init__(self, blocks: Iterator[Any]) -> None:
        self._blocks = blocks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = bytes(block)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class PostgresEngine:
    """Screening's SQL in a PostgreSQL database, over one connection whose temporary objects hold the work."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        psycopg = require("psycopg", "postgres")
        self.url = url
        try:
            self._con: Any = psycopg.connect(connection_url(url), autocommit=True)
        except psycopg.Error as error:
            raise ValueError(f"engine: PostgreSQL {shown_url(url)}: {str(error).strip().splitlines()[0]}") from None
        for statement in SESSION:
            self._con.execute(statement)
        for function, (returns, body) in TRY_CAST_SQL.items():
            self._con.execute(
                f"CREATE OR REPLACE FUNCTION pg_temp.{function}(t text) RETURNS {returns}"
                f" LANGUAGE sql STABLE PARALLEL SAFE AS $sigmd$ {body} $sigmd$"
            )

    def sql(self, query: str) -> str:
        return transpile(query, self.dialect)

    def _drop(self, name: str) -> None:
        """Drop the engine's temporary table or view `name`, if there is one."""
        found = self._con.execute(
            "SELECT relkind FROM pg_class WHERE relname = %s AND relnamespace = pg_my_temp_schema()", (name,)
        ).fetchone()
        if found is not None:
            self._con.execute(f"DROP {'VIEW' if found[0] == 'v' else 'TABLE'} {name}")

    def _copy_in(self, name: str, batches: Iterator[Any]) -> None:
        pa = require("pyarrow", "screen")
        pc = require("pyarrow.compute", "screen")
        pcsv = require("pyarrow.csv", "screen")
        options = pcsv.WriteOptions(include_header=False)
        with self._con.cursor() as cursor, cursor.copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy:
            for batch in batches:
                for field, column in zip(batch.schema, batch.columns, strict=True):
                    if (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)) and pc.any(
                        pc.match_substring(column, "\x00")
                    ).as_py():
                        raise ValueError(
                            f"input: column {field.name} holds the character U+0000, which PostgreSQL text cannot hold"
                        )
                buffer = io.BytesIO()
                pcsv.write_csv(batch, buffer, options)
                copy.write(buffer.getvalue())

    def _create(self, name: str, schema: Any, batches: Iterator[Any]) -> None:
        pa = require("pyarrow", "screen")
        self._drop(name)
        columns = ", ".join(f'"{field.name}" {_column_type(pa, field)}' for field in schema)
        self._con.execute(f"CREATE TEMP TABLE {name} ({columns})")
        self._copy_in(name, batches)
        self._con.execute(f"ANALYZE {name}")

    def load(self, name: str, path: Path, file_format: str, columns: dict[str, str]) -> None:
        """Copy the file's rows, read by DuckDB as the DuckDB engine reads them, into a temporary table."""
        duckdb = require("duckdb", "screen")
        from sigmd.screening.duckdb_engine import parquet_rows

        reader = duckdb.connect()
        try:
            result = reader.sql(parquet_rows(reader, path, file_format, columns)).to_arrow_reader(65536)
            self._create(name, result.schema, iter(result))
        finally:
            reader.close()

    def register(self, name: str, table: Any) -> None:
        self._create(name, table.schema, iter(table.to_batches(65536)))

    def view(self, name: str, sql: str) -> None:
        self._drop(name)
        self._con.execute(f"CREATE TEMP VIEW {name} AS {self.sql(sql)}")

    def materialise(self, name: str, sql: str) -> None:
        """A temporary table: created empty, its text columns set to the C collation, then filled and analysed."""
        query = self.sql(sql)
        self._drop(name)
        self._con.execute(f"CREATE TEMP TABLE {name} AS {query} WITH NO DATA")
        text = self._con.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
            " AND atttypid = ANY(%s)",
            (f"pg_temp.{name}", list(TEXT_TYPES)),
        ).fetchall()
        if text:
            altered = ", ".join(f'ALTER COLUMN "{column}" TYPE text COLLATE "C"' for (column,) in text)
            self._con.execute(f"ALTER TABLE {name} {altered}")
        self._con.execute(f"INSERT INTO {name} {query}")
        self._con.execute(f"ANALYZE {name}")

    def _describe(self, query: str) -> list[tuple[str, int]]:
        with self._con.cursor() as cursor:
            cursor.execute(f"SELECT * FROM ({query}) AS described LIMIT 0")
            return [(column.name, column.type_code) for column in cursor.description or []]

    def _batches(self, query: str, copy: Any, columns: list[tuple[str, int]]) -> Iterator[Any]:
        """The rows of a COPY (query) TO STDOUT in CSV as Arrow record batches, typed from the query's columns."""
        pa = require("pyarrow", "screen")
        pcsv = require("pyarrow.csv", "screen")
        known = _arrow_types(pa)
        names = [f"c{index}" for index in range(len(columns))]
        types = {name: known.get(oid, pa.string()) for name, (_, oid) in zip(names, columns, strict=True)}
        stream = io.BufferedReader(_CopyStream(iter(copy)), buffer_size=1 << 20)
        if not stream.peek(1):
            return
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 22),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        for batch in reader:
            yield self._typed(pa, batch, columns)

    @staticmethod
    def _typed(pa: Any, batch: Any, columns: list[tuple[str, int]]) -> Any:
        """A batch with the query's column names; numeric columns as integers when whole, else doubles."""
        pc = require("pyarrow.compute", "screen")
        arrays = []
        for array, (_, oid) in zip(batch.columns, columns, strict=True):
            if oid == 1700:
                whole = pc.all(pc.match_substring_regex(array, r"^-?[0-9]+$")).as_py() is not False
                array = array.cast(pa.decimal128(38, 0) if whole else pa.float64())
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, names=[name for name, _ in columns])

    def _schema(self, columns: list[tuple[str, int]]) -> Any:
        pa = require("pyarrow", "screen")
        known = {**_arrow_types(pa), 1700: pa.decimal128(38, 0)}
        return pa.schema([(name, known.get(oid, pa.string())) for name, oid in columns])

    def fetch(self, sql: str) -> Any:
        pa = require("pyarrow", "screen")
        query = self.sql(sql)
        columns = self._describe(query)
        with self._con.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            batches = list(self._batches(query, copy, columns))
        if not batches:
            return self._schema(columns).empty_table()
        return pa.Table.from_batches(batches)

    def export(self, sql: str, path: Path, file_format: str) -> None:
        """CSV as PostgreSQL writes it (NULL empty, an empty string quoted); Parquet from the same stream in batches."""
        query = self.sql(sql)
        if file_format == "csv":
            with (
                path.open("wb") as handle,
                self._con.cursor() as cursor,
                cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy,
            ):
                for block in copy:
                    handle.write(block)
            return
        pq = require("pyarrow.parquet", "screen")
        columns = self._describe(query)
        writer = None
        try:
            with self._con.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
                for batch in self._batches(query, copy, columns):
                    if writer is None:
                        writer = pq.ParquetWriter(str(path), batch.schema)
                    writer.write_batch(batch)
            if writer is None:
                pq.write_table(self._schema(columns).empty_table(), str(path))
        finally:
            if writer is not None:
                writer.close()

    def close(self) -> None:
        self._con.close()
