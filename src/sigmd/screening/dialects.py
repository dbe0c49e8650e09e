"""sqlglot dialects that carry the shared SQL (DuckDB) to Spark and PostgreSQL with DuckDB's meaning.

`SharedSQL` reads DuckDB's dialect and, in addition, Spark's `/*+ ... */` join hints (which DuckDB reads as
comments). `SparkSQL` and `PostgresSQL` are sqlglot's Spark and PostgreSQL generators with the few
functions where sqlglot's output means something else than DuckDB's function (found by the parity tests
and the probes in tests/screening/test_transpile.py):

- Spark: `count_if` of no rows is NULL in DuckDB, 0 in Spark (written as a sum); `regexp_replace` replaces
  the first match in DuckDB unless given 'g', every match in Spark (only 'g' is accepted); a regular
  expression flag ('i') would be dropped (refused).
- PostgreSQL: there is no `try_cast` (sqlglot writes a plain cast, which raises on bad input); sigmd's
  own functions stand in for the types the shared SQL casts to (`postgres_engine.TRY_CAST_FUNCTIONS`).
  There is no `regexp_extract` (written with `regexp_match`). `year`, `month` and `day` are numeric
  (cast to BIGINT, as in DuckDB). `lower` and `upper` use the database's default collation, as sigmd's
  tables sort in "C" order. Hints are dropped. CTEs are MATERIALIZED (see `PostgresSQL.Generator.cte_sql`).

Anything sqlglot reports as unsupported raises `sqlglot.errors.UnsupportedError` (see `transpile`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.spark import Spark
from sqlglot.generators.postgres import PostgresGenerator
from sqlglot.generators.spark import SparkGenerator
from sqlglot.tokenizer_core import TokenType

Transform = Callable[..., str]

TRY_CAST_FUNCTIONS = {
    exp.DType.DOUBLE: "sigmd_try_double",
    exp.DType.DATE: "sigmd_try_date",
    exp.DType.BIGINT: "sigmd_try_bigint",
    exp.DType.INT: "sigmd_try_integer",
}
"""PostgreSQL's stand-ins for try_cast from text, created in `pg_temp` by the PostgreSQL engine."""


class SharedSQL(DuckDB):
    """DuckDB's dialect, reading `/*+ ... */` after SELECT as a hint (for Spark) rather than a comment."""

    class Tokenizer(DuckDB.Tokenizer):
        KEYWORDS: ClassVar[dict[str, TokenType]] = {**DuckDB.Tokenizer.KEYWORDS, "/*+": TokenType.HINT}


def _count_if_as_sum(self: Any, expression: exp.CountIf) -> str:
    """DuckDB's count_if: the number of rows where the condition is true, NULL over no rows."""
    case = exp.case().when(expression.this, exp.Literal.number(1)).else_(exp.Literal.number(0))
    return str(self.func("SUM", case))


def _spark_regexp_replace(self: Any, expression: exp.RegexpReplace) -> str:
    modifiers = expression.args.get("modifiers")
    if modifiers is None or modifiers.name != "g":
        self.unsupported("regexp_replace without 'g' replaces the first match in DuckDB but every match in Spark")
    replacement = expression.args["replacement"]
    if not replacement.is_string or "\\" in replacement.name or "$" in replacement.name:
        self.unsupported("regexp_replace: group references are spelled differently in DuckDB (\\1) and Spark ($1)")
    for name in ("position", "occurrence"):
        if expression.args.get(name) is not None:
            self.unsupported(f"regexp_replace: {name} is not carried to Spark")
    return str(self.func("REGEXP_REPLACE", expression.this, expression.expression, replacement))


def _spark_rlike(self: Any, expression: exp.RegexpLike) -> str:
    if expression.args.get("flag") is not None:
        self.unsupported("regexp_matches: flags would be dropped in Spark")
    return str(self.binary(expression, "RLIKE"))


