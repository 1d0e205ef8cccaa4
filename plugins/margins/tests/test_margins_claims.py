"""P1 claims on synthetic leaderboard frames (where they hold and where they fail), and B.2's STD differences."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from bench.errors import UsageError
from robarena_margins import claims
from robarena_margins.std_difference import accumulated_std_difference, stds_from_row

LABELS = ["standard", "PGD-AT 0.05", "PGD-AT 0.1", "PGD-AT 0.2"]
PGD = "robust[PGD-10 Linf 0.1]"


def frame(columns: dict[str, list[float]], labels=LABELS, dataset="digits", model="small-cnn") -> pd.DataFrame:
    """One row per label (listed in a shuffled order, to check the claims sort by strength)."""
    order = [2, 0, 3, 1][: len(labels)] if len(labels) == 4 else list(range(len(labels)))
    data = {"dataset": [dataset] * len(labels), "model": [model] * len(labels),
            "defense": [labels[i] for i in order], "seed": [0] * len(labels)}
    data.update({name: [values[i] for i in order] for name, values in columns.items()})
    return pd.DataFrame(data)


@pytest.mark.parametrize("check, column, rising", [
    (claims.loss_gap_shrinks, claims.GAP, False),
    (claims.train_loss_grows, claims.TRAIN_LOSS, True),
    (claims.test_accuracy_drops, "clean", False),
    (claims.margins_concentrate, claims.MARGIN, False),
    (claims.less_confident, claims.P_Y, False),
    (claims.p_y_concentrates_middle, claims.P_Y_MIDDLE, True),
])
def test_trend_claims_hold_on_monotone_data_and_fail_otherwise(check, column, rising):
    up = [0.1, 0.2, 0.3, 0.4]
    good = up if rising else up[::-1]
    result = check(frame({column: good}))
    assert result.holds is True
    assert result.numbers == dict(zip(LABELS, good))
    bad = [good[0], good[2], good[1], good[3]]  # the two middle strengths swapped
    assert check(frame({column: bad})).holds is False
    assert check(frame({column: [0.2] * 4})).holds is False  # flat is not a trend


def test_trend_claims_check_every_dataset_and_model_and_average_seeds():
    ok = frame({claims.GAP: [0.4, 0.3, 0.2, 0.1]})
    bad = frame({claims.GAP: [0.4, 0.3, 0.35, 0.1]}, model="resnet")
    both = claims.loss_gap_shrinks(pd.concat([ok, bad]))
    assert both.holds is False and "digits/resnet" in both.detail
    assert both.numbers["digits/small-cnn/PGD-AT 0.2"] == 0.1
    seeds = pd.concat([ok, frame({claims.GAP: [0.6, 0.5, 0.4, 0.3]}).assign(seed=1)])
    assert claims.loss_gap_shrinks(seeds).numbers["PGD-AT 0.1"] == pytest.approx((0.2 + 0.4) / 2)


def test_sweep_parses_strengths_and_needs_two():
    rows = frame({"clean": [1, 1, 1, 1]}, labels=["standard", "PGD-AT 8/255", "PGD-AT 16/255", "FGSM-AT 0.1"])
    assert [s for s, _ in claims.sweep(rows)] == [0.0, 8 / 255, 16 / 255]
    assert claims.sweep(rows, family="FGSM-AT") == [(0.0, "standard"), (0.1, "FGSM-AT 0.1")]
    with pytest.raises(ClaimDataMissing, match="at least two"):
        claims.sweep(rows, family="FGSM-AT", with_standard=False)
    with pytest.raises(ClaimDataMissing):
        claims.loss_gap_shrinks(frame({"clean": [1, 1, 1, 1]}))  # no loss-gap column


def test_fgsm_at_claim_compares_with_standard():
    labels = ["standard", "FGSM-AT 0.1"]
    assert claims.fgsm_at_loss_gap_shrinks(frame({claims.GAP: [0.5, 0.3]}, labels)).holds is True
    assert claims.fgsm_at_loss_gap_shrinks(frame({claims.GAP: [0.3, 0.5]}, labels)).holds is False


def test_strongest_ar_is_most_robust_on_clean_correct_points():
    clean = [0.9, 0.8, 0.8, 0.5]
    holds = claims.strongest_ar_most_robust(frame({"clean": clean, PGD: [0.1, 0.5, 0.6, 0.45]}))
    assert holds.holds is True and holds.numbers["PGD-AT 0.2"] == pytest.approx(0.9)
    # 0.45 robust is the highest fraction of all points but not of the clean-correct ones
    fails = claims.strongest_ar_most_robust(frame({"clean": [0.9, 0.8, 0.5, 0.8], PGD: [0.1, 0.5, 0.49, 0.45]}))
    assert fails.holds is False
    with pytest.raises(ClaimDataMissing, match="robust"):
        claims.strongest_ar_most_robust(frame({"clean": clean}))


def sv_columns(per_layer: dict[str, list[float]]) -> dict[str, list[float]]:
    return {f"probe[layer-spectrum.sv_std.{k}]": v for k, v in per_layer.items()}


def test_sv_std_claim_compares_the_weakest_and_strongest_pgd_at():
    # layer a: 1.0 -> 0.4 (decrease 0.6); layer b: 0.5 -> 0.7 (increase 0.2); standard is ignored
    good = sv_columns({"a": [9.0, 1.0, 0.8, 0.4], "b": [0.0, 0.5, 0.6, 0.7]})
    result = claims.sv_std_shrinks(frame(good))
    assert result.holds is True
    assert result.numbers["decrease_sum"] == pytest.approx(0.6) and result.numbers["increase_sum"] == pytest.approx(0.2)
    bad = sv_columns({"a": [0.0, 1.0, 0.8, 0.9], "b": [0.0, 0.5, 0.6, 0.7]})
    assert claims.sv_std_shrinks(frame(bad)).holds is False


def test_loss_variation_claim_needs_every_radius():
    cols = {"probe[loss-variation.mean@0.0125]": [0.4, 0.3, 0.2, 0.1],
            "probe[loss-variation.mean@0.05]": [0.8, 0.6, 0.4, 0.2]}
    result = claims.loss_variation_shrinks(frame(cols))
    assert result.holds is True and result.numbers["standard @0.05"] == 0.8
    cols["probe[loss-variation.mean@0.05]"] = [0.8, 0.6, 0.7, 0.2]
    fails = claims.loss_variation_shrinks(frame(cols))
    assert fails.holds is False and "0.05" in fails.detail
    with pytest.raises(ClaimDataMissing):
        claims.loss_variation_shrinks(frame({"clean": [1, 1, 1, 1]}))


def test_spectral_clip_claim_pairs_bounds_with_plain_pgd_at_of_the_same_eps():
    labels = ["standard", "PGD-AT 0.1", "SN-1 PGD-AT 0.1", "SN-3 PGD-AT 0.1"]
    holds = claims.spectral_clip_lowers_loss_gap(frame({claims.GAP: [0.9, 0.5, 0.2, 0.4]}, labels))
    assert holds.holds is True and holds.numbers == {"SN-1 PGD-AT 0.1": 0.2, "PGD-AT 0.1": 0.5, "SN-3 PGD-AT 0.1": 0.4}
    assert claims.spectral_clip_lowers_loss_gap(frame({claims.GAP: [0.9, 0.5, 0.2, 0.6]}, labels)).holds is False
    with pytest.raises(ClaimDataMissing, match="matching"):
        claims.spectral_clip_lowers_loss_gap(frame({claims.GAP: [0.9, 0.5]}, ["standard", "SN-1 PGD-AT 0.2"]))


def test_accumulated_std_difference_of_identical_models_is_zero():
    stds = {"conv1": 0.7, "conv2": 1.3, "fc": 0.2}
    same = accumulated_std_difference(stds, dict(stds))
    assert (same.decrease_sum, same.increase_sum, same.n_decrease, same.n_increase) == (0.0, 0.0, 0, 0)
    assert math.isnan(same.decrease_mean) and math.isnan(same.increase_mean)


def test_accumulated_std_difference_splits_layers_as_p1_b2():
    a = {"l1": 1.0, "l2": 0.5, "l3": 0.2, "l4": 0.9}
    b = {"l1": 0.6, "l2": 0.7, "l3": 0.2, "l4": 0.4}
    d = accumulated_std_difference(a, b)
    assert d.decrease_sum == pytest.approx(0.9) and d.n_decrease == 2 and d.decrease_mean == pytest.approx(0.45)
    assert d.increase_sum == pytest.approx(0.2) and d.n_increase == 1 and d.increase_mean == pytest.approx(0.2)
    reverse = accumulated_std_difference(b, a)
    assert (reverse.decrease_sum, reverse.increase_sum) == pytest.approx((d.increase_sum, d.decrease_sum))
    with pytest.raises(UsageError, match="different layers"):
        accumulated_std_difference(a, {"l1": 1.0})
    with pytest.raises(UsageError, match="finite"):
        accumulated_std_difference({"l1": float("nan")}, {"l1": 1.0})


def test_stds_are_read_from_a_leaderboard_row_without_other_architectures_layers():
    row = {"defense": "PGD-AT 0.1", "probe[layer-spectrum.sv_std.body.0]": 0.5,
           "probe[layer-spectrum.sv_std.layer3.1.conv2]": float("nan"), "probe[layer-spectrum.mean_sv_std]": 0.4,
           "probe[margin.mean]": 1.0}
    assert stds_from_row(row) == {"body.0": 0.5}
    assert stds_from_row(row, probe="other") == {}


def test_loss_gap_shrinks_at_every_bound():
    labels = ["PGD-AT 4/255", "PGD-AT 16/255", "SN-1 PGD-AT 4/255", "SN-1 PGD-AT 16/255"]
    holds = claims.loss_gap_shrinks_at_every_bound(frame({claims.GAP: [0.6, 0.5, 0.2, 0.1]}, labels))
    assert holds.holds is True and holds.numbers["SN-1 PGD-AT 16/255"] == 0.1
    fails = claims.loss_gap_shrinks_at_every_bound(frame({claims.GAP: [0.6, 0.5, 0.2, 0.3]}, labels))
    assert fails.holds is False and "SN-1 PGD-AT" in fails.detail
    with pytest.raises(ClaimDataMissing, match="SN-"):
        claims.loss_gap_shrinks_at_every_bound(frame({claims.GAP: [0.6, 0.5]}, labels[:2]))
