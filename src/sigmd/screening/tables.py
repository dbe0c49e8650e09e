"""Small Arrow tables handed to the engines: content exported from `Knowledge`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigmd.core.knowledge import Knowledge, RuleProfile
from sigmd.core.model import Analyte
from sigmd.screening.bands import (
    INTERVAL_FIELDS,
    LIMIT_FIELDS,
    Columns,
    analyte_rows,
    content_day_horizon,
    cutoff_limits,
    set_intervals,
    set_limits,
    unit_rows,
)
from sigmd.screening.extras import require
from sigmd.screening.funnel import FUNNEL_PROFILE

FACTOR_RANGE = (2.0**-60, 2.0**60)
"""Unit factors `sigmd.screening.portable.product` multiplies by exactly on every engine."""
LIMIT_RANGE = (2.0**-32, 2.0**32)
"""Positive interval limits (mg/dL) the set-wise SQL accepts: a laboratory's limit outside 2**-64 to 2**64 is then
more than 2**32 times off, so implausible without a division that could overflow (`setwise.judge_sql`)."""


@dataclass(frozen=True)
class ContentTables:
    tables: dict[str, Any]
    """units, analytes, intervals (every set's, or the chosen one's; see `content_tables`), igm_limits (IgM under
    every set, or the chosen one), cutoffs (chosen profile), reference_sets (ids); for the set-wise verdicts:
    all_cutoffs (every profile, keyed by profile id) and absent (analyte, below: the absent thresholds in mg/dL);
    funnel_cutoffs (the funnel profile's; empty unless `funnel_profile` gives one with cut-offs)."""
    day_horizon: int
    """Ages below this many days are keyed by day as well as by month (see `bands`)."""


def limit_table(limits: Columns) -> Any:
    """A limit table (`bands.LIMIT_FIELDS`) as Arrow."""
    pa = require("pyarrow", "screen")
    text, whole, real = pa.string(), pa.int64(), pa.float64()
    return _arrow(limits, LIMIT_FIELDS, (text, text, text, whole, whole, real))


def interval_table(intervals: Columns) -> Any:
    """An interval table (`bands.INTERVAL_FIELDS`) as Arrow."""
    pa = require("pyarrow", "screen")
    text, whole, real = pa.string(), pa.int64(), pa.float64()
    return _arrow(intervals, INTERVAL_FIELDS, (text, text, text, whole, whole, real, real, real, real))


def _arrow(columns: Columns, fields: tuple[str, ...], types: tuple[Any, ...]) -> Any:
    pa = require("pyarrow", "screen")
    if columns.fields != fields:
        raise ValueError(f"expected the fields {', '.join(fields)}, not {', '.join(columns.fields)}")
    schema = pa.schema(list(zip(fields, types, strict=True)))
    return pa.Table.from_arrays([pa.array(columns.data[f.name], f.type) for f in schema], schema=schema)


def funnel_profile(knowledge: Knowledge, profile: RuleProfile) -> RuleProfile | None:
    """The funnel's profile when its limits may differ from `profile`'s (another low-limit basis or other IgM
    cut-offs), else None: the pre-filter must then clear both, since the funnel judges every patient under it."""
    funnel = knowledge.profiles.get(FUNNEL_PROFILE)
    if funnel is None or (funnel.low_limit is profile.low_limit and funnel.igm_cutoffs == profile.igm_cutoffs):
        return None
    return funnel


def content_tables(
    knowledge: Knowledge, profile: RuleProfile, reference_set_id: str, every_set: bool = True
) -> ContentTables:
    """The tables for a run under `profile` and reference set `reference_set_id`. The tables that hold every reference
    set (intervals, igm_limits) hold only the chosen one unless `every_set` (the sensitivity table needs them all);
    `reference_sets` always names every set."""
    pa = require("pyarrow", "screen")
    # One horizon for every profile, so that the set-wise passes under other profiles share the age keys.
    horizon = max(content_day_horizon(knowledge, p) for p in (profile, *knowledge.profiles.values()))
    units = unit_rows(knowledge)
    for spelling, analyte, factor in units:
        if not FACTOR_RANGE[0] <= factor <= FACTOR_RANGE[1]:
            raise ValueError(
                f"content: unit {spelling!r} ({analyte}) converts to mg/dL by {factor}, outside the factors "
                f"{FACTOR_RANGE[0]:g} to {FACTOR_RANGE[1]:g} that screening's SQL multiplies by (`portable.product`)"
            )
    sets = list(knowledge.reference_sets.values()) if every_set else [knowledge.reference_sets[reference_set_id]]
    for reference_set in knowledge.reference_sets.values():
        for row in reference_set.intervals:
            for limit in (row.lower_mg_dl, row.upper_mg_dl):
                if limit is not None and limit > 0 and not LIMIT_RANGE[0] <= limit <= LIMIT_RANGE[1]:
                    raise ValueError(
                        f"content: reference set {reference_set.id!r} has an {row.analyte.value} limit of {limit} mg/dL, "
                        f"outside the {LIMIT_RANGE[0]:g} to {LIMIT_RANGE[1]:g} mg/dL screening's SQL compares with"
                    )
    intervals = Columns(INTERVAL_FIELDS)
    igm_limits = Columns(LIMIT_FIELDS)
    for reference_set in sets:
        set_intervals(reference_set, horizon, into=intervals)
        set_limits(reference_set, profile, horizon, (Analyte.IGM,), into=igm_limits)
    all_cutoffs = Columns(LIMIT_FIELDS)
    for each in knowledge.profiles.values():
        cutoff_limits(each, horizon, into=all_cutoffs)
    if not 1 <= knowledge.thresholds.implausible_factor.value <= FACTOR_RANGE[1]:
        raise ValueError(
            f"content: implausible_factor must be at least 1 and at most {FACTOR_RANGE[1]:g} for screening's SQL"
        )
    if not 1 <= knowledge.thresholds.lab_range_max_ratio.value < 2.0**32:
        raise ValueError("content: lab_range_max_ratio must be at least 1 and below 2**32 for screening's SQL")
    analytes = analyte_rows(knowledge)
    funnel = funnel_profile(knowledge, profile)
    tables = {
        "units": pa.table(
            {
                "spelling": [u[0] for u in units],
                "analyte": [u[1] for u in units],
                "factor": pa.array([u[2] for u in units], pa.float64()),
            }
        ),
        "analytes": pa.table({"code": [a[0] for a in analytes], "analyte": [a[1] for a in analytes]}),
        "igm_limits": limit_table(igm_limits),
        "cutoffs": limit_table(cutoff_limits(profile, horizon)),
        "funnel_cutoffs": limit_table(cutoff_limits(funnel, horizon) if funnel else Columns(LIMIT_FIELDS)),
        "reference_sets": pa.table({"set_id": pa.array(list(knowledge.reference_sets), pa.string())}),
        "intervals": interval_table(intervals),
        "all_cutoffs": limit_table(all_cutoffs),
        "absent": pa.table(
            {
                "analyte": [a.value for a in knowledge.thresholds.absent],
                "below": pa.array([t.value for t in knowledge.thresholds.absent.values()], pa.float64()),
            }
        ),
    }
    return ContentTables(tables, horizon)
