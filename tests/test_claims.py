"""Executable claims: evaluation over a run's rows, missing data, broken claims, the CLI."""
import json
import math

import pandas as pd
import pytest

import bench
from bench.api.claim import (ClaimDataMissing, ClaimResult, accuracy_counts, accuracy_noninferior,
                             accuracy_vs_reference, compare_accuracies, compare_metrics, compare_nested_accuracies,
                             component_params, mean_accuracies, metric_bound, metric_column, optional_value,
                             robust_column, robust_columns, seed_values, select, select_where, trend, value,
                             worst_case_column)
from bench.api.claim_stats import (bound, compare_mean_accuracies, every, newcombe_interval, noninferiority,
                                   reference, some, spearman_trend)
from bench.claims import claims_for, evaluate_claims, outcomes_json, suite_matches, summary
from bench.cli.main import main
from bench.registry import get_registry
from bench.stats import Decision, Verdict
from bench.testing import rows as R

from runner_helpers import tiny_suite

HOLDS, NOT, INCONCLUSIVE, ERROR = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE, Verdict.ERROR


def test_helpers_select_rows_and_average_over_seeds():
    frame = pd.DataFrame({"defense": ["a", "a", "b"], "seed": [0, 1, 0], "clean": [0.5, 0.7, float("nan")],
                          "robust[pgd Linf 0.1]": [0.1, 0.3, 0.2]})
    assert value(frame, "clean", defense="a") == pytest.approx(0.6)
    assert len(select(frame, defense="a")) == 2
    assert optional_value(frame, "clean", defense="a") == pytest.approx(0.6)
    assert optional_value(frame, "clean", defense="c") is None and optional_value(frame, "nope", defense="a") is None
    with pytest.raises(ClaimDataMissing, match="no row with defense='c'"):
        value(frame, "clean", defense="c")
    with pytest.raises(ClaimDataMissing, match="empty"):
        value(frame, "clean", defense="b")
    with pytest.raises(ClaimDataMissing, match="no column"):
        value(frame, "probe[x.y]", defense="a")


def test_columns_and_rows_are_found_by_parameters_whatever_their_labels(tmp_path, testkit):
    from bench.rows.frame import to_frame

    suite = tiny_suite()
    suite["attacks"] = [{"id": "sign", "label": "renamed-sign", "eps": [0.05, "0.1"]},
                        {"id": "sign", "label": "sign-l2", "norm": "L2", "eps": 0.5}]
    res = bench.run(suite, workdir=tmp_path, plugins=testkit, device="cpu")
    frame = to_frame(res.rows)
    assert robust_column(frame, "robarena_testkit/sign", norm="Linf", eps=0.1) == "robust[renamed-sign Linf 0.1]"
    assert robust_column(frame, "robarena_testkit/sign", norm="L2") == "robust[sign-l2 L2 0.5]"
    assert len(robust_columns(frame, "robarena_testkit/sign")) == 3
    assert worst_case_column(frame, norm="Linf", eps=0.05) == "ensemble[Linf 0.05]"
    with pytest.raises(ClaimDataMissing, match="2 robust-accuracy columns match"):
        robust_column(frame, "robarena_testkit/sign", norm="Linf")
    with pytest.raises(ClaimDataMissing, match="0 robust-accuracy columns"):
        robust_column(frame, "robarena_testkit/sign", eps=0.3)
    erm = select_where(frame, defense_id="robarena_testkit/erm")
    assert set(erm["defense_id"]) == {"robarena_testkit/erm"} and len(erm) >= 1
    rid = erm["row_id"].iloc[0]
    (row,) = [r for r in res.rows if r.row_id == rid]
    assert component_params(frame, rid, "defense") == row.defense_params
    assert component_params(frame, rid, "model") == row.model_params
    with pytest.raises(ClaimDataMissing, match="no row"):
        select_where(frame, defense_id="robarena_testkit/nothing")
    with pytest.raises(ClaimDataMissing):
        metric_column(frame, "robarena_testkit/confidence", "no-such-column")


def test_suite_names_match_plain_or_qualified():
    assert suite_matches("guessfirst/p4-cpu", "p4-cpu") and suite_matches("p4-cpu", "p4-cpu")
    assert not suite_matches("guessfirst/p4-full", "p4-cpu")


