"""P3's claims on small schema-2 leaderboard frames: each holds, does not hold (a significant reverse
effect), is inconclusive (one seed of a metric, tied data) or reports missing data, and renaming the
suite's labels changes no verdict."""
from __future__ import annotations

from typing import Any, Optional

import pytest

from bench.api.claim import ClaimDataMissing
from bench.stats import Verdict
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from bench.testing.rows import attack, frame, metric, relabel, row
from robarena_recognizability import claims

# the validated parameters the runner records for p3-cpu's defenses
_AT = {"eps": 0.1, "norm": "Linf", "step_size": 0.05, "steps": 5}
_TRADES = {**_AT, "init_std": 0.001}
DEFENSES = {
    "standard": ("classics/standard", {}),
    "pgd-at": ("classics/pgd-at", {**_AT, "random_start": True}),
    "trades-b6": ("classics/trades", {**_TRADES, "beta": 6.0}),
    "trades-b10000": ("classics/trades", {**_TRADES, "beta": 10000.0}),
    "fast-at": ("classics/fast-at", {"check_drop": 0.2, "check_step_size": 0.05, "check_steps": 5,
                                     "early_stop": True, "eps": 0.1, "norm": "Linf", "step_size": None}),
    "gradient-penalty-b64": ("recognizability/gradient-penalty", {"beta": 64.0, "eps": 0.1, "norm": "Linf"}),
    "gradient-penalty-b1": ("recognizability/gradient-penalty", {"beta": 1.0, "eps": 0.1, "norm": "Linf"}),
    "fisher-penalty": ("recognizability/fisher-penalty", {"beta": 1.0, "eps": 0.1, "n_proj": 1}),
    "distillation": ("recognizability/distillation", {"temperature": 100.0}),
}
_PROFILE = {"batched_restarts": False, "early_stop": True, "random_start": True, "restarts": 10,
            "step_size": 0.00784313725490196, "steps": 50}
JACOBIAN_PARAMS = {"fd_radius": 0.00784313725490196, "fd_random": 4, "n": None, "n_proj": 1, "power_iters": 20}
TASK_PARAMS = {"batch_size": 250, "judge": "train", "judge_model": "classics/resnet-cifar", "steps": 512}
METRICS = ("recognized", "success", "jacobian", "spread", "top", "clean", "p05", "p10")
BASE = {  # defense: (recognized, success, ||J||_F, spread, top share, clean, profile at 0.05 / 0.1)
    "standard": (0.20, 1.0, 9.0, 0.89, 0.11, 0.97, 0.70, 0.45),
    "pgd-at": (0.60, 1.0, 3.0, 0.88, 0.11, 0.94, 0.90, 0.80),
    "trades-b6": (0.50, 1.0, 2.0, 0.83, 0.11, 0.93, 0.90, 0.83),
    "trades-b10000": (0.10, 0.3, 0.01, 0.001, 0.66, 0.29, 0.28, 0.26),
    "fast-at": (0.55, 1.0, 3.5, 0.88, 0.11, 0.94, 0.90, 0.80),
    "gradient-penalty-b64": (0.10, 0.1, 0.0, 0.0, 1.0, 0.10, 0.10, 0.10),
    "gradient-penalty-b1": (0.30, 1.0, 5.0, 0.89, 0.11, 0.90, 0.80, 0.64),
    "fisher-penalty": (0.25, 1.0, 6.0, 0.89, 0.11, 0.91, 0.78, 0.56),
    "distillation": (0.22, 1.0, 900.0, 0.89, 0.15, 0.965, 0.75, 0.50),
}


HOLDS, NOT, INCONCLUSIVE = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE


def p3_rows(changes: Optional[dict] = None, dataset: Optional[tuple] = None, context: Optional[float] = None,
            skip: tuple = (), seeds: int = 3) -> list[dict]:
    """A p3-cpu-like frame's rows (accuracies of 10,000 examples) in which every claim holds, for
    seeds 0, 1, ...; ``changes[label][metric] = value`` edits it (metrics as in :data:`METRICS`),
    ``skip`` leaves defenses out, ``context`` adds the task's ``start_correlation``. Seed s scales
    the values of the i-th defense by 1 + 0.001 s i (differences vary between seeds)."""
    return [r for seed in range(seeds) for r in _seed_rows(changes, dataset, context, skip, seed)]


