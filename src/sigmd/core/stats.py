"""Log-normal statistics derived from a published central reference interval.

Serum immunoglobulin concentrations are log-normally distributed (source
`log_normal_distribution`). From a central interval [L, U] covering `coverage` of healthy
people, mu = (ln L + ln U) / 2 and sigma = (ln U - ln L) / (2 z), with z the normal quantile of
the upper tail (1.96 for 95%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class LogNormalFit:
    mu: float
    sigma: float
    coverage: float

    @staticmethod
    @lru_cache(maxsize=4096)
    def from_interval(lower: float, upper: float, coverage: float = 0.95) -> LogNormalFit:
        """The log-normal whose central `coverage` interval is lower-upper (cached: few intervals recur often)."""
        if not 0 < lower < upper:
            raise ValueError(f"a log-normal fit needs 0 < lower < upper, got {lower}-{upper}")
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage}")
        z = _STANDARD_NORMAL.inv_cdf(0.5 + coverage / 2)
        log_lower, log_upper = math.log(lower), math.log(upper)
        return LogNormalFit(
            mu=(log_lower + log_upper) / 2,
            sigma=(log_upper - log_lower) / (2 * z),
            coverage=coverage,
        )

    @property
    def geometric_mean(self) -> float:
        return math.exp(self.mu)

    def at_sd(self, n_sd: float) -> float:
        """The concentration n standard deviations from the mean on the log scale."""
        return math.exp(self.mu + n_sd * self.sigma)

    @property
    def minus_2sd(self) -> float:
        """The 'mean - 2 SD' limit used by the IDF for partial SIgMD (about the 2.3rd percentile)."""
        return self.at_sd(-2.0)

    def z_score(self, value: float) -> float:
        if value <= 0:
            return -math.inf
        return (math.log(value) - self.mu) / self.sigma

    def percentile(self, value: float) -> float:
        z = self.z_score(value)
        if math.isinf(z):
            return 0.0
        return 100 * _STANDARD_NORMAL.cdf(z)