def test_claims_over_a_real_run(tmp_path, testkit, capsys):
    res = bench.run(tiny_suite(), workdir=tmp_path, plugins=testkit)
    assert res.ok
    registry = get_registry(testkit)
    entries = claims_for(registry, "tiny")
    assert sorted(e.spec.name for e in entries) == ["attack-hurts", "needs-missing", "raises"]
    outcomes = {o.claim.split("/")[-1]: o for o in evaluate_claims(entries, res.to_pandas())}
    hurts = outcomes["attack-hurts"].result
    row = res.rows[0]
    # the numbers behind the claim are the row's own numbers, the test the exact McNemar test on its counts
    assert hurts.numbers == {"clean": row.clean_accuracy, "robust": next(iter(row.robust.values()))}
    k_clean, k_robust = row.clean.correct, row.attacks[0].accuracy.correct
    assert hurts.test == "exact McNemar test, one-sided" and hurts.level == 0.05
    assert hurts.p_value == pytest.approx(0.5 ** (k_clean - k_robust))  # b10 = k_clean - k_robust, b01 = 0
    assert hurts.holds == (hurts.p_value <= 0.05) and hurts.verdict in (HOLDS, INCONCLUSIVE)
    assert outcomes["needs-missing"].result.holds is None and outcomes["needs-missing"].status == "not checked"
    assert "not-trained" in outcomes["needs-missing"].result.detail
    raised = outcomes["raises"].result
    assert raised.verdict is ERROR and raised.status == "error" and raised.holds is False
    assert "ZeroDivisionError: boom" in raised.detail

    argv = ["-p", testkit[0], "claims", "tiny", "--workdir", str(tmp_path), "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    printed = {d["claim"].split("/")[-1]: d for d in json.loads(capsys.readouterr().out)}
    assert printed["attack-hurts"]["holds"] == hurts.holds
    assert printed["attack-hurts"]["verdict"] == str(hurts.verdict) and printed["attack-hurts"]["level"] == 0.05
    assert printed["attack-hurts"]["p_value"] == pytest.approx(hurts.p_value)
    assert printed["needs-missing"]["status"] == "not checked" and printed["needs-missing"]["verdict"] is None
    assert printed["raises"]["status"] == "error" and printed["raises"]["p_value"] is None
    assert main(argv[:-1] + ["--strict"]) == 1  # one claim raised, one could not be checked
    out = capsys.readouterr().out
    assert "1 error, 1 not checked on 1 rows of suite 'tiny'" in out
    assert "ZeroDivisionError" in out and f"p = {hurts.p_value:.3g} (level 0.05)" in out
    assert main(argv[:-1] + ["--all"]) == 0
    full = " ".join(capsys.readouterr().out.split())
    assert "test exact McNemar test, one-sided" in full and "level 0.05" in full and "(for the claim)" in full


def test_claims_cli_errors(tmp_path, testkit, capsys):
    assert main(["-p", testkit[0], "claims", "no-such-suite", "--workdir", str(tmp_path)]) == 2
    assert "no registered claim is about suite 'no-such-suite'" in capsys.readouterr().err
    assert main(["-p", testkit[0], "claims", "tiny", "--workdir", str(tmp_path)]) != 0
    assert "robarena run tiny" in capsys.readouterr().err


class _Entry:
    """A registry entry stand-in: ``load()`` gives ``check``."""

    def __init__(self, check, name="x/y"):
        self.qualified_id, self.check = name, check

        class spec:
            paper = None
            statement = "s"
        self.spec = spec

    def load(self):
        return self.check


def test_a_claim_returning_the_wrong_type_is_an_error_and_missing_data_is_not_checked():
    def missing(frame):
        raise ClaimDataMissing("no row with defense='x'")

    wrong, unchecked = evaluate_claims([_Entry(lambda frame: 1.0), _Entry(missing)], pd.DataFrame())
    assert wrong.result.verdict is ERROR and "expected ClaimResult" in wrong.result.detail
    assert unchecked.result.verdict is None and unchecked.status == "not checked"
    assert unchecked.result.detail == "missing data: no row with defense='x'"
    assert summary([wrong, unchecked]) == "0 of 2 claims hold, 0 do not hold, 0 inconclusive, 1 error, 1 not checked"
    assert isinstance(ClaimResult(True).numbers, dict)


def test_claim_result_verdicts_and_the_boolean_compatibility_view():
    assert ClaimResult(True).verdict is HOLDS and ClaimResult(True).holds is True
    assert ClaimResult(False).verdict is NOT and ClaimResult(False).holds is False
    assert ClaimResult(None).status == "not checked" and ClaimResult(None).holds is None
    assert ClaimResult(INCONCLUSIVE).holds is False and ClaimResult("inconclusive").verdict is INCONCLUSIVE
    assert ClaimResult("not checked").verdict is None
    with pytest.raises(TypeError):
        ClaimResult(1.0)
    d = Decision(HOLDS, "some test", 2.5, 0.01, 0.05, "p = 0.01", 0.99)
    r = ClaimResult.of(d, {"a": 1.0}, "context")
    assert (r.verdict, r.test, r.level, r.statistic, r.p_value, r.p_reverse) == (HOLDS, "some test", 0.05, 2.5, 0.01,
                                                                                  0.99)
    assert r.detail == "p = 0.01\ncontext" and r.numbers == {"a": 1.0} and r.interval is None
    (record,) = outcomes_json(evaluate_claims([_Entry(lambda frame: r)], pd.DataFrame()))
    assert record["verdict"] == "holds" and record["p_value"] == 0.01 and record["interval"] is None
    assert record["statistic"] == 2.5 and json.loads(json.dumps(record)) == record


# ---------------------------------------------------------------- evidence and decisions on constructed frames
STANDARD = ("standard", "classics/standard", {})


def at(eps):
    return (f"AT {eps}", "classics/pgd-at", {"eps": eps})


def count_row(defense, clean, seed=0, robust=None, probes=()):
    """A row with clean (and robust) accuracy given as exact counts (k, n)."""
    attacks = [R.attack("pgd", "classics/pgd", {}, robust)] if robust is not None else []
    return R.row(defense, seed=seed, clean=clean, attacks=attacks, probes=probes)


def gap(value):
    return [R.metric("probe", "gen", "classics/generalization", {}, "loss_gap", value)]


def test_accuracy_counts_and_seed_values_come_from_the_frame():
    f = R.frame([count_row(STANDARD, (3, 4), 0), count_row(STANDARD, (1, 4), 1), count_row(at(0.1), (4, 4), 0)])
    assert f.attrs["counts"]["digits/small-cnn/standard/seed0"]["clean"] == (3, 4)
    std = select_where(f, defense_id="classics/standard")
    assert accuracy_counts(std, "clean") == (4, 8)  # seeds pooled
    assert accuracy_counts(f, "clean", defense="AT 0.1") == (4, 4)
    assert seed_values(std, "clean") == {0: 0.75, 1: 0.25}
    with pytest.raises(ClaimDataMissing, match="no count"):
        accuracy_counts(R.frame([count_row(STANDARD, (3, 4), probes=gap(0.1))]), "probe[gen.loss_gap]")


def test_a_greater_b_on_counts_is_fishers_exact_test():
    # 4/4 vs 0/4: the one-sided Fisher p is 1 / C(8, 4) = 1/70; 3/3 vs 0/3 would give 1/20
    f = R.frame([count_row(at(0.1), (4, 4)), count_row(STANDARD, (0, 4))])
    a, b = select_where(f, defense_id="classics/pgd-at"), select_where(f, defense_id="classics/standard")
    d = compare_accuracies(a, b, "clean", "greater")
    assert d.verdict is HOLDS and d.p_value == pytest.approx(1 / 70) and d.p_reverse == pytest.approx(1.0)
    assert d.test == "Fisher's exact test, one-sided"
    rev = compare_accuracies(b, a, "clean", "greater")
    assert rev.verdict is NOT and rev.p_reverse == pytest.approx(1 / 70)
    assert compare_accuracies(a, a, "clean", "greater").verdict is INCONCLUSIVE  # tied data


def test_a_greater_b_over_several_seeds_is_the_paired_t_test():
    # differences 0.1, 0.2, 0.3: t = 0.2 / (0.1 / sqrt 3) = 2 sqrt 3; df 2: p = (1 - t / sqrt(t^2 + 2)) / 2
    a = [count_row(at(0.1), (k, 10), seed=s) for s, k in enumerate((6, 7, 8))]
    b = [count_row(STANDARD, (5, 10), seed=s) for s in range(3)]
    f = R.frame(a + b)
    d = compare_accuracies(select_where(f, defense_id="classics/pgd-at"), select_where(f, defense_id="classics/standard"),
                           "clean")
    t = 2 * math.sqrt(3)
    assert d.test == "paired t-test over seeds, one-sided" and d.statistic == pytest.approx(t)
    assert d.p_value == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2) and d.verdict is HOLDS
    tied = R.frame([count_row(at(0.1), (6, 10), seed=s) for s in range(3)]
                   + [count_row(STANDARD, (5, 10), seed=s) for s in range(3)])
    d = compare_accuracies(select_where(tied, defense_id="classics/pgd-at"),
                           select_where(tied, defense_id="classics/standard"), "clean")
    assert d.verdict is INCONCLUSIVE and "same difference" in d.detail  # every seed +0.1: no variance


