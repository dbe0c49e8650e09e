"""Prevalence intervals: the exact (Clopper-Pearson) interval beside Wilson's."""

from __future__ import annotations

from sigmd.screening.prevalence import clopper_pearson, prevalence_table, wilson


def test_exact_interval_matches_the_known_value_and_differs_from_wilson() -> None:
    """3 cases in 1,000 give the exact interval 0.000619-0.008742, a different interval from Wilson's."""
    low, high = clopper_pearson(3, 1000)
    assert (round(low, 6), round(high, 6)) == (0.000619, 0.008742)
    wilson_low, wilson_high = wilson(3, 1000)
    assert low < wilson_low and high < wilson_high


def test_no_cases_still_has_an_upper_limit() -> None:
    """0 of 500 gives an exact interval from 0 to the one-sided 97.5% limit, not a point."""
    low, high = clopper_pearson(0, 500)
    assert low == 0.0 and 0.007 < high < 0.0074


def test_prevalence_rows_carry_both_intervals_and_none_without_patients() -> None:
    """Each row has Wilson and exact limits; a stratum with no patients has neither."""
    rows = prevalence_table({("18-39", "female"): 1000}, {("18-39", "female", "partial_sigmd", "provisional"): 3})
    overall = next(r for r in rows if r["group"] == "all" and r["form"] == "partial" and r["stage"] == "any")
    assert overall["cases"] == 3 and overall["exact95_low"] < overall["ci95_low"]
    empty = next(r for r in rows if r["group"] == "0-1" and r["form"] == "any" and r["stage"] == "any")
    assert empty["patients"] == 0 and empty["exact95_low"] is None and empty["ci95_low"] is None


def test_intervals_equal_scipy_stats_binomtest() -> None:
    """Both intervals equal SciPy's `binomtest(...).proportion_ci` (Wilson without continuity correction, and exact)
    from no cases to all, in small and large cohorts."""
    from scipy.stats import binomtest

    for total in (1, 2, 7, 50, 1000, 999_306, 5_000_000):
        for count in sorted({c for c in (0, 1, 2, 3, total // 40, total // 2, total - 1, total) if c <= total}):
            for mine, method in ((wilson, "wilson"), (clopper_pearson, "exact")):
                expected = binomtest(count, total).proportion_ci(confidence_level=0.95, method=method)
                low, high = mine(count, total)
                assert abs(low - expected.low) <= 1e-12 + 1e-9 * expected.low, (method, count, total)
                assert abs(high - expected.high) <= 1e-12 + 1e-9 * expected.high, (method, count, total)
