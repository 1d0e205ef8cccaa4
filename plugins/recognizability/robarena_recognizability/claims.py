"""P3's qualitative claims as checks over the leaderboard frame of ``p3-cpu`` (or ``p3-full``).

Rows are found by defense id and parameters, never by label: ``classics/standard``,
``classics/pgd-at``, ``classics/trades`` with ``beta = 6`` and with ``beta = 10000``,
``classics/fast-at``, and every configuration of the smoothness regularizers
``recognizability/gradient-penalty`` and ``recognizability/fisher-penalty``, so every beta the
suite trains is checked. Comparisons are made within each dataset configuration (means over
seeds) and a claim holds only if it holds on every dataset. Columns, by component id and column:

* ``recognizability/recognizability`` ``judge_target_rate`` (and ``target_success``): the
  recognizability proxy;
* ``recognizability/jacobian`` ``jacobian_fro``, ``output_spread`` (and ``top_class_share``);
* the robust-accuracy profile (P3 Fig. 4.1): every untargeted Linf ``classics/pgd`` column with the
  cross-entropy loss (the CW-loss run at one radius is not part of it); a model's robustness is its
  mean robust accuracy over the profile's eps > 0 (the area under the profile divided by its
  number of points).

Thresholds: a classifier counts as (nearly) constant when its mean total-variation distance
between outputs and the mean output (``output_spread``) is below :data:`CONSTANT_SPREAD`.
Labels only name the numbers.

Verdicts (level :data:`LEVEL` = 0.05): the task and probe metrics (``judge_target_rate``,
``jacobian_fro``) are compared one-sided by the paired t-test over seeds (one seed: no sampling
distribution, inconclusive); "constant" is the bound the claim states (one seed: the measured
spread against it); the robustness profile's mean by a z-test on the accuracies' counts with a
variance bound valid for any correlation between radii (the paired t-test over seeds with two or
more). A claim's comparisons (every dataset, defense, model) are combined by
:func:`bench.api.claim_stats.every`: it holds when every one holds and does not hold when one is
significant against it after Bonferroni.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator, Optional

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, Decision, Verdict, compare_metrics,
                             component_params, every, mean_accuracies, metric_bound, metric_column, robust_columns,
                             value)

#: output_spread below which a classifier is called (nearly) constant: within 5 % total variation
#: of one fixed output distribution on average (standard training: about 0.9 on digits).
CONSTANT_SPREAD = 0.05
#: the significance level of every P3 claim
LEVEL = DEFAULT_LEVEL
TASK = "recognizability/recognizability"
JACOBIAN_PROBE = "recognizability/jacobian"
RECOGNIZED = (TASK, "judge_target_rate")
SUCCESS = (TASK, "target_success")
CONTEXT = ((TASK, "start_correlation"), (TASK, "class_consistency"))
JACOBIAN = (JACOBIAN_PROBE, "jacobian_fro")
SPREAD = (JACOBIAN_PROBE, "output_spread")
TOP_SHARE = (JACOBIAN_PROBE, "top_class_share")
PGD = "classics/pgd"


class Defense:
    """A defense the claims name: ``name`` (for the numbers), ``defense_id`` and parameter values."""

    def __init__(self, name: str, defense_id: str, **params: Any) -> None:
        self.name, self.defense_id, self.params = name, defense_id, params

    def __repr__(self) -> str:
        shown = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.defense_id}{shown}"


STANDARD = Defense("standard", "classics/standard")
PGD_AT = Defense("pgd-at", "classics/pgd-at")
TRADES_B6 = Defense("trades-b6", "classics/trades", beta=6.0)
TRADES_B10000 = Defense("trades-b10000", "classics/trades", beta=10000.0)
FAST_AT = Defense("fast-at", "classics/fast-at")
MINIMAX = (PGD_AT, TRADES_B6, FAST_AT)
SMOOTHNESS_IDS = ("recognizability/gradient-penalty", "recognizability/fisher-penalty")


def _params_key(frame: Any, row_id: str, role: str) -> str:
    return json.dumps(component_params(frame, row_id, role), sort_keys=True, default=str)


def datasets(frame: Any) -> Iterator[tuple[str, Any]]:
    """(dataset label, rows) for every dataset configuration (id and parameters) of the frame."""
    for name in ("row_id", "dataset_id", "defense_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("results have no rows")
    keys = [(d, _params_key(frame, r, "dataset")) for r, d in zip(frame["row_id"], frame["dataset_id"])]
    found: dict[tuple[str, str], str] = {}
    for key, label in zip(keys, frame["dataset"]):
        found.setdefault(key, str(label))
    for key, label in sorted(found.items(), key=lambda kv: (kv[1], kv[0])):
        yield label, frame[[k == key for k in keys]]


def configurations(rows: Any, defense_id: str) -> list[tuple[str, Any]]:
    """(display label, rows) for every configuration (parameters) of ``defense_id`` in ``rows``."""
    picked = rows[rows["defense_id"] == defense_id]
    keys = [_params_key(picked, r, "defense") for r in picked["row_id"]]
    found: dict[str, str] = {}
    for key, label in zip(keys, picked["defense"]):
        found.setdefault(key, str(label))
    return [(label, picked[[k == key for k in keys]]) for key, label in sorted(found.items(), key=lambda kv: kv[1])]


def rows_of(rows: Any, defense: Defense) -> Any:
    """The rows of ``defense`` (its id, and its parameter values): one configuration, all seeds."""
    found = [(label, picked) for label, picked in configurations(rows, defense.defense_id)
             if all(_same(component_params(picked, picked["row_id"].iloc[0], "defense").get(k), v)
                    for k, v in defense.params.items())]
    if not found:
        raise ClaimDataMissing(f"no {defense.name} row ({defense!r})")
    if len(found) > 1:
        raise ClaimDataMissing(f"{len(found)} configurations match {defense.name} ({defense!r}): "
                               f"{[label for label, _ in found]}; the claim compares one")
    return found[0][1]


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return abs(float(have) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
    return have == want


def profile_columns(frame: Any) -> list[tuple[float, str]]:
    """(eps, column) of the robust-accuracy profile with eps > 0, sorted by eps."""
    eps_of = {i["column"]: i["eps"] for i in frame.attrs.get("columns", []) if i.get("kind") == "robust"}
    cols = sorted((eps_of[c], c) for c in robust_columns(frame, PGD, norm="Linf", loss="ce")
                  if eps_of[c] is not None and eps_of[c] > 0)
    if not cols:
        raise ClaimDataMissing(f"results have no untargeted Linf {PGD!r} (loss ce) profile columns with eps > 0")
    return cols


def profile_mean(rows: Any, profile: Optional[list[tuple[float, str]]] = None) -> float:
    """Mean robust accuracy over the profile's eps > 0 for ``rows`` (means over seeds)."""
    profile = profile if profile is not None else profile_columns(rows)
    return sum(value(rows, c) for _, c in profile) / len(profile)