def test_a_metric_without_counts_needs_seeds():
    one = R.frame([count_row(at(0.1), (4, 4), probes=gap(0.1)), count_row(STANDARD, (4, 4), probes=gap(0.3))])
    col = metric_column(one, "classics/generalization", "loss_gap")
    d = compare_metrics(select_where(one, defense_id="classics/pgd-at"),
                        select_where(one, defense_id="classics/standard"), col, "less")
    assert d.verdict is INCONCLUSIVE and math.isnan(d.p_value)
    assert d.detail == f"one seed: no sampling distribution for {col} (0.1 vs 0.3)"
    rows = [count_row(at(0.1), (4, 4), seed=s, probes=gap(v)) for s, v in enumerate((0.1, 0.2, 0.3))] + \
           [count_row(STANDARD, (4, 4), seed=s, probes=gap(v)) for s, v in enumerate((0.2, 0.4, 0.6))]
    f = R.frame(rows)
    at_rows, std_rows = select_where(f, defense_id="classics/pgd-at"), select_where(f, defense_id="classics/standard")
    d = compare_metrics(at_rows, std_rows, col, "less")  # differences -0.1, -0.2, -0.3: t = -2 sqrt 3
    t = 2 * math.sqrt(3)
    assert d.verdict is HOLDS and d.p_value == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2)
    assert compare_metrics(at_rows, std_rows, col, "greater").verdict is NOT  # a significant reverse effect


