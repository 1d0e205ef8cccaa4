"""P2's inversion claims on schema-2 leaderboard frames: holds, does not hold, inconclusive, not checked;
p2-inversion-cpu's published numbers give their verdicts, and renaming the suite's labels changes none."""
from __future__ import annotations

import math

import pytest

from bench.api.claim import ClaimDataMissing
from bench.stats import Verdict
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from bench.testing.rows import frame as to_frame
from bench.testing.rows import metric, relabel, row
from robarena_infotransfer.specs_inversion import CLAIMS, INVERSION_SUITE
from robarena_infotransfer.tasks.inversion_claims import (noise_once_speeds_inversion, robust_inverts_closer,
                                                          robust_inverts_faster)

# the validated parameters the runner records for p2-inversion-cpu's defenses and task
DEFENSES = {"standard": ("standard", "classics/standard", {}),
            "PGD-AT": ("PGD-AT", "classics/pgd-at", {"eps": 1.0, "norm": "L2", "random_start": True,
                                                     "step_size": 0.5, "steps": 5})}
TASK_PARAMS = {"n_images": 8, "noise_once": True, "step_size": 0.15, "steps": 1000, "threshold": 0.05}


def inversion_rows(per_seed: dict[str, list[dict]]) -> list[dict]:
    """Defense label -> one metrics dict per seed."""
    return [row(DEFENSES[defense], seed=seed, clean=0.9,
                tasks=[metric("task", "inversion", "infotransfer/inversion", TASK_PARAMS, k, v) for k, v in m.items()])
            for defense, seeds in per_seed.items() for seed, m in enumerate(seeds)]


HOLDS, NOT, INCONCLUSIVE = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE


def frame(standard: dict, robust: dict, drop: tuple = ()):
    """Three seeds per defense: the standard values shifted by -0.5e-3, 0, +0.5e-3, the robust ones by
    -1e-3, 0, +1e-3 (so the paired differences vary between seeds; the means are the values given)."""
    def seeds(metrics: dict, step: float) -> list[dict]:
        return [{k: (None if v is None else v + wobble * step) for k, v in metrics.items() if k not in drop}
                for wobble in (-1, 0, 1)]
    return to_frame(inversion_rows({"standard": seeds(standard, 0.5e-3), "PGD-AT": seeds(robust, 1e-3)}))


STANDARD = {"psnr": 11.0, "ssim": 0.86, "final_loss": 0.02, "iters_to_threshold": 300.0,
            "noise_iters_to_threshold": 1001.0, "noise_psnr": 9.0, "noise_feature_shift": 0.1}
ROBUST = {"psnr": 14.0, "ssim": 0.93, "final_loss": 0.014, "iters_to_threshold": 80.0,
          "noise_iters_to_threshold": 20.0, "noise_psnr": 15.0, "noise_feature_shift": 0.1}


def test_robust_inverts_closer_holds_and_fails():
    ok = robust_inverts_closer(frame(STANDARD, ROBUST))
    assert ok.verdict is HOLDS and ok.test.startswith("paired t-test over seeds, one-sided")
    assert ok.numbers["robust_psnr"] == pytest.approx(14.0) and ok.numbers["standard_ssim"] == pytest.approx(0.86)
    # better PSNR and SSIM but a higher final loss: the claim asks for all three
    worse_loss = robust_inverts_closer(frame(STANDARD, {**ROBUST, "final_loss": 0.03}))
    assert worse_loss.verdict is NOT and "against the claim: final_loss" in worse_loss.detail
    assert robust_inverts_closer(frame(ROBUST, STANDARD)).verdict is NOT


def test_robust_inverts_faster_holds_and_fails():
    # differences -220 + 0.5e-3 * (-1, 0, 1): mean -220, sd 0.5e-3
    faster = robust_inverts_faster(frame(STANDARD, ROBUST))
    assert faster.verdict is HOLDS and faster.statistic == pytest.approx(-220 / (0.5e-3 / math.sqrt(3)))
    result = robust_inverts_faster(frame(STANDARD, {**ROBUST, "iters_to_threshold": 300.0}))
    assert result.verdict is INCONCLUSIVE  # equal means: t = 0
    assert result.numbers["robust_iters"] == pytest.approx(300.0)
    assert robust_inverts_faster(frame(STANDARD, {**ROBUST, "iters_to_threshold": 400.0})).verdict is NOT


def test_noise_once_speeds_inversion_uses_the_robust_row():
    result = noise_once_speeds_inversion(frame(STANDARD, ROBUST))
    assert result.numbers["speedup"] == pytest.approx(80.0 / 20.0)
    assert result.verdict is INCONCLUSIVE and "same difference" in result.detail  # both counts move together
    robust = to_frame(inversion_rows({"standard": [STANDARD] * 3, "PGD-AT": [
        {**ROBUST, "noise_iters_to_threshold": n} for n in (20.0, 25.0, 35.0)]}))
    assert noise_once_speeds_inversion(robust).verdict is HOLDS  # 80 vs 20, 25, 35
    slower = to_frame(inversion_rows({"standard": [STANDARD] * 3, "PGD-AT": [
        {**ROBUST, "noise_iters_to_threshold": n} for n in (1001.0, 990.0, 1001.0)]}))
    found = noise_once_speeds_inversion(slower)
    assert found.verdict is NOT and found.numbers["speedup"] < 1
    # only the standard row speeding up does not make the claim hold
    standard_only = to_frame(inversion_rows({"standard": [{**STANDARD, "noise_iters_to_threshold": n}
                                                          for n in (5.0, 6.0, 8.0)],
                                             "PGD-AT": [{**ROBUST, "noise_iters_to_threshold": n}
                                                        for n in (90.0, 95.0, 91.0)]}))
    assert noise_once_speeds_inversion(standard_only).verdict is NOT


