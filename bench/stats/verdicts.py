"""Honest verdicts for claims: holds / does not hold / inconclusive / error.

A claim such as "robust accuracy of A is greater than that of B" is decided by two one-sided
tests at significance ``level``:

* HOLDS when the test of "A is *not* greater" rejects (``p <= level``): the data support the claim;
* DOES_NOT_HOLD when the reverse test rejects: the data show the opposite direction;
* INCONCLUSIVE otherwise: the difference is within sampling noise (more examples or seeds may
  settle it). With ``level < 0.5`` both tests can never reject together.

An exact test never claims more than it should (its false-HOLDS rate is at most ``level``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, Sequence

from bench.stats._checks import StatisticsError, as_count, check_alpha, check_direction
from bench.stats.intervals import Interval, proportion_interval
from bench.stats.paired import PairedTest, mcnemar, paired_one_sided_p
from bench.stats.seeds import paired_seed_test


class Verdict(str, Enum):
    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True)
class Decision:
    """A claim's verdict with the evidence behind it.

    ``p_value`` is the one-sided p-value in the claim's direction (small supports the claim) and
    ``p_reverse`` the one in the opposite direction (small refutes it); both are nan for decisions
    read off an interval (``compare_to_reference``) or for errors.
    """

    verdict: Verdict
    test: str
    statistic: float
    p_value: float
    level: float
    detail: str
    p_reverse: float = math.nan
    interval: Optional[Interval] = None

    @property
    def holds(self) -> bool:
        return self.verdict is Verdict.HOLDS

    @classmethod
    def from_error(cls, error: Any, test: str = "") -> "Decision":
        """The verdict of a claim whose check raised: ERROR, with the message as detail."""
        message = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        return cls(Verdict.ERROR, test, math.nan, math.nan, math.nan, message)

    def __str__(self) -> str:
        return f"{self.verdict} ({self.detail})"


def _decide(p_claim: float, p_reverse: float, level: float) -> Verdict:
    if not math.isnan(p_claim) and p_claim <= level:
        return Verdict.HOLDS
    if not math.isnan(p_reverse) and p_reverse <= level:
        return Verdict.DOES_NOT_HOLD
    return Verdict.INCONCLUSIVE


def _sign(direction: str) -> str:
    return ">" if direction == "greater" else "<"


def compare_proportions(k1: int, n1: int, k2: int, n2: int, direction: str = "greater", level: float = 0.05,
                        paired: Any = None) -> Decision:
    """Decide the claim ``k1/n1 > k2/n2`` (``direction="greater"``) or ``<`` (``"less"``) at ``level``.

    Unpaired (different examples): one-sided Fisher's exact test on the 2x2 table — exact and
    conservative, fast at any n (Boschloo's test is more powerful but grows as n1 * n2).
    Paired (``paired`` = ``(mask1, mask2)`` of per-example outcomes, or a ``PairedTest`` from
    ``mcnemar``): one-sided exact McNemar test, far more powerful when both rows saw the same
    examples. The counts must agree with the masks.
    """
    k1, n1, k2, n2 = (as_count(v, name) for v, name in ((k1, "k1"), (n1, "n1"), (k2, "k2"), (n2, "n2")))
    for k, n, side in ((k1, n1, "1"), (k2, n2, "2")):
        if k > n:
            raise StatisticsError(f"k{side} = {k} cannot exceed n{side} = {n}")
    direction = check_direction(direction)
    level = check_alpha(level)
    rates = f"{k1}/{n1} vs {k2}/{n2}"
    if paired is not None:
        table = paired if isinstance(paired, PairedTest) else _paired_table(paired)
        if table.n is None:
            raise StatisticsError("paired needs the full table: build the PairedTest with mcnemar(mask1, mask2) "
                                  "or mcnemar_counts(..., n11=..., n00=...)")
        if (table.n11 + table.b10, table.n, table.n11 + table.b01, table.n) != (k1, n1, k2, n2):
            raise StatisticsError(
                f"the paired outcomes do not match the counts {rates}: pass the same rows' masks "
                f"(paired test: {table.n11} + {table.b10} / {table.n} vs {table.n11} + {table.b01} / {table.n})")
        p_claim, p_rev = paired_one_sided_p(table.b01, table.b10, direction)
        test = "exact McNemar test, one-sided"
        detail = (f"{test}: {rates}; discordant pairs {table.b10} (only 1 right) vs {table.b01} (only 2 right); "
                  f"p(1 {_sign(direction)} 2) = {p_claim:.3g}, reverse p = {p_rev:.3g}, level {level:g}")
        verdict = _decide(p_claim, p_rev, level)
        return Decision(verdict, test, float(table.b10), p_claim, level, detail, p_rev, table.interval)
    if n1 == 0 or n2 == 0:
        return Decision(Verdict.INCONCLUSIVE, "Fisher's exact test, one-sided", math.nan, math.nan, level,
                        f"{rates}: a side with no examples cannot support any comparison")
    from scipy.stats import fisher_exact

    table2 = [[k1, n1 - k1], [k2, n2 - k2]]
    reverse = "less" if direction == "greater" else "greater"
    odds, p_claim = fisher_exact(table2, alternative=direction)
    _, p_rev = fisher_exact(table2, alternative=reverse)
    test = "Fisher's exact test, one-sided"
    detail = (f"{test}: {rates} ({100 * k1 / n1:.1f} % vs {100 * k2 / n2:.1f} %); "
              f"p(1 {_sign(direction)} 2) = {p_claim:.3g}, reverse p = {p_rev:.3g}, level {level:g}")
    return Decision(_decide(float(p_claim), float(p_rev), level), test, float(odds), float(p_claim), level,
                    detail, float(p_rev))


def _paired_table(paired: Any) -> PairedTest:
    try:
        mask1, mask2 = paired
    except (TypeError, ValueError):
        raise StatisticsError("paired must be a pair (mask1, mask2) of per-example outcomes or a PairedTest "
                              "from bench.stats.mcnemar") from None
    return mcnemar(mask1, mask2)


def compare_seeds(a: Sequence[float], b: Sequence[float], direction: str = "greater",
                  level: float = 0.05) -> Decision:
    """Decide ``mean(a) > mean(b)`` (or ``<``) from per-seed values paired by seed (one-sided paired t-tests).

    Fewer than two seeds, or identical differences on every seed, are INCONCLUSIVE.
    """
    direction = check_direction(direction)
    level = check_alpha(level)
    reverse = "less" if direction == "greater" else "greater"
    claim = paired_seed_test(a, b, alternative=direction)
    rev = paired_seed_test(a, b, alternative=reverse)
    test = "paired t-test over seeds, one-sided"
    detail = (f"{test}: mean difference {claim.mean_difference:.4g} over {claim.n} seed(s); "
              + (claim.note if claim.note else
                 f"t = {claim.statistic:.3g}, p(a {_sign(direction)} b) = {claim.p_value:.3g}, "
                 f"reverse p = {rev.p_value:.3g}")
              + f", level {level:g}")
    return Decision(_decide(claim.p_value, rev.p_value, level), test, claim.statistic, claim.p_value, level,
                    detail, rev.p_value)


def compare_to_reference(k: int, n: int, reference: float, tolerance: float, level: float = 0.05,
                         method: str = "clopper-pearson") -> Decision:
    """Decide "our ``k/n`` reproduces a paper's ``reference`` within ± ``tolerance``" (all as fractions).

    Uses the two-sided ``1 - 2 * level`` interval (90 % at level 0.05), i.e. two one-sided tests
    at ``level`` each (TOST): HOLDS when the whole interval lies inside ``reference ± tolerance``,
    DOES_NOT_HOLD when it lies entirely outside, INCONCLUSIVE when it straddles an edge of the band.
    """
    level = check_alpha(level)
    for value, name in ((reference, "reference"), (tolerance, "tolerance")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise StatisticsError(f"{name} must be a finite number, got {value!r}")
    if not 0.0 <= reference <= 1.0:
        raise StatisticsError(f"reference must be a fraction in [0, 1] (write 0.488, not 48.8), got {reference!r}")
    if tolerance < 0:
        raise StatisticsError(f"tolerance must be >= 0, got {tolerance!r}")
    ci = proportion_interval(k, n, 1 - 2 * level, method)
    band_low, band_high = reference - tolerance, reference + tolerance
    if band_low <= ci.low and ci.high <= band_high:
        verdict = Verdict.HOLDS
    elif ci.high < band_low or ci.low > band_high:
        verdict = Verdict.DOES_NOT_HOLD
    else:
        verdict = Verdict.INCONCLUSIVE
    test = f"{100 * (1 - 2 * level):g} % {method} interval vs reference ± tolerance"
    estimate = "n/a" if ci.n == 0 else f"{100 * ci.estimate:.1f} %"
    detail = (f"{ci.k}/{ci.n} = {estimate}, {100 * (1 - 2 * level):g} % interval {ci.format(style='bracket')} "
              f"vs reference {100 * reference:.1f} ± {100 * tolerance:.1f} % "
              f"[{100 * band_low:.1f}, {100 * band_high:.1f}]")
    return Decision(verdict, test, ci.estimate, math.nan, level, detail, math.nan, ci)