def test_nested_accuracies_use_the_exact_mcnemar_test():
    # clean 10/10, robust 4/10: six examples only clean-correct, none only robust-correct: p = 0.5^6
    f = R.frame([count_row(STANDARD, (10, 10), robust=(4, 10))])
    col = robust_column(f, "classics/pgd")
    d = compare_nested_accuracies(f, col, "clean")
    assert d.verdict is HOLDS and d.p_value == pytest.approx(0.5 ** 6) and d.statistic == 6
    tied = R.frame([count_row(STANDARD, (7, 10), robust=(7, 10))])
    assert compare_nested_accuracies(tied, col, "clean").verdict is INCONCLUSIVE  # p = 1
    with pytest.raises(Exception, match="not nested"):
        compare_nested_accuracies(f, "clean", col)


def test_trend_needs_every_step_and_corrects_the_reverse_for_the_number_of_steps():
    def sweep(*counts):
        rows = [count_row(STANDARD, counts[0])] + [count_row(at(e), c) for e, c in zip((0.1, 0.2, 0.3), counts[1:])]
        f = R.frame(rows)
        return [(str(r), select_where(f, defense_id=i, defense_params=p or None))
                for r, i, p in [STANDARD] + [at(e) for e in (0.1, 0.2, 0.3)][:len(counts) - 1]]

    d, steps = trend(sweep((0, 4), (4, 4), (4, 4)), "clean", "up")  # second step tied
    assert d.verdict is INCONCLUSIVE and steps["AT 0.1 -> AT 0.2"].verdict is INCONCLUSIVE
    assert steps["standard -> AT 0.1"].p_value == pytest.approx(1 / 70)
    d, _ = trend(sweep((0, 4), (4, 4)), "clean", "up")
    assert d.verdict is HOLDS and d.detail.startswith("standard -> AT 0.1: ")  # one step: that step's decision
    d, _ = trend(sweep((0, 5), (5, 5), (0, 5)), "clean", "up")  # 5/5 -> 0/5: reverse p = 1/252 <= 0.05 / 2
    assert d.verdict is NOT and "against the claim: AT 0.1 -> AT 0.2" in d.detail
    # 4/4 -> 0/3: reverse p = 1/35 = 0.029: significant alone, not after Bonferroni over 2 steps (0.025)
    single, _ = trend(sweep((4, 4), (0, 3)), "clean", "up")
    assert single.verdict is NOT and single.p_reverse == pytest.approx(1 / 35)
    two, _ = trend(sweep((0, 4), (4, 4), (0, 3)), "clean", "up")
    assert two.verdict is INCONCLUSIVE and two.p_reverse == pytest.approx(2 / 35)
    d, _ = trend(sweep((0, 5), (3, 5), (5, 5)), "clean", "up")
    assert d.verdict is INCONCLUSIVE  # 0/5 -> 3/5 (p = 0.083) is not significant on its own


