"""P0's qualitative claims as checks over a suite's leaderboard frame (``robarena claims p0-cpu``).

Rows are found by the P0 suites' labels: defenses ``standard``, ``PGD-AT``, ``TRADES``; models in
increasing capacity ``vgg13-pure-linear`` < ``vgg13-half-linear`` < ``vgg13-normal`` and
``resnet20x1`` < ``resnet32x10`` (P0 Table 1, Fig. 5). Probe columns use the probes' default labels
(``probe[input-fisher.fnorm_mean]``, ...), accuracy columns the attack labels ``PGD-20`` and
``CW``. Values are means over seeds (:func:`bench.api.claim.value`); a missing row or column is
reported as "not checked" (:class:`ClaimDataMissing`), never as holding. "Increases" is strict.
"""
from __future__ import annotations

from typing import Any, Callable

from bench.api.claim import ClaimDataMissing, ClaimResult, column_like, select, value
from bench.threat import parse_eps

STANDARD = "standard"
ADVERSARIAL = ("PGD-AT", "TRADES")
TRADES = "TRADES"
CAPACITY_LADDERS = (("vgg13-pure-linear", "vgg13-half-linear", "vgg13-normal"), ("resnet20x1", "resnet32x10"))
FNORM = "probe[input-fisher.fnorm_mean]"
CCKL = "probe[cckl.cckl]"
FNORM_ROBUST, FNORM_NONROBUST = "probe[fisher-split.fnorm_robust]", "probe[fisher-split.fnorm_nonrobust]"
G1G2 = {"KL": "probe[g1g2.kl_mean]", "G2": "probe[g1g2.g2_mean]", "G2/KL": "probe[g1g2.g2_over_kl_mean]"}
APPROX_PREFIX = "probe[fisher-approx.rel_error@"
SMALL_EPS_ERROR = 0.1  # "accurate": below 0.1 (P0 Table 2: 0.058 at 1/255)


