"""P0's qualitative claims as checks over a suite's leaderboard frame (``robarena claims p0-cpu``).

Rows are found by component ids and parameters, never by labels: defenses ``classics/standard``,
``classics/pgd-at`` and ``classics/trades``; models are told apart by id and parameters, and the
capacity ladders are ``classics/vgg13`` with ``variant`` pure_linear < half_linear < normal and
``classics/resnet-cifar`` with (``depth``, ``width``) (20, 1) < (32, 10) (P0 Table 1, Fig. 5).
Probe columns by probe id and column (``disentangle/input-fisher`` ``fnorm_mean``, ...), the
accuracy columns by attack parameters: P0's PGD-20 is ``classics/pgd`` with the cross-entropy loss,
its CW the same attack with ``loss = "cw"``. Labels only name the numbers. Values are means over
seeds (:func:`bench.api.claim.value`); a missing row or column is reported as "not checked"
(:class:`ClaimDataMissing`), never as holding.

Verdicts (level :data:`LEVEL` = 0.05): every comparison is one-sided — accuracies by Fisher's exact
test on their counts, probe metrics by the paired t-test over seeds (one seed: no sampling
distribution, inconclusive), "accurate" as a bound the claim states (:func:`bench.api.claim.metric_bound`)
— and a claim over several models, defenses, radii or capacity steps is combined by
:func:`bench.api.claim_stats.every` (holds when every comparison holds; does not hold when one is
significant against it after Bonferroni).
"""
from __future__ import annotations

import json
from typing import Any, NamedTuple, Optional

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, Decision, compare_metrics,
                             compare_seed_values, component_params, every, metric_bound, metric_column, robust_column,
                             seed_values, trend, value)
from bench.threat import parse_eps

STANDARD = ("standard", "classics/standard")
ADVERSARIAL = (("PGD-AT", "classics/pgd-at"), ("TRADES", "classics/trades"))
TRADES = ADVERSARIAL[1]
#: (model id, parameter subsets in increasing capacity)
CAPACITY_LADDERS = (
    ("classics/vgg13", ({"variant": "pure_linear"}, {"variant": "half_linear"}, {"variant": "normal"})),
    ("classics/resnet-cifar", ({"depth": 20, "width": 1}, {"depth": 32, "width": 10})),
)
FNORM = ("disentangle/input-fisher", "fnorm_mean")
CCKL = ("disentangle/cckl", "cckl")
FNORM_ROBUST, FNORM_NONROBUST = ("disentangle/fisher-split", "fnorm_robust"), ("disentangle/fisher-split",
                                                                                 "fnorm_nonrobust")
G1G2 = {"KL": ("disentangle/g1g2", "kl_mean"), "G2": ("disentangle/g1g2", "g2_mean"),
        "G2/KL": ("disentangle/g1g2", "g2_over_kl_mean")}
FISHER_APPROX = "disentangle/fisher-approx"
PGD = "classics/pgd"
SMALL_EPS_ERROR = 0.1  # "accurate": below 0.1 (P0 Table 2: 0.058 at 1/255)
#: the significance level of every P0 claim
LEVEL = DEFAULT_LEVEL


class Model(NamedTuple):
    """One model configuration of the frame: its label (for display only), id and parameters."""

    name: str
    model_id: str
    params: str  # canonical JSON of the recorded parameters

    @property
    def key(self) -> tuple[str, str]:
        return self.model_id, self.params

    def matches(self, model_id: str, wanted: dict[str, Any]) -> bool:
        have = json.loads(self.params)
        return self.model_id == model_id and all(have.get(k) == v for k, v in wanted.items())


def _params_key(frame: Any, row_id: str, role: str) -> str:
    return json.dumps(component_params(frame, row_id, role), sort_keys=True, default=str)


def _model_keys(frame: Any) -> list[tuple[str, str]]:
    return [(str(mid), _params_key(frame, rid, "model")) for rid, mid in zip(frame["row_id"], frame["model_id"])]


def _model_list(rows: Any) -> list[Model]:
    found: dict[tuple[str, str], Model] = {}
    for name, key in zip(rows["model"], _model_keys(rows)):
        found.setdefault(key, Model(str(name), *key))
    return sorted(found.values())


