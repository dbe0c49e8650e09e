"""Age- and sex-specific reference intervals and their lookup."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cached_property
from itertools import pairwise

from sigmd.core.ages import AgeSpec, ExactAge, age_in_years, day_horizon, describe_age
from sigmd.core.model import Analyte, LabRange, Patient, Sex
from sigmd.core.provenance import LABORATORY_RANGE, Source

MAX_AGE = AgeSpec.parse("120y")
CENTRAL_95 = "2.5th-97.5th percentile"
"""`ReferenceSet.percentiles` of a set that states its intervals are central 95% intervals."""


class SexScope(StrEnum):
    ANY = "any"
    FEMALE = "female"
    MALE = "male"


@dataclass(frozen=True)
class ReferenceInterval:
    """One published row: an analyte's interval for an age band (and sex), in mg/dL."""

    set_id: str
    analyte: Analyte
    sex: SexScope
    age_from: AgeSpec
    age_to: AgeSpec
    lower_mg_dl: float | None
    upper_mg_dl: float | None
    published: str
    """The interval as published, in its own unit (for example `0.5-1.9 g/L`)."""
    source: Source
    gap_fill: str = ""
    note: str = ""
    published_from: AgeSpec | None = None
    """The band's published start when sigmd applies it only from a later age (`age_from`); see `AgeCoverage`."""

    def covers(self, patient: Patient, on: date) -> bool:
        return self.covers_age(ExactAge.between(patient.birth_date, on))

    def covers_age(self, age: ExactAge) -> bool:
        return self.age_from.reached_at(age) and not self.age_to.reached_at(age)

    @property
    def band(self) -> str:
        if self.published_from is None:
            return f"{self.age_from} to {self.age_to}"
        return f"{self.age_from} to {self.age_to} (published from {self.published_from})"


@dataclass(frozen=True)
class AgeCoverage:
    """The youngest age at which a reference set's intervals for one analyte were truly measured.

    A first band such as "0-5 months" that was not measured on newborns does not describe the first
    weeks of life (maternal IgG, a newborn's low IgM); it is applied only from `applies_from`, and
    younger results are not judged under the set.
    """

    analyte: Analyte
    applies_from: AgeSpec
    source: Source
    note: str


def apply_coverage(
    rows: tuple[ReferenceInterval, ...], coverage: tuple[AgeCoverage, ...]
) -> tuple[ReferenceInterval, ...]:
    """The rows with every band that starts before its analyte's coverage age starting there instead.

    Gap-fill rows that end by the coverage age (published neonatal bands from another source, marked
    `gap_fill`) keep their ages: they are how a set covers the weeks its own first band was not measured on.
    Raises ValueError for any other band that ends before the coverage age (it would apply at no age) and
    for bands of one analyte and sex scope that overlap once moved.
    """
    starts = {c.analyte: c.applies_from for c in coverage}
    applied: list[ReferenceInterval] = []
    for row in rows:
        start = starts.get(row.analyte)
        if start is None or not row.age_from < start or (row.gap_fill and not start < row.age_to):
            applied.append(row)
            continue
        if not start < row.age_to:
            raise ValueError(
                f"{row.analyte} band {row.age_from} to {row.age_to} of set '{row.set_id}' ends before the age "
                f"{start} from which the set applies"
            )
        applied.append(replace(row, age_from=start, published_from=row.age_from))
    scopes: dict[tuple[Analyte, SexScope], list[ReferenceInterval]] = {}
    for row in applied:
        scopes.setdefault((row.analyte, row.sex), []).append(row)
    for bands in scopes.values():
        ordered = sorted(bands, key=lambda r: r.age_from)
        for before, after in pairwise(ordered):
            if after.age_from < before.age_to:
                raise ValueError(
                    f"{after.analyte} bands {before.band} and {after.band} of set '{after.set_id}' overlap"
                )
    return tuple(applied)


