"""P2 claims on schema-2 leaderboard frames: each holds, does not hold (a significant reverse effect), is
inconclusive (one seed, tied data) and reports missing data as it should, p2-cpu's published numbers give
their verdicts, and renaming the suite's labels changes none."""
from __future__ import annotations

from typing import Any, Optional

import pytest

from bench.api.claim import ClaimDataMissing
from bench.stats import Verdict
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from bench.testing.rows import frame, metric, relabel, row
from robarena_infotransfer.claim_rows import larger, roles, sources, sweep
from robarena_infotransfer.probes import claims as probe_claims
from robarena_infotransfer.tasks import transfer_claims as tc

# the validated parameters the runner records for p2-cpu's components
GRATINGS = ("gratings32", "core/gratings32", {"n_test": 500, "n_train": 2000, "noise": 0.08, "seed": 0})
RESNET8 = ("resnet8", "classics/resnet-cifar", {"depth": 8, "mean": None, "shortcut": "A", "std": None, "width": 1})
STANDARD = ("standard", "classics/standard", {})
PGD_AT = ("PGD-AT", "classics/pgd-at", {"eps": 4.0, "norm": "L2", "random_start": True,
                                        "step_size": 3.3333333333333335, "steps": 3})
PGD_AT_LARGE = ("PGD-AT-large", "classics/pgd-at", {"eps": 8.0, "norm": "L2", "random_start": True,
                                                    "step_size": 6.666666666666667, "steps": 3})
TARGET_IDS = {"source": ("core/gratings32", {}), "near": ("core/gratings32-shifted", {"shift": 0.25}),
              "mid": ("core/gratings32-shifted", {"shift": 1.0}), "far": ("core/digits32", {})}
PROBE_PARAMS = {"infotransfer/rep-fisher": ("rep-fisher", {"batch_size": 32, "n": 128, "rank_tol": 1e-06,
                                                           "ridge": 1e-06, "sigma": 1.0}),
                "infotransfer/weight-norm": ("weight-norm", {}),
                "infotransfer/weight-info": ("weight-info", {"batch_size": 32, "beta": 1e-08, "fisher": "true",
                                                             "n": 256, "prior_std": 0.03, "split": "train"}),
                "infotransfer/entanglement": ("entanglement", {"grid": 71, "n": 512, "temperature": None})}


def transfer_params(targets) -> dict[str, Any]:
    return {"attack_steps": 20, "eps": 1.0, "norm": "L2", "robust_n": 200,
            "targets": [{"id": TARGET_IDS.get(t, ("core/digits32", {}))[0],
                         "params": TARGET_IDS.get(t, ("", {}))[1], "label": t} for t in targets]}


def transfer_metrics(acc: dict, dist: dict, rob: dict) -> list[dict]:
    params = transfer_params(acc)
    return [metric("task", "transfer", "infotransfer/transfer", params, f"{t}.{name}", values[t])
            for t in acc for name, values in (("accuracy", acc), ("distance", dist), ("robust_accuracy", rob))]


def probe_metrics(values: dict) -> list[dict]:
    return [metric("probe", PROBE_PARAMS[ident][0], ident, PROBE_PARAMS[ident][1], column, v)
            for (ident, column), v in values.items()]


def p2_row(defense: tuple, seed: int = 0, probes: Optional[dict] = None, tasks: Optional[list] = None) -> dict:
    return row(defense, dataset=GRATINGS, model=RESNET8, seed=seed, clean=1.0,
               probes=probe_metrics(probes or {}), tasks=tasks or [])


HOLDS, NOT, INCONCLUSIVE = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE


def transfer_frame(acc_rob: dict, acc_st: dict, dist: dict, rob_acc=(0.5, 0.1), seeds: int = 3):
    """Robust and standard rows for seeds 0, 1, ...; seed s adds 0.01 s to the robust row's accuracies
    and robust accuracies (so their differences to the standard row vary between seeds)."""
    rows = []
    for s in range(seeds):
        rows += [p2_row(PGD_AT, seed=s, tasks=transfer_metrics({t: v + 0.01 * s for t, v in acc_rob.items()},
                                                               {t: 0.5 * dist[t] for t in acc_rob},
                                                               {t: rob_acc[0] + 0.01 * s for t in acc_rob})),
                 p2_row(STANDARD, seed=s, tasks=transfer_metrics(acc_st, {t: dist[t] for t in acc_st},
                                                                 {t: rob_acc[1] for t in acc_st}))]
    return frame(rows)


