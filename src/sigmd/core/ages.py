"""Calendar ages: exact band boundaries such as "5mo" or "18y" measured from a birth date."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

_SPEC = re.compile(r"^(\d+)(d|w|mo|y)$")
_DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True, order=True)
class AgeSpec:
    """An age written the way reference tables publish it: days, weeks, calendar months or years."""

    months: int
    days: int

    @staticmethod
    def parse(text: str) -> AgeSpec:
        match = _SPEC.match(text.strip())
        if match is None:
            raise ValueError(f"age {text!r} is not of the form 14d, 2w, 5mo or 18y")
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "y":
            return AgeSpec(months=12 * amount, days=0)
        if unit == "mo":
            return AgeSpec(months=amount, days=0)
        if unit == "w":
            return AgeSpec(months=0, days=7 * amount)
        return AgeSpec(months=0, days=amount)

    def reached_on(self, birth_date: date) -> date:
        """The date on which someone born on `birth_date` reaches this age."""
        return add_months(birth_date, self.months) + timedelta(days=self.days)

    def reached_at(self, age: ExactAge) -> bool:
        """Whether someone of exact age `age` has reached this age; equal to `has_reached`, without date arithmetic."""
        if self.days == 0:
            return age.months >= self.months
        if self.months == 0:
            return age.days >= self.days
        return has_reached(age.birth_date, age.on, self)

    @property
    def approx_years(self) -> float:
        return self.months / 12 + self.days / _DAYS_PER_YEAR

    def __str__(self) -> str:
        if not self.days and not self.months:
            return "birth"
        if self.days and not self.months:
            amount, unit = (self.days // 7, "week") if self.days % 7 == 0 else (self.days, "day")
        elif self.months % 12 == 0:
            amount, unit = self.months // 12, "year"
        else:
            amount, unit = self.months, "month"
        return f"{amount} {unit}{'' if amount == 1 else 's'}"


def day_horizon(specs: Iterable[AgeSpec]) -> int | None:
    """The largest of these ages written in days, or None when one of them mixes months and days.

    From that age on every age written in days has been reached, so which of these ages someone has
    reached depends on their whole months alone: (whole months, days below the horizon) is a sound key.
    """
    found = list(specs)
    if any(spec.months and spec.days for spec in found):
        return None
    return max((spec.days for spec in found), default=0)


def add_months(start: date, months: int) -> date:
    """Add calendar months; a day that does not exist in the target month becomes its last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


@dataclass(frozen=True)
class ExactAge:
    """Someone's age on a date as whole calendar months and whole days, for comparing with many AgeSpecs."""

    birth_date: date
    on: date
    months: int
    days: int

    @staticmethod
    def between(birth_date: date, on: date) -> ExactAge:
        return _exact_age(birth_date, on)


@lru_cache(maxsize=65536)
def _exact_age(birth_date: date, on: date) -> ExactAge:
    """Cached: a result is looked up once per reference set and profile, always with the same two dates."""
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month
    if on.day < min(birth_date.day, calendar.monthrange(on.year, on.month)[1]):
        months -= 1
    return ExactAge(birth_date, on, months, (on - birth_date).days)


def describe_age(age: ExactAge) -> str:
    """An age as a clinician writes it: days under 2 months, months under 2 years, then years."""
    if age.months < 2:
        return f"{age.days} day{'' if age.days == 1 else 's'}"
    if age.months < 24:
        return f"{age.months} months"
    return f"{age_in_years(age.birth_date, age.on):.1f} years"


def age_in_years(birth_date: date, on: date) -> float:
    """Age in (fractional) years, for display and for rules stated in years."""
    return (on - birth_date).days / _DAYS_PER_YEAR


def has_reached(birth_date: date, on: date, age: AgeSpec) -> bool:
    return on >= age.reached_on(birth_date)


def birth_date_from_age(age_years: float, on: date) -> date:
    """Estimate a birth date from an age in years on a given date."""
    return on - timedelta(days=round(age_years * _DAYS_PER_YEAR))