def _seed_rows(changes: Optional[dict], dataset: Optional[tuple], context: Optional[float], skip: tuple,
               seed: int) -> list[dict]:
    rows = []
    for i, (name, numbers) in enumerate(BASE.items()):
        if name in skip:
            continue
        v = dict(zip(METRICS, numbers)) | (changes or {}).get(name, {})
        v = {key: x * (1 + 0.001 * seed * i) for key, x in v.items()}
        attacks = [attack("profile", "classics/pgd", {**_PROFILE, "loss": "ce"}, v["p05"], eps=0.05),
                   attack("profile", "classics/pgd", {**_PROFILE, "loss": "ce"}, v["p10"], eps=0.1),
                   attack("profile-cw", "classics/pgd", {**_PROFILE, "loss": "cw"}, min(v["p10"], 0.05), eps=0.1)]
        probes = [metric("probe", "jacobian", "recognizability/jacobian", JACOBIAN_PARAMS, column, v[key])
                  for key, column in (("jacobian", "jacobian_fro"), ("spread", "output_spread"),
                                      ("top", "top_class_share"))]
        tasks = [metric("task", "recognizability", "recognizability/recognizability", TASK_PARAMS, column, v[key])
                 for key, column in (("recognized", "judge_target_rate"), ("success", "target_success"))]
        if context is not None:
            tasks.append(metric("task", "recognizability", "recognizability/recognizability", TASK_PARAMS,
                                "start_correlation", context))
        extra = {} if dataset is None else {"dataset": dataset}
        rows.append(row((name, *DEFENSES[name]), clean=v["clean"], attacks=attacks, probes=probes, tasks=tasks,
                        seed=seed, **extra))
    return rows


def p3_frame(changes: Optional[dict] = None, **kwargs: Any):
    return frame(p3_rows(changes, **kwargs))


def test_profile_columns_are_the_cross_entropy_pgd_columns_by_eps():
    f = p3_frame(seeds=1)
    assert claims.profile_columns(f) == [(0.05, "robust[profile Linf 0.05]"), (0.1, "robust[profile Linf 0.1]")]
    assert claims.profile_mean(claims.rows_of(f, claims.PGD_AT)) == pytest.approx(0.85)
    with pytest.raises(ClaimDataMissing, match="profile"):
        claims.profile_columns(f.drop(columns=["robust[profile Linf 0.05]", "robust[profile Linf 0.1]"]))


def test_profile_radii_come_from_the_threat_not_the_label():
    rows = p3_rows()
    for r in rows:
        r["attacks"][0]["threat"].update(eps=8 / 255, eps_display="8/255")
    assert claims.profile_columns(frame(rows))[0] == (pytest.approx(8 / 255), "robust[profile Linf 8/255]")


def test_recognized_holds_fails_and_needs_its_rows():
    result = claims.robust_perturbations_recognized(p3_frame())
    assert result.verdict is HOLDS and result.test.startswith("paired t-test over seeds, one-sided")
    assert result.numbers["pgd-at"] == pytest.approx(0.6 * 1.001) and result.numbers["standard"] == pytest.approx(0.2)
    assert claims.robust_perturbations_recognized(p3_frame({"pgd-at": {"recognized": 0.1}})).verdict is NOT
    one = claims.robust_perturbations_recognized(p3_frame(seeds=1))
    assert one.verdict is INCONCLUSIVE and "one seed: no sampling distribution for task[" in one.detail
    # judge-free measures are context only
    context = claims.robust_perturbations_recognized(p3_frame(context=0.9))
    assert context.verdict is HOLDS and context.numbers["pgd-at_start_correlation"] == 0.9
    with pytest.raises(ClaimDataMissing, match="pgd-at"):
        claims.robust_perturbations_recognized(p3_frame(skip=("pgd-at",)))


def test_recognized_on_tied_data_is_inconclusive():
    rows = p3_rows()
    for r in rows:  # pgd-at's rate equal to standard's on every seed
        if r["defense"] == "pgd-at":
            standard = next(x for x in rows if x["defense"] == "standard" and x["seed"] == r["seed"])
            r["task_results"] = standard["task_results"]
    result = claims.robust_perturbations_recognized(frame(rows))
    assert result.verdict is INCONCLUSIVE and "same difference" in result.detail


