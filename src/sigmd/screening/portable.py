"""Spellings for the shared SQL that mean the same on DuckDB, Spark and PostgreSQL.

Screening's SQL is written once, in DuckDB's dialect, and sqlglot rewrites it for the other engines
(`sigmd.screening.engine.transpile`). sqlglot translates syntax and function names; it does not
translate what a regular expression means, what text a cast accepts or how arithmetic overflows,
so the shared SQL only uses forms on which the engines already agree. These helpers write those
forms (as DuckDB SQL) and refuse anything else when the SQL is built:

- Regular expressions are read by RE2 (DuckDB), java.util.regex (Spark) and PostgreSQL's ARE.
  `regex` keeps to their common part: `\\s` is spelled as RE2's class `[\\t\\n\\f\\r ]` (Java and
  PostgreSQL also count the vertical tab, PostgreSQL possibly more); `\\d`, `\\w`, `\\b`, `.`,
  lookaround, lazy quantifiers, inline flags and POSIX classes are refused. A final `$` is
  "end of text" in RE2 and PostgreSQL but "end, or before a final line terminator" in Java, so
  `matches` and `extract` append a sentinel character to the text and the pattern (`text || '!'`
  against `...!$`): the text then never ends with a line terminator and `$` means the end for all
  three. Capture groups should have one way to match (PostgreSQL picks the longest match where RE2
  and Java pick the first alternative).
- `try_cast` from text accepts different forms on each engine (DuckDB reads '12.5' as the integer 13,
  Spark reads '2020' as a date, PostgreSQL has no try_cast and sigmd stands in for it). The shared
  SQL casts only canonical text: `to_integer`, `to_double` and `to_date` check the form first.
- Floating-point overflow and underflow give infinity or zero in DuckDB, Spark and Python but raise
  an error in PostgreSQL, which would end the run; `product` and `exponential` never overflow or
  underflow on any engine and give the IEEE result (see each for the exact cases).
"""

from __future__ import annotations

from sigmd.core.values import SPACE_CLASS

RE2_SPACE = SPACE_CLASS
"""What `\\s` matches in RE2 (and so in DuckDB): tab, line feed, form feed, carriage return, space."""
SENTINEL = "!"
"""Appended to text and pattern for a match anchored at the end (see the module docstring)."""
_ESCAPES = set("tnfr") | set(r".\-+*?()[]{}|^$/")
"""Escapes that mean the same in the three engines: control characters and quoted punctuation."""
INFINITY = "CAST('Infinity' AS DOUBLE)"
TWO_TO_MINUS_64 = "CAST('5.421010862427522e-20' AS DOUBLE)"
TWO_TO_64 = "CAST('1.8446744073709552e+19' AS DOUBLE)"
TWO_TO_960 = "CAST('9.7453140114e+288' AS DOUBLE)"
TWO_TO_MINUS_1011 = "CAST('4.5569512622227484e-305' AS DOUBLE)"
LOWEST_EXPONENT = "CAST('-745.1332191019411' AS DOUBLE)"
"""The least double whose `exp` is not 0 (the next one down is below ln(2**-1075), where exp rounds to 0)."""


def literal(text: str) -> str:
    """`text` as a string literal of the shared SQL (DuckDB: a quote is doubled, a backslash is itself)."""
    return "'" + text.replace("'", "''") + "'"


