"""Decisions for the claim shapes :mod:`bench.stats` leaves to the claims: several comparisons
combined into one verdict, non-inferiority of an accuracy, a stated bound, a rank trend, and the
mean of several accuracies. Pure functions of numbers (no frame); :mod:`bench.api.claim` feeds
them from a suite's frame. Every function returns a :class:`bench.stats.Decision` whose
``test`` and ``level`` say what was done, with ``p_value`` one-sided in the claim's direction and
``p_reverse`` one-sided against it (nan where the test has none).

Combining comparisons (:func:`every`, :func:`some`). A claim such as "at every radius A is more
robust than B" or "the loss gap falls at every step of the sweep" is a conjunction of ``m``
one-sided comparisons, each at ``level``:

* **holds** when every comparison holds. This is the intersection-union test (Berger 1982): the
  claim is wrong when at least one comparison is wrong, and that one alone holds with probability
  at most ``level``, so no correction for multiplicity is needed;
* **does not hold** when at least one comparison is significant *against* the claim at
  ``level / m`` (Bonferroni; Holm's first step, the only one that matters for "at least one"), so
  the chance of a false "does not hold" is at most ``level`` whatever the number of comparisons;
* **inconclusive** otherwise.

"At least one" claims (:func:`some`) use Bonferroni on the claim side as well.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Optional, Sequence

from bench.stats import Decision, Interval, StatisticsError, Verdict, compare_to_reference
from bench.stats._checks import as_count, check_alpha, check_direction

NAN = math.nan


def _finite(x: float) -> bool:
    return x is not None and not math.isnan(x)


def _decide(p_claim: float, p_reverse: float, level: float) -> Verdict:
    if _finite(p_claim) and p_claim <= level:
        return Verdict.HOLDS
    if _finite(p_reverse) and p_reverse <= level:
        return Verdict.DOES_NOT_HOLD
    return Verdict.INCONCLUSIVE


def _p(x: float) -> str:
    return "n/a" if not _finite(x) else f"{x:.3g}"


def short(decision: Decision) -> str:
    """``"holds, p = 0.003"`` / ``"inconclusive (one seed: ...)"``: one part of a combined verdict."""
    if _finite(decision.p_value) or _finite(decision.p_reverse):
        return f"{decision.verdict}, p = {_p(decision.p_value)}, reverse p = {_p(decision.p_reverse)}"
    return f"{decision.verdict} ({decision.detail})"


def _against(decision: Decision, alpha: float) -> bool:
    """Significant against the claim at ``alpha``; a decision without a reverse p-value (a measured
    value against a stated bound) counts by its verdict."""
    if _finite(decision.p_reverse):
        return decision.p_reverse <= alpha
    return decision.verdict is Verdict.DOES_NOT_HOLD


def _tests(parts: Mapping[str, Decision]) -> str:
    seen: list[str] = []
    for d in parts.values():
        if d.test and d.test not in seen:
            seen.append(d.test)
    return " / ".join(seen) or "no test"


def every(parts: Mapping[str, Decision], level: float = 0.05) -> Decision:
    """One verdict for "every part holds": holds when all ``parts`` hold (intersection-union), does
    not hold when one is significant against the claim at ``level / m`` (Bonferroni), else inconclusive.

    ``statistic``: how many parts hold; ``p_value``: the largest part p-value (the intersection-union
    p-value; nan when a part has none); ``p_reverse``: ``m`` times the smallest reverse p-value
    (Bonferroni-adjusted, at most 1). One part is returned as it is, named in its detail.
    """
    level = check_alpha(level)
    if not parts:
        raise StatisticsError("every() needs at least one comparison")
    m = len(parts)
    if m == 1:
        (name, only), = parts.items()
        return replace(only, detail=f"{name}: {only.detail}")
    held = sum(d.verdict is Verdict.HOLDS for d in parts.values())
    against = [name for name, d in parts.items() if _against(d, level / m)]
    if held == m:
        verdict = Verdict.HOLDS
    elif against:
        verdict = Verdict.DOES_NOT_HOLD
    else:
        verdict = Verdict.INCONCLUSIVE
    claim_ps = [d.p_value for d in parts.values()]
    p_claim = max(claim_ps) if all(_finite(p) for p in claim_ps) else NAN
    reverse = [d.p_reverse for d in parts.values() if _finite(d.p_reverse)]
    p_rev = min(1.0, m * min(reverse)) if reverse else NAN
    test = (f"{_tests(parts)}; all {m} comparisons must hold at level {level:g} (intersection-union); "
            f"against the claim: any one at {level / m:.3g} (Bonferroni over {m})")
    return Decision(verdict, test, float(held), p_claim, level, _detail(f"{held} of {m} hold", against, parts),
                    p_rev)


def some(parts: Mapping[str, Decision], level: float = 0.05) -> Decision:
    """One verdict for "at least one part is better and none is worse": holds when some part holds
    at ``level / m`` and none is significant against the claim at ``level / m`` (Bonferroni both
    ways); does not hold when one is significant against it; else inconclusive."""
    level = check_alpha(level)
    if not parts:
        raise StatisticsError("some() needs at least one comparison")
    m = len(parts)
    alpha = level / m
    against = [name for name, d in parts.items() if _against(d, alpha)]
    supporting = [name for name, d in parts.items() if _finite(d.p_value) and d.p_value <= alpha]
    if against:
        verdict = Verdict.DOES_NOT_HOLD
    elif supporting:
        verdict = Verdict.HOLDS
    else:
        verdict = Verdict.INCONCLUSIVE
    claim_ps = [d.p_value for d in parts.values() if _finite(d.p_value)]
    reverse = [d.p_reverse for d in parts.values() if _finite(d.p_reverse)]
    p_claim = min(1.0, m * min(claim_ps)) if claim_ps else NAN
    p_rev = min(1.0, m * min(reverse)) if reverse else NAN
    test = (f"{_tests(parts)}; at least one of {m} comparisons significant at {alpha:.3g} and none "
            f"against the claim at {alpha:.3g} (Bonferroni over {m}, level {level:g})")
    detail = _detail(f"{len(supporting)} of {m} significant for the claim", against, parts)
    return Decision(verdict, test, float(len(supporting)), p_claim, level, detail, p_rev)


def _detail(lead: str, against: list[str], parts: Mapping[str, Decision]) -> str:
    """``lead``, the parts significant against the claim, then every part's short verdict."""
    if against:
        lead += f"; against the claim: {', '.join(against)}"
    return lead + "; " + "; ".join(f"{name}: {short(d)}" for name, d in parts.items())