def _tag(dataset: str, many: bool) -> str:
    return f"{dataset}:" if many else ""


def _optional(rows: Any, column: Optional[str]) -> Optional[float]:
    if column is None:
        return None
    try:
        return value(rows, column)
    except ClaimDataMissing:
        return None


def _maybe_column(frame: Any, metric: tuple[str, str]) -> Optional[str]:
    try:
        return metric_column(frame, *metric)
    except ClaimDataMissing:
        return None


def robust_perturbations_recognized(frame: Any) -> ClaimResult:
    """PGD-AT's targeted unbounded perturbations are judged as the target class more often than
    the standard model's (P3 Fig. 1.1, 4.2; ``judge_target_rate``), one-sided per dataset."""
    names = list(datasets(frame))
    recognized, success = metric_column(frame, *RECOGNIZED), metric_column(frame, *SUCCESS)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        robust_rows, standard_rows = rows_of(rows, PGD_AT), rows_of(rows, STANDARD)
        numbers.update({f"{t}pgd-at": value(robust_rows, recognized), f"{t}standard": value(standard_rows, recognized),
                        f"{t}pgd-at_success": value(robust_rows, success),
                        f"{t}standard_success": value(standard_rows, success)})
        comparisons[f"{t}pgd-at > standard"] = compare_metrics(robust_rows, standard_rows, recognized, "greater", LEVEL)
        for metric in CONTEXT:  # judge-free context; not part of the verdict
            col = _maybe_column(frame, metric)
            for name, picked in (("pgd-at", robust_rows), ("standard", standard_rows)):
                context = _optional(picked, col)
                if context is not None:
                    numbers[f"{t}{name}_{metric[1]}"] = context
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "judge_target_rate (independent standard judge) of PGD-AT vs standard; *_success: the "
                          "attacked model's own target success; start_correlation and class_consistency shown for "
                          "context")


