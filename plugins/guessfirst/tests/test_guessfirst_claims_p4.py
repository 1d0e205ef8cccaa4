"""P4's claims on small schema-2 leaderboard frames: each holds, does not hold (a significant reverse
effect), is inconclusive (tied data, one seed of a probe metric, a difference within noise) or reports
missing data, and renaming the suite's labels changes no verdict."""
from __future__ import annotations

from typing import Any, Optional

import pytest
from scipy.stats import fisher_exact

from bench.api.claim import ClaimDataMissing
from bench.stats import Verdict
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from bench.testing.rows import attack, frame, metric, relabel, row, worst_case
from robarena_guessfirst import claims
from robarena_guessfirst.plugin import robarena_claims

# the validated parameters the runner records for p4-cpu's components
CNN_MODEL = ("cnn", "guessfirst/cnn", {"channels": [32, 64], "fc": [512, 256, 128], "padding": 1})
_IE = {"ie_layer": 2, "ie_weight": 0.05, "sigma": None, "unbiased": False}
DEFENSES = {
    "CNN": ("CNN", "classics/standard", {}),
    "C-DV": ("C-DV", "guessfirst/c-dv", {}),
    "C-JS": ("C-JS", "guessfirst/c-js", {}),
    "C-DV-IE": ("C-DV-IE", "guessfirst/c-dv-ie", _IE),
    "C-JS-IE": ("C-JS-IE", "guessfirst/c-js-ie", _IE),
    "VIB": ("VIB", "guessfirst/vib", {"beta": 0.001, "std_offset": 5.0}),
}
_PGD = {"batched_restarts": False, "early_stop": True, "loss": "ce", "random_start": True, "restarts": 1,
        "step_size": 0.01, "steps": 40}
SUBSTITUTE = "classics/small-cnn trained by classics/standard"
#: column -> (attack label, id, parameters, norm, eps, substitute)
ATTACKS = {
    "robust[PGD w Linf 0.15]": ("PGD w", "classics/pgd", _PGD, "Linf", 0.15, None),
    "robust[PGD w Linf 0.3]": ("PGD w", "classics/pgd", _PGD, "Linf", 0.3, None),
    "robust[FGSM w Linf 0.15]": ("FGSM w", "classics/fgsm", {}, "Linf", 0.15, None),
    "robust[FGSM b Linf 0.15]": ("FGSM b", "classics/fgsm", {}, "Linf", 0.15, SUBSTITUTE),
    "robust[PGD b Linf 0.15]": ("PGD b", "classics/pgd", {**_PGD, "early_stop": False}, "Linf", 0.15, SUBSTITUTE),
    "robust[CW b L2 2]": ("CW b", "classics/cw", {}, "L2", 2.0, SUBSTITUTE),
    "robust[CW w L2 2]": ("CW w", "classics/cw-l2", {}, "L2", 2.0, None),
}
LABEL_INFO = "probe[heldout-label-info.label_info]"
COLS = ["clean", *ATTACKS, LABEL_INFO]
BASE = {  # P4 Table 1 (MNIST) numbers as fractions, and an MMD surrogate
    "CNN": (0.988, 0.044, 0.0, 0.408, 0.656, 0.537, 0.634, 0.015, 0.30),
    "C-DV": (0.989, 0.262, 0.048, 0.540, 0.847, 0.841, 0.760, 0.346, 0.31),
    "C-JS": (0.990, 0.698, 0.297, 0.756, 0.880, 0.850, 0.744, 0.077, 0.28),
    "C-DV-IE": (0.989, 0.380, 0.074, 0.587, 0.911, 0.872, 0.793, 0.388, 0.13),
    "C-JS-IE": (0.990, 0.780, 0.500, 0.828, 0.898, 0.876, 0.748, 0.096, 0.01),
    "VIB": (0.990, 0.114, 0.010, 0.507, 0.836, 0.743, 0.667, 0.067, 0.31),
}
DIGITS = ("digits", "core/digits", {"n_test": None, "n_train": None})
HOLDS, NOT, INCONCLUSIVE = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE


def p4_rows(changes: Optional[dict] = None, dataset: tuple = DIGITS, worst: Optional[float] = None,
            drop: tuple = (), seed: int = 0) -> list[dict]:
    """A P4-like frame's rows (accuracies of 10,000 examples) in which every accuracy claim holds;
    ``changes[label][column] = value`` edits it, ``drop`` leaves columns out, ``worst`` adds a worst
    case at Linf 0.3 of that value; ``seed`` adds 0.01 * seed * i to the label-information surrogate
    and 0.0005 * seed * i to every accuracy of the i-th defense (so differences vary between seeds)."""
    rows = []
    for name, numbers in BASE.items():
        values = dict(zip(COLS, numbers)) | (changes or {}).get(name, {})
        i = list(BASE).index(name)
        values = {col: v if isinstance(v, tuple) else v + (0.01 if col == LABEL_INFO else 0.0005) * seed * i
                  for col, v in values.items()}
        attacks = [attack(label, ident, params, values[col], norm=norm, eps=eps, substitute=sub)
                   for col, (label, ident, params, norm, eps, sub) in ATTACKS.items() if col not in drop]
        probes = [] if LABEL_INFO in drop else [
            metric("probe", "heldout-label-info", "guessfirst/heldout-label-info", {"folds": 5, "hypothesis_layer": 2,
                   "l2": None, "layer": "auto", "max_iter": 100, "n": None}, "label_info", values[LABEL_INFO])]
        # the worst case over all attacks: by default the white-box PGD value at each radius
        extra = [worst_case(["PGD w", "FGSM w"], values[f"robust[PGD w Linf {e}]"] if worst is None or e == 0.15
                            else worst, eps=e) for e in (0.15, 0.3)]
        rows.append(row(DEFENSES[name], dataset=dataset, model=CNN_MODEL, clean=values["clean"], attacks=attacks,
                        probes=probes, worst=extra, seed=seed))
    return rows


def p4_frame(changes: Optional[dict] = None, **kwargs: Any):
    return frame(p4_rows(changes, **kwargs))


def seeds(changes: Optional[dict] = None, n: int = 3) -> Any:
    return frame([r for s in range(n) for r in p4_rows(changes, seed=s)])


def test_white_box_claim_is_decided_on_the_worst_case_at_every_radius():
    result = claims.cjsie_more_robust_white_box(p4_frame())
    assert result.verdict is HOLDS and result.test.startswith("Fisher's exact test, one-sided")
    assert result.numbers["C-JS-IE ensemble[Linf 0.3]"] == 0.5 and result.numbers["CNN ensemble[Linf 0.3]"] == 0.0
    p = max(fisher_exact([[7800, 2200], [440, 9560]], alternative="greater").pvalue,
            fisher_exact([[5000, 5000], [0, 10000]], alternative="greater").pvalue)
    assert result.p_value == pytest.approx(p)
    # a worst case of 0 at 0.3 (e.g. a transfer attack succeeds) ties the CNN: no longer decided by PGD alone
    tied = claims.cjsie_more_robust_white_box(p4_frame(worst=0.0))
    assert tied.verdict is INCONCLUSIVE and tied.numbers["C-JS-IE robust[PGD w Linf 0.3]"] == 0.5
    worse = claims.cjsie_more_robust_white_box(p4_frame({"CNN": {"robust[PGD w Linf 0.3]": 0.6}}))
    assert worse.verdict is NOT and "against the claim: ensemble[Linf 0.3]" in worse.detail


