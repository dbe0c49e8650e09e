"""The engine protocol: what screening asks of a SQL engine (DuckDB by default, Spark optionally)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Dialect:
    """The few spellings in which the engines' SQL differs."""

    name: str
    string_type: str
    regex_flags: str
    """Extra argument to regexp_replace for 'replace all' (DuckDB needs 'g')."""

    def matches(self, text: str, pattern: str) -> str:
        return f"regexp_matches({text}, '{pattern}')" if self.name == "duckdb" else f"({text} RLIKE '{pattern}')"

    def days_between(self, start: str, end: str) -> str:
        return f"date_diff('day', {start}, {end})" if self.name == "duckdb" else f"datediff({end}, {start})"

    def strip_spaces(self, text: str) -> str:
        return f"regexp_replace({text}, '\\s', ''{self.regex_flags})"


DUCKDB = Dialect("duckdb", "VARCHAR", ", 'g'")
SPARK = Dialect("spark", "STRING", "")


class Engine(Protocol):
    """A SQL engine that screening drives. Tables are exchanged as Arrow tables."""

    dialect: Dialect

    def load(self, name: str, path: Path, file_format: str, columns: dict[str, str]) -> None:
        """Expose a CSV or Parquet file as a view `name` whose columns are renamed as `columns` maps
        canonical name -> source name, every column read as text, plus a 1-based `row_no`."""

    def register(self, name: str, table: Any) -> None:
        """Expose an Arrow table as a view."""

    def materialise(self, name: str, sql: str) -> None:
        """Compute a query once and keep it as table `name` for later queries."""

    def fetch(self, sql: str) -> Any:
        """Run a query and return its result."""

    def close(self) -> None: ...
