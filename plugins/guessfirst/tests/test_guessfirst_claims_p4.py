"""P4's claims on small synthetic leaderboard frames: each holds, fails, or reports missing data."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.api.claim import ClaimDataMissing
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from robarena_guessfirst import claims
from robarena_guessfirst.plugin import robarena_claims

COLS = ["clean", "robust[PGD w Linf 0.15]", "robust[PGD w Linf 0.3]", "robust[FGSM w Linf 0.15]",
        "robust[FGSM b Linf 0.15]", "robust[PGD b Linf 0.15]", "robust[CW b L2 2]", claims.LABEL_INFO]


def frame(**changes: dict) -> pd.DataFrame:
    """A P4-like frame in which every claim holds; ``changes[label][column] = value`` edits it."""
    base = {  # P4 Table 1 (MNIST) numbers as fractions, and an MMD surrogate
        "CNN": (0.988, 0.044, 0.0, 0.408, 0.656, 0.537, 0.634, 0.30),
        "C-DV": (0.989, 0.262, 0.048, 0.540, 0.847, 0.841, 0.760, 0.31),
        "C-JS": (0.990, 0.698, 0.297, 0.756, 0.880, 0.850, 0.744, 0.28),
        "C-DV-IE": (0.989, 0.380, 0.074, 0.587, 0.911, 0.872, 0.793, 0.13),
        "C-JS-IE": (0.990, 0.780, 0.500, 0.828, 0.898, 0.876, 0.748, 0.01),
        "VIB": (0.990, 0.114, 0.010, 0.507, 0.836, 0.743, 0.667, 0.31),
    }
    rows = []
    for name, values in base.items():
        row = {"dataset": "digits", "model": "cnn", "defense": name, "seed": 0, **dict(zip(COLS, values))}
        row.update(changes.get(name, {}))
        rows.append(row)
    return pd.DataFrame(rows)


def test_white_box_claim_needs_every_pgd_radius():
    result = claims.cjsie_more_robust_white_box(frame())
    assert result.holds is True
    assert result.numbers == {"C-JS-IE PGD w Linf 0.15": 0.78, "CNN PGD w Linf 0.15": 0.044,
                              "C-JS-IE PGD w Linf 0.3": 0.5, "CNN PGD w Linf 0.3": 0.0}
    # FGSM columns are not PGD: a loss there does not matter
    assert claims.cjsie_more_robust_white_box(frame(**{"C-JS-IE": {"robust[FGSM w Linf 0.15]": 0.0}})).holds
    assert claims.cjsie_more_robust_white_box(frame(**{"C-JS-IE": {"robust[PGD w Linf 0.3]": 0.0}})).holds is False
    # the worst case over all attacks is reported as context and does not decide the claim
    context = claims.cjsie_more_robust_white_box(frame().assign(**{"ensemble[Linf 0.3]": [0.0] * 6}))
    assert context.holds is True and context.numbers["C-JS-IE worst case Linf 0.3"] == 0.0
    with pytest.raises(ClaimDataMissing, match="white-box PGD"):
        claims.cjsie_more_robust_white_box(frame().drop(columns=["robust[PGD w Linf 0.15]", "robust[PGD w Linf 0.3]"]))


def test_ie_claim_compares_each_pair():
    assert claims.ie_lowers_label_information(frame()).holds is True
    assert claims.ie_lowers_label_information(frame(**{"C-DV-IE": {claims.LABEL_INFO: 0.4}})).holds is False
    with pytest.raises(ClaimDataMissing, match="C-JS"):
        claims.ie_lowers_label_information(frame()[lambda d: d["defense"] != "C-JS"])


def test_clean_accuracy_claim_tolerates_two_points():
    assert claims.hypothesis_models_keep_clean_accuracy(frame()).holds is True
    assert claims.hypothesis_models_keep_clean_accuracy(frame(**{"C-DV": {"clean": 0.969}})).holds is True
    assert claims.hypothesis_models_keep_clean_accuracy(frame(**{"C-DV": {"clean": 0.967}})).holds is False
    # VIB is not a label-hypothesis classifier
    assert claims.hypothesis_models_keep_clean_accuracy(frame(**{"VIB": {"clean": 0.1}})).holds is True


def test_black_box_claim_requires_a_gain_for_every_model_and_attack():
    result = claims.black_box_robustness_gains(frame())
    assert result.holds is True
    assert result.numbers["C-DV-CNN CW b L2 2"] == pytest.approx(0.760 - 0.634)
    assert len([k for k in result.numbers if "-CNN " in k]) == 4 * 3  # four models x three black-box columns
    tie = claims.black_box_robustness_gains(frame(**{"C-JS": {"robust[PGD b Linf 0.15]": 0.537}}))
    assert tie.holds is False and "C-JS PGD b Linf 0.15 (+0.000)" in tie.detail
    with pytest.raises(ClaimDataMissing, match="black-box"):
        claims.black_box_robustness_gains(frame()[["dataset", "defense", "seed", "clean"]])


def test_two_datasets_must_both_hold():
    other = frame(**{"C-JS-IE": {"robust[PGD w Linf 0.3]": 0.0}}).assign(dataset="fashion")
    result = claims.cjsie_more_robust_white_box(pd.concat([frame(), other]))
    assert result.holds is False and result.numbers["fashion:C-JS-IE PGD w Linf 0.3"] == 0.0


def test_registered_claims_cover_both_suites_and_run():
    specs = robarena_claims()
    assert {s.suite for s in specs} == {"p4-cpu", "p4-full"} and len(specs) == 8
    registry = get_registry()
    outcomes = evaluate_claims(claims_for(registry, "p4-cpu"), frame())
    assert len(outcomes) == 4 and all(o.result.holds is True for o in outcomes), [o.result.detail for o in outcomes]
