"""P0's claims on schema-2 leaderboard frames where they must hold, must not hold (a significant
reverse effect), are inconclusive (one seed of a probe metric, tied data) or cannot be checked, and
that renaming the suite's labels changes no verdict."""
from __future__ import annotations

from typing import Any, Optional

import pytest
from scipy.stats import fisher_exact

from bench.api.claim import ClaimDataMissing
from bench.stats import Verdict
from bench.claims import claims_for, evaluate_claims
from bench.registry import get_registry
from bench.testing.rows import attack, frame, metric, relabel, row
from robarena_disentangle import claims

# the validated parameters the runner records for p0-cpu's components
_VGG = {"batch_norm": True, "mean": None, "std": None, "width": 0.125}
VGG = [("vgg13-pure-linear", "classics/vgg13", {**_VGG, "variant": "pure_linear"}),
       ("vgg13-half-linear", "classics/vgg13", {**_VGG, "variant": "half_linear"}),
       ("vgg13-normal", "classics/vgg13", {**_VGG, "variant": "normal"})]
_RESNET = {"mean": None, "shortcut": "A", "std": None}
RESNETS = [("resnet20x1", "classics/resnet-cifar", {**_RESNET, "depth": 20, "width": 1}),
           ("resnet32x10", "classics/resnet-cifar", {**_RESNET, "depth": 32, "width": 10})]
DEFENSES = {
    "standard": ("standard", "classics/standard", {}),
    "PGD-AT": ("PGD-AT", "classics/pgd-at", {"eps": 0.1, "norm": "Linf", "random_start": True, "step_size": 0.025,
                                             "steps": 10}),
    "TRADES": ("TRADES", "classics/trades", {"beta": 5.0, "eps": 0.1, "init_std": 0.001, "norm": "Linf",
                                             "step_size": 0.025, "steps": 10}),
}
_PGD = {"batched_restarts": False, "early_stop": True, "random_start": True, "restarts": 1, "step_size": 0.025,
        "steps": 20}
EPS = ("0.0125", "0.05", "0.1")
PROBE_PARAMS = {
    "disentangle/cckl": ("cckl", {"n": None, "n_pairs": 25896}),
    "disentangle/input-fisher": ("input-fisher", {"batch_size": None, "n": None, "n_eigvecs": 4, "power_iters": 100,
                                                  "power_n": 100, "tol": 0.001}),
    "disentangle/g1g2": ("g1g2", {"batch_size": 1000, "n": None, "n_pairs": 25896}),
    "disentangle/fisher-approx": ("fisher-approx", {"attack": None, "clip": True, "direction": "sign",
                                                    "eps": [float(e) for e in EPS], "float64": True, "n": None}),
    "disentangle/fisher-split": ("fisher-split", {"attack": None, "batch_size": None, "n": None}),
}


def approx(eps: str) -> tuple[str, str]:
    return "disentangle/fisher-approx", f"rel_error@{eps}"


def p0_values(rank: int, fisher: float) -> dict[Any, float]:
    """A row's numbers in a frame where every p0-cpu claim holds."""
    values = {"clean": 0.7 + 0.1 * rank, "PGD-20": 0.4 + 0.1 * rank, "CW": 0.3 + 0.1 * rank,
              claims.FNORM: fisher + rank, claims.CCKL: fisher + 0.5, claims.FNORM_ROBUST: 0.5 * fisher,
              claims.FNORM_NONROBUST: fisher, claims.G1G2["KL"]: 1.0 + rank, claims.G1G2["G2"]: 0.5 + rank,
              claims.G1G2["G2/KL"]: 0.2 + 0.2 * rank}
    values.update({approx(eps): 0.05 + 0.1 * k for k, eps in enumerate(EPS)})
    return values