DIST = {"near": 1.0, "mid": 2.0, "far": 5.0}


def test_far_gap_claim_holds_and_fails():
    good = transfer_frame({"near": 0.8, "mid": 0.7, "far": 0.6}, {"near": 0.9, "mid": 0.7, "far": 0.4}, DIST)
    res = tc.robust_transfers_better_far(good)
    assert res.verdict is HOLDS and res.numbers["gap"] == pytest.approx(0.21) and "'far'" in res.detail
    assert res.test.startswith("paired t-test over seeds, one-sided")
    bad = transfer_frame({"near": 0.8, "mid": 0.7, "far": 0.3}, {"near": 0.9, "mid": 0.7, "far": 0.4}, DIST)
    assert tc.robust_transfers_better_far(bad).verdict is NOT
    one = tc.robust_transfers_better_far(transfer_frame({"far": 0.6}, {"far": 0.4}, DIST, seeds=1))
    assert one.verdict is INCONCLUSIVE and "one seed: no sampling distribution for task[" in one.detail


def test_the_farthest_target_is_chosen_by_the_standard_rows_distance():
    # by the standard row's distance, "near" is the farthest here: the claim reads its gap
    res = tc.robust_transfers_better_far(transfer_frame({"near": 0.5, "far": 0.9}, {"near": 0.6, "far": 0.1},
                                                        {"near": 9.0, "far": 1.0}))
    assert res.verdict is NOT and res.numbers["gap"] == pytest.approx(-0.09)


def test_targets_come_from_the_task_parameters_and_default_to_the_dataset_name():
    f = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST)
    assert tc.targets(f) == ["near", "far"]
    assert tc.target_name({"id": "core/digits32", "params": {}, "label": None}) == "digits32"


def test_gap_growth_claim_uses_rank_correlation():
    dist = {**DIST, "farther": 8.0}
    grows = transfer_frame({"near": 0.8, "mid": 0.75, "far": 0.6, "farther": 0.7},
                           {"near": 0.9, "mid": 0.8, "far": 0.4, "farther": 0.4}, dist)
    res = tc.gap_grows_with_distance(grows)
    assert res.verdict is HOLDS and res.numbers["spearman"] == pytest.approx(1.0)
    assert res.p_value == pytest.approx(1 / 24)  # 4 targets in order: 1 of 24 orderings
    assert res.numbers["gap[far]"] == pytest.approx(0.21) and res.numbers["distance[far]"] == 5.0
    assert res.numbers["robust_row_distance[far]"] == 2.5
    three = tc.gap_grows_with_distance(transfer_frame({"near": 0.8, "mid": 0.75, "far": 0.6},
                                                      {"near": 0.9, "mid": 0.8, "far": 0.4}, DIST))
    assert three.verdict is INCONCLUSIVE and three.p_value == pytest.approx(1 / 6)  # three targets never suffice
    shrinks = transfer_frame({"near": 0.95, "mid": 0.75, "far": 0.4, "farther": 0.3},
                             {"near": 0.9, "mid": 0.8, "far": 0.6, "farther": 0.7}, dist)
    assert tc.gap_grows_with_distance(shrinks).verdict is NOT
    with pytest.raises(ClaimDataMissing, match="two transfer targets"):
        tc.gap_grows_with_distance(transfer_frame({"far": 0.6}, {"far": 0.4}, DIST))


def test_transferred_robustness_claim_is_one_gain_and_no_loss_over_targets():
    accs = ({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4})
    assert tc.transferred_robust_models_stay_robust(transfer_frame(*accs, DIST, rob_acc=(0.5, 0.1))).verdict \
        is HOLDS
    assert tc.transferred_robust_models_stay_robust(transfer_frame(*accs, DIST, rob_acc=(0.1, 0.5))).verdict \
        is NOT
    tie = transfer_frame(*accs, DIST, rob_acc=(0.3, 0.3), seeds=1)
    assert tc.transferred_robust_models_stay_robust(tie).verdict is INCONCLUSIVE  # one seed, equal everywhere
    mixed = transfer_frame(*accs, DIST, rob_acc=(0.3, 0.3))
    mixed.loc[mixed.defense_id == "classics/pgd-at", "task[transfer.near.robust_accuracy]"] = [0.9, 0.92, 0.95]
    found = tc.transferred_robust_models_stay_robust(mixed)  # > on near, far: 0.3 + 0.01 s vs 0.3
    assert found.verdict is HOLDS and found.detail.startswith("1 of 2 significant for the claim")