def test_jacobian_claim_checks_every_minimax_defense_present():
    assert claims.adversarial_training_lowers_jacobian(p3_frame()).verdict is HOLDS
    fails = claims.adversarial_training_lowers_jacobian(p3_frame({"fast-at": {"jacobian": 9.5}}))
    assert fails.verdict is NOT and fails.numbers["fast-at"] == pytest.approx(9.5 * 1.004)
    assert "against the claim: fast-at < standard" in fails.detail
    assert claims.adversarial_training_lowers_jacobian(p3_frame(skip=("fast-at",))).verdict is HOLDS
    with pytest.raises(ClaimDataMissing):
        claims.adversarial_training_lowers_jacobian(p3_frame(skip=("pgd-at",)))


def test_the_two_trades_models_are_told_apart_by_beta():
    # trades-b6's Jacobian above standard's fails the Jacobian claim; the beta-10000 model decides the other
    f = p3_frame({"trades-b6": {"jacobian": 9.5}}, seeds=1)
    assert claims.adversarial_training_lowers_jacobian(f).numbers["trades-b6"] == 9.5
    assert claims.adversarial_training_lowers_jacobian(p3_frame({"trades-b6": {"jacobian": 9.5}})).verdict is NOT
    assert claims.trades_high_beta_constant(f).numbers["trades-b10000_spread"] == 0.001


def test_trades_high_beta_constant_is_the_stated_bound_on_the_output_spread():
    one = claims.trades_high_beta_constant(p3_frame(seeds=1))
    assert one.verdict is HOLDS and one.numbers["trades-b10000_top_class_share"] == 0.66
    assert one.test == "measured value vs the stated bound (one seed, no sampling test)" and one.level == 0.05
    assert claims.trades_high_beta_constant(p3_frame({"trades-b10000": {"spread": 0.3}}, seeds=1)).verdict is NOT
    assert claims.trades_high_beta_constant(
        p3_frame({"trades-b10000": {"spread": claims.CONSTANT_SPREAD}}, seeds=1)).verdict is NOT
    seeds = claims.trades_high_beta_constant(p3_frame())
    assert seeds.verdict is HOLDS and seeds.test.startswith("one-sample t-test over seeds")
    assert claims.trades_high_beta_constant(p3_frame({"trades-b10000": {"spread": 0.3}})).verdict is NOT


def test_smoothness_claim_leaves_out_collapsed_models_and_says_so():
    result = claims.smoothness_regularizers_robust(p3_frame(seeds=1))  # one seed: the z-test on the counts
    assert result.verdict is HOLDS and result.test.startswith("z-test on the mean of accuracies")
    assert set(result.numbers) == {"standard", "gradient-penalty-b1", "fisher-penalty"}
    assert "gradient-penalty-b64 (constant classifier" in result.detail
    assert claims.smoothness_regularizers_robust(p3_frame()).verdict is HOLDS  # seeds: paired t on the means
    weak = p3_frame({"fisher-penalty": {"p05": 0.5, "p10": 0.4}}, seeds=1)
    assert claims.smoothness_regularizers_robust(weak).verdict is NOT
    equal = p3_frame({"fisher-penalty": {"p05": 0.7, "p10": 0.45}}, seeds=1)  # standard's profile: tied data
    assert claims.smoothness_regularizers_robust(equal).verdict is INCONCLUSIVE
    # every gradient-penalty model collapsed: nothing left to be robust
    collapsed = p3_frame({"gradient-penalty-b1": {"spread": 0.0}}, seeds=1)
    result = claims.smoothness_regularizers_robust(collapsed)
    assert result.verdict is NOT and "no usable recognizability/gradient-penalty" in result.detail
    with pytest.raises(ClaimDataMissing, match="fisher-penalty"):
        claims.smoothness_regularizers_robust(p3_frame(skip=("fisher-penalty",)))