def adversarial_training_lowers_jacobian(frame: Any) -> ClaimResult:
    """Every minimax defense present (PGD-AT, TRADES beta 6, fast-AT; PGD-AT required) has a smaller
    ``||J||_F`` than standard training (P3 Sec. 3, Prop. 3.1), each one-sided."""
    names = list(datasets(frame))
    jacobian = metric_column(frame, *JACOBIAN)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        standard_rows = rows_of(rows, STANDARD)
        numbers[f"{t}standard"] = value(standard_rows, jacobian)
        for defense in MINIMAX:
            try:
                picked = rows_of(rows, defense)
            except ClaimDataMissing:
                if defense is PGD_AT:
                    raise
                continue
            numbers[f"{t}{defense.name}"] = value(picked, jacobian)
            comparisons[f"{t}{defense.name} < standard"] = compare_metrics(picked, standard_rows, jacobian, "less",
                                                                           LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers, f"{jacobian} of every minimax defense vs standard")


def trades_high_beta_constant(frame: Any) -> ClaimResult:
    """TRADES with beta = 10000 collapses to a (nearly) constant classifier (P3 Sec. 4.2):
    ``output_spread`` below :data:`CONSTANT_SPREAD`, a bound the claim states."""
    names = list(datasets(frame))
    spread_col, share_col = metric_column(frame, *SPREAD), metric_column(frame, *TOP_SHARE)
    numbers: dict[str, float] = {}
    parts: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        collapsed = rows_of(rows, TRADES_B10000)
        numbers.update({f"{t}trades-b10000_spread": value(collapsed, spread_col),
                        f"{t}standard_spread": value(rows_of(rows, STANDARD), spread_col),
                        f"{t}trades-b10000_top_class_share": value(collapsed, share_col),
                        f"{t}trades-b10000_clean": value(collapsed, "clean")})
        parts[f"{t}trades-b10000"] = metric_bound(collapsed, spread_col, CONSTANT_SPREAD, "less", LEVEL,
                                                  "output_spread")
    return ClaimResult.of(every(parts, LEVEL), numbers,
                          f"output_spread < {CONSTANT_SPREAD} (mean TV distance to the mean output); "
                          "top_class_share: share of the most predicted class")


def smoothness_regularizers_robust(frame: Any) -> ClaimResult:
    """Gradient- and Fisher-penalty models are more robust than standard training (P3 Fig. 4.1):
    each one's mean profile accuracy (eps > 0) exceeds the standard model's, one-sided
    (:func:`bench.api.claim.mean_accuracies`).

    Models that collapsed to a constant classifier (``output_spread`` < :data:`CONSTANT_SPREAD`)
    are left out and named in the detail, as P3 leaves its collapsed TRADES model out of Fig. 4.1;
    the claim does not hold if either penalty has no model left.
    """
    names = list(datasets(frame))
    profile = profile_columns(frame)
    columns = [c for _, c in profile]
    spread_col = metric_column(frame, *SPREAD)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    dropped = []
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        standard_rows = rows_of(rows, STANDARD)
        numbers[f"{t}standard"] = profile_mean(standard_rows, profile)
        for ident in SMOOTHNESS_IDS:
            found = configurations(rows, ident)
            if not found:
                raise ClaimDataMissing(f"no {ident} row for dataset {ds!r}")
            kept = 0
            for label, picked in found:
                spread = value(picked, spread_col)
                acc = profile_mean(picked, profile)
                if spread < CONSTANT_SPREAD:
                    dropped.append(f"{t}{label} (constant classifier: spread {spread:.4f}, profile mean {acc:.3f})")
                    continue
                numbers[f"{t}{label}"] = acc
                kept += 1
                comparisons[f"{t}{label} > standard"] = mean_accuracies(picked, standard_rows, columns, "greater",
                                                                        LEVEL, "mean profile accuracy")
            if kept == 0:
                dropped.append(f"{t}no usable {ident} model")
                comparisons[f"{t}{ident}"] = Decision(Verdict.DOES_NOT_HOLD, "no model left", math.nan, math.nan,
                                                      LEVEL, f"every {ident} model collapsed to a constant classifier")
    detail = "mean robust accuracy over the profile's eps > 0"
    if dropped:
        detail += "; left out: " + "; ".join(dropped)
    return ClaimResult.of(every(comparisons, LEVEL), numbers, detail)