def test_transfer_claims_report_missing_data():
    with pytest.raises(ClaimDataMissing, match="transfer task"):
        tc.robust_transfers_better_far(frame([p2_row(STANDARD)]))
    only_standard = transfer_frame({"far": 0.6}, {"far": 0.4}, DIST)
    only_standard = only_standard[only_standard.defense_id == "classics/standard"]
    with pytest.raises(ClaimDataMissing, match="PGD-AT"):
        tc.robust_transfers_better_far(only_standard)


def probe_frame(trace, logdet, wnorm, snn, defenses=(STANDARD, PGD_AT, PGD_AT_LARGE), seeds: int = 3):
    """One row per defense and seed; seed s scales the i-th defense's values by 1 + 0.001 s (i + 1)."""
    return frame([p2_row(d, seed=s, probes={
        probe_claims.TRACE: trace[i] * (1 + 0.001 * s * (i + 1)), probe_claims.LOGDET: logdet[i] * (1 + 0.001 * s * (i + 1)),
        probe_claims.WEIGHT_NORM: wnorm[i] * (1 + 0.001 * s * (i + 1)),
        probe_claims.SNN_MEDIAN: snn[i] * (1 + 0.001 * s * (i + 1)), probe_claims.SNN_OPTIMAL: 0.0})
        for s in range(seeds) for i, d in enumerate(defenses)])


def test_probe_claims_hold_on_p2_like_numbers():
    f = probe_frame(trace=[10.0, 2.0, 1.0], logdet=[5.0, 1.0, -3.0], wnorm=[30.0, 31.0, 20.0], snn=[0.1, 0.5, 0.9])
    assert probe_claims.at_lowers_fisher_trace(f).verdict is HOLDS
    assert probe_claims.eps_lowers_fisher_logdet(f).verdict is HOLDS
    res = probe_claims.large_eps_lowers_weight_norm(f)
    assert res.verdict is HOLDS and res.numbers == pytest.approx({"standard": 30.03, "PGD-AT": 31.062,
                                                                   "PGD-AT eps=8": 20.06})
    snn = probe_claims.eps_entangles_features(f)
    assert snn.verdict is HOLDS and snn.numbers["PGD-AT eps=8"] == pytest.approx(0.9027)
    assert snn.test.startswith("Spearman rank correlation")
    assert snn.numbers["optimal_T[standard]"] == 0.0
    one = probe_frame(trace=[10.0, 2.0, 1.0], logdet=[5.0, 1.0, -3.0], wnorm=[30.0, 31.0, 20.0], snn=[0.1, 0.5, 0.9],
                      seeds=1)
    for check in (probe_claims.at_lowers_fisher_trace, probe_claims.large_eps_lowers_weight_norm):
        assert check(one).verdict is INCONCLUSIVE and "one seed" in check(one).detail
    for check in (probe_claims.eps_lowers_fisher_logdet, probe_claims.eps_entangles_features):
        # three eps, one row each: the exact Spearman test's smallest p is 1/3! = 1/6
        assert check(one).verdict is INCONCLUSIVE and check(one).p_value == pytest.approx(1 / 6)


def test_probe_claims_do_not_hold_when_the_direction_is_reversed():
    f = probe_frame(trace=[1.0, 2.0, 0.5], logdet=[1.0, 2.0, 5.0], wnorm=[20.0, 19.0, 25.0], snn=[0.9, 0.5, 0.1])
    assert probe_claims.at_lowers_fisher_trace(f).verdict is NOT  # PGD-AT above standard
    assert probe_claims.eps_lowers_fisher_logdet(f).verdict is NOT  # rises with eps
    assert probe_claims.large_eps_lowers_weight_norm(f).verdict is NOT
    assert probe_claims.eps_entangles_features(f).verdict is NOT


