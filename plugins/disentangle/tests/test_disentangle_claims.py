"""P0's claims on synthetic leaderboard frames where they must hold, must fail, or cannot be checked."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from robarena_disentangle import claims

VGG = ("vgg13-pure-linear", "vgg13-half-linear", "vgg13-normal")
EPS = ("0.0125", "0.05", "0.1")


def p0_frame(edits=None):
    """3 models x (standard, PGD-AT, TRADES) where every p0-cpu claim holds; ``edits`` maps
    (model, defense, column) -> value to break one."""
    rows = []
    for rank, model in enumerate(VGG):
        for defense, fisher in (("standard", 10.0), ("PGD-AT", 3.0), ("TRADES", 1.5)):
            row = {"dataset": "digits", "model": model, "defense": defense, "seed": 0,
                   "clean": 0.7 + 0.1 * rank, "robust[PGD-20 Linf 0.1]": 0.4 + 0.1 * rank,
                   "robust[CW Linf 0.1]": 0.3 + 0.1 * rank,
                   "probe[input-fisher.fnorm_mean]": fisher + rank, "probe[cckl.cckl]": fisher + 0.5,
                   "probe[fisher-split.fnorm_robust]": 0.5 * fisher, "probe[fisher-split.fnorm_nonrobust]": fisher,
                   "probe[g1g2.kl_mean]": 1.0 + rank, "probe[g1g2.g2_mean]": 0.5 + rank,
                   "probe[g1g2.g2_over_kl_mean]": 0.2 + 0.2 * rank}
            for k, eps in enumerate(EPS):
                row[f"probe[fisher-approx.rel_error@{eps}]"] = 0.05 + 0.1 * k
            rows.append(row)
    frame = pd.DataFrame(rows)
    for (model, defense, column), new in (edits or {}).items():
        frame.loc[(frame["model"] == model) & (frame["defense"] == defense), column] = new
    return frame


CHECKS = [claims.adversarial_training_lowers_fisher, claims.adversarial_training_lowers_cckl,
          claims.fisher_approximation_accurate_at_small_eps, claims.fisher_approximation_error_grows_with_eps,
          claims.robust_samples_have_lower_fisher, claims.capacity_helps_under_trades,
          claims.capacity_relies_more_on_g2]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_every_claim_holds_on_a_frame_built_to_satisfy_it(check):
    result = check(p0_frame())
    assert result.holds is True and result.numbers


@pytest.mark.parametrize("check, edit", [
    (claims.adversarial_training_lowers_fisher, ("vgg13-normal", "TRADES", "probe[input-fisher.fnorm_mean]", 20.0)),
    (claims.adversarial_training_lowers_cckl, ("vgg13-pure-linear", "PGD-AT", "probe[cckl.cckl]", 10.5)),
    (claims.fisher_approximation_accurate_at_small_eps,
     ("vgg13-half-linear", "TRADES", "probe[fisher-approx.rel_error@0.0125]", 0.1)),
    (claims.fisher_approximation_error_grows_with_eps,
     ("vgg13-normal", "TRADES", "probe[fisher-approx.rel_error@0.05]", 0.3)),
    (claims.robust_samples_have_lower_fisher, ("vgg13-normal", "PGD-AT", "probe[fisher-split.fnorm_robust]", 4.0)),
    (claims.capacity_helps_under_trades, ("vgg13-half-linear", "TRADES", "robust[CW Linf 0.1]", 0.55)),
    (claims.capacity_relies_more_on_g2, ("vgg13-normal", "TRADES", "probe[g1g2.g2_over_kl_mean]", 0.4)),
], ids=[f.__name__ for f in CHECKS])
def test_every_claim_fails_when_one_number_breaks_it(check, edit):
    model, defense, column, new = edit
    result = check(p0_frame({(model, defense, column): new}))
    assert result.holds is False and model in result.detail


def test_the_error_curve_is_read_in_eps_order_not_column_order():
    frame = p0_frame()
    frame = frame[[c for c in frame.columns if "rel_error@0.0125" not in c] + ["probe[fisher-approx.rel_error@0.0125]"]]
    assert claims.fisher_approximation_error_grows_with_eps(frame).holds is True
    nums = claims.fisher_approximation_accurate_at_small_eps(frame).numbers
    assert nums == {f"{m}@0.0125": pytest.approx(0.05) for m in VGG}


def test_capacity_claims_use_the_resnet_ladder_of_p0_full_resnet():
    frame = p0_frame()
    frame = frame[frame["defense"] == "TRADES"].copy()
    frame = frame[frame["model"] != "vgg13-half-linear"]
    frame["model"] = frame["model"].map({"vgg13-pure-linear": "resnet20x1", "vgg13-normal": "resnet32x10"})
    result = claims.capacity_relies_more_on_g2(frame)
    assert result.holds is True and set(result.numbers) >= {"G2/resnet20x1", "G2/resnet32x10"}
    assert claims.robust_samples_have_lower_fisher(frame).holds is True  # TRADES rows only


@pytest.mark.parametrize("check, drop", [
    (claims.adversarial_training_lowers_fisher, "probe[input-fisher.fnorm_mean]"),
    (claims.fisher_approximation_error_grows_with_eps, "probe[fisher-approx.rel_error@"),
    (claims.capacity_helps_under_trades, "robust[CW"),
    (claims.capacity_relies_more_on_g2, "model"),
])
def test_missing_columns_are_not_checked(check, drop):
    frame = p0_frame()
    with pytest.raises(ClaimDataMissing):
        check(frame[[c for c in frame.columns if not c.startswith(drop)]])


def test_missing_rows_are_not_checked():
    frame = p0_frame()
    with pytest.raises(ClaimDataMissing, match="standard"):
        claims.adversarial_training_lowers_cckl(frame[frame["defense"] != "standard"])
    with pytest.raises(ClaimDataMissing, match="capacity ladder"):
        claims.capacity_helps_under_trades(frame[frame["model"] != "vgg13-normal"])
    nan = p0_frame({("vgg13-normal", "TRADES", "probe[fisher-split.fnorm_robust]"): float("nan")})
    with pytest.raises(ClaimDataMissing, match="empty"):
        claims.robust_samples_have_lower_fisher(nan)


def test_registered_claims_run_through_the_claim_runner():
    registry = get_registry()
    entries = claims_for(registry, "p0-cpu")
    assert len(entries) == 7 and {e.spec.paper.key for e in entries} == {"P0"}
    outcomes = evaluate_claims(entries, p0_frame())
    assert all(o.status == "holds" for o in outcomes), [(o.claim, o.result.detail) for o in outcomes]
    assert len(claims_for(registry, "p0-full")) == len(claims_for(registry, "p0-full-resnet")) == 5
