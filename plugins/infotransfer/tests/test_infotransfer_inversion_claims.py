"""P2's inversion claims on synthetic leaderboard frames: holds, fails, not checked."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from robarena_infotransfer.specs_inversion import CLAIMS, INVERSION_SUITE
from robarena_infotransfer.tasks.inversion_claims import (noise_once_speeds_inversion, robust_inverts_closer,
                                                          robust_inverts_faster)


def frame(standard: dict, robust: dict) -> pd.DataFrame:
    """Two seeds per defense; the robust seeds differ so that means are what the claims compare."""
    rows = []
    for defense, metrics in (("standard", standard), ("PGD-AT", robust)):
        for seed, wobble in ((0, -0.5), (1, 0.5)):
            row = {"dataset": "digits", "model": "small-cnn", "defense": defense, "seed": seed, "clean": 0.9}
            row.update({f"task[inversion.{k}]": v + wobble * 1e-3 for k, v in metrics.items()})
            rows.append(row)
    return pd.DataFrame(rows)


STANDARD = {"psnr": 11.0, "ssim": 0.86, "final_loss": 0.02, "iters_to_threshold": 300.0,
            "noise_iters_to_threshold": 1001.0, "noise_psnr": 9.0, "noise_feature_shift": 0.1}
ROBUST = {"psnr": 14.0, "ssim": 0.93, "final_loss": 0.014, "iters_to_threshold": 80.0,
          "noise_iters_to_threshold": 20.0, "noise_psnr": 15.0, "noise_feature_shift": 0.1}


def test_robust_inverts_closer_holds_and_fails():
    ok = robust_inverts_closer(frame(STANDARD, ROBUST))
    assert ok.holds is True
    assert ok.numbers["robust_psnr"] == pytest.approx(14.0) and ok.numbers["standard_ssim"] == pytest.approx(0.86)
    # better PSNR and SSIM but a higher final loss: the claim asks for all three
    worse_loss = robust_inverts_closer(frame(STANDARD, {**ROBUST, "final_loss": 0.03}))
    assert worse_loss.holds is False and "final_loss" in worse_loss.detail
    assert robust_inverts_closer(frame(ROBUST, STANDARD)).holds is False


def test_robust_inverts_faster_holds_and_fails():
    assert robust_inverts_faster(frame(STANDARD, ROBUST)).holds is True
    result = robust_inverts_faster(frame(STANDARD, {**ROBUST, "iters_to_threshold": 300.0}))
    assert result.holds is False  # equal counts are not faster
    assert result.numbers["robust_iters"] == pytest.approx(300.0)


def test_noise_once_speeds_inversion_uses_the_robust_row():
    result = noise_once_speeds_inversion(frame(STANDARD, ROBUST))
    assert result.holds is True and result.numbers["speedup"] == pytest.approx(80.0 / 20.0)
    slower = noise_once_speeds_inversion(frame(STANDARD, {**ROBUST, "noise_iters_to_threshold": 1001.0}))
    assert slower.holds is False and slower.numbers["speedup"] < 1
    # only the standard row speeding up does not make the claim hold
    assert noise_once_speeds_inversion(frame({**STANDARD, "noise_iters_to_threshold": 5.0},
                                             {**ROBUST, "noise_iters_to_threshold": 90.0})).holds is False


def test_missing_rows_or_columns_are_not_checked():
    only_standard = frame(STANDARD, ROBUST)
    only_standard = only_standard[only_standard["defense"] == "standard"]
    with pytest.raises(ClaimDataMissing):
        robust_inverts_faster(only_standard)
    nan_noise = frame(STANDARD, {**ROBUST, "noise_iters_to_threshold": math.nan})
    with pytest.raises(ClaimDataMissing):
        noise_once_speeds_inversion(nan_noise)
    with pytest.raises(ClaimDataMissing):
        robust_inverts_closer(frame(STANDARD, ROBUST).drop(columns=["task[inversion.ssim]"]))


def test_claim_specs_point_at_these_functions_and_the_suite():
    targets = {c.name: c.target for c in CLAIMS}
    assert targets == {
        "p2-robust-inverts-closer": "robarena_infotransfer.tasks.inversion_claims:robust_inverts_closer",
        "p2-robust-inverts-faster": "robarena_infotransfer.tasks.inversion_claims:robust_inverts_faster",
        "p2-noise-once-speeds-inversion": "robarena_infotransfer.tasks.inversion_claims:noise_once_speeds_inversion",
    }
    assert {c.suite for c in CLAIMS} == {INVERSION_SUITE}


def test_the_shipped_suite_has_the_rows_and_task_the_claims_read(robarena_registry):
    from bench.runner.suite import resolve_suite
    from robarena_infotransfer.tasks.inversion_claims import ROBUST, STANDARD, TASK

    suite = resolve_suite(f"infotransfer/{INVERSION_SUITE}", robarena_registry)
    assert {d.label for d in suite.defenses} == {STANDARD, ROBUST}
    assert [(t.id, t.label) for t in suite.tasks] == [("infotransfer/inversion", None)]  # label = "inversion"
    assert TASK == "inversion"