def model_row(model: tuple, defense: tuple, values: dict, probe_params: Optional[dict] = None) -> dict:
    params = {ident: p for ident, (_, p) in PROBE_PARAMS.items()} | (probe_params or {})
    attacks = [attack(name, "classics/pgd", {**_PGD, "loss": loss}, values[name])
               for name, loss in (("PGD-20", "ce"), ("CW", "cw")) if name in values]
    probes = [metric("probe", PROBE_PARAMS[m[0]][0], m[0], params[m[0]], m[1], v)
              for m, v in values.items() if isinstance(m, tuple)]
    return row(defense, model=model, clean=values.get("clean"), attacks=attacks, probes=probes)


HOLDS, NOT, INCONCLUSIVE = Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.INCONCLUSIVE


def p0_rows(edits: Optional[dict] = None, models=VGG, defenses=("standard", "PGD-AT", "TRADES"),
            probe_params: Optional[dict] = None, seeds: int = 3) -> list[dict]:
    """Models x defenses where every p0-cpu claim holds, for seeds 0, 1, ...; ``edits`` maps (model
    label, defense label, metric) -> value to break one (None: the metric could not be computed).
    Seed s scales every value of the k-th row by 1 + 0.001 s k, so differences vary between seeds."""
    rows = []
    for seed in range(seeds):
        k = 0
        for rank, model in enumerate(models):
            for defense in defenses:
                k += 1
                values = p0_values(rank, {"standard": 10.0, "PGD-AT": 3.0, "TRADES": 1.5}[defense])
                for (m, d, key), new in (edits or {}).items():
                    if (m, d) == (model[0], defense):
                        values[key] = new
                values = {key: v if v is None else v * (1 + 0.001 * seed * k) for key, v in values.items()}
                r = model_row(model, DEFENSES[defense], values, probe_params)
                rows.append({**r, "seed": seed, "row_id": r["row_id"].replace("seed0", f"seed{seed}")})
    return rows


def p0_frame(edits: Optional[dict] = None, **kwargs: Any):
    return frame(p0_rows(edits, **kwargs))


CHECKS = [claims.adversarial_training_lowers_fisher, claims.adversarial_training_lowers_cckl,
          claims.fisher_approximation_accurate_at_small_eps, claims.fisher_approximation_error_grows_with_eps,
          claims.robust_samples_have_lower_fisher, claims.capacity_helps_under_trades,
          claims.capacity_relies_more_on_g2]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_every_claim_holds_on_a_frame_built_to_satisfy_it(check):
    result = check(p0_frame())
    assert result.verdict is HOLDS and result.numbers and result.level == 0.05 and result.p_value <= 0.05


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_one_seed_decides_only_the_accuracies_and_the_stated_bound(check):
    result = check(p0_frame(seeds=1))
    if check in (claims.capacity_helps_under_trades, claims.fisher_approximation_accurate_at_small_eps):
        assert result.verdict is HOLDS  # Fisher's exact test on counts; the measured error vs the stated 0.1
    else:
        assert result.verdict is INCONCLUSIVE and "one seed: no sampling distribution" in result.detail


@pytest.mark.parametrize("check, edit", [
    (claims.adversarial_training_lowers_fisher, ("vgg13-normal", "TRADES", claims.FNORM, 20.0)),
    (claims.adversarial_training_lowers_cckl, ("vgg13-pure-linear", "PGD-AT", claims.CCKL, 12.0)),
    (claims.fisher_approximation_accurate_at_small_eps, ("vgg13-half-linear", "TRADES", approx("0.0125"), 0.12)),
    (claims.fisher_approximation_error_grows_with_eps, ("vgg13-normal", "TRADES", approx("0.05"), 0.3)),
    (claims.robust_samples_have_lower_fisher, ("vgg13-normal", "PGD-AT", claims.FNORM_ROBUST, 4.0)),
    (claims.capacity_helps_under_trades, ("vgg13-half-linear", "TRADES", "CW", 0.55)),
    (claims.capacity_relies_more_on_g2, ("vgg13-normal", "TRADES", claims.G1G2["G2/KL"], 0.3)),
], ids=[f.__name__ for f in CHECKS])
def test_every_claim_does_not_hold_when_one_number_reverses_it(check, edit):
    model, defense, column, new = edit
    result = check(p0_frame({(model, defense, column): new}))
    assert result.verdict is NOT and model in result.detail.split("against the claim: ")[1]