def test_probe_claims_without_the_large_eps_row():
    f = probe_frame(trace=[10.0, 2.0], logdet=[5.0, 1.0], wnorm=[30.0, 20.0], snn=[0.1, 0.5],
                    defenses=(STANDARD, PGD_AT))
    assert probe_claims.at_lowers_fisher_trace(f).verdict is HOLDS
    assert probe_claims.eps_lowers_fisher_logdet(f).numbers == pytest.approx({"standard": 5.005, "PGD-AT": 1.002})
    with pytest.raises(ClaimDataMissing, match="no PGD-AT row at an eps above the robust source's"):
        probe_claims.large_eps_lowers_weight_norm(f)


def test_the_robust_source_is_eps_1_where_trained_else_the_smallest_and_the_sweep_keeps_every_eps():
    f = probe_frame(trace=[10.0, 2.0, 1.0], logdet=[5.0, 1.0, -3.0], wnorm=[30.0, 31.0, 20.0], snn=[0.1, 0.5, 0.9],
                    seeds=1)
    found = roles(f)
    assert [(role, list(rows["defense"])) for role, rows in found.items()] == [
        ("standard", ["standard"]), ("PGD-AT", ["PGD-AT"]), ("PGD-AT eps=8", ["PGD-AT-large"])]
    sweep_defenses = (STANDARD,) + tuple((f"at{e:g}", "classics/pgd-at", {**PGD_AT[2], "eps": e})
                                         for e in (3.0, 0.25, 1.0, 0.5, 2.0))
    f = probe_frame([1.0] * 6, [1.0] * 6, [1.0] * 6, [1.0] * 6, defenses=sweep_defenses, seeds=1)
    assert [(role, eps, list(rows["defense"])) for role, eps, rows in sweep(f)] == [
        ("standard", 0.0, ["standard"]), ("PGD-AT eps=0.25", 0.25, ["at0.25"]), ("PGD-AT eps=0.5", 0.5, ["at0.5"]),
        ("PGD-AT", 1.0, ["at1"]), ("PGD-AT eps=2", 2.0, ["at2"]), ("PGD-AT eps=3", 3.0, ["at3"])]
    assert [role for role, _, _ in larger(f)] == ["PGD-AT eps=2", "PGD-AT eps=3"]  # P2 Fig. 5: eps > 1


SWEEP = (STANDARD,) + tuple((f"PGD-AT-{e:g}", "classics/pgd-at", {**PGD_AT[2], "eps": e})
                            for e in (0.25, 0.5, 1.0, 2.0, 3.0))


def test_eps_trend_claims_decide_a_six_eps_sweep_with_one_seed_by_spearman():
    """P2 Figs. 4-6 (one run per eps): six training eps, one seed; a monotone metric has the exact
    one-sided Spearman p = 1/6! = 1/720, and one swap of neighbours lowers rho to 1 - 6 * 2 / (6 * 35)."""
    up = [-9.0, -8.5, -8.0, -7.0, -6.0, -5.5]
    rows = [p2_row(d, seed=0, probes={probe_claims.LOG_VARIANCE: v, probe_claims.SNN_MEDIAN: v, probe_claims.LOGDET: -v})
            for d, v in zip(SWEEP, up)]
    res = probe_claims.eps_raises_weight_log_variance(frame(rows))
    assert res.verdict is HOLDS and res.p_value == pytest.approx(1 / 720) and res.statistic == pytest.approx(1.0)
    assert res.numbers["PGD-AT"] == -7.0 and res.numbers["PGD-AT eps=0.25"] == -8.5
    assert probe_claims.eps_lowers_fisher_logdet(frame(rows)).verdict is HOLDS
    swapped = up[:2] + [up[3], up[2]] + up[4:]
    rows = [p2_row(d, seed=0, probes={probe_claims.LOG_VARIANCE: v}) for d, v in zip(SWEEP, swapped)]
    res = probe_claims.eps_raises_weight_log_variance(frame(rows))
    assert res.statistic == pytest.approx(1 - 6 * 2 / (6 * 35)) and res.verdict is HOLDS
    down = [p2_row(d, seed=0, probes={probe_claims.LOG_VARIANCE: -v}) for d, v in zip(SWEEP, up)]
    assert probe_claims.eps_raises_weight_log_variance(frame(down)).verdict is NOT


