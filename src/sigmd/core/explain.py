"""The one place where findings become words for the clinician."""

from __future__ import annotations

from sigmd.core.interpret import Interpretation, Status
from sigmd.core.model import Analyte

DISCLAIMER = (
    "sigmd supports clinical judgement and does not replace it. Verdicts depend on the reference set, "
    "the rule profile and the completeness of the data given; review them against the full clinical picture."
)


def describe_result(interp: Interpretation) -> str:
    """`IgM <5 mg/dL on 2026-07-10 (age 46.2 y): absent; limit 36.2 mg/dL (age-matched mean - 2 SD)`."""
    result = interp.result
    head = f"{result.analyte} {result.quantity.describe()} on {result.collected.isoformat()} (age {interp.age_years:.1f} y)"
    if interp.status is Status.NO_INTERVAL:
        return f"{head}: not judged: {interp.no_interval_reason}"
    parts = [f"{head}: {interp.status.value}"]
    if interp.low_limit is not None:
        parts.append(f"limit {interp.low_limit.value_mg_dl:.1f} mg/dL ({interp.low_limit.description})")
    elif interp.no_low_limit_reason:
        parts.append(f"no low limit: {interp.no_low_limit_reason}")
    if interp.interval is not None:
        parts.append(f"interval {interp.interval.description}")
    z = interp.z_score
    if z is not None:
        bound = "at most " if result.quantity.comparator.value in ("<", "<=") else ""
        bound = "at least " if result.quantity.comparator.value in (">", ">=") else bound
        parts.append(f"z {bound}{z:.2f}")
    return "; ".join(parts)


def not_measured(analyte: Analyte) -> str:
    return f"{analyte} was not measured"


def status_list(interps: list[Interpretation]) -> str:
    return ", ".join(f"{i.result.analyte} {i.status.value}" for i in interps)
