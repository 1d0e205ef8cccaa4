"""Confidence intervals for one binomial proportion (an accuracy: k correct out of n).

Both methods come from scipy (``binomtest(...).proportion_ci``):

* ``"clopper-pearson"`` (the default) inverts two one-sided exact binomial tests; its coverage
  is at least ``level`` for every true proportion, at the price of some width. It is exact at
  ``k = 0`` (low = 0, high = 1 - (alpha/2)**(1/n)) and ``k = n``.
* ``"wilson"`` inverts the score test; its coverage is close to ``level`` on average but may dip
  below it for some proportions.
"""
from __future__ import annotations

from functools import lru_cache

import math
from dataclasses import dataclass
from typing import Optional

from bench.stats._checks import StatisticsError, as_count, check_confidence

METHODS = ("clopper-pearson", "wilson")
_SCIPY_METHOD = {"clopper-pearson": "exact", "wilson": "wilson"}


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval, as fractions in [0, 1].

    ``k`` and ``n`` are the counts behind a proportion; ``k`` is None for a derived quantity
    (e.g. a difference of two accuracies, where ``n`` is the number of paired examples).
    """

    estimate: float
    low: float
    high: float
    k: Optional[int]
    n: int
    level: float
    method: str

    @property
    def half_width(self) -> float:
        """Largest distance from the estimate to an end, so ``estimate ± half_width`` covers the interval.

        Exact intervals are asymmetric (most near 0 and 1), so the ``pm`` style is a conservative
        summary; the ``bracket`` style shows the interval itself.
        """
        return max(self.estimate - self.low, self.high - self.estimate)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def format(self, percent: bool = True, style: str = "pm", digits: int = 1) -> str:
        """``"48.8 ± 4.5"`` (style ``"pm"``) or ``"[44.3, 53.3]"`` (style ``"bracket"``); ``"n/a"`` when n = 0."""
        if style not in ("pm", "bracket"):
            raise StatisticsError(f"style must be 'pm' or 'bracket', got {style!r}")
        if math.isnan(self.estimate):
            return "n/a"
        scale = 100.0 if percent else 1.0
        if style == "pm":
            return f"{self.estimate * scale:.{digits}f} ± {self.half_width * scale:.{digits}f}"
        return f"[{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"

    def __str__(self) -> str:
        return self.format()


def proportion_interval(k: int, n: int, level: float = 0.95, method: str = "clopper-pearson") -> Interval:
    """Interval for the proportion ``k / n`` (e.g. robust accuracy: k of n examples survive the attack).

    ``n = 0`` is not an error: nothing was measured, so the estimate is nan and the interval the
    whole of [0, 1] (every proportion is consistent with no data). Counts must be integers with
    ``0 <= k <= n``; ``level`` is the confidence level, e.g. 0.95.
    """
    k = as_count(k, "k")
    n = as_count(n, "n")
    if k > n:
        raise StatisticsError(f"k = {k} correct cannot exceed n = {n} examples")
    level = check_confidence(level)
    if method not in METHODS:
        raise StatisticsError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, k, n, level, method)
    low, high = _ends(k, n, level, method)
    return Interval(k / n, low, high, k, n, level, method)


def clopper_pearson_ends(k: float, n: int, level: float) -> tuple[float, float]:
    """The Clopper–Pearson ends ``[B(a/2; k, n-k+1), B(1-a/2; k+1, n-k)]`` (B: beta quantile) for
    ``0 <= k <= n``, ``n >= 1``; ``k`` may be fractional (a mean of per-example accuracies times n).

    The exact interval's closed form (Clopper & Pearson 1934) through scipy's inverse regularized
    incomplete beta: the same ends as scipy.stats.binomtest(...).proportion_ci (which finds them by
    root search) at a small fraction of the cost; clipped to [0, 1] against rounding.
    """
    from scipy.special import betaincinv

    alpha = 1.0 - level
    low = 0.0 if k <= 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k >= n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return max(0.0, low), min(1.0, high)


@lru_cache(maxsize=65536)
def _ends(k: int, n: int, level: float, method: str) -> tuple[float, float]:
    """The interval's ends, cached: a leaderboard asks for the same (k, n) many times."""
    if method == "clopper-pearson":
        return clopper_pearson_ends(k, n, level)
    else:
        from scipy.stats import binomtest

        ci = binomtest(k, n).proportion_ci(confidence_level=level, method=_SCIPY_METHOD[method])
        low, high = float(ci.low), float(ci.high)
    # the ends can stray from [0, 1] by a rounding error; the estimate always lies inside.
    return max(0.0, low), min(1.0, high)