OTHER_MODEL = ("resnet8w2", "classics/resnet-cifar", {**RESNET8[2], "width": 2})


def test_claims_never_pool_sources_and_combine_their_verdicts_with_every():
    """Two models (same dataset): robust better far for one and worse for the other. Pooled, the means
    would favour the robust rows (+0.3 - 0.1); per source the claim does not hold."""
    def rows_for(model, acc_rob, acc_st, label_suffix=""):
        out = []
        for s in range(3):
            out += [row(PGD_AT, dataset=GRATINGS, model=model, seed=s, clean=1.0,
                        tasks=transfer_metrics({"far": acc_rob + 0.01 * s}, {"far": 1.0}, {"far": 0.1})),
                    row(STANDARD, dataset=GRATINGS, model=model, seed=s, clean=1.0,
                        tasks=transfer_metrics({"far": acc_st}, {"far": 1.0}, {"far": 0.1}))]
        return out
    both = frame(rows_for(RESNET8, 0.8, 0.5) + rows_for(OTHER_MODEL, 0.4, 0.5))
    split = sources(both)
    assert list(split) == ["gratings32/resnet8", "gratings32/resnet8w2"]
    assert all(len(rows) == 6 and rows.attrs["params"] == both.attrs["params"] for rows in split.values())
    res = tc.robust_transfers_better_far(both)
    assert res.verdict is NOT and res.detail.startswith("1 of 2 hold; against the claim: gratings32/resnet8w2")
    assert res.numbers["gratings32/resnet8: gap"] == pytest.approx(0.31)
    assert res.numbers["gratings32/resnet8w2: gap"] == pytest.approx(-0.09)
    good = frame(rows_for(RESNET8, 0.8, 0.5) + rows_for(OTHER_MODEL, 0.7, 0.5))
    assert tc.robust_transfers_better_far(good).verdict is HOLDS
    # a source without a robust row is left out and named; none with the rows is missing data
    partial = frame(rows_for(RESNET8, 0.8, 0.5) + [r for r in rows_for(OTHER_MODEL, 0.4, 0.5)
                                                   if r["defense_id"] == "classics/standard"])
    res = tc.robust_transfers_better_far(partial)
    assert res.verdict is HOLDS and "left out (missing data): gratings32/resnet8w2: no PGD-AT row" in res.detail
    with pytest.raises(ClaimDataMissing, match="gratings32/resnet8: no PGD-AT row"):
        tc.robust_transfers_better_far(frame([r for r in rows_for(RESNET8, 0.8, 0.5)
                                              if r["defense_id"] == "classics/standard"]))


def test_the_source_itself_is_not_a_target_of_the_gap_trend():
    """Targets near, mid, far, farther with gaps rising in distance (exact p 1/24), plus the source
    itself (core/gratings32, the rows' dataset) at the smallest distance with the largest gap: counted,
    it would make rho = 0 (ranks 5, 1, 2, 3, 4: sum d^2 = 20); it is left out and named."""
    dist = {"source": 0.5, "near": 1.0, "mid": 2.0, "far": 5.0, "farther": 8.0}
    f = transfer_frame({"source": 0.99, "near": 0.8, "mid": 0.75, "far": 0.6, "farther": 0.7},
                       {"source": 0.5, "near": 0.9, "mid": 0.8, "far": 0.4, "farther": 0.4}, dist)
    assert tc.source_targets(f) == ["source"]
    res = tc.gap_grows_with_distance(f)
    assert res.verdict is HOLDS and res.p_value == pytest.approx(1 / 24)
    assert "left out as the source itself: source" in res.detail and "gap[source]" not in res.numbers
    from bench.api.claim_stats import spearman_trend
    with_source = spearman_trend([0.5, 1.0, 2.0, 5.0, 8.0], [0.50, -0.09, -0.04, 0.21, 0.31])
    assert with_source.statistic == pytest.approx(0.0) and with_source.verdict is INCONCLUSIVE
    # a target on the same dataset id with other parameters is not the source
    assert tc.source_targets(transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST)) == []