class SparkSQL(Spark):
    class Generator(SparkGenerator):
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Transform]] = {
            **SparkGenerator.TRANSFORMS,
            exp.CountIf: _count_if_as_sum,
            exp.RegexpReplace: _spark_regexp_replace,
            exp.RegexpLike: _spark_rlike,
        }

        def cte_sql(self, expression: exp.CTE) -> str:
            """Spark has no [NOT] MATERIALIZED: the words are left out (Spark plans CTEs itself)."""
            if expression.args.get("materialized") is not None:
                expression = expression.copy()
                expression.set("materialized", None)
            return str(super().cte_sql(expression))


def _pg_try_cast(self: Any, expression: exp.TryCast) -> str:
    target = expression.to.this
    function = TRY_CAST_FUNCTIONS.get(target)
    if function is None:
        self.unsupported(f"try_cast to {expression.to.sql('duckdb')} has no stand-in in PostgreSQL")
        return str(self.cast_sql(expression))
    return f"pg_temp.{function}({self.sql(exp.cast(expression.this, exp.DType.TEXT))})"


def _pg_regexp_extract(self: Any, expression: exp.RegexpExtract) -> str:
    """DuckDB's regexp_extract: '' when there is no match or the group took no part, NULL for NULL text."""
    group = expression.args.get("group")
    if group is not None and not group.is_int:
        self.unsupported("regexp_extract: the group must be a number")
    for name in ("parameters", "position", "occurrence"):
        if expression.args.get(name) is not None:
            self.unsupported(f"regexp_extract: {name} is not carried to PostgreSQL")
    number = int(group.name) if group is not None and group.is_int else 0
    pattern = expression.expression
    if number == 0:  # regexp_match gives the groups, or the whole match only when there are none
        pattern = (
            exp.Literal.string(f"({pattern.name})")
            if pattern.is_string
            else exp.DPipe(
                this=exp.DPipe(this=exp.Literal.string("("), expression=pattern), expression=exp.Literal.string(")")
            )
        )
        number = 1
    text = self.sql(expression.this)
    found = f"(REGEXP_MATCH({text}, {self.sql(pattern)}))[{number}]"
    return f"CASE WHEN {text} IS NULL THEN NULL ELSE COALESCE({found}, '') END"


def _pg_date_part(part: str) -> Any:
    def sql(self: Any, expression: exp.Expr) -> str:
        return str(self.sql(exp.cast(exp.Extract(this=exp.var(part), expression=expression.this), exp.DType.BIGINT)))

    return sql


def _pg_with_default_collation(name: str) -> Any:
    def sql(self: Any, expression: exp.Expr) -> str:
        return str(
            self.func(name, exp.Collate(this=expression.this, expression=exp.Identifier(this="default", quoted=True)))
        )

    return sql


class PostgresSQL(Postgres):
    class Generator(PostgresGenerator):
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Transform]] = {
            **PostgresGenerator.TRANSFORMS,
            exp.TryCast: _pg_try_cast,
            exp.RegexpExtract: _pg_regexp_extract,
            exp.Year: _pg_date_part("YEAR"),
            exp.Month: _pg_date_part("MONTH"),
            exp.Day: _pg_date_part("DAY"),
            exp.Lower: _pg_with_default_collation("LOWER"),
            exp.Upper: _pg_with_default_collation("UPPER"),
        }

        def hint_sql(self, expression: exp.Hint) -> str:
            return ""

        def cte_sql(self, expression: exp.CTE) -> str:
            """Every CTE is MATERIALIZED unless it says otherwise: computed once, as a step of the query.

            PostgreSQL otherwise folds a CTE read once into the query that reads it, which can move a
            CTE's expensive expressions into a join's filter, evaluated once per candidate pair (measured:
            the rows query took over 10 minutes for 1,500 rows that way, under a second materialised)."""
            if expression.args.get("materialized") is None:
                expression = expression.copy()
                expression.set("materialized", True)
            return str(super().cte_sql(expression))


TARGETS: dict[str, type[Any]] = {"spark": SparkSQL, "postgres": PostgresSQL}
"""The dialect each engine's SQL is written in, by the engine's `dialect` name."""
