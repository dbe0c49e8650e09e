"""Interpretation of one result against its age-matched limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sigmd.core.ages import age_in_years, has_reached
from sigmd.core.intervals import AppliedInterval, ReferenceSet
from sigmd.core.knowledge import AgeCutoff, LowLimitBasis, RuleProfile, Thresholds
from sigmd.core.model import Analyte, LabResult, Patient, Truth
from sigmd.core.stats import LogNormalFit


class Status(StrEnum):
    ABSENT = "absent"
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    INDETERMINATE = "indeterminate"
    """A censored result that straddles the limit (for example `<50` against a limit of 36)."""
    NO_INTERVAL = "no_interval"
    """No reference interval applies, so the result cannot be judged."""


SEVERITY: dict[Status, int] = {
    Status.HIGH: 0,
    Status.NORMAL: 1,
    Status.INDETERMINATE: 2,
    Status.NO_INTERVAL: 2,
    Status.LOW: 3,
    Status.ABSENT: 4,
}


@dataclass(frozen=True)
class LowLimit:
    value_mg_dl: float
    basis: str
    """`minus_2sd`, `lower_limit` or `absolute_cutoff`."""
    description: str


@dataclass(frozen=True)
class Interpretation:
    result: LabResult
    age_years: float
    interval: AppliedInterval | None
    no_interval_reason: str
    fit: LogNormalFit | None
    no_fit_reason: str
    low_limit: LowLimit | None
    no_low_limit_reason: str
    is_low: Truth
    is_absent: Truth
    is_high: Truth
    status: Status
    notes: tuple[str, ...]

    @property
    def z_score(self) -> float | None:
        if self.fit is None:
            return None
        z = self.fit.z_score(self.result.quantity.value)
        return None if math.isinf(z) else z

    @property
    def percentile(self) -> float | None:
        return None if self.fit is None else self.fit.percentile(self.result.quantity.value)

    @property
    def minus_2sd_mg_dl(self) -> float | None:
        return None if self.fit is None else self.fit.minus_2sd


def applicable_cutoff(profile: RuleProfile, patient: Patient, result: LabResult) -> AgeCutoff | None:
    for cutoff in profile.igm_cutoffs:
        if has_reached(patient.birth_date, result.collected, cutoff.age_from) and not has_reached(
            patient.birth_date, result.collected, cutoff.age_to
        ):
            return cutoff
    return None


def interpret(
    result: LabResult,
    patient: Patient,
    reference_set: ReferenceSet,
    profile: RuleProfile,
    thresholds: Thresholds,
) -> Interpretation:
    """Judge one result: the interval that applies, its statistics, and absent/low/normal/high."""
    notes: list[str] = []
    quantity = result.quantity
    interval, no_interval_reason = _choose_interval(result, patient, reference_set)

    fit: LogNormalFit | None = None
    no_fit_reason = ""
    if interval is None:
        no_fit_reason = no_interval_reason
    elif interval.lower_mg_dl is None or interval.upper_mg_dl is None or interval.lower_mg_dl <= 0:
        no_fit_reason = "the interval has no positive lower limit, so no log-normal distribution can be derived"
    elif interval.upper_mg_dl <= interval.lower_mg_dl:
        no_fit_reason = "the interval's upper limit is not above its lower limit"
    else:
        fit = LogNormalFit.from_interval(interval.lower_mg_dl, interval.upper_mg_dl)

    low_limit, no_low_reason = _low_limit(result, patient, profile, interval, fit, no_fit_reason)
    is_low = quantity.below(low_limit.value_mg_dl) if low_limit else Truth.UNKNOWN

    absent = thresholds.absent.get(result.analyte)
    is_absent = quantity.below(absent.value) if absent else Truth.NO
    if absent and is_absent is Truth.UNKNOWN and is_low is Truth.YES:
        notes.append(
            f"{result.analyte} reported as {quantity.describe()}: below the limit, but whether it is below "
            f"{absent.value:g} {absent.unit} (absent) cannot be told from this result"
        )

    upper = interval.upper_mg_dl if interval else None
    is_high = quantity.above(upper) if upper is not None else Truth.UNKNOWN

    status = _status(is_low, is_absent, is_high, judged=interval is not None or low_limit is not None)
    if status is Status.NORMAL and is_high is Truth.UNKNOWN and upper is not None:
        notes.append(f"reported as {quantity.describe()}: not low; whether it is above the upper limit is unknown")
    if status is Status.INDETERMINATE and low_limit is not None:
        notes.append(
            f"reported as {quantity.describe()}: the true value may lie either side of the limit "
            f"{low_limit.value_mg_dl:.1f} mg/dL"
        )

    if upper is not None and quantity.value > thresholds.implausible_factor.value * upper:
        notes.append(
            f"{result.analyte} {quantity.describe()} is more than {thresholds.implausible_factor.value:g} times the "
            f"upper reference limit ({upper:g} mg/dL): physiologically implausible, check the unit "
            f"(reported as {result.reported_value} {result.reported_unit}). Threshold source: sigmd heuristic, "
            "no published plausibility limit"
        )

    return Interpretation(
        result=result,
        age_years=age_in_years(patient.birth_date, result.collected),
        interval=interval,
        no_interval_reason=no_interval_reason,
        fit=fit,
        no_fit_reason=no_fit_reason,
        low_limit=low_limit,
        no_low_limit_reason=no_low_reason,
        is_low=is_low,
        is_absent=is_absent,
        is_high=is_high,
        status=status,
        notes=tuple(notes),
    )


def _choose_interval(
    result: LabResult, patient: Patient, reference_set: ReferenceSet
) -> tuple[AppliedInterval | None, str]:
    if result.lab_range is not None and result.lab_range.low_mg_dl is not None:
        return AppliedInterval.from_lab_range(result.lab_range), ""
    lookup = reference_set.lookup(result.analyte, patient, result.collected)
    if lookup.interval is None:
        return None, lookup.reason_missing
    return reference_set.applied(lookup.interval), ""


def _low_limit(
    result: LabResult,
    patient: Patient,
    profile: RuleProfile,
    interval: AppliedInterval | None,
    fit: LogNormalFit | None,
    no_fit_reason: str,
) -> tuple[LowLimit | None, str]:
    if result.analyte is Analyte.IGM and profile.igm_cutoffs:
        cutoff = applicable_cutoff(profile, patient, result)
        if cutoff is None:
            ranges = "; ".join(f"{c.published} for {c.age_from} to {c.age_to}" for c in profile.igm_cutoffs)
            return None, f"profile '{profile.id}' publishes its IgM cut-off only for other ages ({ranges})"
        return LowLimit(cutoff.below_mg_dl, "absolute_cutoff", f"absolute cut-off {cutoff.published}"), ""
    if interval is None:
        return None, no_fit_reason
    if profile.low_limit is LowLimitBasis.MINUS_2SD:
        if fit is None:
            return None, no_fit_reason
        return LowLimit(fit.minus_2sd, "minus_2sd", f"age-matched mean - 2 SD ({fit.minus_2sd:.1f} mg/dL)"), ""
    if interval.lower_mg_dl is None or interval.lower_mg_dl <= 0:
        return None, "the interval has no positive lower limit"
    return (
        LowLimit(interval.lower_mg_dl, "lower_limit", f"lower reference limit ({interval.lower_mg_dl:g} mg/dL)"),
        "",
    )


def _status(is_low: Truth, is_absent: Truth, is_high: Truth, judged: bool) -> Status:
    if is_absent is Truth.YES and is_low is not Truth.NO:
        return Status.ABSENT
    if is_low is Truth.YES:
        return Status.LOW
    if is_low is Truth.UNKNOWN:
        return Status.INDETERMINATE if judged else Status.NO_INTERVAL
    if is_high is Truth.YES:
        return Status.HIGH
    return Status.NORMAL