def test_tied_data_are_inconclusive():
    # TRADES's F-norm equal to standard's on every seed: no difference, no variance
    tied = p0_rows(seeds=3)
    for r in tied:
        if r["defense"] == "TRADES" and r["model"] == "vgg13-normal":
            standard = next(x for x in tied if x["defense"] == "standard" and x["model"] == "vgg13-normal"
                            and x["seed"] == r["seed"])
            r["probe_results"] = standard["probe_results"]
    result = claims.adversarial_training_lowers_fisher(frame(tied))
    assert result.verdict is INCONCLUSIVE and "5 of 6 hold" in result.detail


def test_pgd_20_and_cw_are_told_apart_by_the_attack_loss():
    # CW broken, PGD-20 intact: only the CW numbers may change (one seed: Fisher's test on 10,000 examples)
    result = claims.capacity_helps_under_trades(p0_frame({("vgg13-half-linear", "TRADES", "CW"): 0.55}, seeds=1))
    assert result.numbers["CW/vgg13-half-linear"] == 0.55 and result.numbers["PGD-20/vgg13-half-linear"] == 0.5
    assert result.verdict is NOT
    assert "against the claim: CW: vgg13-half-linear -> vgg13-normal" in result.detail
    p = fisher_exact([[5000, 5000], [5500, 4500]], alternative="less").pvalue  # normal 0.50 < half-linear 0.55
    assert f"CW: vgg13-half-linear -> vgg13-normal: does not hold, p = 1, reverse p = {p:.3g}" in result.detail
    assert "PGD-20: vgg13-half-linear -> vgg13-normal: holds" in result.detail


def test_the_error_curve_is_read_in_eps_order_from_the_probe_parameters():
    shuffled = {"disentangle/fisher-approx": {**PROBE_PARAMS["disentangle/fisher-approx"][1],
                                              "eps": [0.1, 0.0125, 0.05]}}
    frame_ = p0_frame(probe_params=shuffled)
    assert claims.approx_columns(frame_) == [(0.0125, "probe[fisher-approx.rel_error@0.0125]"),
                                             (0.05, "probe[fisher-approx.rel_error@0.05]"),
                                             (0.1, "probe[fisher-approx.rel_error@0.1]")]
    assert claims.fisher_approximation_error_grows_with_eps(frame_).verdict is HOLDS
    nums = claims.fisher_approximation_accurate_at_small_eps(p0_frame(probe_params=shuffled, seeds=1)).numbers
    assert nums == {f"{m[0]}@0.0125": pytest.approx(0.05) for m in VGG}


def test_radii_written_as_fractions_of_255_name_their_columns_as_written():
    written = {"disentangle/fisher-approx": {**PROBE_PARAMS["disentangle/fisher-approx"][1], "eps": ["1/255", "2/255"]}}
    rows = p0_rows(probe_params=written)
    for r in rows:
        for m in r["probe_results"]:
            if m["source_id"] == "disentangle/fisher-approx":
                m["column"] = {"rel_error@0.0125": "rel_error@1/255", "rel_error@0.05": "rel_error@2/255"}.get(
                    m["column"], "rel_error")
    assert [eps for eps, _ in claims.approx_columns(frame(rows))] == [pytest.approx(1 / 255), pytest.approx(2 / 255)]
    assert claims.fisher_approximation_error_grows_with_eps(frame(rows)).verdict is HOLDS


