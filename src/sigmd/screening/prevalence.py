"""Prevalence with Wilson and exact (Clopper-Pearson) 95% intervals, next to the published figures with their sources."""

from __future__ import annotations

import math
from typing import Any

from sigmd import content
from sigmd.core.published import PublishedFigure
from sigmd.screening.extras import require

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-1", 0, 2),
    ("2-5", 2, 6),
    ("6-11", 6, 12),
    ("12-17", 12, 18),
    ("18-39", 18, 40),
    ("40-64", 40, 65),
    ("65+", 65, 200),
)
"""Age bands in whole years at the latest IgM result: (name, from, to exclusive)."""
FORMS = ("partial", "complete", "any")
STAGES = ("provisional", "confirmed", "any")


def published_figures() -> tuple[PublishedFigure, ...]:
    """The published figures shipped with the clinical content (`data/published_prevalence.toml`)."""
    return content.load_published_figures()


def age_band(years: int) -> str:
    return next(name for name, start, end in AGE_BANDS if start <= years < end)


CONFIDENCE = 0.95


def wilson(count: int, total: int) -> tuple[float, float]:
    """Wilson score 95% interval without continuity correction, as SciPy's `binomtest(...).proportion_ci(method=
    "wilson")` gives it (`test_prevalence_intervals`), with the normal quantile from `scipy.special`: importing
    `scipy.stats` took about 1 s of every screening run."""
    if total == 0:
        return float("nan"), float("nan")
    special = require("scipy.special", "screen")
    z = float(special.ndtri(1 - (1 - CONFIDENCE) / 2))
    share, z2 = count / total, z * z
    centre = (share + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(share * (1 - share) / total + z2 / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(count: int, total: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% interval, from the inverse regularised incomplete beta function (`scipy.special`):
    conservative, preferred by some readers for rare conditions. No cases give 0 as the lower limit, all cases 1 as
    the upper."""
    if total == 0:
        return float("nan"), float("nan")
    special = require("scipy.special", "screen")
    tail = (1 - CONFIDENCE) / 2
    low = 0.0 if count == 0 else float(special.betaincinv(count, total - count + 1, tail))
    high = 1.0 if count == total else float(special.betaincinv(count + 1, total - count, 1 - tail))
    return low, high


def matches(label: str, certainty: str, form: str, stage: str) -> bool:
    forms = {"partial": ("partial_sigmd",), "complete": ("complete_sigmd",), "any": ("partial_sigmd", "complete_sigmd")}
    return label in forms[form] and (stage == "any" or certainty == stage)


def prevalence_table(
    denominators: dict[tuple[str, str], int], deficient: dict[tuple[str, str, str, str], int]
) -> list[dict[str, Any]]:
    """Rows per stratum (overall, children, adults, age band, sex) x form x stage with Wilson and exact CIs.

    `denominators` counts screened patients by (age band, sex); `deficient` counts patients by
    (age band, sex, label, certainty) for SIgMD labels only.
    """
    children = {name for name, _, end in AGE_BANDS if end <= 18}
    strata: list[tuple[str, str, Any]] = [("overall", "all", lambda band, sex: True)]
    strata.append(("age_group", "children (<18)", lambda band, sex: band in children))
    strata.append(("age_group", "adults (18+)", lambda band, sex: band not in children))
    strata += [("age_band", name, lambda band, sex, n=name: band == n) for name, _, _ in AGE_BANDS]
    for sex in sorted({sex for _, sex in denominators}):
        strata.append(("sex", sex, lambda band, s, x=sex: s == x))
    rows = []
    for kind, name, keep in strata:
        total = sum(n for (band, sex), n in denominators.items() if keep(band, sex))
        for form in FORMS:
            for stage in STAGES:
                count = sum(
                    n
                    for (band, sex, label, certainty), n in deficient.items()
                    if keep(band, sex) and matches(label, certainty, form, stage)
                )
                low, high = wilson(count, total)
                exact_low, exact_high = clopper_pearson(count, total)
                rows.append(
                    {
                        "stratum": kind,
                        "group": name,
                        "form": form,
                        "stage": stage,
                        "patients": total,
                        "cases": count,
                        "prevalence": count / total if total else None,
                        "ci95_low": None if total == 0 else low,
                        "ci95_high": None if total == 0 else high,
                        "exact95_low": None if total == 0 else exact_low,
                        "exact95_high": None if total == 0 else exact_high,
                    }
                )
    return rows