def test_lambda_grid_holds_at_some_lambda_with_bonferroni():
    def lam_rows(lam, changes=None):
        out = []
        for r in p4_rows(changes):
            if r["defense_id"] in ("guessfirst/c-js-ie", "guessfirst/c-dv-ie"):
                r = {**r, "defense_params": {**r["defense_params"], "ie_weight": lam}, "row_id": r["row_id"] + str(lam)}
            elif lam != 0.01:
                continue
            out.append(r)
        return out
    # C-JS-IE collapsed at lambda 0.1 (worst case 0.0 at both radii vs CNN 0.044 / 0.0): still holds at 0.01
    collapsed = {"C-JS-IE": {"robust[PGD w Linf 0.15]": 0.0, "robust[PGD w Linf 0.3]": 0.0}}
    result = claims.cjsie_more_robust_white_box(frame(lam_rows(0.01) + lam_rows(0.1, collapsed)))
    assert result.verdict is HOLDS and "1 of 2 lambdas significant" in result.detail
    assert result.numbers["lambda=0.1 C-JS-IE ensemble[Linf 0.15]"] == 0.0
    both = claims.cjsie_more_robust_white_box(frame(lam_rows(0.01, collapsed) + lam_rows(0.1, collapsed)))
    assert both.verdict is NOT


def test_ie_claim_compares_each_pair_over_seeds():
    one = claims.ie_lowers_label_information(p4_frame())
    assert one.verdict is INCONCLUSIVE and "one seed: no sampling distribution for probe[" in one.detail
    assert claims.ie_lowers_label_information(seeds()).verdict is HOLDS
    assert claims.ie_lowers_label_information(seeds({"C-DV-IE": {LABEL_INFO: 0.4}})).verdict is NOT
    with pytest.raises(ClaimDataMissing, match="C-JS"):
        claims.ie_lowers_label_information(frame([r for r in p4_rows() if r["defense_id"] != "guessfirst/c-js"]))


def test_clean_accuracy_claim_is_non_inferiority_within_two_points():
    assert claims.hypothesis_models_keep_clean_accuracy(p4_frame()).verdict is HOLDS
    # CNN 98.8 %: C-DV at 97.5 (-1.3 points) holds, at 96.8 (-2.0) is inconclusive, at 95.0 (-3.8) does not hold
    kept = claims.hypothesis_models_keep_clean_accuracy(p4_frame({"C-DV": {"clean": 0.975}}))
    assert kept.verdict is HOLDS and kept.test.startswith("Newcombe hybrid score interval (90 %)")
    edge = claims.hypothesis_models_keep_clean_accuracy(p4_frame({"C-DV": {"clean": 0.968}}))
    assert edge.verdict is INCONCLUSIVE and "C-DV: inconclusive" in edge.detail
    lost = claims.hypothesis_models_keep_clean_accuracy(p4_frame({"C-DV": {"clean": 0.95}}))
    assert lost.verdict is NOT and "against the claim: C-DV" in lost.detail
    # P4-cpu: CNN 474/500; C-JS-IE 428/500 is decided against, C-DV-IE's tie within noise of 500 examples
    cpu = p4_frame({"CNN": {"clean": (474, 500)}, "C-DV": {"clean": (480, 500)}, "C-JS": {"clean": (476, 500)},
                    "C-DV-IE": {"clean": (474, 500)}, "C-JS-IE": {"clean": (428, 500)}})
    found = claims.hypothesis_models_keep_clean_accuracy(cpu)
    assert found.verdict is NOT and "C-DV-IE: inconclusive" in found.detail and "C-DV: holds" in found.detail
    # VIB is not a label-hypothesis classifier
    vib = {"VIB": {"clean": 0.1} | {col: 0.0 for col in ATTACKS}}
    assert claims.hypothesis_models_keep_clean_accuracy(p4_frame(vib)).verdict is HOLDS


