"""Paired comparison of two classifiers evaluated on the same examples: exact McNemar test.

For examples i = 1..n, ``a[i]`` and ``b[i]`` say whether row A and row B got example i right
(e.g. robust-correct masks). Only the discordant examples carry information about which row is
better: ``b10`` (A right, B wrong) and ``b01`` (A wrong, B right). Under the null hypothesis
"both rows have the same accuracy", conditionally on ``m = b01 + b10`` discordant examples,
``b10 ~ Binomial(m, 1/2)``; the exact McNemar test is that binomial test (scipy's ``binomtest``).
Its only assumption is that the examples are independent draws; the two rows may be arbitrarily
correlated.

The difference in accuracy ``acc(A) - acc(B) = (b10 - b01) / n`` comes with Newcombe's (1998)
"method 10" square-and-add interval, built from the Wilson intervals of the two accuracies and
their estimated correlation (which needs all four cells of the 2x2 table).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from bench.stats._checks import StatisticsError, as_count, as_outcomes, check_confidence
from bench.stats.intervals import Interval, proportion_interval


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test of two rows on the same ``n`` examples (two-sided p-value).

    ``difference`` is ``acc(A) - acc(B)``; it and its ``interval`` are nan when the concordant
    counts ``n11`` (both right) and ``n00`` (both wrong) are unknown (``mcnemar_counts`` without them).
    """

    b01: int
    b10: int
    n11: Optional[int]
    n00: Optional[int]
    p_value: float
    difference: float
    interval: Optional[Interval]
    test: str = "exact McNemar (two-sided binomial test on discordant pairs)"

    @property
    def n(self) -> Optional[int]:
        if self.n11 is None or self.n00 is None:
            return None
        return self.n11 + self.n00 + self.b01 + self.b10

    @property
    def discordant(self) -> int:
        return self.b01 + self.b10

    def significant(self, level: float = 0.05) -> bool:
        """True when the two-sided test rejects "equal accuracy" at ``level`` (``p <= level``)."""
        level = check_confidence(level, "level (significance level, e.g. 0.05)")
        return self.p_value <= level


def mcnemar(a: Any, b: Any, level: float = 0.95) -> PairedTest:
    """Exact McNemar test of per-example outcomes ``a`` and ``b`` (equal-length booleans or 0/1).

    ``level`` is the confidence level of the interval for ``acc(a) - acc(b)``.
    """
    import numpy as np

    a = as_outcomes(a, "a")
    b = as_outcomes(b, "b")
    if a.shape != b.shape:
        raise StatisticsError(f"a and b must hold one outcome per example for the same examples; "
                              f"got {a.shape[0]} and {b.shape[0]} outcomes. Compare rows evaluated on the same "
                              f"examples (same dataset, subset and order)")
    n11 = int(np.count_nonzero(a & b))
    n00 = int(np.count_nonzero(~a & ~b))
    b10 = int(np.count_nonzero(a & ~b))
    b01 = int(np.count_nonzero(~a & b))
    return mcnemar_counts(b01, b10, n11=n11, n00=n00, level=level)


def mcnemar_counts(b01: int, b10: int, *, n11: Optional[int] = None, n00: Optional[int] = None,
                   level: float = 0.95) -> PairedTest:
    """Exact McNemar test from the discordant counts (``b10``: A right and B wrong; ``b01``: the reverse).

    Zero discordant pairs give p = 1 (no evidence of any difference). Pass the concordant counts
    ``n11`` and ``n00`` to get the difference ``acc(A) - acc(B)`` and its Newcombe interval.
    """
    b01 = as_count(b01, "b01")
    b10 = as_count(b10, "b10")
    level = check_confidence(level)
    if (n11 is None) != (n00 is None):
        raise StatisticsError("give both concordant counts n11 (both right) and n00 (both wrong), or neither")
    p_value = exact_binomial_p(b10, b01 + b10, "two-sided")
    if n11 is None:
        return PairedTest(b01, b10, None, None, p_value, math.nan, None)
    n11 = as_count(n11, "n11")
    n00 = as_count(n00, "n00")
    interval = newcombe_paired_interval(n11, b10, b01, n00, level)
    return PairedTest(b01, b10, n11, n00, p_value, interval.estimate, interval)


def exact_binomial_p(successes: int, trials: int, alternative: str) -> float:
    """p-value of the exact test of ``successes ~ Binomial(trials, 1/2)``; 1.0 when ``trials == 0``."""
    if trials == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(successes, trials, 0.5, alternative=alternative).pvalue)


def newcombe_paired_interval(n11: int, n10: int, n01: int, n00: int, level: float = 0.95) -> Interval:
    """Newcombe (1998) method 10 interval for ``p1 - p2 = (n10 - n01) / n`` from a paired 2x2 table.

    Written out by hand because neither scipy nor numpy provides a paired-difference interval.
    ``p1 = (n11 + n10) / n`` and ``p2 = (n11 + n01) / n`` get Wilson intervals ``[l1, u1]``,
    ``[l2, u2]``; with the continuity-corrected correlation ``phi`` (0 when a margin is empty),
    ``low = D - sqrt((p1-l1)^2 - 2 phi (p1-l1)(u2-p2) + (u2-p2)^2)`` and
    ``high = D + sqrt((p2-l2)^2 - 2 phi (p2-l2)(u1-p1) + (u1-p1)^2)``.
    Matches the worked example of Fagerland, Lydersen & Laake, *Statistical Analysis of
    Contingency Tables* (2017), ch. 8 (Cavo et al. 2012: -0.0621, 95 % CI -0.1186 to -0.0046).
    ``n = 0`` gives nan with the interval [-1, 1].
    """
    n = n11 + n10 + n01 + n00
    method = "newcombe (paired, method 10)"
    if n == 0:
        return Interval(math.nan, -1.0, 1.0, None, 0, level, method)
    row1, col1 = n11 + n10, n11 + n01  # A right, B right
    row2, col2 = n01 + n00, n10 + n00  # A wrong, B wrong
    p1, p2 = row1 / n, col1 / n
    w1 = proportion_interval(row1, n, level, "wilson")
    w2 = proportion_interval(col1, n, level, "wilson")
    margins = row1 * row2 * col1 * col2
    phi = 0.0
    if margins > 0:
        cross = n11 * n00 - n10 * n01
        if cross > n / 2:  # Newcombe's continuity correction shrinks a positive correlation
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    d = p1 - p2
    lo1, hi2 = p1 - w1.low, w2.high - p2
    lo2, hi1 = p2 - w2.low, w1.high - p1
    low = d - math.sqrt(max(0.0, lo1 ** 2 - 2 * phi * lo1 * hi2 + hi2 ** 2))
    high = d + math.sqrt(max(0.0, lo2 ** 2 - 2 * phi * lo2 * hi1 + hi1 ** 2))
    return Interval(d, max(-1.0, low), min(1.0, high), None, n, level, method)


def paired_one_sided_p(b01: int, b10: int, direction: str) -> tuple[float, float]:
    """One-sided exact McNemar p-values (claim direction, reverse direction) for ``acc(A) ? acc(B)``.

    ``direction="greater"`` claims acc(A) > acc(B), i.e. b10 is more than half the discordant pairs.
    """
    m = b01 + b10
    up = exact_binomial_p(b10, m, "greater")
    down = exact_binomial_p(b10, m, "less")
    return (up, down) if direction == "greater" else (down, up)


__all__ = ["PairedTest", "mcnemar", "mcnemar_counts", "newcombe_paired_interval"]
