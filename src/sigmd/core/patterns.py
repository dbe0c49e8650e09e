"""The immunoglobulin pattern of a patient's latest results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sigmd.core import explain
from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import ResultHorizon, Thresholds
from sigmd.core.model import IGG_SUBCLASSES, Analyte, Patient
from sigmd.core.timeline import LOW_STATUSES, NOT_LOW_STATUSES, latest


class Pattern(StrEnum):
    ISOLATED_LOW_IGM = "isolated_low_igm"
    SELECTIVE_IGA_DEFICIENCY = "selective_iga_deficiency"
    CVID = "cvid_pattern"
    HYPER_IGM = "hyper_igm_pattern"
    PANHYPOGAMMAGLOBULINAEMIA = "panhypogammaglobulinaemia"
    IGG_SUBCLASS_ONLY = "igg_subclass_only"
    NORMAL = "normal"
    OTHER = "other"
    INCOMPLETE = "incomplete"
    """IgG or IgA (or IgM) is missing or could not be judged, so no pattern can be named."""


@dataclass(frozen=True)
class PatternFinding:
    pattern: Pattern
    reason: str
    abnormal: tuple[Analyte, ...]
    """The analytes whose low results define the pattern."""


def _low(i: Interpretation | None) -> bool:
    return i is not None and i.status in LOW_STATUSES


def _high(*found: Interpretation | None) -> bool:
    return any(i is not None and i.status is Status.HIGH for i in found)


def _ok(i: Interpretation | None) -> bool:
    return i is not None and i.status in NOT_LOW_STATUSES


def classify(interps: tuple[Interpretation, ...], thresholds: Thresholds) -> PatternFinding:
    m, g, a = (latest(interps, x) for x in (Analyte.IGM, Analyte.IGG, Analyte.IGA))
    present = [i for i in (m, g, a) if i is not None]
    statuses = explain.status_list(present)
    age = max((i.age_years for i in present), default=0.0)
    cvid_age = thresholds.cvid_min_age.value
    iga_age = thresholds.iga_deficiency_min_age.value

    if _low(g) and _low(a):
        if m is not None and m.status is Status.HIGH:
            return PatternFinding(
                Pattern.HYPER_IGM, f"low IgG and IgA with high IgM ({statuses})", (Analyte.IGG, Analyte.IGA)
            )
        if age > cvid_age and (_low(m) or _ok(m)):
            with_m = "with low IgM" if _low(m) else "with normal IgM (hyper-IgM syndromes are a differential)"
            lows: tuple[Analyte, ...] = (
                (Analyte.IGG, Analyte.IGA, Analyte.IGM) if _low(m) else (Analyte.IGG, Analyte.IGA)
            )
            return PatternFinding(
                Pattern.CVID, f"low IgG and IgA {with_m}, age over {cvid_age:g} years ({statuses})", lows
            )
        if _low(m):
            return PatternFinding(
                Pattern.PANHYPOGAMMAGLOBULINAEMIA,
                f"IgG, IgA and IgM all low at age {age:.1f} years, below the CVID minimum age of {cvid_age:g} ({statuses})",
                (Analyte.IGG, Analyte.IGA, Analyte.IGM),
            )
        if _ok(m):
            thi = thresholds.transient_infancy_below
            infancy = (
                f" at age {age:.1f} years: under {thi.value:g} years transient hypogammaglobulinaemia of infancy is the "
                f"commoner explanation (source: {thi.source.title}); a hyper-IgM syndrome is the differential"
                if age < thi.value
                else ""
            )
            return PatternFinding(
                Pattern.HYPER_IGM,
                f"low IgG and IgA with normal IgM{infancy} ({statuses})",
                (Analyte.IGG, Analyte.IGA),
            )
        return PatternFinding(
            Pattern.INCOMPLETE, f"low IgG and IgA; IgM unknown ({statuses})", (Analyte.IGG, Analyte.IGA)
        )

    if a is not None and a.status is Status.ABSENT and _ok(g) and _ok(m) and age > iga_age:
        return PatternFinding(
            Pattern.SELECTIVE_IGA_DEFICIENCY,
            f"IgA below {thresholds.absent[Analyte.IGA].value:g} mg/dL with normal IgG and IgM, age over {iga_age:g} years",
            (Analyte.IGA,),
        )
    if _low(m) and _ok(g) and _ok(a):
        others = "normal IgG and IgA" if not _high(g, a) else "IgG and IgA not low"
        return PatternFinding(Pattern.ISOLATED_LOW_IGM, f"low IgM with {others} ({statuses})", (Analyte.IGM,))
    if _ok(m) and _ok(g) and _ok(a):
        # A raised result is not low, so it fits these patterns, but it is not called normal in their words.
        words = "normal" if not _high(m, g, a) else "not low"
        low_subclasses = tuple(s for s in IGG_SUBCLASSES if _low(latest(interps, s)))
        if low_subclasses:
            names = ", ".join(low_subclasses)
            return PatternFinding(Pattern.IGG_SUBCLASS_ONLY, f"IgM, IgG and IgA {words}; low {names}", low_subclasses)
        return PatternFinding(Pattern.NORMAL, f"IgM, IgG and IgA {words} ({statuses})", ())
    known = [i for i in (m, g, a) if _low(i) or _ok(i)]
    if len(known) < 3 and not any(_low(i) for i in (g, a)):
        missing = [
            x
            for x, i in zip((Analyte.IGM, Analyte.IGG, Analyte.IGA), (m, g, a), strict=True)
            if not (_low(i) or _ok(i))
        ]
        return PatternFinding(
            Pattern.INCOMPLETE,
            f"{', '.join(missing)} not measured or not judged ({statuses or 'no results'})",
            (Analyte.IGM,) if _low(m) else (),
        )
    lows = tuple(i.result.analyte for i in (m, g, a) if _low(i) and i is not None)
    return PatternFinding(Pattern.OTHER, f"low {', '.join(lows)} ({statuses})", lows)


def stale_results(
    interps: tuple[Interpretation, ...], patient: Patient, as_of: date, rule: ResultHorizon
) -> tuple[str, ...]:
    """A warning for each latest result (the ones a verdict rests on) taken longer than the horizon before `as_of`."""
    warnings: list[str] = []
    for analyte in Analyte:
        interp = latest(interps, analyte)
        if interp is not None and as_of > rule.horizon.reached_on(interp.result.collected):
            warnings.append(_stale(interp, as_of, rule))
    return tuple(warnings)


def _stale(interp: Interpretation, as_of: date, rule: ResultHorizon) -> str:
    result = interp.result
    years = (as_of - result.collected).days / 365.2425
    default = " (sigmd default)" if not rule.source.has_published_basis else ""
    return (
        f"{result.analyte} on {result.collected} (taken at age {interp.age_years:.1f} years) is {years:.1f} years old "
        f"on {as_of}, beyond the {rule.horizon} horizon{default}; the verdict rests on it as the latest {result.analyte}: "
        "repeat it if the verdict matters now"
    )
