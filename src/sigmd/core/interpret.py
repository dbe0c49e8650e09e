"""Interpretation of one result against its age-matched limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sigmd.core.ages import age_in_years, has_reached
from sigmd.core.intervals import AppliedInterval, ReferenceSet
from sigmd.core.knowledge import AgeCutoff, LowLimitBasis, RuleProfile, Threshold, Thresholds, UnitSlipRule
from sigmd.core.model import Analyte, LabRange, LabResult, Patient, Truth
from sigmd.core.stats import LogNormalFit


class Status(StrEnum):
    ABSENT = "absent"
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    INDETERMINATE = "indeterminate"
    """A censored result that straddles the limit (for example `<50` against a limit of 36), or a result that
    disagrees with another of the same analyte on the same day (`timeline.agree_same_day`)."""
    NO_INTERVAL = "no_interval"
    """Not judged: no reference interval or low limit applies at this age, or the value's size suggests a unit slip."""


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
    implausible: bool = False
    """Above `implausible_factor` times the upper limit: the unit should be checked before relying on it."""
    markedly_raised: bool = False
    """An IgM above `raised_igm` times the upper limit: serum protein electrophoresis is suggested."""
    possible_unit_slip: bool = False
    """An IgM or IgA judged as reported although its size suggests a unit slip (`unit_slip.warn_analytes`): the unit
    should be confirmed before relying on it."""

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


def stated_z_score(interp: Interpretation, reference_set: ReferenceSet) -> float | None:
    """The z-score where nothing in it is assumed: an exact value (no comparator) judged against an interval of a
    reference set that states it is a central 95% interval (`ReferenceSet.states_central_95`); else None. A
    laboratory's own range states no coverage, and a censored value gives only a bound."""
    interval = interp.interval
    if interval is None or interval.from_laboratory or interval.set_id != reference_set.id:
        return None
    if not reference_set.states_central_95 or interp.result.quantity.is_censored:
        return None
    return interp.z_score


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
    interval, no_interval_reason = _choose_interval(result, patient, reference_set, thresholds, notes)

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
    slip = _unit_slip(result, interval, thresholds.unit_slip)
    slip_warning = _unit_slip_warning(result, interval, thresholds.unit_slip)
    if slip_warning:
        notes.append(slip_warning)
    if slip:
        no_interval_reason = slip
    elif low_limit is None and not no_interval_reason:
        no_interval_reason = no_low_reason
    judged = low_limit is not None and not slip
    is_low = quantity.below(low_limit.value_mg_dl) if low_limit is not None and judged else Truth.UNKNOWN

    absent = thresholds.absent.get(result.analyte)
    is_absent = quantity.below(absent.value) if absent and judged else (Truth.NO if not absent else Truth.UNKNOWN)
    if absent and is_absent is Truth.UNKNOWN and is_low is Truth.YES:
        notes.append(
            f"{result.analyte} reported as {quantity.describe()}: below the limit, but whether it is below "
            f"{absent.value:g} {absent.unit} (absent) cannot be told from this result"
        )

    upper = interval.upper_mg_dl if interval else None
    is_high = quantity.above(upper) if upper is not None and not slip else Truth.UNKNOWN

    status = _status(is_low, is_absent, is_high, judged=judged)
    if status is Status.NORMAL and is_high is Truth.UNKNOWN and upper is not None:
        notes.append(f"reported as {quantity.describe()}: not low; whether it is above the upper limit is unknown")
    if status is Status.INDETERMINATE and low_limit is not None:
        notes.append(
            f"reported as {quantity.describe()}: the true value may lie either side of the limit "
            f"{low_limit.value_mg_dl:.1f} mg/dL"
        )
    if interval is not None and interval.from_laboratory and low_limit is not None and judged:
        notes.extend(_laboratory_flag_differs(result, interval, low_limit))

    implausible = upper is not None and quantity.value > thresholds.implausible_factor.value * upper
    if implausible:
        notes.append(
            f"{result.analyte} {quantity.describe()} is more than {thresholds.implausible_factor.value:g} times the "
            f"upper reference limit ({upper:g} mg/dL): physiologically implausible, check the unit "
            f"(reported as {result.reported_value} {result.reported_unit}). Threshold source: sigmd heuristic, "
            "no published plausibility limit"
        )
    raised = thresholds.raised_igm
    markedly_raised = (
        result.analyte is Analyte.IGM and upper is not None and quantity.above(raised.value * upper) is Truth.YES
    )
    if markedly_raised:
        notes.append(
            f"IgM {quantity.describe()} on {result.collected} is above the upper reference limit ({upper:g} mg/dL): "
            "a quantitative result does not tell a monoclonal from a polyclonal rise; consider serum protein "
            "electrophoresis with immunofixation to look for a monoclonal IgM (Waldenstrom macroglobulinaemia, "
            f"myeloma, MGUS) (source: {raised.source.title})"
        )

    return Interpretation(
        result=result,
        age_years=age_in_years(patient.birth_date, result.collected),
        interval=interval,
        no_interval_reason=no_interval_reason if status is Status.NO_INTERVAL else "",
        fit=fit,
        no_fit_reason=no_fit_reason,
        low_limit=low_limit,
        no_low_limit_reason=no_low_reason,
        is_low=is_low,
        is_absent=is_absent,
        is_high=is_high,
        status=status,
        notes=tuple(notes),
        implausible=implausible,
        markedly_raised=markedly_raised,
        possible_unit_slip=bool(slip_warning),
    )