# --------------------------------------------------------------------------- non-inferiority of an accuracy

def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of k/n with normal quantile ``z`` (closed form)."""
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe(k1: int, n1: int, k2: int, n2: int, z: float) -> tuple[float, float, float]:
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1, z)
    l2, u2 = _wilson(k2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's (1998) hybrid score interval ("method 10") for ``k1/n1 - k2/n2``, two independent
    proportions: the difference minus/plus the square-and-add of the two Wilson intervals' arms."""
    from scipy.stats import norm

    for v, name in ((k1, "k1"), (n1, "n1"), (k2, "k2"), (n2, "n2")):
        as_count(v, name)
    if k1 > n1 or k2 > n2 or n1 == 0 or n2 == 0:
        raise StatisticsError(f"need 0 <= k <= n and n > 0 on both sides, got {k1}/{n1} and {k2}/{n2}")
    d, low, high = _newcombe(k1, n1, k2, n2, float(norm.ppf(1 - (1 - confidence) / 2)))
    return Interval(d, max(-1.0, low), min(1.0, high), None, n1 + n2, confidence, "newcombe hybrid score")


def _solve_z(f, target: float) -> float:
    """The z >= 0 where the monotone ``f(z)`` crosses ``target`` (``f(0)`` is on the rejecting side)."""
    lo, hi = 0.0, 40.0
    if (f(hi) - target) * (f(lo) - target) > 0:
        return hi
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) - target) * (f(lo) - target) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def noninferiority(k1: int, n1: int, k2: int, n2: int, margin: float, level: float = 0.05) -> Decision:
    """Decide "``k1/n1`` is at least ``k2/n2 - margin``" (accuracy kept within ``margin``), two
    independent proportions, by Newcombe's hybrid score interval at confidence ``1 - 2 * level``:
    holds when its lower end is above ``-margin`` (a one-sided test at ``level``), does not hold when
    its upper end is below ``-margin``, else inconclusive. The p-values invert the interval: the
    ``level`` at which its end touches ``-margin`` (above 0.5 only ``1 -`` the other side's p is known).
    """
    from scipy.stats import norm

    level = check_alpha(level)
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise StatisticsError(f"margin must be a finite fraction >= 0 (0.02 for 2 points), got {margin!r}")
    test = f"Newcombe hybrid score interval ({100 * (1 - 2 * level):g} %), non-inferiority margin {margin:g}"
    rates = f"{k1}/{n1} vs {k2}/{n2}"
    if n1 == 0 or n2 == 0:
        return Decision(Verdict.INCONCLUSIVE, test, NAN, NAN, level, f"{rates}: a side with no examples")
    bound = -float(margin)
    d = k1 / n1 - k2 / n2
    if d > bound:
        z = _solve_z(lambda z: _newcombe(k1, n1, k2, n2, z)[1], bound)
        p_claim = float(norm.sf(z))
        p_rev = 1.0 - p_claim
    elif d < bound:
        z = _solve_z(lambda z: _newcombe(k1, n1, k2, n2, z)[2], bound)
        p_rev = float(norm.sf(z))
        p_claim = 1.0 - p_rev
    else:
        p_claim = p_rev = 0.5
    ci = newcombe_interval(k1, n1, k2, n2, 1 - 2 * level)
    if ci.low > bound:
        verdict = Verdict.HOLDS
    elif ci.high < bound:
        verdict = Verdict.DOES_NOT_HOLD
    else:
        verdict = Verdict.INCONCLUSIVE
    detail = (f"{rates} ({100 * k1 / n1:.1f} % vs {100 * k2 / n2:.1f} %): difference {100 * d:+.1f} points, "
              f"{100 * (1 - 2 * level):g} % interval [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}] vs "
              f"-{100 * margin:g}; p = {_p(p_claim)}, reverse p = {_p(p_rev)}, level {level:g}")
    return Decision(verdict, test, d, p_claim, level, detail, p_rev, ci)


