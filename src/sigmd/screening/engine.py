"""The engine protocol: what screening asks of a SQL engine (DuckDB by default, Spark optionally)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

WHITESPACE = r"\s"
RE2_SPACE = r"[\t\n\f\r ]"
"""What `\\s` matches in RE2 (DuckDB). Java regex (Spark) also matches the vertical tab, so Spark gets this class."""


@dataclass(frozen=True)
class Dialect:
    """The few spellings in which the engines' SQL differs.

    Both engines share `||`, `count_if`, `bool_and`, `try_cast`, `least`, `last_day`, `year`/`month`/`day`,
    `DATE 'YYYY-MM-DD'`, `exp`/`ln` and `regexp_extract`; they differ in string literals (Spark reads a
    backslash as an escape), regular-expression matching, `regexp_replace` flags and day differences.
    """

    name: str
    string_type: str
    regex_flags: str
    """Extra argument to regexp_replace for 'replace all' (DuckDB needs 'g')."""

    def text(self, value: str) -> str:
        """`value` as an SQL string literal."""
        if self.name == "duckdb":
            return "'" + value.replace("'", "''") + "'"
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def regex(self, pattern: str) -> str:
        """A regular expression as a literal that means what RE2 (DuckDB, Python for these patterns) means."""
        return self.text(pattern if self.name == "duckdb" else pattern.replace(WHITESPACE, RE2_SPACE))

    def matches(self, text: str, pattern: str) -> str:
        if self.name == "duckdb":
            return f"regexp_matches({text}, {self.regex(pattern)})"
        return f"({text} RLIKE {self.regex(pattern)})"

    def extract(self, text: str, pattern: str, group: int) -> str:
        """Group `group` of the first match of `pattern` in `text` ('' when the group did not take part)."""
        return f"regexp_extract({text}, {self.regex(pattern)}, {int(group)})"

    def days_between(self, start: str, end: str) -> str:
        return f"date_diff('day', {start}, {end})" if self.name == "duckdb" else f"datediff({end}, {start})"

    def strip_spaces(self, text: str) -> str:
        return f"regexp_replace({text}, {self.regex(WHITESPACE)}, ''{self.regex_flags})"


DUCKDB = Dialect("duckdb", "VARCHAR", ", 'g'")
SPARK = Dialect("spark", "STRING", "")


class Engine(Protocol):
    """A SQL engine that screening drives. Tables are exchanged as Arrow tables."""

    dialect: Dialect

    def load(self, name: str, path: Path, file_format: str, columns: dict[str, str]) -> None:
        """Expose a Parquet file as a view `name` whose columns are renamed as `columns` maps canonical name ->
        source name (NULL when the file lacks it), every column read as text, plus a 1-based `row_no` (BIGINT)
        that is the row's position in the file, the same for every engine. Other formats raise ValueError."""

    def register(self, name: str, table: Any) -> None:
        """Expose an Arrow table as a view."""

    def materialise(self, name: str, sql: str) -> None:
        """Compute a query once and keep it as table `name` for later queries."""

    def fetch(self, sql: str) -> Any:
        """Run a query and return its result as an Arrow table."""

    def export(self, sql: str, path: Path, file_format: str) -> None:
        """Write a query's result to one Parquet or CSV (with header) file, without holding it all in memory."""

    def close(self) -> None: ...
