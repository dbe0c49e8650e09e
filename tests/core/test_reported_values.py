"""Reported values too large to be concentrations are refused with a reason, never a crash."""

from __future__ import annotations

import pytest

from sigmd.core.values import ValueFormatError, parse_reported_value


def test_an_integer_too_large_for_a_float_is_refused_as_too_large() -> None:
    """A value of 10**400 (as a JSON integer) is refused as too large to be a concentration."""
    with pytest.raises(ValueFormatError, match="too large"):
        parse_reported_value(10**400)


def test_an_ordinary_integer_is_read() -> None:
    """A value of 400 (as a JSON integer) is read as 400."""
    assert parse_reported_value(400)[1] == 400.0


def test_a_long_run_of_digits_that_is_not_a_number_is_refused() -> None:
    """Ninety thousand digits followed by a letter are not a number (the pattern fails without backtracking)."""
    with pytest.raises(ValueFormatError, match="not a number"):
        parse_reported_value("9" * 90_000 + "x")
