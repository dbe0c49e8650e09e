"""Clinical content exported as small tables for the engines: units, analytes, age bands and limits.

The figures come from `Knowledge` (reference sets, profiles, units); nothing is copied here. The
engines only pre-filter with these tables: the core decides every verdict that is not plainly normal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sigmd.core.ages import AgeSpec
from sigmd.core.intervals import ReferenceSet
from sigmd.core.knowledge import Knowledge, LowLimitBasis, RuleProfile
from sigmd.core.model import Analyte, Sex
from sigmd.core.stats import LogNormalFit
from sigmd.core.units import fold_unit_spelling

SEXES = tuple(s.value for s in Sex)
"""The sexes the core knows; anything else in the input is rejected."""
SEX_SPELLINGS = {"f": "female", "m": "male", "o": "other", "u": "unknown", "": "unknown"}
RELATIVE_MARGIN = 1e-9
"""A value counts as plainly not low only when it clears the limit by this relative margin, so that
floating-point differences between SQL and Python can never put a low result on the fast path."""


@dataclass(frozen=True)
class Band:
    """One age band of one analyte with its low limit under the chosen profile, in mg/dL."""

    set_id: str
    analyte: str
    sex: str
    from_months: int
    from_days: int
    to_months: int
    to_days: int
    lower_mg_dl: float | None
    upper_mg_dl: float | None
    limit_mg_dl: float | None


def _checked(spec: AgeSpec) -> tuple[int, int]:
    if spec.months and spec.days:
        raise ValueError(f"age {spec} mixes months and days; the screening engines cannot match such a band")
    return spec.months, spec.days


def interval_bands(reference_set: ReferenceSet, profile: RuleProfile) -> list[Band]:
    """Every interval of a reference set as a band with the profile's low limit (mean - 2 SD or lower limit)."""
    bands: list[Band] = []
    for interval in reference_set.intervals:
        lower, upper = interval.lower_mg_dl, interval.upper_mg_dl
        limit: float | None = None
        if profile.low_limit is LowLimitBasis.MINUS_2SD:
            if lower is not None and upper is not None and 0 < lower < upper:
                limit = LogNormalFit.from_interval(lower, upper).minus_2sd
        elif lower is not None and lower > 0:
            limit = lower
        (fm, fd), (tm, td) = _checked(interval.age_from), _checked(interval.age_to)
        bands.append(
            Band(reference_set.id, interval.analyte.value, interval.sex.value, fm, fd, tm, td, lower, upper, limit)
        )
    _check_no_overlap(bands)
    return bands


def cutoff_bands(profile: RuleProfile) -> list[Band]:
    """A profile's absolute IgM cut-offs as bands (empty for age-matched profiles)."""
    bands = []
    for cutoff in profile.igm_cutoffs:
        (fm, fd), (tm, td) = _checked(cutoff.age_from), _checked(cutoff.age_to)
        bands.append(Band(profile.id, Analyte.IGM.value, "any", fm, fd, tm, td, None, None, cutoff.below_mg_dl))
    return bands


def _check_no_overlap(bands: list[Band]) -> None:
    """Two bands of one analyte and sex must not overlap, or the engines' joins would double rows."""
    groups: dict[tuple[str, str], list[Band]] = {}
    for band in bands:
        groups.setdefault((band.analyte, band.sex), []).append(band)
    for (analyte, sex), rows in groups.items():
        spans = sorted(
            (AgeSpec(b.from_months, b.from_days).approx_years, AgeSpec(b.to_months, b.to_days).approx_years)
            for b in rows
        )
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end - 1e-9:
                raise ValueError(f"reference set {rows[0].set_id}: overlapping {analyte} bands for sex {sex}")


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