def test_capacity_claims_use_the_resnet_ladder_of_p0_full_resnet():
    rows = p0_rows(models=RESNETS, defenses=("TRADES",))
    result = claims.capacity_relies_more_on_g2(frame(rows))
    assert result.verdict is HOLDS and set(result.numbers) >= {"G2/resnet20x1", "G2/resnet32x10"}
    assert claims.robust_samples_have_lower_fisher(frame(rows)).verdict is HOLDS  # TRADES rows only
    # the ladder is read from the model parameters: (32, 10) below (20, 1) reverses it
    swapped = [dict(r, model_params={**r["model_params"], "depth": 52 - r["model_params"]["depth"],
                                     "width": 11 - r["model_params"]["width"]}) for r in rows]
    assert claims.capacity_relies_more_on_g2(frame(swapped)).verdict is NOT


@pytest.mark.parametrize("check, drop", [
    (claims.adversarial_training_lowers_fisher, "probe[input-fisher.fnorm_mean]"),
    (claims.fisher_approximation_error_grows_with_eps, "probe[fisher-approx.rel_error@"),
    (claims.capacity_helps_under_trades, "robust[CW"),
    (claims.capacity_relies_more_on_g2, "model_id"),
])
def test_missing_columns_are_not_checked(check, drop):
    frame_ = p0_frame()
    with pytest.raises(ClaimDataMissing):
        check(frame_[[c for c in frame_.columns if not c.startswith(drop)]])


def test_missing_rows_are_not_checked():
    rows = p0_rows()
    with pytest.raises(ClaimDataMissing, match="classics/standard"):
        claims.adversarial_training_lowers_cckl(frame([r for r in rows if r["defense_id"] != "classics/standard"]))
    with pytest.raises(ClaimDataMissing, match="capacity ladder"):
        claims.capacity_helps_under_trades(frame([r for r in rows if r["model_params"]["variant"] != "normal"]))
    nan = p0_frame({("vgg13-normal", "TRADES", claims.FNORM_ROBUST): None})
    with pytest.raises(ClaimDataMissing, match="empty"):
        claims.robust_samples_have_lower_fisher(nan)


def test_two_configurations_of_one_defense_are_not_averaged():
    rows = p0_rows()
    beta = [dict(r, defense="TRADES-b1", defense_params={**r["defense_params"], "beta": 1.0},
                 row_id=r["row_id"].replace("TRADES", "TRADES-b1"))
            for r in rows if r["defense"] == "TRADES"]
    with pytest.raises(ClaimDataMissing, match="2 configurations"):
        claims.capacity_helps_under_trades(frame(rows + beta))


def verdicts(rows: list[dict]) -> dict[str, Any]:
    outcomes = evaluate_claims(claims_for(get_registry(), "p0-cpu"), frame(rows))
    return {o.claim: (o.status, o.result.test, sorted(o.result.numbers.values())) for o in outcomes}


def test_registered_claims_run_through_the_claim_runner():
    registry = get_registry()
    entries = claims_for(registry, "p0-cpu")
    assert len(entries) == 7 and {e.spec.paper.key for e in entries} == {"P0"}
    outcomes = evaluate_claims(entries, p0_frame())
    assert all(o.status == "holds" for o in outcomes), [(o.claim, o.result.detail) for o in outcomes]
    assert len(claims_for(registry, "p0-full")) == len(claims_for(registry, "p0-full-resnet")) == 7


def test_renaming_the_suite_labels_changes_no_verdict():
    # P0-cpu's one failing claim: the normal VGG's approximation error at the smallest eps is 0.125
    rows = p0_rows({("vgg13-normal", "TRADES", approx("0.0125")): 0.125,
                    ("vgg13-normal", "TRADES", approx("0.05")): 0.2}, seeds=1)
    # labels permuted among the components (models, defenses, and PGD-20 <-> CW) and probes renamed:
    # a claim that found its rows or columns by label would compare other numbers
    labels = {"vgg13-pure-linear": "vgg13-normal", "vgg13-normal": "vgg13-pure-linear", "standard": "TRADES",
              "TRADES": "standard", "PGD-20": "CW", "CW": "PGD-20", "cckl": "p1", "input-fisher": "p2",
              "g1g2": "p3", "fisher-approx": "p4", "fisher-split": "p5", "digits": "d"}
    before, after = verdicts(rows), verdicts(relabel(rows, labels))
    assert {claim: status for claim, (status, _, _) in before.items()} == {
        "disentangle/p0-cpu.fisher-approx-small-eps": "does not hold",  # 0.125 measured vs the stated 0.1
        "disentangle/p0-cpu.capacity-under-trades": "holds",  # accuracies: Fisher's test on the counts
        **{f"disentangle/p0-cpu.{name}": "inconclusive" for name in (  # probe metrics, one seed
            "at-lowers-fisher", "at-lowers-cckl", "fisher-approx-grows", "robust-samples-lower-fisher",
            "capacity-relies-on-g2")}}
    assert after == before