def test_missing_rows_or_columns_are_not_checked():
    only_standard = frame(STANDARD, ROBUST)
    only_standard = only_standard[only_standard["defense_id"] == "classics/standard"]
    with pytest.raises(ClaimDataMissing, match="PGD-AT"):
        robust_inverts_faster(only_standard)
    nan_noise = frame(STANDARD, {**ROBUST, "noise_iters_to_threshold": None})
    with pytest.raises(ClaimDataMissing, match="empty"):
        noise_once_speeds_inversion(nan_noise)
    with pytest.raises(ClaimDataMissing, match="ssim"):
        robust_inverts_closer(frame(STANDARD, ROBUST, drop=("ssim",)))


#: docs/reproductions/p2.md, p2-inversion-cpu per seed (standard seeds 0, 1; PGD-AT seeds 0, 1)
P2_INVERSION = {
    "standard": [{"final_loss": 0.0302, "psnr": 10.69, "ssim": 0.854, "iters_to_threshold": 855.0,
                  "noise_iters_to_threshold": 1001.0, "noise_psnr": 8.84, "noise_feature_shift": 0.124},
                 {"final_loss": 0.0225, "psnr": 11.03, "ssim": 0.871, "iters_to_threshold": 145.0,
                  "noise_iters_to_threshold": 1001.0, "noise_psnr": 8.81, "noise_feature_shift": 0.154}],
    "PGD-AT": [{"final_loss": 0.0133, "psnr": 16.64, "ssim": 0.957, "iters_to_threshold": 59.0,
                "noise_iters_to_threshold": 1001.0, "noise_psnr": 12.68, "noise_feature_shift": 0.122},
               {"final_loss": 0.0134, "psnr": 17.04, "ssim": 0.958, "iters_to_threshold": 74.0,
                "noise_iters_to_threshold": 1001.0, "noise_psnr": 11.84, "noise_feature_shift": 0.115}],
}


def verdicts(rows: list[dict]) -> dict:
    outcomes = evaluate_claims(claims_for(get_registry(), INVERSION_SUITE), to_frame(rows))
    return {o.claim: (o.status, o.result.p_value, sorted(o.result.numbers.values())) for o in outcomes}


def test_p2_inversion_cpu_published_numbers_give_their_verdicts():
    """Two seeds (a paired t-test with one degree of freedom: p = 1/2 - atan(t)/pi one-sided). The
    noise-once claim is decided against (1001 vs 59 and 74 iterations); PSNR, SSIM and final loss,
    and the iteration counts (855 and 145 vs 59 and 74) vary too much between two seeds to decide."""
    found = verdicts(inversion_rows(P2_INVERSION))  # before: "2 of 3 hold"
    assert {claim: status for claim, (status, _, _) in found.items()} == {
        "infotransfer/p2-robust-inverts-closer": "inconclusive", "infotransfer/p2-robust-inverts-faster":
            "inconclusive", "infotransfer/p2-noise-once-speeds-inversion": "does not hold"}
    faster = robust_inverts_faster(to_frame(inversion_rows(P2_INVERSION)))
    assert (faster.numbers["robust_iters"], faster.numbers["standard_iters"]) == (66.5, 500.0)
    diffs = (59.0 - 855.0, 74.0 - 145.0)  # per seed, robust - standard
    mean, sd = sum(diffs) / 2, abs(diffs[0] - diffs[1]) / math.sqrt(2)
    t = mean / (sd / math.sqrt(2))
    assert faster.statistic == pytest.approx(t) and faster.p_value == pytest.approx(0.5 + math.atan(t) / math.pi)
    noise = noise_once_speeds_inversion(to_frame(inversion_rows(P2_INVERSION)))
    t = (942 + 927) / 2 / (15 / math.sqrt(2) / math.sqrt(2))  # noise - plain: 942, 927
    assert noise.p_reverse == pytest.approx(0.5 - math.atan(t) / math.pi)


def test_renaming_the_suite_labels_changes_no_verdict():
    rows = inversion_rows(P2_INVERSION)
    renamed = relabel(rows, {"standard": "PGD-AT", "PGD-AT": "standard", "inversion": "inv", "digits": "d"})
    assert verdicts(renamed) == verdicts(rows)


def test_claim_specs_point_at_these_functions_and_the_suite():
    targets = {c.name: c.target for c in CLAIMS if c.suite == INVERSION_SUITE}
    assert {c.name: c.target for c in CLAIMS if c.suite == "p2-full"} == {f"{n}-full": t for n, t in targets.items()}
    assert targets == {
        "p2-robust-inverts-closer": "robarena_infotransfer.tasks.inversion_claims:robust_inverts_closer",
        "p2-robust-inverts-faster": "robarena_infotransfer.tasks.inversion_claims:robust_inverts_faster",
        "p2-noise-once-speeds-inversion": "robarena_infotransfer.tasks.inversion_claims:noise_once_speeds_inversion",
    }
    assert {c.suite for c in CLAIMS} == {INVERSION_SUITE, "p2-full"}


def test_the_shipped_suite_has_the_rows_and_task_the_claims_read(robarena_registry):
    from bench.runner.suite import resolve_suite
    from robarena_infotransfer.claim_rows import PGD_AT_ID, STANDARD_ID
    from robarena_infotransfer.tasks.inversion_claims import TASK

    suite = resolve_suite(f"infotransfer/{INVERSION_SUITE}", robarena_registry)
    assert sorted(d.id for d in suite.defenses) == [PGD_AT_ID, STANDARD_ID]
    assert [t.id for t in suite.tasks] == [TASK]
