"""The engine protocol: what screening asks of a SQL engine (DuckDB by default, Spark or PostgreSQL optionally).

Screening's SQL is written once, in DuckDB's dialect (with the portable spellings of
`sigmd.screening.portable`). Every engine runs it through `Engine.sql`, which for Spark and PostgreSQL
is `transpile`: sqlglot parses the DuckDB text and writes it in the engine's dialect, with the few
corrections of `sigmd.screening.dialects`. The result is cached per SQL text and engine, so a query
that screening builds again (the same options) is not parsed again.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from sigmd.screening.extras import require

SOURCE_DIALECT = "duckdb"
"""The dialect the shared SQL is written in."""


class Engine(Protocol):
    """A SQL engine that screening drives. Tables are exchanged as Arrow tables.

    Every method that takes SQL takes it in DuckDB's dialect and runs `sql(query)`.
    """

    dialect: str
    """The engine's dialect as sqlglot names it: duckdb, spark or postgres."""

    def sql(self, query: str) -> str:
        """`query` (DuckDB's dialect) in the engine's own dialect."""

    def load(self, name: str, path: Path, file_format: str, columns: dict[str, str]) -> None:
        """Expose a Parquet file as a view `name` whose columns are renamed as `columns` maps canonical name ->
        source name (NULL when the file lacks it), every column read as text, plus a 1-based `row_no` (BIGINT)
        that is the row's position in the file, the same for every engine. Other formats raise ValueError."""

    def register(self, name: str, table: Any) -> None:
        """Expose an Arrow table as a view."""

    def view(self, name: str, sql: str) -> None:
        """Name a query: `name` is computed again each time it is read."""

    def materialise(self, name: str, sql: str) -> None:
        """Compute a query once and keep it as table `name` for later queries."""

    def fetch(self, sql: str) -> Any:
        """Run a query and return its result as an Arrow table."""

    def export(self, sql: str, path: Path, file_format: str) -> None:
        """Write a query's result to one Parquet or CSV (with header) file, without holding it all in memory."""

    def close(self) -> None: ...


def transpile(query: str, dialect: str) -> str:
    """`query`, written in DuckDB's dialect, in `dialect` (duckdb: unchanged). sqlglot.errors.UnsupportedError
    when sqlglot cannot carry it over with its meaning."""
    if dialect == SOURCE_DIALECT:
        return query
    return _transpile(query, dialect)


@lru_cache(maxsize=512)
def _transpile(query: str, dialect: str) -> str:
    sqlglot = require("sqlglot", "screen")
    from sigmd.screening.dialects import TARGETS, SharedSQL

    if dialect not in TARGETS:
        raise ValueError(f"engine: no SQL dialect {dialect!r} (known: {SOURCE_DIALECT}, {', '.join(TARGETS)})")
    written = sqlglot.transpile(
        query, read=SharedSQL, write=TARGETS[dialect], unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    if len(written) != 1:
        raise ValueError(f"engine: expected one SQL statement, got {len(written)}")
    return str(written[0])
