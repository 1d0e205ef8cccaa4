"""Summaries and comparisons across seeds (one metric value per training / evaluation seed).

``seed_summary`` gives the mean, the sample standard deviation (``ddof = 1``) and a Student t
interval for the mean, which assumes the per-seed values are independent draws from a roughly
normal distribution (with 3-5 seeds nothing else can be checked; the interval is then wide).
``paired_seed_test`` compares two rows seed by seed with a paired t-test (``scipy.stats.ttest_rel``):
seed i of row A is paired with seed i of row B, so pass both in the same seed order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from bench.stats._checks import StatisticsError, as_finite_floats, check_confidence

#: differences whose spread is below this fraction of their size count as identical (see _spread_is_zero)
_IDENTICAL_RTOL = 1e-12


@dataclass(frozen=True)
class SeedSummary:
    """Mean and spread of one metric over ``n_seeds`` seeds, with a t interval for the mean.

    With a single seed ``std``, ``low`` and ``high`` are nan: one value says nothing about the spread.
    """

    mean: float
    std: float
    n_seeds: int
    low: float
    high: float
    level: float

    def format(self, percent: bool = True, digits: int = 1) -> str:
        """``"48.8 ± 1.2 (std, 3 seeds)"``: the ± is the standard deviation, not an interval."""
        scale = 100.0 if percent else 1.0
        seeds = f"{self.n_seeds} seed" + ("s" if self.n_seeds != 1 else "")
        if math.isnan(self.std):
            return f"{self.mean * scale:.{digits}f} ({seeds})"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f} (std, {seeds})"


def seed_summary(values: Sequence[float], level: float = 0.95) -> SeedSummary:
    """Mean, sample std (ddof = 1) and the ``level`` Student t interval of per-seed ``values``."""
    xs = as_finite_floats(values, "values")
    level = check_confidence(level)
    if not xs:
        raise StatisticsError("values is empty: seed_summary needs at least one per-seed value")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n == 1:
        return SeedSummary(mean, math.nan, 1, math.nan, math.nan, level)
    import numpy as np
    from scipy.stats import t

    std = float(np.std(xs, ddof=1))
    half = float(t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return SeedSummary(mean, std, n, mean - half, mean + half, level)


@dataclass(frozen=True)
class SeedTest:
    """Paired t-test of row A against row B over ``n`` seeds (two-sided unless ``alternative`` says).

    ``p_value`` is nan when the test is undefined (fewer than two pairs, or all per-seed
    differences identical so their variance is 0); ``note`` says why, and the honest verdict
    for any claim resting on it is "inconclusive".
    """

    statistic: float
    p_value: float
    mean_difference: float
    n: int
    alternative: str = "two-sided"
    note: str = ""

    def significant(self, level: float = 0.05) -> bool:
        """True when the test rejects at ``level`` (``p <= level``); False when p is nan."""
        level = check_confidence(level, "level (significance level, e.g. 0.05)")
        return not math.isnan(self.p_value) and self.p_value <= level


def _spread_is_zero(diffs: list[float]) -> bool:
    # Per-seed metrics are ratios of counts, so equal differences often differ only by float
    # rounding; ttest_rel would then divide by a rounding-sized variance and report p ~ 0.
    scale = max(1.0, max(abs(d) for d in diffs))
    return max(diffs) - min(diffs) <= _IDENTICAL_RTOL * scale


def paired_seed_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> SeedTest:
    """Paired t-test (``scipy.stats.ttest_rel``) of per-seed values ``a`` against ``b`` (same seed order).

    ``alternative``: ``"two-sided"``, ``"greater"`` (mean of a > mean of b) or ``"less"``.
    """
    xs = as_finite_floats(a, "a")
    ys = as_finite_floats(b, "b")
    if len(xs) != len(ys):
        raise StatisticsError(f"a and b must hold one value per seed for the same seeds; got {len(xs)} and "
                              f"{len(ys)} values")
    if alternative not in ("two-sided", "greater", "less"):
        raise StatisticsError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    n = len(xs)
    diffs = [x - y for x, y in zip(xs, ys)]
    mean_diff = math.fsum(diffs) / n if n else math.nan
    if n < 2:
        return SeedTest(math.nan, math.nan, mean_diff, n, alternative,
                        f"{n} paired seed(s): a paired t-test needs at least 2; the verdict is inconclusive")
    if _spread_is_zero(diffs):
        return SeedTest(math.nan, math.nan, mean_diff, n, alternative,
                        "every seed shows the same difference, so its variance is 0 and the t-test is "
                        "undefined; the verdict is inconclusive")
    from scipy.stats import ttest_rel

    res = ttest_rel(xs, ys, alternative=alternative)
    return SeedTest(float(res.statistic), float(res.pvalue), mean_diff, n, alternative)
