"""P3's claims on small synthetic leaderboard frames: each holds, fails, or reports missing data."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from robarena_recognizability import claims

IDS = {"standard": "classics/standard", "pgd-at": "classics/pgd-at", "trades-b6": "classics/trades",
       "trades-b10000": "classics/trades", "fast-at": "classics/fast-at",
       "gradient-penalty-b64": "recognizability/gradient-penalty",
       "gradient-penalty-b1": "recognizability/gradient-penalty", "fisher-penalty": "recognizability/fisher-penalty"}


def frame(**changes: dict) -> pd.DataFrame:
    """A p3-cpu-like frame in which every claim holds; ``changes[label][column] = value`` edits it."""
    base = {  # defense: (recognized, success, ||J||_F, spread, top share, clean, profile at 0.05 / 0.1)
        "standard": (0.20, 1.0, 9.0, 0.89, 0.11, 0.93, 0.70, 0.45),
        "pgd-at": (0.60, 1.0, 3.0, 0.88, 0.11, 0.96, 0.90, 0.80),
        "trades-b6": (0.50, 1.0, 2.0, 0.83, 0.11, 0.94, 0.90, 0.83),
        "trades-b10000": (0.10, 0.3, 0.01, 0.001, 0.66, 0.29, 0.28, 0.26),
        "fast-at": (0.55, 1.0, 3.5, 0.88, 0.11, 0.96, 0.90, 0.80),
        "gradient-penalty-b64": (0.10, 0.1, 0.0, 0.0, 1.0, 0.10, 0.10, 0.10),
        "gradient-penalty-b1": (0.30, 1.0, 5.0, 0.89, 0.11, 0.95, 0.80, 0.64),
        "fisher-penalty": (0.25, 1.0, 6.0, 0.89, 0.11, 0.95, 0.78, 0.56),
    }
    rows = []
    for name, (rec, succ, jac, spread, top, clean, p05, p10) in base.items():
        row = {"dataset": "digits", "model": "small-cnn", "defense": name, "defense_id": IDS[name], "seed": 0,
               "clean": clean, "robust[profile Linf 0.05]": p05, "robust[profile Linf 0.1]": p10,
               "robust[profile-cw Linf 0.1]": p10,
               claims.RECOGNIZED: rec, claims.SUCCESS: succ, claims.JACOBIAN: jac, claims.SPREAD: spread,
               claims.TOP_SHARE: top}
        row.update(changes.get(name, {}))
        rows.append(row)
    return pd.DataFrame(rows)


def test_profile_columns_are_parsed_and_exclude_other_attacks():
    f = frame()
    assert claims.profile_columns(f) == [(0.05, "robust[profile Linf 0.05]"), (0.1, "robust[profile Linf 0.1]")]
    assert claims.profile_mean(f, defense="pgd-at") == pytest.approx(0.85)
    f2 = f.rename(columns={"robust[profile Linf 0.05]": "robust[profile Linf 8/255]"})
    assert claims.profile_columns(f2)[0] == (pytest.approx(8 / 255), "robust[profile Linf 8/255]")
    with pytest.raises(ClaimDataMissing, match="profile"):
        claims.profile_columns(f.drop(columns=["robust[profile Linf 0.05]", "robust[profile Linf 0.1]"]))


def test_recognized_holds_fails_and_needs_its_rows():
    result = claims.robust_perturbations_recognized(frame())
    assert result.holds is True and result.numbers["pgd-at"] == 0.6 and result.numbers["standard"] == 0.2
    assert claims.robust_perturbations_recognized(frame(**{"pgd-at": {claims.RECOGNIZED: 0.2}})).holds is False
    # judge-free measures are context only
    context = claims.robust_perturbations_recognized(frame().assign(**{claims.CONTEXT[0]: 0.9}))
    assert context.holds is True and context.numbers["pgd-at_start_correlation"] == 0.9
    with pytest.raises(ClaimDataMissing, match="pgd-at"):
        claims.robust_perturbations_recognized(frame()[lambda d: d["defense"] != "pgd-at"])


def test_jacobian_claim_checks_every_minimax_defense_present():
    assert claims.adversarial_training_lowers_jacobian(frame()).holds is True
    fails = claims.adversarial_training_lowers_jacobian(frame(**{"fast-at": {claims.JACOBIAN: 9.5}}))
    assert fails.holds is False and fails.numbers["fast-at"] == 9.5
    without_fast = frame()[lambda d: d["defense"] != "fast-at"]
    assert claims.adversarial_training_lowers_jacobian(without_fast).holds is True
    with pytest.raises(ClaimDataMissing):
        claims.adversarial_training_lowers_jacobian(frame()[lambda d: d["defense"] != "pgd-at"])


def test_trades_high_beta_constant_uses_the_output_spread():
    result = claims.trades_high_beta_constant(frame())
    assert result.holds is True and result.numbers["trades-b10000_top_class_share"] == 0.66
    assert claims.trades_high_beta_constant(frame(**{"trades-b10000": {claims.SPREAD: 0.3}})).holds is False
    assert claims.trades_high_beta_constant(
        frame(**{"trades-b10000": {claims.SPREAD: claims.CONSTANT_SPREAD}})).holds is False


def test_smoothness_claim_leaves_out_collapsed_models_and_says_so():
    result = claims.smoothness_regularizers_robust(frame())
    assert result.holds is True
    assert set(result.numbers) == {"standard", "gradient-penalty-b1", "fisher-penalty"}
    assert "gradient-penalty-b64 (constant classifier" in result.detail
    weak = frame(**{"fisher-penalty": {"robust[profile Linf 0.05]": 0.5, "robust[profile Linf 0.1]": 0.4}})
    assert claims.smoothness_regularizers_robust(weak).holds is False
    # every gradient-penalty model collapsed: nothing left to be robust
    collapsed = frame(**{"gradient-penalty-b1": {claims.SPREAD: 0.0}})
    result = claims.smoothness_regularizers_robust(collapsed)
    assert result.holds is False and "no usable recognizability/gradient-penalty" in result.detail
    with pytest.raises(ClaimDataMissing, match="fisher-penalty"):
        claims.smoothness_regularizers_robust(frame()[lambda d: d["defense"] != "fisher-penalty"])


def test_claims_are_checked_per_dataset():
    both = pd.concat([frame(), frame(**{"pgd-at": {claims.RECOGNIZED: 0.1}}).assign(dataset="other")])
    result = claims.robust_perturbations_recognized(both)
    assert result.holds is False and result.numbers["digits:pgd-at"] == 0.6 and result.numbers["other:pgd-at"] == 0.1


def test_registered_claims_run_on_a_frame():
    registry = get_registry()
    for suite in ("p3-cpu", "p3-full"):
        entries = claims_for(registry, suite)
        assert len(entries) == 4
        outcomes = evaluate_claims(entries, frame())
        assert [o.result.holds for o in outcomes] == [True] * 4, [o.result.detail for o in outcomes]