# --------------------------------------------------------------------------- a paper's value

def reference(k: int, n: int, value: float, tolerance: float, level: float = 0.05) -> Decision:
    """:func:`bench.stats.compare_to_reference` ("``k/n`` reproduces ``value`` within ± ``tolerance``",
    the ``1 - 2 * level`` Clopper-Pearson interval inside the band) with the p-values of its two
    one-sided exact binomial tests (TOST: ``p_value`` the larger, ``p_reverse`` the smaller p of the
    tests that the accuracy lies below or above the band)."""
    from scipy.stats import binom

    decision = compare_to_reference(k, n, value, tolerance, level)
    low, high = value - tolerance, value + tolerance
    if n == 0:
        return decision
    p_low = 0.0 if low <= 0 else float(binom.sf(k - 1, n, low))      # H0: accuracy <= low
    p_high = 0.0 if high >= 1 else float(binom.cdf(k, n, high))     # H0: accuracy >= high
    out_low = 1.0 if low <= 0 else float(binom.cdf(k, n, low))       # H0: accuracy >= low
    out_high = 1.0 if high >= 1 else float(binom.sf(k - 1, n, high))  # H0: accuracy <= high
    p_claim, p_rev = max(p_low, p_high), min(out_low, out_high)
    detail = f"{decision.detail}; p = {_p(p_claim)}, reverse p = {_p(p_rev)}, level {decision.level:g}"
    return replace(decision, p_value=p_claim, p_reverse=p_rev, detail=detail)


# --------------------------------------------------------------------------- a stated bound

def bound(values: Sequence[float], limit: float, direction: str = "less", level: float = 0.05,
          what: str = "the value") -> Decision:
    """Decide "``what`` is below (``direction="less"``) or above ``limit``", a bound the claim itself
    states. Several values (one per seed): one-sided one-sample t-test against ``limit``. One value:
    the measured value against the bound, with no sampling test (the claim is about this value and
    this bound; equal to the bound does not hold)."""
    level = check_alpha(level)
    direction = check_direction(direction)
    xs = [float(v) for v in values]
    if not xs or not all(math.isfinite(v) for v in xs):
        raise StatisticsError(f"bound() needs finite values, got {values!r}")
    sign = "<" if direction == "less" else ">"
    if len(xs) == 1:
        v = xs[0]
        ok = v < limit if direction == "less" else v > limit
        test = "measured value vs the stated bound (one seed, no sampling test)"
        return Decision(Verdict.HOLDS if ok else Verdict.DOES_NOT_HOLD, test, v, NAN, level,
                        f"{what} = {v:.4g} {'is' if ok else 'is not'} {sign} {limit:g}")
    from scipy.stats import ttest_1samp

    test = "one-sample t-test over seeds vs the stated bound, one-sided"
    mean = math.fsum(xs) / len(xs)
    if max(xs) - min(xs) <= 1e-12 * max(1.0, abs(mean)):
        return Decision(Verdict.INCONCLUSIVE, test, NAN, NAN, level,
                        f"{what}: every seed gives {mean:.4g}; no spread, the t-test is undefined")
    reverse = "greater" if direction == "less" else "less"
    claim = ttest_1samp(xs, limit, alternative=direction)
    rev = ttest_1samp(xs, limit, alternative=reverse)
    p, pr = float(claim.pvalue), float(rev.pvalue)
    detail = (f"{what}: mean {mean:.4g} over {len(xs)} seeds vs {limit:g}; t = {float(claim.statistic):.3g}, "
              f"p({sign} {limit:g}) = {_p(p)}, reverse p = {_p(pr)}, level {level:g}")
    return Decision(_decide(p, pr, level), test, float(claim.statistic), p, level, detail, pr)


# --------------------------------------------------------------------------- a rank trend

