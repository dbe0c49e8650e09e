"""Age-matched low limits as lookup tables keyed by whole age, built with the core's own interval choice.

A row's age at collection is keyed by its whole calendar months and, below `content_day_horizon` days, its
whole days. Every band boundary in the bundled content is written in months or in days, and from
the horizon on every boundary in days has been reached, so one key always picks one interval. The
tables list, for every key, sex and analyte, the interval the core's `ReferenceSet.interval_at` picks
and the low limit the profile takes from it; the engines then match rows with an equality join.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from datetime import date
from typing import NamedTuple

from sigmd.core.ages import AgeSpec, ExactAge, day_horizon
from sigmd.core.intervals import MAX_AGE, ReferenceInterval, ReferenceSet
from sigmd.core.knowledge import Knowledge, LowLimitBasis, RuleProfile
from sigmd.core.model import Analyte, Sex
from sigmd.core.stats import LogNormalFit
from sigmd.core.units import fold_unit_spelling

SEXES = tuple(s.value for s in Sex)
"""The sexes the core knows; anything else in the input is rejected."""
RELATIVE_MARGIN = 1e-9
"""A value counts as plainly not low only when it clears the limit by this relative margin, so that
floating-point differences between SQL and Python can never put a low result on the fast path."""
_UNUSED_DATE = date(1, 1, 1)
"""ExactAge carries dates for boundaries that mix months and days; the tables refuse those, so no date is read."""


class Limit(NamedTuple):
    """The low limit, in mg/dL, for one age key, sex and analyte under one reference set (or profile cut-off)."""

    set_id: str
    analyte: str
    sex: str
    months: int
    day_key: int
    """The age in whole days when below the day horizon, else -1."""
    limit_mg_dl: float


def _boundaries(knowledge: Knowledge, profile: RuleProfile) -> list[AgeSpec]:
    specs = [s for r in knowledge.reference_sets.values() for i in r.intervals for s in (i.age_from, i.age_to)]
    return specs + [s for c in profile.igm_cutoffs for s in (c.age_from, c.age_to)]


def content_day_horizon(knowledge: Knowledge, profile: RuleProfile) -> int:
    """The day horizon of every reference set and the profile's cut-offs (see `sigmd.core.ages.day_horizon`);
    refuses content with a boundary that mixes months and days."""
    specs = _boundaries(knowledge, profile)
    horizon = day_horizon(specs)
    if horizon is None:
        mixed = next(s for s in specs if s.months and s.days)
        raise ValueError(f"age {mixed} mixes months and days; the screening engines cannot key such a band")
    return horizon


def age_keys(horizon: int) -> Iterator[tuple[int, int, ExactAge]]:
    """(months, day_key, an age with that key) for every key a real age below 120 years can have."""
    for days in range(horizon):
        # A calendar month is 28 to 31 days long, so an age of `days` days has between days // 31 and days // 28 months.
        for months in range(max(0, days // 31 - 1), days // 28 + 2):
            yield months, days, ExactAge(_UNUSED_DATE, _UNUSED_DATE, months, days)
    for months in range(MAX_AGE.months):
        yield months, -1, ExactAge(_UNUSED_DATE, _UNUSED_DATE, months, max(horizon, 28 * months))


def interval_limit(row: ReferenceInterval, profile: RuleProfile) -> float | None:
    """The profile's low limit from one interval, as `interpret` takes it: mean - 2 SD or the lower limit."""
    lower, upper = row.lower_mg_dl, row.upper_mg_dl
    if profile.low_limit is LowLimitBasis.MINUS_2SD:
        if lower is not None and upper is not None and 0 < lower < upper:
            return LogNormalFit.from_interval(lower, upper).minus_2sd
        return None
    return lower if lower is not None and lower > 0 else None