def test_every_and_some_combine_decisions():
    def dec(verdict, p, pr):
        return Decision(verdict, "t", 0.0, p, 0.05, "", pr)

    assert every({"a": dec(HOLDS, 0.01, 0.99), "b": dec(HOLDS, 0.04, 0.96)}).verdict is HOLDS
    both = every({"a": dec(HOLDS, 0.01, 0.99), "b": dec(HOLDS, 0.04, 0.96)})
    assert both.p_value == 0.04 and both.statistic == 2 and "intersection-union" in both.test
    assert every({"a": dec(HOLDS, 0.01, 0.99), "b": dec(INCONCLUSIVE, 0.5, 0.5)}).verdict is INCONCLUSIVE
    assert every({"a": dec(HOLDS, 0.01, 0.99), "b": dec(NOT, 0.99, 0.02)}).verdict is NOT  # 0.02 <= 0.025
    assert every({"a": dec(HOLDS, 0.01, 0.99), "b": dec(NOT, 0.97, 0.03)}).verdict is INCONCLUSIVE
    bound_fail = Decision(NOT, "measured value vs the stated bound", 0.2, math.nan, 0.05, "x")
    assert every({"a": dec(HOLDS, 0.01, 0.99), "b": bound_fail}).verdict is NOT
    assert some({"a": dec(HOLDS, 0.02, 0.98), "b": dec(INCONCLUSIVE, 0.5, 0.5)}).verdict is HOLDS
    assert some({"a": dec(HOLDS, 0.03, 0.97), "b": dec(INCONCLUSIVE, 0.5, 0.5)}).verdict is INCONCLUSIVE
    assert some({"a": dec(HOLDS, 0.001, 0.999), "b": dec(NOT, 0.99, 0.01)}).verdict is NOT


def test_noninferiority_reproduces_newcombes_published_intervals():
    # Newcombe (1998), Stat. Med. 17, Table II, method 10 (95 %)
    for counts, (low, high) in {(56, 70, 48, 80): (0.0524, 0.3339), (9, 10, 3, 10): (0.1705, 0.8090),
                                (5, 56, 0, 29): (-0.0381, 0.1926)}.items():
        ci = newcombe_interval(*counts, confidence=0.95)
        assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)
    # 48/80 vs 56/70 at level 0.025 (the 95 % interval [-0.3339, -0.0524]) against -margin
    assert noninferiority(48, 80, 56, 70, 0.35, 0.025).verdict is HOLDS
    assert noninferiority(48, 80, 56, 70, 0.30, 0.025).verdict is INCONCLUSIVE
    assert noninferiority(48, 80, 56, 70, 0.05, 0.025).verdict is NOT
    # the p-value inverts the interval: at margin = the interval's end, p = the interval's level
    edge = -newcombe_interval(48, 80, 56, 70, confidence=0.9).low
    assert noninferiority(48, 80, 56, 70, edge, 0.05).p_value == pytest.approx(0.05, rel=1e-6)
    f = R.frame([count_row(at(0.1), (48, 80)), count_row(STANDARD, (56, 70))])
    d = accuracy_noninferior(select_where(f, defense_id="classics/pgd-at"),
                             select_where(f, defense_id="classics/standard"), "clean", 0.35, 0.025)
    assert d.verdict is HOLDS and d.interval.low == pytest.approx(-0.3339, abs=5e-5)


