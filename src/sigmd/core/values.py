"""Reported values as laboratories write them: `30`, `<5`, `< 0.05`, `>=200`."""

from __future__ import annotations

import math
import re

from sigmd.core.model import Comparator

SPACE_CLASS = r"\t\n\f\r "
r"""What `\s` means in a pattern shared with the SQL engines: RE2's white space, which Java and PostgreSQL are given
too (`sigmd.screening.portable`); Python's own `\s` would also take no-break and other Unicode spaces."""
VALUE_PATTERN = r"^\s*(<=|>=|≤|≥|<|>|=)?\s*((?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$"
"""A reported value: optional comparator, then a non-negative decimal number (shared with the SQL engines).

The number's form is unambiguous (digits with an optional fraction, or a bare fraction), so a long run of digits
that fails to match fails in linear time."""


def shared_pattern(pattern: str) -> re.Pattern[str]:
    """A pattern shared with the SQL engines, compiled so that Python reads it as they do (`SPACE_CLASS`)."""
    return re.compile(pattern.replace(r"\s", f"[{SPACE_CLASS}]"))


_VALUE = shared_pattern(VALUE_PATTERN)
_SYMBOLS = {"≤": Comparator.LE, "≥": Comparator.GE}


class ValueFormatError(ValueError):
    """A reported value that is not a number with an optional comparator."""


def parse_reported_value(text: str | float | int) -> tuple[Comparator, float]:
    """Split a reported value into its comparator and number; reject negatives and non-numbers."""
    if isinstance(text, bool):
        raise ValueFormatError("is not a number")
    if isinstance(text, int | float):
        try:
            number = float(text)
        except OverflowError:
            raise ValueFormatError("is too large to be a concentration") from None
        comparator = Comparator.EQ
    else:
        match = _VALUE.match(text)
        if match is None:
            if "," in text:
                raise ValueFormatError("contains a comma; write decimals with a dot and no thousands separator")
            if text.strip().startswith("-"):
                raise ValueFormatError("is negative; a concentration cannot be below zero")
            raise ValueFormatError("is not a number (expected for example 30, '<5', '< 0.05' or '>200')")
        symbol, digits = match.group(1), match.group(2)
        comparator = _SYMBOLS[symbol] if symbol in _SYMBOLS else Comparator(symbol or "=")
        number = float(digits)
    if math.isnan(number) or math.isinf(number):
        raise ValueFormatError("is not a finite number")
    if number < 0:
        raise ValueFormatError("is negative; a concentration cannot be below zero")
    return comparator, number