def spearman_trend(x: Sequence[float], y: Sequence[float], direction: str = "greater",
                   level: float = 0.05) -> Decision:
    """Decide "``y`` increases (``"greater"``) or decreases with ``x``" by Spearman's rank correlation,
    one-sided: an exact permutation test over every ordering of ``y`` for up to 8 points (a point
    count of n gives a smallest possible p of 1/n!), scipy's t approximation beyond. Constant
    ``y`` or ``x`` is inconclusive. The values are taken as measured (their own noise is not part of it)."""
    import itertools

    import numpy as np
    from scipy.stats import rankdata, spearmanr

    level = check_alpha(level)
    direction = check_direction(direction)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1 or len(xs) < 2:
        raise StatisticsError(f"spearman_trend needs two equal-length sequences of at least 2 values, got {x!r}, {y!r}")
    n = len(xs)
    exact = n <= 8
    test = (f"Spearman rank correlation, one-sided {'exact permutation test' if exact else 't approximation'} "
            f"over {n} points")
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return Decision(Verdict.INCONCLUSIVE, test, NAN, NAN, level, "a constant sequence has no rank correlation")
    rho = float(spearmanr(xs, ys).statistic)
    if exact:
        rx, ry = rankdata(xs), rankdata(ys)
        rx = (rx - rx.mean()) / np.sqrt(((rx - rx.mean()) ** 2).sum())
        perms = np.array(list(itertools.permutations(ry)))
        perms = perms - perms.mean(axis=1, keepdims=True)
        rhos = perms @ rx / np.sqrt((perms ** 2).sum(axis=1))
        up, down = float(np.mean(rhos >= rho - 1e-12)), float(np.mean(rhos <= rho + 1e-12))
    else:
        up = float(spearmanr(xs, ys, alternative="greater").pvalue)
        down = float(spearmanr(xs, ys, alternative="less").pvalue)
    p, pr = (up, down) if direction == "greater" else (down, up)
    detail = f"rho = {rho:.3g} over {n} points; p = {_p(p)}, reverse p = {_p(pr)}, level {level:g}"
    return Decision(_decide(p, pr, level), test, rho, p, level, detail, pr)


# --------------------------------------------------------------------------- the mean of several accuracies

def compare_mean_accuracies(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], direction: str = "greater",
                            level: float = 0.05, what: str = "mean accuracy") -> Decision:
    """Decide "the mean of accuracies ``a`` (``[(k, n), ...]``, e.g. one per eps of a robustness
    profile) exceeds (or is below) that of ``b``", one model each, evaluated once.

    One-sided z-test on the difference of the means. The accuracies of one model are measured on
    the same examples and correlated in an unknown way, so each mean's variance is bounded for *any*
    correlation: ``Var(mean_j p_j) <= (mean_j sd_j)^2`` (Cauchy-Schwarz), with ``sd_j^2 = p~(1 - p~) / n``
    and ``p~ = (k + 1) / (n + 2)`` (never 0). The two models count as independent samples, as in
    Fisher's test. Normal approximation; conservative in the correlation.
    """
    from scipy.stats import norm

    level = check_alpha(level)
    direction = check_direction(direction)
    if not a or not b:
        raise StatisticsError("compare_mean_accuracies needs at least one accuracy on each side")

    def summary(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
        for k, n in counts:
            if as_count(k, "k") > as_count(n, "n") or n == 0:
                raise StatisticsError(f"need 0 <= k <= n and n > 0, got {k}/{n}")
        mean = math.fsum(k / n for k, n in counts) / len(counts)
        sd = math.fsum(math.sqrt((k + 1) / (n + 2) * (1 - (k + 1) / (n + 2)) / n) for k, n in counts) / len(counts)
        return mean, sd * sd

    ma, va = summary(a)
    mb, vb = summary(b)
    z = (ma - mb) / math.sqrt(va + vb)
    up, down = float(norm.sf(z)), float(norm.cdf(z))
    p, pr = (up, down) if direction == "greater" else (down, up)
    test = "z-test on the mean of accuracies, one-sided (variance bounded for any correlation between them)"
    sign = ">" if direction == "greater" else "<"
    detail = (f"{what} {100 * ma:.1f} % vs {100 * mb:.1f} % ({len(a)} and {len(b)} accuracies); z = {z:.3g}, "
              f"p(1 {sign} 2) = {_p(p)}, reverse p = {_p(pr)}, level {level:g}")
    return Decision(_decide(p, pr, level), test, z, p, level, detail, pr)


def inconclusive(test: str, reason: str, level: float = 0.05, statistic: float = NAN,
                 interval: Optional[Interval] = None) -> Decision:
    """An INCONCLUSIVE decision with its reason (e.g. one seed of a metric without counts)."""
    return Decision(Verdict.INCONCLUSIVE, test, statistic, NAN, check_alpha(level), reason, NAN, interval)