def _choose_interval(
    result: LabResult, patient: Patient, reference_set: ReferenceSet, thresholds: Thresholds, notes: list[str]
) -> tuple[AppliedInterval | None, str]:
    """The laboratory's own range when it is plausible for the analyte at this age, else the reference set's."""
    lookup = reference_set.lookup(result.analyte, patient, result.collected)
    from_set = None if lookup.interval is None else reference_set.applied(lookup.interval)
    lab_range = result.lab_range
    if lab_range is not None and lab_range.low_mg_dl is not None:
        problem = _implausible_lab_range(lab_range, from_set, thresholds.lab_range_max_ratio)
        if not problem:
            if from_set is None:
                notes.append(
                    f"{result.analyte} on {result.collected}: the laboratory's range {lab_range.text} is used unchecked "
                    f"(reference set '{reference_set.id}' has no interval to compare it with: {lookup.reason_missing})"
                )
            return AppliedInterval.from_lab_range(lab_range), ""
        decides = (
            f"the age-matched interval {from_set.description} decides instead"
            if from_set is not None
            else "the result is not judged"
        )
        notes.append(
            f"{result.analyte} on {result.collected}: the laboratory's range {lab_range.text} was not used: {problem}; "
            f"{decides}"
        )
    if from_set is None:
        return None, lookup.reason_missing
    return from_set, ""


def _implausible_lab_range(lab_range: LabRange, from_set: AppliedInterval | None, max_ratio: Threshold) -> str:
    """Why a laboratory range cannot be the age-matched range it claims to be, or '' when it can."""
    if from_set is None:
        return ""
    pairs = (
        ("lower", lab_range.low_mg_dl, from_set.lower_mg_dl),
        ("upper", lab_range.high_mg_dl, from_set.upper_mg_dl),
    )
    for name, lab, ref in pairs:
        if lab is None or ref is None or lab <= 0 or ref <= 0:
            continue
        ratio = max(lab, ref) / min(lab, ref)
        if ratio > max_ratio.value:
            direction = "below" if lab < ref else "above"
            return (
                f"its {name} limit ({lab:g} mg/dL) is {ratio:.0f} times {direction} the age-matched {name} limit "
                f"({ref:g} mg/dL), more than the {max_ratio.value:g} times allowed (sigmd default): it is implausible "
                "for this analyte in the stated unit and may be in another unit (a g/L range written as mg/dL is "
                "100 times too small)"
            )
    return ""


def _looks_like_unit_slip(result: LabResult, interval: AppliedInterval | None, rule: UnitSlipRule) -> bool:
    """Whether the result is below `below_fraction` of the age-matched lower limit while `read_factor` times it lies
    inside the interval (IgG 10 'mg/dL' for 10 g/L)."""
    if interval is None:
        return False
    lower, upper = interval.lower_mg_dl, interval.upper_mg_dl
    value = result.quantity.value
    if lower is None or upper is None or lower <= 0 or not value < rule.below_fraction * lower:
        return False
    return lower <= value * rule.read_factor <= upper


