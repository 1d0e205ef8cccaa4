"""P0's qualitative claims as checks over a suite's leaderboard frame (``robarena claims p0-cpu``).

Rows are found by the suites' labels: defenses ``standard``, ``PGD-AT``, ``TRADES``; models
``vgg13-pure-linear``, ``vgg13-half-linear``, ``vgg13-normal`` (in increasing capacity, P0 Table 1).
Probe columns use the probes' default labels (``probe[input-fisher.fnorm_mean]``, ...). A row
or column that is missing is reported as "not checked" (:class:`ClaimDataMissing`).
"""
from __future__ import annotations

from typing import Any, Callable

from bench.api.claim import ClaimDataMissing, ClaimResult, column_like, select, value
from bench.threat import parse_eps

STANDARD = "standard"
ADVERSARIAL = ("PGD-AT", "TRADES")
VGG13_BY_CAPACITY = ("vgg13-pure-linear", "vgg13-half-linear", "vgg13-normal")
FNORM = "probe[input-fisher.fnorm_mean]"
CCKL = "probe[cckl.cckl]"
APPROX_PREFIX = "probe[fisher-approx.rel_error@"
SMALL_EPS_ERROR = 0.1  # "accurate": below 0.1 (P0 Table 2: 0.058 at 1/255)


def _models(frame: Any) -> list[str]:
    if "model" not in frame.columns or len(frame) == 0:
        raise ClaimDataMissing("results have no rows")
    return sorted(set(frame["model"]))


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
    detail = "; ".join(failed) if failed else f"{what} is lower for PGD-AT and TRADES than standard for every model"
    return ClaimResult(not failed, numbers, detail)


def adversarial_training_lowers_fisher(frame: Any) -> ClaimResult:
    """Mean ||F_x||_F of PGD-AT and TRADES < standard training, per architecture (P0 Fig. 3, 8)."""
    return _lower_than_standard(frame, FNORM, "the mean input Fisher norm")


def adversarial_training_lowers_cckl(frame: Any) -> ClaimResult:
    """CCKL of PGD-AT and TRADES < standard training, per architecture (P0 Sec. 3.3)."""
    return _lower_than_standard(frame, CCKL, "CCKL")


def _approx_curve(frame: Any, model: str) -> list[tuple[float, float]]:
    """(eps, mean relative error) of the TRADES row of ``model``, in increasing eps."""
    columns = [c for c in frame.columns if c.startswith(APPROX_PREFIX) and c.endswith("]")]
    if not columns:
        raise ClaimDataMissing(f"results have no {APPROX_PREFIX}<eps>] columns")
    curve = [(parse_eps(c[len(APPROX_PREFIX):-1])[0], value(frame, c, model=model, defense="TRADES"))
             for c in columns]
    return sorted(curve)


def _per_trades_model(frame: Any, check: Callable[[str, list[tuple[float, float]]], tuple[bool, dict, str]],
                      ) -> ClaimResult:
    select(frame, defense="TRADES")
    numbers, failed = {}, []
    for model in sorted(set(select(frame, defense="TRADES")["model"])):
        ok, nums, why = check(model, _approx_curve(frame, model))
        numbers.update(nums)
        if not ok:
            failed.append(why)
    return ClaimResult(not failed, numbers, "; ".join(failed) if failed else "holds for every TRADES model")


def fisher_approximation_accurate_at_small_eps(frame: Any) -> ClaimResult:
    """Mean |KL - G1| / KL at the smallest eps < 0.1 for every TRADES model (P0 Table 2)."""
    def check(model: str, curve: list[tuple[float, float]]) -> tuple[bool, dict, str]:
        eps, err = curve[0]
        return err < SMALL_EPS_ERROR, {f"{model}@{eps:.4g}": err}, f"{model}: {err:.3f} >= {SMALL_EPS_ERROR} at {eps:.4g}"

    return _per_trades_model(frame, check)


def fisher_approximation_error_grows_with_eps(frame: Any) -> ClaimResult:
    """The mean relative error is non-decreasing in eps and larger at the largest eps (P0 Table 2)."""
    def check(model: str, curve: list[tuple[float, float]]) -> tuple[bool, dict, str]:
        errors = [e for _, e in curve]
        grows = len(errors) >= 2 and errors[-1] > errors[0] and all(b >= a for a, b in zip(errors, errors[1:]))
        nums = {f"{model}@{eps:.4g}": err for eps, err in (curve[0], curve[-1])}
        return grows, nums, f"{model}: errors {', '.join(f'{e:.3f}' for e in errors)} do not grow with eps"

    return _per_trades_model(frame, check)


def robust_samples_have_lower_fisher(frame: Any) -> ClaimResult:
    """For every adversarially trained row: mean F-norm of robust < non-robust correct examples (P0 Fig. 9)."""
    robust_col, nonrobust_col = "probe[fisher-split.fnorm_robust]", "probe[fisher-split.fnorm_nonrobust]"
    numbers, failed = {}, []
    for model in _models(frame):
        for defense in ADVERSARIAL:
            rob = value(frame, robust_col, model=model, defense=defense)
            non = value(frame, nonrobust_col, model=model, defense=defense)
            numbers[f"{model}/{defense}/robust"], numbers[f"{model}/{defense}/nonrobust"] = rob, non
            if not rob < non:
                failed.append(f"{model}/{defense}: robust {rob:.4g} >= non-robust {non:.4g}")
    return ClaimResult(not failed, numbers, "; ".join(failed) if failed else "holds for every adversarially trained row")


def capacity_helps_under_trades(frame: Any) -> ClaimResult:
    """Under TRADES: clean, PGD-20 and CW accuracy increase pure linear < half linear < normal VGG13 (P0 Table 1)."""
    columns = {"clean": "clean", "PGD": column_like(frame, "robust[PGD-20 "),
               "CW": column_like(frame, "robust[CW ")}
    numbers, failed = {}, []
    for name, column in columns.items():
        accs = [value(frame, column, model=m, defense="TRADES") for m in VGG13_BY_CAPACITY]
        numbers.update({f"{name}/{m}": a for m, a in zip(VGG13_BY_CAPACITY, accs)})
        if not all(b > a for a, b in zip(accs, accs[1:])):
            failed.append(f"{name}: {' / '.join(f'{100 * a:.1f}' for a in accs)} % is not increasing")
    return ClaimResult(not failed, numbers, "; ".join(failed) if failed else "accuracy increases with capacity")