def test_reference_value_within_a_tolerance():
    # docs/statistics.md: 0/1000 has the 90 % interval [0, 0.30 %]
    d = reference(0, 1000, 0.0, 0.005)
    assert d.verdict is HOLDS and d.p_value == pytest.approx(0.995 ** 1000)  # P(X <= 0 | p = 0.5 %)
    assert reference(0, 1000, 0.0, 0.002).verdict is INCONCLUSIVE
    far = reference(500, 1000, 0.2, 0.05)
    assert far.verdict is NOT and far.p_reverse < 1e-12
    f = R.frame([count_row(STANDARD, (0, 1000))])
    assert accuracy_vs_reference(f, "clean", 0.0, 0.005).verdict is HOLDS


def test_a_bound_the_claim_states():
    one = bound([0.03], 0.05, "less")
    assert one.verdict is HOLDS and math.isnan(one.p_value) and "no sampling test" in one.test
    assert bound([0.05], 0.05, "less").verdict is NOT  # equal is not below
    # mean 0.02, sd 0.01, n 3 vs 0.05: t = -3 sqrt 3, df 2: p = (1 - |t| / sqrt(t^2 + 2)) / 2
    d = bound([0.01, 0.02, 0.03], 0.05, "less")
    t = 3 * math.sqrt(3)
    assert d.verdict is HOLDS and d.p_value == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2)
    assert bound([0.04, 0.04], 0.05, "less").verdict is INCONCLUSIVE  # no spread
    f = R.frame([count_row(STANDARD, (4, 4), probes=gap(0.03))])
    assert metric_bound(f, metric_column(f, "classics/generalization", "loss_gap"), 0.05).verdict is HOLDS


def test_spearman_trend_is_an_exact_permutation_test():
    assert spearman_trend([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]).p_value == pytest.approx(1 / 24)
    assert spearman_trend([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]).verdict is HOLDS
    three = spearman_trend([1, 2, 3], [0.1, 0.2, 0.3])
    assert three.verdict is INCONCLUSIVE and three.p_value == pytest.approx(1 / 6)  # 3 points never suffice
    assert spearman_trend([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1]).verdict is NOT
    assert spearman_trend([1, 2, 3], [0.2, 0.2, 0.2]).verdict is INCONCLUSIVE


def test_mean_of_accuracies_z_test():
    # one accuracy each: p~ = 51/102 and 31/102, variances p~(1 - p~)/100
    va, vb = 0.25 / 100, (31 / 102) * (71 / 102) / 100
    d = compare_mean_accuracies([(50, 100)], [(30, 100)])
    assert d.statistic == pytest.approx(0.2 / math.sqrt(va + vb)) and d.verdict is HOLDS
    # two equal accuracies: the same mean and, bounded for any correlation, the same variance
    assert compare_mean_accuracies([(50, 100)] * 2, [(30, 100)] * 2).statistic == pytest.approx(d.statistic)
    assert compare_mean_accuracies([(20, 100), (40, 100)], [(40, 100), (20, 100)]).verdict is INCONCLUSIVE
    f = R.frame([count_row(at(0.1), (50, 100), robust=(50, 100)), count_row(STANDARD, (30, 100), robust=(30, 100))])
    cols = ["clean", robust_column(f, "classics/pgd")]
    m = mean_accuracies(select_where(f, defense_id="classics/pgd-at"), select_where(f, defense_id="classics/standard"),
                        cols)
    assert m.statistic == pytest.approx(d.statistic)