def regex(pattern: str) -> str:
    """`pattern` spelled so that RE2, Java and PostgreSQL read it alike; ValueError for what they read differently."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        ahead = pattern[index + 1] if index + 1 < len(pattern) else ""
        if char == "\\":
            if ahead == "s":
                out.append(RE2_SPACE if in_class else f"[{RE2_SPACE}]")
            elif ahead in _ESCAPES and ahead:
                out.append(char + ahead)
            else:
                raise ValueError(f"regex {pattern!r}: \\{ahead} does not mean the same in RE2, Java and PostgreSQL")
            index += 2
            continue
        if in_class:
            if char == "[":
                raise ValueError(
                    f"regex {pattern!r}: '[' inside a class (POSIX classes, nested classes) is not portable"
                )
            in_class = char != "]"
        elif char == "[":
            in_class = True
            start = index + 1 + (pattern[index + 1 : index + 2] == "^")
            if pattern[start : start + 1] == "]":
                raise ValueError(f"regex {pattern!r}: ']' first in a class is not portable; escape it")
        elif char == "." or (char == "(" and ahead == "?" and pattern[index + 2 : index + 3] != ":"):
            raise ValueError(f"regex {pattern!r}: {char + ahead!r} does not mean the same in RE2, Java and PostgreSQL")
        elif char in "*+?}" and ahead == "?":
            raise ValueError(f"regex {pattern!r}: lazy quantifiers choose different matches in PostgreSQL")
        elif (char == "^" and index != 0) or (char == "$" and index != len(pattern) - 1):
            raise ValueError(f"regex {pattern!r}: anchors are portable only at the start (^) and the end ($)")
        out.append(char)
        index += 1
    if in_class:
        raise ValueError(f"regex {pattern!r}: unterminated class")
    return "".join(out)


def _anchored(text: str, pattern: str) -> tuple[str, str]:
    """(text, pattern) with the sentinel when the pattern is anchored at the end (see the module docstring)."""
    spelled = regex(pattern)
    if spelled.endswith("$") and not spelled.endswith("\\$"):
        return f"({text} || {literal(SENTINEL)})", literal(spelled[:-1] + SENTINEL + "$")
    return text, literal(spelled)


def matches(text: str, pattern: str) -> str:
    """Whether `pattern` matches (somewhere in) `text`; NULL when `text` is NULL."""
    subject, spelled = _anchored(text, pattern)
    return f"regexp_matches({subject}, {spelled})"


def extract(text: str, pattern: str, group: int) -> str:
    """Group `group` of the first match of `pattern` in `text`: '' when there is no match or the group took no
    part, NULL when `text` is NULL."""
    subject, spelled = _anchored(text, pattern)
    return f"regexp_extract({subject}, {spelled}, {int(group)})"


def remove(text: str, pattern: str) -> str:
    """`text` without every match of `pattern` (which must not be anchored at the end)."""
    spelled = regex(pattern)
    if spelled.endswith("$"):
        raise ValueError(f"regex {pattern!r}: remove() takes no end anchor")
    return f"regexp_replace({text}, {literal(spelled)}, '', 'g')"


def to_integer(text: str) -> str:
    """A BIGINT from text that is a whole number ('12', ' -3 ', '1980.0'); NULL for anything else or out of range."""
    digits = extract(text, r"^\s*([-+]?[0-9]+)(?:\.0*)?\s*$", 1)
    return f"try_cast(nullif({digits}, '') AS BIGINT)"


def to_double(text: str) -> str:
    """A DOUBLE from text that is a decimal number ('5', ' -0.5e3', '.5', '5.'), infinite or zero when out of
    range as IEEE rounding gives it; NULL for anything else (including 'NaN' and 'Infinity')."""
    number = extract(text, r"^\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$", 1)
    return f"try_cast(nullif({number}, '') AS DOUBLE)"


PLAIN_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""A date written YYYY-MM-DD and nothing else."""


def to_date(text: str) -> str:
    """A DATE from text that is exactly YYYY-MM-DD with a year from 0001 (there is no year 0 in the ISO dates
    Python reads); NULL for anything else, including days that do not exist."""
    return f"CASE WHEN {matches(text, PLAIN_DATE)} AND substr({text}, 1, 4) <> '0000' THEN try_cast({text} AS DATE) END"


def product(a: str, b: str) -> str:
    """`a * b` for a non-negative DOUBLE `a` and a factor `b` between 2**-60 and 2**60, +infinity when it overflows.

    Exactly IEEE's product, except that a product which rounds to the smallest subnormal from a tie or just
    above it is 0. Large `a` is scaled by 2**-64 (exact), so the overflow test needs no overflowing
    multiplication: round(a*b) is infinite exactly when round(a * 2**-64 * b) reaches 2**960. Tiny `a` is
    scaled by 2**64 in the same way to find the products that round to 0.
    """
    # Nested CASEs, not AND: PostgreSQL may evaluate the operands of AND in any order.
    return (
        f"CASE WHEN {a} > {TWO_TO_64} THEN CASE WHEN ({a} * {TWO_TO_MINUS_64}) * {b} >= {TWO_TO_960}"
        f" THEN {INFINITY} ELSE {a} * {b} END"
        f" WHEN {a} < {TWO_TO_MINUS_64} THEN CASE WHEN ({a} * {TWO_TO_64}) * {b} <= {TWO_TO_MINUS_1011}"
        f" THEN CAST(0 AS DOUBLE) ELSE {a} * {b} END"
        f" ELSE {a} * {b} END"
    )


def exponential(x: str) -> str:
    """`exp(x)` for x below 709 (no overflow), 0 where it rounds to 0 (PostgreSQL's exp raises an error there)."""
    return f"CASE WHEN {x} < {LOWEST_EXPONENT} THEN CAST(0 AS DOUBLE) ELSE exp({x}) END"