def test_claims_are_checked_per_dataset():
    other = p3_rows({"pgd-at": {"recognized": 0.1}}, dataset=("other", "core/digits", {"n_test": 100, "n_train": None}))
    result = claims.robust_perturbations_recognized(frame(p3_rows() + other))
    assert result.verdict is NOT and "against the claim: other:pgd-at > standard" in result.detail
    assert result.numbers["digits:pgd-at"] == pytest.approx(0.6 * 1.001)
    assert result.numbers["other:pgd-at"] == pytest.approx(0.1 * 1.001)


def verdicts(rows: list[dict], suite: str = "p3-cpu") -> dict[str, Any]:
    outcomes = evaluate_claims(claims_for(get_registry(), suite), frame(rows))
    return {o.claim: (o.status, o.result.p_value, sorted(o.result.numbers.values())) for o in outcomes}


def test_registered_claims_run_on_a_frame():
    for suite in ("p3-cpu", "p3-full"):
        found = verdicts(p3_rows(), suite)
        assert len(found) == 7 and {status for status, _, _ in found.values()} == {"holds"}, found


def test_renaming_the_suite_labels_changes_no_verdict():
    rows = p3_rows({"fast-at": {"jacobian": 9.5}})  # the Jacobian claim does not hold, the others hold
    # defense labels permuted (standard <-> pgd-at, the two TRADES betas swapped), attack, probe
    # and task labels renamed: a claim reading labels would compare other rows and columns
    labels = {"standard": "pgd-at", "pgd-at": "standard", "trades-b6": "trades-b10000", "trades-b10000": "trades-b6",
              "fast-at": "gp", "profile": "profile-cw", "profile-cw": "profile", "jacobian": "j",
              "recognizability": "r", "digits": "d"}
    before = verdicts(rows)
    assert {claim: status for claim, (status, _, _) in before.items() if status != "holds"} == {
        "recognizability/adversarial-training-lowers-jacobian": "does not hold"}
    assert verdicts(relabel(rows, labels)) == before


# --------------------------------------------------------------------------- categories (thesis, Fig. 4.1)

def test_categories_put_collapsed_models_apart_whatever_their_defense():
    groups = claims.categories(p3_frame(seeds=1))
    names = {k: sorted(label for label, _ in v) for k, v in groups.items()}
    assert names == {"minimax": ["fast-at", "pgd-at", "trades-b6"], "approximate": ["fisher-penalty", "gradient-penalty-b1"],
                     "undefended": ["distillation", "standard"], "collapsed": ["gradient-penalty-b64", "trades-b10000"]}


def test_recognizability_thesis_holds_fails_and_is_inconclusive_on_one_seed():
    assert claims.recognizability_follows_category(p3_frame()).verdict is HOLDS
    # approximate models below the undefended ones on every seed: significant against the claim
    worse = {"gradient-penalty-b1": {"recognized": 0.05}, "fisher-penalty": {"recognized": 0.06}}
    assert claims.recognizability_follows_category(p3_frame(worse)).verdict is NOT
    one = claims.recognizability_follows_category(p3_frame(seeds=1))
    assert one.verdict is INCONCLUSIVE and "one seed" in one.detail


def test_recognizability_claims_refuse_a_judge_of_the_attacked_architecture():
    rows = p3_rows()
    for r in rows:
        for t in r["task_results"]:
            t["params"] = {**t["params"], "judge_model": r["model_id"]}
    for fn in (claims.recognizability_follows_category, claims.robust_perturbations_recognized):
        result = fn(frame(rows))
        assert result.verdict is INCONCLUSIVE and "architecture" in result.detail, result.detail


def test_robustness_ordering_compares_every_pair_and_leaves_collapsed_models_out():
    result = claims.robustness_follows_category(p3_frame())
    assert result.verdict is HOLDS
    # a minimax model below an approximate one: does not hold
    weak = {"fast-at": {"p05": 0.60, "p10": 0.40}}
    assert claims.robustness_follows_category(p3_frame(weak)).verdict is NOT


def test_clean_ordering_follows_fig_4_1_text():
    assert claims.clean_accuracy_follows_category(p3_frame()).verdict is HOLDS
    # the standard model below the minimax ones (as on digits): does not hold
    assert claims.clean_accuracy_follows_category(p3_frame({"standard": {"clean": 0.80}})).verdict is NOT