def _models(frame: Any) -> list[Model]:
    for name in ("row_id", "model_id", "defense_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("the results have no rows")
    return _model_list(frame)


def rows_of(frame: Any, model: Model, defense: tuple[str, str]) -> Any:
    """The rows of ``model`` trained by ``defense`` (name, id): one defense configuration, all seeds."""
    keys = [key == model.key and defense_id == defense[1]
            for key, defense_id in zip(_model_keys(frame), frame["defense_id"])]
    rows = frame[keys]
    if len(rows) == 0:
        raise ClaimDataMissing(f"no row with model {model.name!r} ({model.model_id}) and defense {defense[1]!r}")
    configs = {_params_key(rows, rid, "defense") for rid in rows["row_id"]}
    if len(configs) > 1:
        raise ClaimDataMissing(f"{len(configs)} configurations of defense {defense[1]!r} for model {model.name!r}; "
                               f"the claim compares one")
    return rows


def _column(frame: Any, metric: tuple[str, str]) -> str:
    return metric_column(frame, *metric)


def _lower_than_standard(frame: Any, metric: tuple[str, str], what: str) -> ClaimResult:
    column = _column(frame, metric)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for model in _models(frame):
        base_rows = rows_of(frame, model, STANDARD)
        numbers[f"{model.name}/{STANDARD[0]}"] = value(base_rows, column)
        for defense in ADVERSARIAL:
            rows = rows_of(frame, model, defense)
            numbers[f"{model.name}/{defense[0]}"] = value(rows, column)
            comparisons[f"{model.name}/{defense[0]}"] = compare_metrics(rows, base_rows, column, "less", LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          f"claim: {what} is lower with PGD-AT and TRADES than standard for every model")


def adversarial_training_lowers_fisher(frame: Any) -> ClaimResult:
    """Mean ||F_x||_F of PGD-AT and TRADES < standard training, per architecture (P0 Fig. 3, 8)."""
    return _lower_than_standard(frame, FNORM, "the mean input Fisher norm")


def adversarial_training_lowers_cckl(frame: Any) -> ClaimResult:
    """CCKL of PGD-AT and TRADES < standard training, per architecture (P0 Sec. 3.3)."""
    return _lower_than_standard(frame, CCKL, "CCKL")


def approx_columns(frame: Any) -> list[tuple[float, str]]:
    """(eps, column) of the fisher-approx probe's ``rel_error@<eps>`` columns, by increasing eps.

    The radii are the probe's recorded ``eps`` parameter; each one's column is named as the probe
    names it (``rel_error@<eps as written>``). Radii without a column (a failed cell) are left out.
    """
    from bench.rows.frame import find_columns

    radii: dict[str, float] = {}
    for info in frame.attrs.get("columns", []):
        if info.get("kind") == "probe" and info.get("id") == FISHER_APPROX and info["column"] in frame.columns:
            for eps in (info.get("params") or {}).get("eps") or []:
                number, shown = parse_eps(eps)
                radii.setdefault(shown, number)
    found = [(number, name) for shown, number in radii.items()
             for name in find_columns(frame, "probe", id=FISHER_APPROX, name=f"rel_error@{shown}")]
    if not found:
        raise ClaimDataMissing(f"results have no rel_error@<eps> columns of {FISHER_APPROX!r}")
    return sorted(found)


def _trades_models(frame: Any) -> list[Model]:
    _models(frame)
    rows = frame[frame["defense_id"] == TRADES[1]]
    if len(rows) == 0:
        raise ClaimDataMissing(f"no row with defense {TRADES[1]!r}")
    return _model_list(rows)


def fisher_approximation_accurate_at_small_eps(frame: Any) -> ClaimResult:
    """Mean |KL - G1| / KL at the smallest eps < 0.1 for every TRADES model (P0 Table 2, App. C): a
    bound the claim states (one seed: the measured value against it; seeds: one-sided t-test)."""
    numbers: dict[str, float] = {}
    parts: dict[str, Decision] = {}
    eps, column = approx_columns(frame)[0]
    for model in _trades_models(frame):
        rows = rows_of(frame, model, TRADES)
        numbers[f"{model.name}@{eps:.4g}"] = value(rows, column)
        parts[model.name] = metric_bound(rows, column, SMALL_EPS_ERROR, "less", LEVEL,
                                         f"the relative error at eps {eps:.4g}")
    return ClaimResult.of(every(parts, LEVEL), numbers,
                          f"claim: below {SMALL_EPS_ERROR} at the smallest eps for every TRADES model")


def fisher_approximation_error_grows_with_eps(frame: Any) -> ClaimResult:
    """The mean relative error increases with eps for every TRADES model (P0 Table 2): every step
    between two consecutive radii one-sided (paired t-test over seeds; one seed inconclusive)."""
    radii = approx_columns(frame)
    if len(radii) < 2:
        raise ClaimDataMissing(f"needs the error at two radii at least, found {[e for e, _ in radii]}")
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for model in _trades_models(frame):
        rows = rows_of(frame, model, TRADES)
        numbers.update({f"{model.name}@{eps:.4g}": value(rows, c) for eps, c in radii})
        for (e1, c1), (e2, c2) in zip(radii, radii[1:]):
            steps[f"{model.name}: {e1:.4g} -> {e2:.4g}"] = compare_seed_values(
                seed_values(rows, c2), seed_values(rows, c1), "greater", LEVEL, f"the relative error at {e2:.4g} vs {e1:.4g}")
    return ClaimResult.of(every(steps, LEVEL), numbers, "claim: the error grows with eps for every TRADES model")


def robust_samples_have_lower_fisher(frame: Any) -> ClaimResult:
    """Every adversarially trained row: mean F-norm of robust < non-robust correct examples (P0 Fig. 9);
    paired t-test over seeds per model and defense, combined by :func:`bench.api.claim_stats.every`."""
    models = _models(frame)
    present = set(frame["defense_id"])
    defenses = [d for d in ADVERSARIAL if d[1] in present]
    if not defenses:
        raise ClaimDataMissing(f"no row with defense in {[d[1] for d in ADVERSARIAL]}")
    robust_col, nonrobust_col = _column(frame, FNORM_ROBUST), _column(frame, FNORM_NONROBUST)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for model in models:
        for defense in defenses:
            rows = rows_of(frame, model, defense)
            numbers[f"{model.name}/{defense[0]}/robust"] = value(rows, robust_col)
            numbers[f"{model.name}/{defense[0]}/nonrobust"] = value(rows, nonrobust_col)
            comparisons[f"{model.name}/{defense[0]}"] = compare_seed_values(
                seed_values(rows, robust_col), seed_values(rows, nonrobust_col), "less", LEVEL,
                "the F-norm of robust vs non-robust correct examples")
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "claim: robust examples have the lower F-norm for every adversarially trained row")