@dataclass(frozen=True)
class ReferenceSet:
    id: str
    name: str
    version: str
    region: str
    description: str
    percentiles: str
    gap_fills: tuple[str, ...]
    limitations: tuple[str, ...]
    intervals: tuple[ReferenceInterval, ...]
    coverage: tuple[AgeCoverage, ...] = ()
    """From which age each analyte's intervals apply (see `AgeCoverage`); the intervals already start there."""

    @property
    def states_central_95(self) -> bool:
        """Whether the set states that its intervals are central 95% intervals, which the log-normal fit assumes.

        Most sets do not say (their intervals are read as central 95%, an assumption): a z-score from them would
        rest on that reading, so research outputs give z-scores only under sets that state it."""
        return self.percentiles == CENTRAL_95

    def coverage_of(self, analyte: Analyte) -> AgeCoverage | None:
        return next((c for c in self.coverage if c.analyte is analyte), None)

    @cached_property
    def analytes(self) -> frozenset[Analyte]:
        return frozenset(interval.analyte for interval in self.intervals)

    @cached_property
    def _by_analyte(self) -> dict[Analyte, tuple[ReferenceInterval, ...]]:
        return {a: tuple(i for i in self.intervals if i.analyte is a) for a in self.analytes}

    @cached_property
    def _by_analyte_and_sex(self) -> dict[tuple[Analyte, str], tuple[ReferenceInterval, ...]]:
        """Intervals by analyte and sex scope, each in the set's own order."""
        found: dict[tuple[Analyte, str], list[ReferenceInterval]] = {}
        for interval in self.intervals:
            found.setdefault((interval.analyte, interval.sex.value), []).append(interval)
        return {key: tuple(rows) for key, rows in found.items()}

    @cached_property
    def _applied(self) -> dict[int, AppliedInterval]:
        """Each interval as applied (built once: the description is the same every time)."""
        return {id(row): AppliedInterval.from_row(row, self) for row in self.intervals}

    def applied(self, row: ReferenceInterval) -> AppliedInterval:
        """`row` of this set as the interval applied to a result."""
        return self._applied.get(id(row)) or AppliedInterval.from_row(row, self)

    @cached_property
    def _day_horizon(self) -> int | None:
        return day_horizon(spec for row in self.intervals for spec in (row.age_from, row.age_to))

    @cached_property
    def _covering_cache(self) -> dict[tuple[Analyte, str, int, int], ReferenceInterval | None]:
        return {}

    def interval_at(self, analyte: Analyte, sex: str, exact: ExactAge) -> ReferenceInterval | None:
        """The first sex-specific interval covering the age, else the first pooled one (in the set's order)."""
        horizon = self._day_horizon
        key = None if horizon is None else (analyte, sex, exact.months, exact.days if exact.days < horizon else -1)
        if key is not None and key in self._covering_cache:
            return self._covering_cache[key]
        found = None
        for scope in (sex, SexScope.ANY.value):
            found = next((r for r in self._by_analyte_and_sex.get((analyte, scope), ()) if r.covers_age(exact)), None)
            if found is not None:
                break
        if key is not None:
            self._covering_cache[key] = found
        return found

    def lookup(self, analyte: Analyte, patient: Patient, on: date) -> IntervalLookup:
        """Find the interval that applies to this patient on this date, or say why none does."""
        if on < patient.birth_date:
            return IntervalLookup(None, f"the result date {on} is before the birth date")
        exact = ExactAge.between(patient.birth_date, on)
        if MAX_AGE.reached_at(exact):
            years = age_in_years(patient.birth_date, on)
            return IntervalLookup(None, f"no reference interval exists beyond 120 years (age {years:.0f})")
        found = self.interval_at(analyte, patient.sex.value, exact)
        if found is not None:
            return IntervalLookup(found, "")
        if not any(i.covers_age(exact) for i in self._by_analyte.get(analyte, ())):
            coverage = self.coverage_of(analyte)
            if analyte not in self.analytes:
                reason = f"reference set '{self.id}' has no intervals for {analyte}"
            elif coverage is not None and not coverage.applies_from.reached_at(exact):
                reason = (
                    f"no interval applies at age {describe_age(exact)}: reference set '{self.id}' has no {analyte} "
                    f"interval measured at this age (its {analyte} intervals apply from {coverage.applies_from}: "
                    f"{coverage.note})"
                )
            else:
                years = age_in_years(patient.birth_date, on)
                reason = f"reference set '{self.id}' has no {analyte} interval at age {years:.2f} years"
            return IntervalLookup(None, reason)
        if patient.sex in (Sex.OTHER, Sex.UNKNOWN):
            return IntervalLookup(
                None,
                f"reference set '{self.id}' publishes only sex-specific {analyte} intervals at this age "
                f"and the patient's sex is {patient.sex}",
            )
        return IntervalLookup(None, f"reference set '{self.id}' has no {analyte} interval for sex {patient.sex}")


@dataclass(frozen=True)
class IntervalLookup:
    interval: ReferenceInterval | None
    reason_missing: str


@dataclass(frozen=True)
class AppliedInterval:
    """The interval actually used for a result: a reference-set row or the laboratory's own range."""

    lower_mg_dl: float | None
    upper_mg_dl: float | None
    description: str
    source: Source
    from_laboratory: bool
    row: ReferenceInterval | None = None
    published: str = ""
    """The limits as published (`37-286 mg/dL`, the laboratory's `40-230 mg/dL`)."""
    set_id: str = ""

    @property
    def origin(self) -> str:
        """Where the limits come from, for naming the limit that decided a verdict."""
        if self.from_laboratory:
            return f"the laboratory's own range {self.published}"
        return f"the age-matched interval {self.published} of reference set '{self.set_id}'"

    @staticmethod
    def from_row(row: ReferenceInterval, reference_set: ReferenceSet) -> AppliedInterval:
        gap = f"; gap fill: {row.gap_fill}" if row.gap_fill else ""
        return AppliedInterval(
            lower_mg_dl=row.lower_mg_dl,
            upper_mg_dl=row.upper_mg_dl,
            description=(
                f"{row.published} for age {row.band}"
                f"{'' if row.sex is SexScope.ANY else f' ({row.sex})'}, reference set '{reference_set.id}'{gap}"
            ),
            source=row.source,
            from_laboratory=False,
            row=row,
            published=row.published,
            set_id=reference_set.id,
        )

    @staticmethod
    def from_lab_range(lab_range: LabRange) -> AppliedInterval:
        return AppliedInterval(
            lower_mg_dl=lab_range.low_mg_dl,
            upper_mg_dl=lab_range.high_mg_dl,
            description=f"{lab_range.text} (the reporting laboratory's own range, used in preference to the reference set)",
            source=LABORATORY_RANGE,
            from_laboratory=True,
            published=lab_range.text,
        )
