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
from itertools import repeat
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


LIMIT_FIELDS = ("set_id", "analyte", "sex", "months", "day_key", "limit_mg_dl")
"""A limit table: the low limit, in mg/dL, for one age key, sex and analyte under one reference set (or profile
cut-off). `day_key` is the age in whole days when below the day horizon, else -1."""
INTERVAL_FIELDS = (
    "set_id",
    "analyte",
    "sex",
    "months",
    "day_key",
    "lower_mg_dl",
    "upper_mg_dl",
    "minus_2sd",
    "lower_limit",
)
"""An interval table: the interval of one age key, sex and analyte under one reference set, with both low limits a
profile takes (mean - 2 SD and the lower limit)."""
KEY_FIELDS = ("months", "day_key")


class KeyGroup(NamedTuple):
    """Age keys that fall in the same bands: one age of the group (to ask the core with) and the keys it stands for."""

    age: ExactAge
    months: list[int]
    day_keys: list[int]


class Columns:
    """A table built column by column, a group of age keys at a time: the keys of a group share every other value.

    (Built this way rather than as a row per key, since a content table has up to about 170,000 rows and is built on
    every run.)"""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.data: dict[str, list[object]] = {name: [] for name in fields}
        self._shared = tuple(name for name in fields if name not in KEY_FIELDS)

    def add(self, group: KeyGroup, *shared: object) -> None:
        """The group's keys, each with the `shared` values of the fields other than the keys, in field order."""
        if len(shared) != len(self._shared):
            raise ValueError(f"expected values for {', '.join(self._shared)}, got {len(shared)}")
        count = len(group.months)
        self.data["months"].extend(group.months)
        self.data["day_key"].extend(group.day_keys)
        for name, value in zip(self._shared, shared, strict=True):
            self.data[name].extend(repeat(value, count))


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


def key_groups(specs: list[AgeSpec], horizon: int) -> list[KeyGroup]:
    """Every age key, grouped by the boundaries among `specs` it has reached: ages in one group fall in the same band
    of every boundary, so the core is asked once per group."""
    month_marks = sorted({s.months for s in specs if s.months})
    day_marks = sorted({s.days for s in specs if s.days})
    groups: dict[tuple[int, int], KeyGroup] = {}
    for months, day_key, age in age_keys(horizon):
        reached = (bisect_right(month_marks, age.months), bisect_right(day_marks, age.days))
        group = groups.setdefault(reached, KeyGroup(age, [], []))
        group.months.append(months)
        group.day_keys.append(day_key)
    return list(groups.values())


def age_groups(reference_set: ReferenceSet, horizon: int) -> list[KeyGroup]:
    """The age keys grouped by the set's band boundaries (`key_groups`)."""
    return key_groups([s for i in reference_set.intervals for s in (i.age_from, i.age_to)], horizon)


def set_limits(
    reference_set: ReferenceSet,
    profile: RuleProfile,
    horizon: int,
    analytes: tuple[Analyte, ...] = tuple(Analyte),
    into: Columns | None = None,
) -> Columns:
    """Every (age key, sex, analyte) of a reference set with the low limit the core would apply (`LIMIT_FIELDS`),
    added to `into` when given."""
    limits = into if into is not None else Columns(LIMIT_FIELDS)
    groups = age_groups(reference_set, horizon)
    for analyte in analytes:
        if analyte not in reference_set.analytes:
            continue
        for sex in SEXES:
            for group in groups:
                row = reference_set.interval_at(analyte, sex, group.age)
                limit = None if row is None else interval_limit(row, profile)
                if limit is not None:
                    limits.add(group, reference_set.id, analyte.value, sex, limit)
    return limits


def set_intervals(reference_set: ReferenceSet, horizon: int, into: Columns | None = None) -> Columns:
    """Every (age key, sex, analyte) of a reference set with the interval the core applies there (`INTERVAL_FIELDS`),
    added to `into` when given."""
    rows = into if into is not None else Columns(INTERVAL_FIELDS)
    groups = age_groups(reference_set, horizon)
    for analyte in sorted(reference_set.analytes):
        for sex in SEXES:
            for group in groups:
                row = reference_set.interval_at(analyte, sex, group.age)
                if row is None:
                    continue
                lower, upper = row.lower_mg_dl, row.upper_mg_dl
                fit = (
                    LogNormalFit.from_interval(lower, upper).minus_2sd
                    if lower and upper and 0 < lower < upper
                    else None
                )
                floor = lower if lower is not None and lower > 0 else None
                rows.add(group, reference_set.id, analyte.value, sex, lower, upper, fit, floor)
    return rows


def cutoff_limits(profile: RuleProfile, horizon: int, into: Columns | None = None) -> Columns:
    """A profile's absolute IgM cut-offs by age key, as `applicable_cutoff` picks them (`LIMIT_FIELDS`; none when it
    has none), added to `into` when given."""
    limits = into if into is not None else Columns(LIMIT_FIELDS)
    specs = [s for c in profile.igm_cutoffs for s in (c.age_from, c.age_to)]
    for group in key_groups(specs, horizon) if profile.igm_cutoffs else []:
        age = group.age
        cutoff = next(
            (c for c in profile.igm_cutoffs if c.age_from.reached_at(age) and not c.age_to.reached_at(age)), None
        )
        if cutoff is not None:
            limits.add(group, profile.id, Analyte.IGM.value, "any", cutoff.below_mg_dl)
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