def _non_trades_reversed(models) -> dict:
    """Edits that make every standard and PGD-AT row reverse the TRADES-only claims: accuracies, G2 and
    G2/KL falling with capacity, approximation errors large and falling with eps."""
    edits = {}
    for rank, (label, _, _) in enumerate(models):
        for defense in ("standard", "PGD-AT"):
            edits.update({(label, defense, "clean"): 0.95 - 0.1 * rank, (label, defense, "PGD-20"): 0.6 - 0.1 * rank,
                          (label, defense, "CW"): 0.55 - 0.1 * rank,
                          (label, defense, claims.G1G2["KL"]): 5.0 - rank,
                          (label, defense, claims.G1G2["G2"]): 4.0 - rank,
                          (label, defense, claims.G1G2["G2/KL"]): 0.8 - 0.2 * rank})
            edits.update({(label, defense, approx(eps)): 0.9 - 0.1 * k for k, eps in enumerate(EPS)})
    return edits


@pytest.mark.parametrize("models", [VGG, RESNETS], ids=["p0-full", "p0-full-resnet"])
def test_full_suite_frames_with_standard_and_pgd_at_rows(models):
    """The full suites' frames (models x standard, PGD-AT, TRADES): the comparisons with standard training
    read every row, the TRADES-only claims (Table 1/2, Fig. 5) only the TRADES rows, found by defense id
    and model parameters, so standard and PGD-AT rows that reverse those claims change no verdict."""
    rows = p0_rows(_non_trades_reversed(models), models=models)
    names = [m[0] for m in models]
    for check in CHECKS:
        result = check(frame(rows))
        assert result.verdict is HOLDS, (check.__name__, result.detail)
    fisher = claims.adversarial_training_lowers_fisher(frame(rows)).numbers
    assert set(fisher) == {f"{m}/{d}" for m in names for d in ("standard", "PGD-AT", "TRADES")}
    robust = claims.robust_samples_have_lower_fisher(frame(rows)).numbers  # every adversarially trained row
    assert {k.rsplit("/", 1)[0] for k in robust} == {f"{m}/{d}" for m in names for d in ("PGD-AT", "TRADES")}
    capacity = claims.capacity_helps_under_trades(frame(rows)).numbers
    assert capacity[f"clean/{names[0]}"] == pytest.approx(0.7, rel=0.01) and capacity[f"clean/{names[-1]}"] == pytest.approx(
        0.7 + 0.1 * (len(names) - 1), rel=0.01)  # TRADES's, not standard's 0.95 - 0.1 rank
    # the same rows with the standard and TRADES labels swapped, and the models' labels reversed
    labels = {"standard": "TRADES", "TRADES": "standard", names[0]: names[-1], names[-1]: names[0]}
    for check in CHECKS:
        before, after = check(frame(rows)), check(frame(relabel(rows, labels)))
        assert (after.verdict, sorted(after.numbers.values())) == (before.verdict, sorted(before.numbers.values()))
    # a reversed TRADES row is still seen: the extra rows do not hide the claim's own rows
    broken = p0_rows({**_non_trades_reversed(models), (names[-1], "TRADES", claims.G1G2["G2/KL"]): 0.01},
                     models=models)
    assert claims.capacity_relies_more_on_g2(frame(broken)).verdict is NOT