def _models(frame: Any) -> list[str]:
    for name in ("model", "defense"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("the results have no rows")
    return sorted(set(frame["model"]))


def _verdict(failed: list[str], numbers: dict[str, float], ok: str) -> ClaimResult:
    return ClaimResult(not failed, numbers, "; ".join(failed) if failed else ok)


def _increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def _lower_than_standard(frame: Any, column: str, what: str) -> ClaimResult:
    numbers, failed = {}, []
    for model in _models(frame):
        base = value(frame, column, model=model, defense=STANDARD)
        numbers[f"{model}/{STANDARD}"] = base
        for defense in ADVERSARIAL:
            other = value(frame, column, model=model, defense=defense)
            numbers[f"{model}/{defense}"] = other
            if not other < base:
                failed.append(f"{model}: {defense} {other:.4g} >= standard {base:.4g}")
    return _verdict(failed, numbers, f"{what} is lower with PGD-AT and TRADES than standard for every model")


def adversarial_training_lowers_fisher(frame: Any) -> ClaimResult:
    """Mean ||F_x||_F of PGD-AT and TRADES < standard training, per architecture (P0 Fig. 3, 8)."""
    return _lower_than_standard(frame, FNORM, "the mean input Fisher norm")


def adversarial_training_lowers_cckl(frame: Any) -> ClaimResult:
    """CCKL of PGD-AT and TRADES < standard training, per architecture (P0 Sec. 3.3)."""
    return _lower_than_standard(frame, CCKL, "CCKL")


def _approx_curve(frame: Any, model: str) -> list[tuple[float, float]]:
    """(eps, mean relative error) of the TRADES row of ``model``, by increasing eps."""
    columns = [c for c in frame.columns if c.startswith(APPROX_PREFIX) and c.endswith("]")]
    if not columns:
        raise ClaimDataMissing(f"results have no {APPROX_PREFIX}<eps>] columns")
    return sorted((parse_eps(c[len(APPROX_PREFIX):-1])[0], value(frame, c, model=model, defense=TRADES))
                  for c in columns)


def _per_trades_model(frame: Any, check: Callable[[str, list[tuple[float, float]]], tuple[bool, dict, str]],
                      ) -> ClaimResult:
    _models(frame)
    numbers, failed = {}, []
    for model in sorted(set(select(frame, defense=TRADES)["model"])):
        ok, nums, why = check(model, _approx_curve(frame, model))
        numbers.update(nums)
        if not ok:
            failed.append(why)
    return _verdict(failed, numbers, "holds for every TRADES model")


def fisher_approximation_accurate_at_small_eps(frame: Any) -> ClaimResult:
    """Mean |KL - G1| / KL at the smallest eps < 0.1 for every TRADES model (P0 Table 2, App. C)."""
    def check(model: str, curve: list[tuple[float, float]]) -> tuple[bool, dict, str]:
        eps, err = curve[0]
        return (err < SMALL_EPS_ERROR, {f"{model}@{eps:.4g}": err},
                f"{model}: {err:.3f} >= {SMALL_EPS_ERROR} at eps {eps:.4g}")

    return _per_trades_model(frame, check)


def fisher_approximation_error_grows_with_eps(frame: Any) -> ClaimResult:
    """The mean relative error increases strictly with eps for every TRADES model (P0 Table 2)."""
    def check(model: str, curve: list[tuple[float, float]]) -> tuple[bool, dict, str]:
        errors = [e for _, e in curve]
        grows = len(errors) >= 2 and _increasing(errors)
        nums = {f"{model}@{eps:.4g}": err for eps, err in curve}
        return grows, nums, f"{model}: errors {', '.join(f'{e:.3f}' for e in errors)} do not increase with eps"

    return _per_trades_model(frame, check)


def robust_samples_have_lower_fisher(frame: Any) -> ClaimResult:
    """Every adversarially trained row: mean F-norm of robust < non-robust correct examples (P0 Fig. 9)."""
    models = _models(frame)
    defenses = [d for d in ADVERSARIAL if d in set(frame["defense"])]
    if not defenses:
        raise ClaimDataMissing(f"no row with defense in {ADVERSARIAL}")
    numbers, failed = {}, []
    for model in models:
        for defense in defenses:
            rob = value(frame, FNORM_ROBUST, model=model, defense=defense)
            non = value(frame, FNORM_NONROBUST, model=model, defense=defense)
            numbers[f"{model}/{defense}/robust"], numbers[f"{model}/{defense}/nonrobust"] = rob, non
            if not rob < non:
                failed.append(f"{model}/{defense}: robust {rob:.4g} >= non-robust {non:.4g}")
    return _verdict(failed, numbers, "holds for every adversarially trained row")


def _ladder(frame: Any) -> tuple[str, ...]:
    """The capacity ladder whose models all have TRADES rows."""
    _models(frame)
    present = set(select(frame, defense=TRADES)["model"])
    for ladder in CAPACITY_LADDERS:
        if set(ladder) <= present:
            return ladder
    raise ClaimDataMissing(f"no TRADES rows for a whole capacity ladder {CAPACITY_LADDERS}; found {sorted(present)}")


def _increases_with_capacity(frame: Any, columns: dict[str, str], what: str) -> ClaimResult:
    ladder = _ladder(frame)
    numbers, failed = {}, []
    for name, column in columns.items():
        values = [value(frame, column, model=m, defense=TRADES) for m in ladder]
        numbers.update({f"{name}/{m}": v for m, v in zip(ladder, values)})
        if not _increasing(values):
            shown = ", ".join(f"{m} {v:.4g}" for m, v in zip(ladder, values))
            failed.append(f"{name} does not increase with capacity: {shown}")
    return _verdict(failed, numbers, f"{what} increases along {' < '.join(ladder)}")


def capacity_helps_under_trades(frame: Any) -> ClaimResult:
    """Under TRADES, clean, PGD-20 and CW accuracy increase with capacity (P0 Table 1, Sec. 4)."""
    if "clean" not in frame.columns:
        raise ClaimDataMissing("results have no column 'clean'")
    columns = {"clean": "clean", "PGD-20": column_like(frame, "robust[PGD-20 "), "CW": column_like(frame, "robust[CW ")}
    return _increases_with_capacity(frame, columns, "clean, PGD-20 and CW accuracy")


def capacity_relies_more_on_g2(frame: Any) -> ClaimResult:
    """Under TRADES, CCKL, G2 and G2/KL increase with capacity (P0 Sec. 4, Fig. 5)."""
    return _increases_with_capacity(frame, G1G2, "mean KL, G2 and G2/KL")