# ---------------------------------------------------------------- p2-cpu as published (docs/reproductions/p2.md)
#: means over seeds 0 and 1 per row: probes, transfer accuracy, distance, transferred robust accuracy
P2_CPU = [
    (STANDARD, ((11.95, -273.4, 27.90, 0.0, 1.467), (1.0, 1.0, 1.0, 0.899), (0.0, 3.15, 4.59, 8.56),
                (0.993, 0.910, 0.580, 0.0))),
    (PGD_AT, ((2.52, -360.6, 29.30, 0.0, 1.496), (1.0, 1.0, 1.0, 0.920), (0.0, 2.08, 4.69, 7.59),
              (1.0, 1.0, 0.995, 0.0225))),
    (PGD_AT_LARGE, ((0.88, -394.1, 29.44, 0.0, 1.578), (1.0, 1.0, 1.0, 0.936), (0.0, 0.99, 3.95, 4.53),
                    (1.0, 1.0, 0.678, 0.588))),
]
P2_PROBES = (probe_claims.TRACE, probe_claims.LOGDET, probe_claims.WEIGHT_NORM, probe_claims.SNN_OPTIMAL,
             probe_claims.SNN_MEDIAN)
TARGETS = ("source", "near", "mid", "far")


def p2_cpu_rows() -> list[dict]:
    rows = []
    for defense, (probes, acc, dist, rob) in P2_CPU:
        tasks = transfer_metrics(dict(zip(TARGETS, acc)), dict(zip(TARGETS, dist)), dict(zip(TARGETS, rob)))
        rows.append(p2_row(defense, probes=dict(zip(P2_PROBES, probes)), tasks=tasks))
    return rows


def verdicts(rows: list[dict], suite: str = "p2-cpu") -> dict[str, Any]:
    outcomes = evaluate_claims(claims_for(get_registry(), suite), frame(rows))
    return {o.claim: (o.status, o.result.p_value, sorted(o.result.numbers.values())) for o in outcomes}


def test_p2_cpu_published_means_give_no_verdict_without_their_seeds():
    """docs/reproductions/p2.md gives means over seeds 0 and 1: one row per role, so every probe and
    task comparison is inconclusive (no sampling distribution), and the gap's rank correlation over
    the four targets (source, near and mid tied at 0, far +0.021) has the exact p 6/24."""
    found = verdicts(p2_cpu_rows())
    assert len(found) == 7
    assert {status for status, _, _ in found.values()} == {"inconclusive"}
    gap = tc.gap_grows_with_distance(frame(p2_cpu_rows()))
    # the source target left out: near, mid tied at 0, far +0.021; rho = 1.5 / sqrt(3), p = 2 / 3!
    assert gap.numbers["spearman"] == pytest.approx(1.5 / 3 ** 0.5)
    assert gap.p_value == pytest.approx(2 / 6) and "left out as the source itself: source" in gap.detail
    assert tc.robust_transfers_better_far(frame(p2_cpu_rows())).numbers["gap"] == pytest.approx(0.021)


def test_renaming_the_suite_labels_changes_no_verdict():
    rows = p2_cpu_rows()
    # the three defense labels rotated, probes and the task renamed: a claim reading labels would
    # take the large-eps model for the standard one
    labels = {"standard": "PGD-AT-large", "PGD-AT": "standard", "PGD-AT-large": "PGD-AT", "rep-fisher": "a",
              "weight-norm": "b", "entanglement": "c", "transfer": "t", "gratings32": "g", "resnet8": "r"}
    assert verdicts(relabel(rows, labels)) == verdicts(rows)


def test_registered_claims_evaluate_on_a_frame():
    registry = get_registry()
    entries = [e for e in claims_for(registry, "p2-cpu") if e.plugin.name == "infotransfer"]
    names = {e.spec.name for e in entries}
    assert {"p2-robust-transfers-better-far", "p2-gap-grows-with-distance", "p2-transferred-models-stay-robust",
            "p2-at-lowers-fisher-trace", "p2-eps-lowers-fisher-logdet", "p2-large-eps-lowers-weight-norm",
            "p2-eps-entangles-features"} <= names
    f = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST)
    outcomes = {o.claim.split("/")[-1]: o for o in evaluate_claims(entries, f)}
    assert outcomes["p2-robust-transfers-better-far"].result.holds is True
    assert outcomes["p2-at-lowers-fisher-trace"].result.holds is None  # no probe columns: not checked