def age_groups(reference_set: ReferenceSet, horizon: int) -> list[tuple[ExactAge, list[tuple[int, int]]]]:
    """Every age key, grouped by the set's band boundaries reached: ages in one group fall in the same interval,
    so the core is asked once per group (an age of the group, with the (months, day_key) keys it stands for)."""
    specs = [s for i in reference_set.intervals for s in (i.age_from, i.age_to)]
    month_marks = sorted({s.months for s in specs if s.months})
    day_marks = sorted({s.days for s in specs if s.days})
    groups: dict[tuple[int, int], tuple[ExactAge, list[tuple[int, int]]]] = {}
    for months, day_key, age in age_keys(horizon):
        reached = (bisect_right(month_marks, age.months), bisect_right(day_marks, age.days))
        groups.setdefault(reached, (age, []))[1].append((months, day_key))
    return list(groups.values())


def set_limits(
    reference_set: ReferenceSet, profile: RuleProfile, horizon: int, analytes: tuple[Analyte, ...] = tuple(Analyte)
) -> list[Limit]:
    """Every (age key, sex, analyte) of a reference set with the low limit the core would apply."""
    groups = age_groups(reference_set, horizon)
    limits: list[Limit] = []
    for analyte in analytes:
        if analyte not in reference_set.analytes:
            continue
        for sex in SEXES:
            for age, keys in groups:
                row = reference_set.interval_at(analyte, sex, age)
                limit = None if row is None else interval_limit(row, profile)
                if limit is not None:
                    limits.extend(Limit(reference_set.id, analyte.value, sex, m, d, limit) for m, d in keys)
    return limits


class Interval(NamedTuple):
    """The interval of one age key, sex and analyte under one reference set, with both low limits a profile takes."""

    set_id: str
    analyte: str
    sex: str
    months: int
    day_key: int
    lower_mg_dl: float | None
    upper_mg_dl: float | None
    minus_2sd: float | None
    lower_limit: float | None


def set_intervals(reference_set: ReferenceSet, horizon: int) -> list[Interval]:
    """Every (age key, sex, analyte) of a reference set with the interval the core applies there."""
    groups = age_groups(reference_set, horizon)
    rows: list[Interval] = []
    for analyte in sorted(reference_set.analytes):
        for sex in SEXES:
            for age, keys in groups:
                row = reference_set.interval_at(analyte, sex, age)
                if row is None:
                    continue
                lower, upper = row.lower_mg_dl, row.upper_mg_dl
                fit = (
                    LogNormalFit.from_interval(lower, upper).minus_2sd
                    if lower and upper and 0 < lower < upper
                    else None
                )
                floor = lower if lower is not None and lower > 0 else None
                rows.extend(
                    Interval(reference_set.id, analyte.value, sex, m, d, lower, upper, fit, floor) for m, d in keys
                )
    return rows


def cutoff_limits(profile: RuleProfile, horizon: int) -> list[Limit]:
    """A profile's absolute IgM cut-offs by age key, as `applicable_cutoff` picks them (empty when it has none)."""
    limits: list[Limit] = []
    if not profile.igm_cutoffs:
        return limits
    for months, day_key, age in age_keys(horizon):
        cutoff = next(
            (c for c in profile.igm_cutoffs if c.age_from.reached_at(age) and not c.age_to.reached_at(age)), None
        )
        if cutoff is not None:
            limits.append(Limit(profile.id, Analyte.IGM.value, "any", months, day_key, cutoff.below_mg_dl))
    return limits


def unit_rows(knowledge: Knowledge) -> list[tuple[str, str, float]]:
    """(folded unit spelling, analyte, factor to mg/dL) for every unit spelling the core recognises."""
    rows = []
    for unit in knowledge.units.units:
        for spelling in dict.fromkeys(fold_unit_spelling(text) for text in (unit.ucum, *unit.aliases)):
            for analyte in Analyte:
                if unit.factor_to_mg_dl is not None or analyte in unit.per_analyte_factor:
                    rows.append((spelling, analyte.value, unit.factor(analyte)))
    return rows


def analyte_rows(knowledge: Knowledge) -> list[tuple[str, str]]:
    """(code or lower-case name, analyte) for every LOINC code and name the core recognises."""
    rows = [(code, analyte.value) for code, analyte in knowledge.loinc.items()]
    rows += [(name, analyte.value) for name, analyte in knowledge.analyte_names.items() if name not in knowledge.loinc]
    return rows
