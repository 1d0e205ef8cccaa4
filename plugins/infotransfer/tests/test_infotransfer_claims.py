"""P2 claims on synthetic leaderboard frames: each holds, fails and reports missing data as it should."""
import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from robarena_infotransfer.probes import claims as probe_claims
from robarena_infotransfer.tasks import transfer_claims as tc


def transfer_frame(acc_rob: dict, acc_st: dict, dist: dict, rob_acc=(0.5, 0.1)) -> pd.DataFrame:
    rows = []
    for label, acc in (("PGD-AT", acc_rob), ("standard", acc_st)):
        row = {"defense": label, "seed": 0}
        for t in acc:
            row[f"task[transfer.{t}.accuracy]"] = acc[t]
            row[f"task[transfer.{t}.distance]"] = dist[t] * (0.5 if label == "PGD-AT" else 1.0)
            row[f"task[transfer.{t}.robust_accuracy]"] = rob_acc[0] if label == "PGD-AT" else rob_acc[1]
        rows.append(row)
    return pd.DataFrame(rows)


DIST = {"near": 1.0, "mid": 2.0, "far": 5.0}


def test_far_gap_claim_holds_and_fails():
    good = transfer_frame({"near": 0.8, "mid": 0.7, "far": 0.6}, {"near": 0.9, "mid": 0.7, "far": 0.4}, DIST)
    res = tc.robust_transfers_better_far(good)
    assert res.holds and res.numbers["gap"] == pytest.approx(0.2) and "'far'" in res.detail
    bad = transfer_frame({"near": 0.8, "mid": 0.7, "far": 0.3}, {"near": 0.9, "mid": 0.7, "far": 0.4}, DIST)
    assert tc.robust_transfers_better_far(bad).holds is False


def test_the_farthest_target_is_chosen_by_the_standard_rows_distance():
    # by the standard row's distance, "near" is the farthest here: the claim reads its gap
    frame = transfer_frame({"near": 0.5, "far": 0.9}, {"near": 0.6, "far": 0.1}, {"near": 9.0, "far": 1.0})
    res = tc.robust_transfers_better_far(frame)
    assert res.holds is False and res.numbers["gap"] == pytest.approx(-0.1)


def test_gap_growth_claim_uses_rank_correlation():
    grows = transfer_frame({"near": 0.8, "mid": 0.75, "far": 0.6}, {"near": 0.9, "mid": 0.8, "far": 0.4}, DIST)
    res = tc.gap_grows_with_distance(grows)
    assert res.holds and res.numbers["spearman"] == pytest.approx(1.0)
    assert res.numbers["gap[far]"] == pytest.approx(0.2) and res.numbers["distance[far]"] == 5.0
    assert res.numbers["robust_row_distance[far]"] == 2.5
    shrinks = transfer_frame({"near": 0.95, "mid": 0.75, "far": 0.4}, {"near": 0.9, "mid": 0.8, "far": 0.6}, DIST)
    assert tc.gap_grows_with_distance(shrinks).holds is False
    one = transfer_frame({"far": 0.6}, {"far": 0.4}, DIST)
    with pytest.raises(ClaimDataMissing, match="two transfer targets"):
        tc.gap_grows_with_distance(one)


def test_transferred_robustness_claim_is_dominance_over_targets():
    frame = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST, rob_acc=(0.5, 0.1))
    assert tc.transferred_robust_models_stay_robust(frame).holds
    worse = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST, rob_acc=(0.1, 0.5))
    assert tc.transferred_robust_models_stay_robust(worse).holds is False
    tie = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST, rob_acc=(0.3, 0.3))
    assert tc.transferred_robust_models_stay_robust(tie).holds is False  # equal everywhere: not more robust
    mixed = tie.copy()
    mixed.loc[mixed.defense == "PGD-AT", "task[transfer.near.robust_accuracy]"] = 0.9
    assert tc.transferred_robust_models_stay_robust(mixed).holds  # >= on far (tie), > on near