def _rung(present: list[Model], model_id: str, wanted: dict[str, Any]) -> Optional[Model]:
    found = [m for m in present if m.matches(model_id, wanted)]
    return found[0] if len(found) == 1 else None


def _ladder(frame: Any) -> list[Model]:
    """The capacity ladder whose models all have TRADES rows (one model configuration per rung)."""
    present = _trades_models(frame)
    for model_id, rungs in CAPACITY_LADDERS:
        ladder = [_rung(present, model_id, wanted) for wanted in rungs]
        if all(m is not None for m in ladder):
            return ladder  # type: ignore[return-value]
    raise ClaimDataMissing(f"no TRADES rows for a whole capacity ladder {CAPACITY_LADDERS}; "
                           f"found {[(m.model_id, json.loads(m.params)) for m in present]}")


def _increases_with_capacity(frame: Any, columns: dict[str, str], what: str) -> ClaimResult:
    ladder = _ladder(frame)
    points = [(m.name, rows_of(frame, m, TRADES)) for m in ladder]
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for name, column in columns.items():
        numbers.update({f"{name}/{m}": value(rows, column) for m, rows in points})
        _, found = trend(points, column, "up", LEVEL)
        steps.update({f"{name}: {step}": d for step, d in found.items()})
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          f"claim: {what} increases along {' < '.join(m.name for m in ladder)}")


def capacity_helps_under_trades(frame: Any) -> ClaimResult:
    """Under TRADES, clean, PGD-20 and CW accuracy increase with capacity (P0 Table 1, Sec. 4)."""
    if "clean" not in frame.columns:
        raise ClaimDataMissing("results have no column 'clean'")
    columns = {"clean": "clean", "PGD-20": robust_column(frame, PGD, loss="ce"),
               "CW": robust_column(frame, PGD, loss="cw")}
    return _increases_with_capacity(frame, columns, "clean, PGD-20 and CW accuracy")


def capacity_relies_more_on_g2(frame: Any) -> ClaimResult:
    """Under TRADES, CCKL, G2 and G2/KL increase with capacity (P0 Sec. 4, Fig. 5)."""
    return _increases_with_capacity(frame, {name: _column(frame, m) for name, m in G1G2.items()},
                                    "mean KL, G2 and G2/KL")
