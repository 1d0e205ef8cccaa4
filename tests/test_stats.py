"""bench.stats against known answers: closed forms, published worked examples, fixed-seed simulation."""
from __future__ import annotations

import math
import statistics
from math import comb
from statistics import NormalDist

import numpy as np
import pytest

from bench.errors import UsageError
from bench.stats import (Decision, Interval, StatisticsError, Verdict, check_reach, compare_proportions,
                         compare_seeds, compare_to_reference, default_step_size, mcnemar, mcnemar_counts,
                         paired_seed_test, proportion_interval, reach_problem, seed_summary, steps_reach_boundary)


def masks(n11: int, b10: int, b01: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-example outcomes of rows A and B with the given paired 2x2 table (shuffled)."""
    a = np.array([1] * n11 + [1] * b10 + [0] * b01 + [0] * n00, dtype=bool)
    b = np.array([1] * n11 + [0] * b10 + [1] * b01 + [0] * n00, dtype=bool)
    order = np.random.default_rng(0).permutation(a.size)
    return a[order], b[order]


# ---------------------------------------------------------------- intervals
def test_clopper_pearson_is_exact_at_zero_and_n():
    zero = proportion_interval(0, 10)
    assert zero.low == 0.0 and zero.estimate == 0.0
    assert zero.high == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    full = proportion_interval(10, 10)
    assert full.high == 1.0 and full.estimate == 1.0
    assert full.low == pytest.approx(0.025 ** (1 / 10), rel=1e-12)


@pytest.mark.parametrize("k", [0, 1, 7, 13, 20])
def test_clopper_pearson_is_symmetric_in_successes_and_failures(k):
    ci, mirror = proportion_interval(k, 20), proportion_interval(20 - k, 20)
    assert ci.low == pytest.approx(1 - mirror.high, abs=1e-12)
    assert ci.high == pytest.approx(1 - mirror.low, abs=1e-12)


def test_clopper_pearson_matches_r_binom_test_example():
    # R's ?binom.test example: binom.test(682, 925) -> 95 percent CI 0.7076683 0.7654066
    ci = proportion_interval(682, 925)
    assert (ci.low, ci.high) == pytest.approx((0.7076683, 0.7654066), abs=5e-8)


@pytest.mark.parametrize("k,n", [(1, 10), (12, 50), (244, 500)])
def test_clopper_pearson_solves_its_defining_tail_equations(k, n):
    from scipy.stats import binom

    ci = proportion_interval(k, n, level=0.9)
    assert binom.sf(k - 1, n, ci.low) == pytest.approx(0.05, rel=1e-8)   # P(X >= k | low) = alpha/2
    assert binom.cdf(k, n, ci.high) == pytest.approx(0.05, rel=1e-8)     # P(X <= k | high) = alpha/2


@pytest.mark.parametrize("k,n,level", [(0, 10, 0.95), (3, 10, 0.95), (244, 500, 0.95), (40, 41, 0.9)])
def test_wilson_matches_its_closed_form(k, n, level):
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    ci = proportion_interval(k, n, level, method="wilson")
    assert (ci.low, ci.high) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)), abs=1e-12)
    assert ci.estimate == p and ci.method == "wilson"


def test_clopper_pearson_exact_coverage_is_at_least_nominal():
    # Coverage summed over the binomial pmf: the guarantee that makes Clopper-Pearson "exact".
    from scipy.stats import binom

    for n in (20, 50):
        intervals = [proportion_interval(k, n) for k in range(n + 1)]
        for p in (0.01, 0.05, 0.2, 0.37, 0.5, 0.81, 0.95):
            coverage = sum(binom.pmf(k, n, p) for k, ci in enumerate(intervals) if ci.contains(p))
            assert coverage >= 0.95 - 1e-12, (n, p, coverage)


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
@pytest.mark.parametrize("n", [50, 500])
def test_coverage_on_simulated_bernoulli_outcomes(p, n):
    reps = 2000
    # Simulated coverage of a 95 % interval has standard error sqrt(.95 * .05 / 2000) = 0.0049;
    # 3 standard errors (0.0146) keep a correct method from failing (two-sided risk 0.3 % per case).
    sim_tol = 3 * math.sqrt(0.95 * 0.05 / reps)
    ks = np.random.default_rng(1234).binomial(n, p, size=reps)
    coverage = {}
    for method in ("clopper-pearson", "wilson"):
        covers = {int(k): proportion_interval(int(k), n, method=method).contains(p) for k in np.unique(ks)}
        coverage[method] = float(np.mean([covers[int(k)] for k in ks]))
    assert coverage["clopper-pearson"] >= 0.95 - sim_tol
    # Wilson is approximate: its true coverage oscillates around 95 % by up to ~2 points at these n
    # (Brown, Cai & DasGupta 2001); add the simulation tolerance. The Wald interval fails this at
    # p = 0.9, n = 50 (exact coverage 0.879).
    assert abs(coverage["wilson"] - 0.95) <= 0.02 + sim_tol


def test_no_examples_gives_the_undefined_interval():
    ci = proportion_interval(0, 0)
    assert math.isnan(ci.estimate) and (ci.low, ci.high) == (0.0, 1.0)
    assert ci.format() == "n/a" and ci.format(style="bracket") == "n/a"


def test_format_styles():
    ci = Interval(0.488, 0.444, 0.532, 244, 500, 0.95, "clopper-pearson")
    assert ci.format() == "48.8 ± 4.4"
    assert ci.format(style="bracket") == "[44.4, 53.2]"
    assert ci.format(percent=False, digits=3) == "0.488 ± 0.044"
    # asymmetric interval: the ± covers the farther end
    skew = Interval(0.0, 0.0, 0.3085, 0, 10, 0.95, "clopper-pearson")
    assert skew.half_width == 0.3085 and skew.format() == "0.0 ± 30.9"
    with pytest.raises(StatisticsError, match="style"):
        ci.format(style="plusminus")


@pytest.mark.parametrize("args,match", [
    ((11, 10), "cannot exceed"), ((-1, 10), ">= 0"), ((2.0, 10), "integer"), ((True, 10), "bool"),
    ((2, "10"), "integer"),
])
def test_interval_rejects_bad_counts(args, match):
    with pytest.raises(StatisticsError, match=match):
        proportion_interval(*args)


def test_interval_rejects_bad_level_and_method_with_usage_errors():
    with pytest.raises(UsageError, match="0.95"):
        proportion_interval(3, 10, level=95)
    with pytest.raises(ValueError, match="clopper-pearson, wilson"):
        proportion_interval(3, 10, method="wald")
    assert proportion_interval(np.int64(3), np.int64(10)).k == 3  # numpy integers are counts too


# ---------------------------------------------------------------- McNemar
@pytest.mark.parametrize("b01,b10,expected", [
    (0, 6, 2 * 0.5 ** 6), (6, 0, 2 * 0.5 ** 6), (3, 3, 1.0), (0, 0, 1.0), (1, 0, 1.0),
    (2, 9, 2 * sum(comb(11, i) for i in range(3)) / 2 ** 11),
])
def test_mcnemar_exact_p_values(b01, b10, expected):
    assert mcnemar_counts(b01, b10).p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_on_masks_matches_published_worked_example():
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables,
    # ch. 8: 59 both, 6 only before, 16 only after, 80 neither. Newcombe's square-and-add interval
    # for the difference: -0.0621 (95 % CI -0.1186 to -0.0046).
    a, b = masks(59, 6, 16, 80)
    test = mcnemar(a, b)
    assert (test.b10, test.b01, test.n11, test.n00, test.n) == (6, 16, 59, 80, 161)
    assert test.p_value == pytest.approx(2 * sum(comb(22, i) for i in range(7)) / 2 ** 22, rel=1e-12)
    assert test.difference == pytest.approx(-10 / 161, rel=1e-12)
    assert (test.interval.low, test.interval.high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert not test.significant(0.05) and test.significant(0.06)
    swapped = mcnemar(b, a)
    assert swapped.p_value == test.p_value and swapped.difference == pytest.approx(10 / 161)
    assert (swapped.interval.low, swapped.interval.high) == pytest.approx((0.0046, 0.1186), abs=5e-5)


def test_mcnemar_accepts_zero_one_lists_and_counts_without_concordant_cells():
    test = mcnemar([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert (test.n11, test.b10, test.b01, test.n00) == (2, 1, 1, 1) and test.p_value == 1.0
    bare = mcnemar_counts(0, 6)
    assert bare.n is None and bare.interval is None and math.isnan(bare.difference)
    assert bare.significant(0.05) and not bare.significant(0.01)


def test_mcnemar_rejects_mismatched_or_malformed_outcomes():
    with pytest.raises(StatisticsError, match="got 3 and 2 outcomes"):
        mcnemar([True, False, True], [True, False])
    with pytest.raises(StatisticsError, match="1-D"):
        mcnemar(np.ones((2, 2), bool), np.ones((2, 2), bool))
    with pytest.raises(StatisticsError, match="0/1"):
        mcnemar([0.2, 0.9], [1, 0])
    with pytest.raises(StatisticsError, match="n11 .* n00"):
        mcnemar_counts(1, 2, n11=3)


# ---------------------------------------------------------------- seeds
def test_seed_summary_against_hand_computation():
    values = [0.50, 0.52, 0.55]
    s = seed_summary(values)
    assert s.mean == pytest.approx(1.57 / 3, rel=1e-12)
    assert s.std == pytest.approx(statistics.stdev(values), rel=1e-12)
    # Student t quantile with 2 degrees of freedom has a closed form: (2q - 1) / sqrt(2 q (1 - q))
    q = 0.975
    t2 = (2 * q - 1) / math.sqrt(2 * q * (1 - q))
    half = t2 * statistics.stdev(values) / math.sqrt(3)
    assert (s.low, s.high) == pytest.approx((s.mean - half, s.mean + half), rel=1e-10)
    assert s.format() == "52.3 ± 2.5 (std, 3 seeds)"


def test_seed_summary_of_one_seed_has_no_spread():
    s = seed_summary([0.7])
    assert s.mean == 0.7 and s.n_seeds == 1 and math.isnan(s.std) and math.isnan(s.low)
    assert s.format() == "70.0 (1 seed)"
    with pytest.raises(StatisticsError, match="empty"):
        seed_summary([])
    with pytest.raises(StatisticsError, match="finite"):
        seed_summary([0.5, float("nan")])


def test_paired_t_test_against_hand_computation():
    a, b = [0.50, 0.52, 0.55], [0.48, 0.50, 0.50]
    # differences 0.02, 0.02, 0.05: mean 0.03, sd sqrt(0.0003), t = 0.03 / (sqrt(0.0003) / sqrt(3)) = 3
    # P(T_2 > t) = 1/2 - t / (2 sqrt(2 + t^2)) for 2 degrees of freedom
    upper = 0.5 - 3 / (2 * math.sqrt(11))
    test = paired_seed_test(a, b)
    assert (test.statistic, test.mean_difference, test.n) == pytest.approx((3.0, 0.03, 3), rel=1e-9)
    assert test.p_value == pytest.approx(2 * upper, rel=1e-9)
    assert paired_seed_test(a, b, alternative="greater").p_value == pytest.approx(upper, rel=1e-9)
    assert not test.significant(0.05) and test.significant(0.1)


def test_paired_t_test_is_undefined_for_one_seed_or_identical_differences():
    one = paired_seed_test([0.6], [0.5])
    assert math.isnan(one.p_value) and one.n == 1 and "inconclusive" in one.note and not one.significant()
    same = paired_seed_test([0.52, 0.54, 0.56], [0.50, 0.52, 0.54])  # +0.02 on every seed, up to rounding
    assert math.isnan(same.p_value) and "inconclusive" in same.note
    with pytest.raises(StatisticsError, match="got 2 and 1 values"):
        paired_seed_test([0.1, 0.2], [0.1])


# ---------------------------------------------------------------- verdicts
def test_verdict_vocabulary():
    assert [v.value for v in Verdict] == ["holds", "does not hold", "inconclusive", "error"]
    assert str(Verdict.DOES_NOT_HOLD) == "does not hold" and f"{Verdict.HOLDS}" == "holds"
    assert Verdict("inconclusive") is Verdict.INCONCLUSIVE


def test_tied_data_is_inconclusive_paired_and_unpaired():
    tied = compare_proportions(250, 500, 250, 500)
    assert tied.verdict is Verdict.INCONCLUSIVE
    assert tied.p_value > 0.5 and tied.p_reverse > 0.5
    a, b = masks(240, 10, 10, 240)
    paired = compare_proportions(250, 500, 250, 500, paired=(a, b))
    assert paired.verdict is Verdict.INCONCLUSIVE and paired.test == "exact McNemar test, one-sided"
    # zero discordant pairs: identical outcomes say nothing about a difference
    assert compare_proportions(3, 5, 3, 5, paired=([1, 1, 1, 0, 0],) * 2).verdict is Verdict.INCONCLUSIVE
    assert compare_seeds([0.5, 0.6], [0.5, 0.6]).verdict is Verdict.INCONCLUSIVE


def test_one_sided_fisher_against_hypergeometric_tail():
    # 4/4 vs 0/4: all 4 successes land in row 1 with probability 1 / C(8, 4) = 1/70
    d = compare_proportions(4, 4, 0, 4)
    assert d.p_value == pytest.approx(1 / 70, rel=1e-9) and d.verdict is Verdict.HOLDS
    assert d.test == "Fisher's exact test, one-sided" and "p(1 > 2)" in d.detail
    assert compare_proportions(4, 4, 0, 4, direction="less").verdict is Verdict.DOES_NOT_HOLD
    # 3/3 vs 0/3: p = 1 / C(6, 3) = 0.05, not enough at level 0.01
    weak = compare_proportions(3, 3, 0, 3, level=0.01)
    assert weak.p_value == pytest.approx(0.05, rel=1e-9) and weak.verdict is Verdict.INCONCLUSIVE


def test_one_sided_mcnemar_decision():
    a, b = masks(50, 6, 0, 44)  # A right on 6 examples where B is wrong, never the reverse
    d = compare_proportions(56, 100, 50, 100, paired=(a, b))
    assert d.p_value == pytest.approx(0.5 ** 6) and d.verdict is Verdict.HOLDS and d.statistic == 6
    assert d.interval is not None and d.interval.estimate == pytest.approx(0.06)
    rev = compare_proportions(56, 100, 50, 100, direction="less", paired=mcnemar(a, b))
    assert rev.verdict is Verdict.DOES_NOT_HOLD and rev.p_reverse == pytest.approx(0.5 ** 6)
    with pytest.raises(StatisticsError, match="do not match"):
        compare_proportions(55, 100, 50, 100, paired=(a, b))


def test_false_holds_rate_stays_below_level_under_the_null():
    # Equal true accuracies: a valid level-0.05 one-sided test says HOLDS at most 5 % of the time.
    # 1000 replications: standard error of the rate at 0.05 is 0.0069; allow 3 of them.
    rng = np.random.default_rng(7)
    k1s, k2s = rng.binomial(200, 0.6, size=(2, 1000))
    rate = np.mean([compare_proportions(int(x), 200, int(y), 200).holds for x, y in zip(k1s, k2s)])
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1000)


def test_compare_seeds_decides_with_one_sided_paired_t():
    a, b = [0.50, 0.52, 0.55], [0.48, 0.50, 0.50]
    d = compare_seeds(a, b)
    assert d.p_value == pytest.approx(0.5 - 3 / (2 * math.sqrt(11)), rel=1e-9)  # 0.0477, see above
    assert d.verdict is Verdict.HOLDS and d.statistic == pytest.approx(3.0)
    assert compare_seeds(a, b, level=0.01).verdict is Verdict.INCONCLUSIVE
    assert compare_seeds(b, a).verdict is Verdict.DOES_NOT_HOLD
    one = compare_seeds([0.9], [0.1])
    assert one.verdict is Verdict.INCONCLUSIVE and "at least 2" in one.detail


def test_compare_to_reference_uses_the_tost_interval():
    # k = 0 of 1000 at level 0.05: the 90 % Clopper-Pearson interval is [0, 1 - 0.05 ** (1/1000)] = [0, 0.00299]
    assert compare_to_reference(0, 1000, 0.0, 0.005).verdict is Verdict.HOLDS
    straddles = compare_to_reference(0, 1000, 0.0, 0.002)
    assert straddles.verdict is Verdict.INCONCLUSIVE
    assert straddles.interval.high == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-10)
    assert compare_to_reference(0, 1000, 0.01, 0.005).verdict is Verdict.DOES_NOT_HOLD
    assert compare_to_reference(0, 0, 0.5, 0.1).verdict is Verdict.INCONCLUSIVE
    with pytest.raises(StatisticsError, match="not 48.8"):
        compare_to_reference(244, 500, 48.8, 1.0)
    with pytest.raises(StatisticsError, match="tolerance"):
        compare_to_reference(244, 500, 0.488, -0.01)


def test_decision_input_errors_and_error_verdict():
    with pytest.raises(StatisticsError, match="direction"):
        compare_proportions(1, 2, 1, 2, direction=">")
    with pytest.raises(StatisticsError, match=r"\(0, 0.5\)"):
        compare_proportions(1, 2, 1, 2, level=0.95)
    with pytest.raises(StatisticsError, match="k2 = 3 cannot exceed n2 = 2"):
        compare_proportions(1, 2, 3, 2)
    err = Decision.from_error(RuntimeError("row missing"), test="claim x")
    assert err.verdict is Verdict.ERROR and err.detail == "RuntimeError: row missing" and not err.holds
    assert str(err) == "error (RuntimeError: row missing)"


# ---------------------------------------------------------------- eps reachability
def test_default_step_sizes():
    assert default_step_size("Linf", 8 / 255, 10) == 2 / 255        # P0's value, exactly
    assert default_step_size("Linf", 0.3, 40) == 0.075
    assert default_step_size("L2", 0.5, 20) == 0.0625                # Madry et al.: 2.5 * eps / steps
    with pytest.raises(StatisticsError, match="steps must be >= 1"):
        default_step_size("L2", 0.5, 0)


def test_reachability_boundaries():
    eps = 8 / 255
    assert steps_reach_boundary("Linf", eps, eps / 4, 4)               # 4 * eps/4 = eps exactly
    assert not steps_reach_boundary("Linf", eps, eps / 4, 3)
    assert check_reach("Linf", eps, eps / 4, 4, random_start=True).status == "marginal"
    assert check_reach("Linf", eps, eps / 4, 7, random_start=True).status == "marginal"
    assert check_reach("Linf", eps, eps / 4, 8, random_start=True).status == "reachable"
    assert reach_problem("Linf", eps, eps / 4, 8, random_start=True) is None
    # rounding: 19 * (0.1 / 19) = 0.09999999999999999 still reaches 0.1
    assert steps_reach_boundary("L2", 0.1, 0.1 / 19, 19)


def test_issue_example_default_pgd_cannot_reach_eps_point_three():
    # Linf eps 0.3 with the old absolute default 2/255 and 20 steps: 20 * 2/255 = 0.157 < 0.3
    problem = reach_problem("Linf", 0.3, 2 / 255, 20, random_start=True)
    assert problem.startswith("unreachable:") and "0.1569 < eps = 0.3" in problem
    assert reach_problem("Linf", 0.3, default_step_size("Linf", 0.3, 20), 20, random_start=True) is None
    assert not steps_reach_boundary("L2", 0.5, 2 / 255, 20)
    assert reach_problem("L2", 0.5, default_step_size("L2", 0.5, 20), 20, random_start=True) is None


def test_reachability_input_errors():
    with pytest.raises(StatisticsError, match="Linf, L2"):
        check_reach("unbounded", 1.0, 0.1, 10)
    with pytest.raises(StatisticsError, match="eps must be"):
        check_reach("Linf", 0.0, 0.1, 10)
    with pytest.raises(StatisticsError, match="step_size must be"):
        check_reach("Linf", 0.1, -0.1, 10)
    with pytest.raises(StatisticsError, match="steps must be an integer"):
        check_reach("Linf", 0.1, 0.1, 2.5)