def test_transfer_claims_report_missing_data():
    with pytest.raises(ClaimDataMissing, match="transfer task"):
        tc.robust_transfers_better_far(pd.DataFrame({"defense": ["standard"], "clean": [0.9]}))
    only_standard = transfer_frame({"far": 0.6}, {"far": 0.4}, DIST)
    only_standard = only_standard[only_standard.defense == "standard"]
    with pytest.raises(ClaimDataMissing, match="PGD-AT"):
        tc.robust_transfers_better_far(only_standard)


def probe_frame(trace, logdet, wnorm, snn, labels=("standard", "PGD-AT", "PGD-AT-large")) -> pd.DataFrame:
    return pd.DataFrame({"defense": list(labels), "seed": [0] * len(labels),
                         probe_claims.TRACE: trace, probe_claims.LOGDET: logdet,
                         probe_claims.WEIGHT_NORM: wnorm, probe_claims.SNN_MEDIAN: snn,
                         probe_claims.SNN_OPTIMAL: [0.0] * len(labels)})


def test_probe_claims_hold_on_p2_like_numbers():
    frame = probe_frame(trace=[10.0, 2.0, 1.0], logdet=[5.0, 1.0, -3.0], wnorm=[30.0, 31.0, 20.0],
                        snn=[0.1, 0.5, 0.9])
    assert probe_claims.at_lowers_fisher_trace(frame).holds
    assert probe_claims.eps_lowers_fisher_logdet(frame).holds
    res = probe_claims.large_eps_lowers_weight_norm(frame)
    assert res.holds and res.numbers == {"standard": 30.0, "PGD-AT": 31.0, "PGD-AT-large": 20.0}
    snn = probe_claims.eps_entangles_features(frame)
    assert snn.holds and snn.numbers["PGD-AT-large"] == 0.9 and snn.numbers["optimal_T[standard]"] == 0.0


def test_probe_claims_fail_when_the_direction_is_wrong():
    frame = probe_frame(trace=[1.0, 2.0, 0.5], logdet=[5.0, 1.0, 2.0], wnorm=[20.0, 19.0, 25.0],
                        snn=[0.1, 0.5, 0.4])
    assert probe_claims.at_lowers_fisher_trace(frame).holds is False  # PGD-AT above standard
    assert probe_claims.eps_lowers_fisher_logdet(frame).holds is False  # not monotone
    assert probe_claims.large_eps_lowers_weight_norm(frame).holds is False
    assert probe_claims.eps_entangles_features(frame).holds is False


def test_probe_claims_without_the_eps2_row():
    frame = probe_frame(trace=[10.0, 2.0], logdet=[5.0, 1.0], wnorm=[30.0, 20.0], snn=[0.1, 0.5],
                        labels=("standard", "PGD-AT"))
    assert probe_claims.at_lowers_fisher_trace(frame).holds
    assert probe_claims.eps_lowers_fisher_logdet(frame).numbers == {"standard": 5.0, "PGD-AT": 1.0}
    with pytest.raises(ClaimDataMissing, match="PGD-AT-large"):
        probe_claims.large_eps_lowers_weight_norm(frame)


def test_registered_claims_evaluate_on_a_frame():
    registry = get_registry()
    entries = [e for e in claims_for(registry, "p2-cpu") if e.plugin.name == "infotransfer"]
    names = {e.spec.name for e in entries}
    assert {"p2-robust-transfers-better-far", "p2-gap-grows-with-distance", "p2-transferred-models-stay-robust",
            "p2-at-lowers-fisher-trace", "p2-eps-lowers-fisher-logdet", "p2-large-eps-lowers-weight-norm",
            "p2-eps-entangles-features"} <= names
    frame = transfer_frame({"near": 0.8, "far": 0.6}, {"near": 0.9, "far": 0.4}, DIST)
    outcomes = {o.claim.split("/")[-1]: o for o in evaluate_claims(entries, frame)}
    assert outcomes["p2-robust-transfers-better-far"].result.holds is True
    assert outcomes["p2-at-lowers-fisher-trace"].result.holds is None  # no probe columns: not checked
