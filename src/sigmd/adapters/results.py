"""Building core lab results from reported fields, shared by every input format."""

from __future__ import annotations

import math
from datetime import date

from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Comparator, LabRange, LabResult, Quantity
from sigmd.core.units import UnitError
from sigmd.core.values import ValueFormatError, parse_reported_value, shared_pattern
from sigmd.errors import InputError


def resolve_analyte(text: str, field: str, knowledge: Knowledge) -> Analyte:
    """An analyte from its name (`IgM`, `immunoglobulin M`) or LOINC code (`2472-9`)."""
    key = str(text).strip()
    if key in knowledge.loinc:
        return knowledge.loinc[key]
    if key.lower() in knowledge.analyte_names:
        return knowledge.analyte_names[key.lower()]
    known = ", ".join(a.value for a in Analyte)
    raise InputError(field, text, f"is not a known analyte (use {known} or a LOINC code such as 2472-9)")


EARLIEST_DATE = date(1900, 1, 1)
"""sigmd default: no date before this is read (older than any living patient's birth and any immunoglobulin assay)."""
LATEST_DATE = date(2199, 12, 31)
"""sigmd default: no date after this is read, so that date arithmetic in the core (ages, follow-up dates) cannot
overflow. A result dated after the as-of date is read and then listed as not used by the core."""


DATE_PATTERN = (
    r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?\s*$"
)
"""An ISO date (YYYY-MM-DD), or an ISO date-time whose date part (group 1) is read; shared with the SQL engines.
Python's `date.fromisoformat` alone also reads forms sigmd does not (`19800101`, the week date `1980-W01-1`)."""
_DATE = shared_pattern(DATE_PATTERN)


def parse_date(text: str, field: str) -> date:
    """An ISO date, or the date part of an ISO date-time (`DATE_PATTERN`), between `EARLIEST_DATE` and
    `LATEST_DATE`."""
    match = _DATE.match(str(text))
    try:
        if match is None:
            raise ValueError
        parsed = date.fromisoformat(match.group(1))
    except ValueError:
        raise InputError(field, text, "is not an ISO date (YYYY-MM-DD)") from None
    return check_date(parsed, field, text)


def check_date(value: date, field: str, reported: object = None) -> date:
    """Refuse a date outside the range sigmd reads (`EARLIEST_DATE` to `LATEST_DATE`)."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InputError(
            field,
            value.isoformat() if reported is None else reported,
            f"is outside the dates sigmd reads ({EARLIEST_DATE} to {LATEST_DATE})",
        )
    return value


def build_result(
    *,
    analyte: Analyte,
    value: str | float | int,
    unit: str,
    collected: date,
    knowledge: Knowledge,
    field: str,
    comparator: str | None = None,
    range_low: float | str | None = None,
    range_high: float | str | None = None,
    range_unit: str | None = None,
    range_text: str | None = None,
    origin: str = "",
) -> tuple[LabResult, list[str]]:
    """Check and convert one reported result; returns the result and any warnings about it."""
    warnings: list[str] = []
    check_date(collected, f"{field}.date")
    try:
        parsed_comparator, number = parse_reported_value(value)
    except ValueFormatError as error:
        raise InputError(f"{field}.value", value, str(error)) from None
    except OverflowError:
        raise InputError(f"{field}.value", value, "is too large a number") from None
    if comparator not in (None, ""):
        try:
            separate = Comparator(str(comparator).strip())
        except ValueError:
            raise InputError(f"{field}.comparator", comparator, "is not one of <, <=, =, >=, >") from None
        if parsed_comparator is not Comparator.EQ and parsed_comparator is not separate:
            raise InputError(f"{field}.comparator", comparator, f"contradicts the comparator in the value {value!r}")
        parsed_comparator = separate
    try:
        unit_def = knowledge.units.find(unit)
        factor = unit_def.factor(analyte)
    except UnitError as error:
        raise InputError(
            f"{field}.unit", unit, str(error).replace(f"unit {unit!r}", "").strip() or "is not a known unit"
        ) from None
    if not unit_def.verified:
        warnings.append(
            f"{analyte} on {collected} was converted from {unit} with a factor that is not verified: "
            f"{unit_def.source.title} ({unit_def.source.note})"
        )
    lab_range = None
    if range_low in (None, "") and range_high in (None, "") and range_text and str(range_text).strip():
        warnings.append(
            f"{analyte} on {collected}: the laboratory range is given only as text ({str(range_text)[:60]!r}), "
            "without numeric limits, so it was not used; the reference set judges the result (give the range's low "
            "and high limits to use it)"
        )
    if range_low not in (None, "") or range_high not in (None, ""):
        range_unit_text = range_unit or unit
        try:
            range_factor = knowledge.units.find(range_unit_text).factor(analyte)
        except UnitError:
            raise InputError(f"{field}.reference_range.unit", range_unit_text, "is not a known unit") from None
        low = _range_bound(range_low, f"{field}.reference_range.low")
        high = _range_bound(range_high, f"{field}.reference_range.high")
        if low is not None and high is not None and low >= high:
            raise InputError(
                f"{field}.reference_range", f"{range_low}-{range_high}", "has a low limit not below its high limit"
            )
        text = (
            range_text or f"{'' if low is None else f'{low:g}'}-{'' if high is None else f'{high:g}'} {range_unit_text}"
        )
        lab_range = LabRange(
            low_mg_dl=None if low is None else low * range_factor,
            high_mg_dl=None if high is None else high * range_factor,
            text=text,
        )
        if low is None:
            warnings.append(
                f"{analyte} on {collected}: the laboratory range has no low limit, so the reference set is used"
            )
    converted = number * factor
    if not math.isfinite(converted):
        raise InputError(f"{field}.value", value, f"is too large a number: in mg/dL it is {converted}")
    if lab_range is not None and not all(
        math.isfinite(bound) for bound in (lab_range.low_mg_dl, lab_range.high_mg_dl) if bound is not None
    ):
        raise InputError(f"{field}.reference_range", lab_range.text, "is too large a number once converted to mg/dL")
    result = LabResult(
        analyte=analyte,
        collected=collected,
        quantity=Quantity(converted, parsed_comparator),
        reported_value=str(value),
        reported_unit=unit,
        lab_range=lab_range,
        origin=origin or field,
    )
    return result, warnings


def _range_bound(value: float | str | None, field: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return parse_reported_value(value)[1]
    except ValueFormatError as error:
        raise InputError(field, value, str(error)) from None
    except OverflowError:
        raise InputError(field, value, "is too large a number") from None