def test_black_box_claim_requires_a_gain_for_every_model_and_attack():
    result = claims.black_box_robustness_gains(p4_frame())
    assert result.verdict is HOLDS and result.statistic == 12
    assert result.numbers["C-DV-CNN robust[CW b L2 2]"] == pytest.approx(0.760 - 0.634)
    assert len([k for k in result.numbers if "-CNN " in k]) == 4 * 3  # four models x three black-box columns
    tie = claims.black_box_robustness_gains(p4_frame({"C-JS": {"robust[PGD b Linf 0.15]": 0.537}}))
    assert tie.verdict is INCONCLUSIVE and "C-JS robust[PGD b Linf 0.15]: inconclusive" in tie.detail
    loss = claims.black_box_robustness_gains(p4_frame({"C-JS": {"robust[PGD b Linf 0.15]": 0.45}}))
    assert loss.verdict is NOT and "against the claim: C-JS robust[PGD b Linf 0.15]" in loss.detail
    with pytest.raises(ClaimDataMissing, match="black-box"):
        claims.black_box_robustness_gains(p4_frame(drop=tuple(c for c in ATTACKS if " b " in c)))


def test_two_datasets_must_both_hold():
    fashion = ("fashion", "core/fashion-mnist", {"size": 28})
    other = p4_rows({"CNN": {"robust[PGD w Linf 0.3]": 0.6}}, dataset=fashion)
    result = claims.cjsie_more_robust_white_box(frame(p4_rows() + other))
    assert result.verdict is NOT and result.numbers["fashion:CNN robust[PGD w Linf 0.3]"] == 0.6
    assert "against the claim: fashion:ensemble[Linf 0.3]" in result.detail
    assert result.numbers["digits:C-JS-IE robust[PGD w Linf 0.3]"] == 0.5


def verdicts(rows: list[dict]) -> dict[str, Any]:
    outcomes = evaluate_claims(claims_for(get_registry(), "p4-cpu"), frame(rows))
    return {o.claim: (o.status, o.result.p_value, sorted(o.result.numbers.values())) for o in outcomes}


def test_registered_claims_cover_both_suites_and_run():
    specs = robarena_claims()
    assert {s.suite for s in specs} == {"p4-cpu", "p4-full"} and len(specs) == 12
    found = verdicts([r for s in range(3) for r in p4_rows(seed=s)])
    assert len(found) == 6 and {status for status, _, _ in found.values()} == {"holds"}, found


def test_renaming_the_suite_labels_changes_no_verdict():
    rows = [r for s in range(3) for r in p4_rows({"C-DV-IE": {LABEL_INFO: 0.4}}, seed=s)]
    # defense labels permuted (the CNN baseline now labelled C-JS-IE and back), white-box and
    # transfer attack labels swapped: a claim reading labels would compare other rows and columns
    labels = {"CNN": "C-JS-IE", "C-JS-IE": "CNN", "C-DV": "VIB", "VIB": "C-DV", "PGD w": "PGD b", "PGD b": "PGD w",
              "FGSM w": "FGSM b", "FGSM b": "FGSM w", "CW b": "CW w", "CW w": "CW b", "heldout-label-info": "info", "digits": "d"}
    before = verdicts(rows)
    assert {claim: status for claim, (status, _, _) in before.items() if status != "holds"} == {
        "guessfirst/ie-lowers-label-information": "does not hold"}
    assert verdicts(relabel(rows, labels)) == before


def test_vib_and_cw_claims_follow_p4_table_1():
    vib = claims.ie_models_beat_vib(p4_frame())
    assert vib.verdict is HOLDS and vib.numbers["VIB ensemble[Linf 0.3]"] == 0.01
    lost = claims.ie_models_beat_vib(p4_frame({"VIB": {"robust[PGD w Linf 0.15]": 0.9, "robust[FGSM w Linf 0.15]": 0.9}}))
    assert lost.verdict is NOT and "C-JS-IE ensemble[Linf 0.15]" in lost.detail
    cw = claims.cw_dv_models_more_robust(p4_frame())
    assert cw.verdict is HOLDS and cw.statistic == 6  # C-DV and C-DV-IE each above CNN, C-JS and C-JS-IE
    swapped = claims.cw_dv_models_more_robust(p4_frame({"C-JS": {"robust[CW w L2 2]": 0.5}}))
    assert swapped.verdict is NOT