def _unit_slip(result: LabResult, interval: AppliedInterval | None, rule: UnitSlipRule) -> str:
    """For an analyte of `rule.analytes`, why the result is not judged when it looks like a unit slip, else ''."""
    if result.analyte not in rule.analytes or not _looks_like_unit_slip(result, interval, rule):
        return ""
    return (
        f"{_slip_facts(result, interval, rule)}. Confirm the unit: if it is right, this {result.analyte} is profoundly "
        "low and needs urgent review (sigmd default rule, no published plausibility limit)"
    )


def _unit_slip_warning(result: LabResult, interval: AppliedInterval | None, rule: UnitSlipRule) -> str:
    """For an analyte of `rule.warn_analytes`, a warning when the result looks like a unit slip, else ''. The result
    is still judged as reported, since values this low are real findings there (IgM absent in complete SIgMD)."""
    if result.analyte not in rule.warn_analytes or not _looks_like_unit_slip(result, interval, rule):
        return ""
    return (
        f"{result.analyte} on {result.collected}: {_slip_facts(result, interval, rule)}. It is judged as reported; "
        "confirm the unit before acting on it (sigmd default rule, no published plausibility limit)"
    )


def _slip_facts(result: LabResult, interval: AppliedInterval | None, rule: UnitSlipRule) -> str:
    lower = interval.lower_mg_dl if interval is not None else None
    return (
        f"reported as {result.reported_value} {result.reported_unit}, it is below {rule.below_fraction:g} times the "
        f"age-matched lower limit ({lower:g} mg/dL), yet {rule.read_factor:g} times it lies inside the interval, which "
        f"suggests a unit slip ({rule.read_as})"
    )


def _laboratory_flag_differs(result: LabResult, interval: AppliedInterval, low_limit: LowLimit) -> tuple[str, ...]:
    """A note when the laboratory's own low flag and the profile's limit taken from the laboratory's range disagree."""
    lab_lower = interval.lower_mg_dl
    if lab_lower is None or low_limit.basis == "absolute_cutoff":
        return ()
    quantity = result.quantity
    lab_low, sigmd_low = quantity.below(lab_lower), quantity.below(low_limit.value_mg_dl)
    if Truth.UNKNOWN in (lab_low, sigmd_low) or lab_low is sigmd_low:
        return ()
    flag = "flags it low" if lab_low is Truth.YES else "does not flag it low"
    verdict = "is low" if sigmd_low is Truth.YES else "is not low"
    return (
        f"{result.analyte} {quantity.describe()} on {result.collected}: the laboratory {flag} against its lower limit "
        f"({lab_lower:g} mg/dL), but the profile's limit taken from the laboratory's range is "
        f"{low_limit.description}, so it {verdict}",
    )


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
            ranges = "; ".join(
                f"{c.published} for {c.age_from} to {c.age_to}{f' ({c.age_basis})' if c.age_basis else ''}"
                for c in profile.igm_cutoffs
            )
            return None, f"profile '{profile.id}' applies its IgM cut-off only at other ages ({ranges})"
        return LowLimit(cutoff.below_mg_dl, "absolute_cutoff", f"absolute cut-off {cutoff.published}"), ""
    if interval is None:
        return None, no_fit_reason
    origin = interval.origin
    if profile.low_limit is LowLimitBasis.MINUS_2SD:
        if fit is None:
            return None, no_fit_reason
        return (
            LowLimit(
                fit.minus_2sd,
                "minus_2sd",
                f"mean - 2 SD of {origin}, read as a central 95% log-normal interval ({fit.minus_2sd:.1f} mg/dL)",
            ),
            "",
        )
    if interval.lower_mg_dl is None or interval.lower_mg_dl <= 0:
        return None, "the interval has no positive lower limit"
    return (
        LowLimit(interval.lower_mg_dl, "lower_limit", f"lower limit of {origin} ({interval.lower_mg_dl:g} mg/dL)"),
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
