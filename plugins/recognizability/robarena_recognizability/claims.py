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

The thesis (P3 Sec. 4.2, Fig. 4.2) and Fig. 4.1 group the defenses into categories: *minimax*
(PGD-AT, TRADES beta 6, fast-AT), *approximate* (every gradient- and Fisher-penalty
configuration), *undefended* (standard, distillation) and *collapsed* (any model whose
``output_spread`` is below :data:`CONSTANT_SPREAD`, whatever its category: TRADES beta 10000 in
P3, and here also the gradient penalty at P3's beta 64, a recorded deviation: P3's beta 64 does
not collapse on CIFAR-10, so the CPU suites add beta 1). The recognizability claims need a judge
that is not the attacked models' architecture (an adversarial example transfers between models
of the same architecture and training, which inflates the standard model's score): with
``judge = "train"`` and ``judge_model`` equal to a compared row's model id they are inconclusive.

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

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, Decision, Verdict, compare_accuracies,
                             compare_metrics, compare_seed_values, component_params, every, inconclusive,
                             mean_accuracies, metric_bound, metric_column, robust_columns, seed_values, value)

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
DISTILLATION = Defense("distillation", "recognizability/distillation")
MINIMAX = (PGD_AT, TRADES_B6, FAST_AT)
UNDEFENDED = (STANDARD, DISTILLATION)
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
        problem = _judge_problem(frame, rows)
        if problem:
            comparisons[f"{t}pgd-at > standard"] = inconclusive(SEED_TEST_NAME, problem, LEVEL)
            continue
        judge_acc = _maybe_column(frame, (TASK, "judge_clean_accuracy"))
        if judge_acc is not None:
            numbers[f"{t}judge_clean_accuracy"] = value(rows, judge_acc)
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


# --------------------------------------------------------------------------- categories (thesis, Fig. 4.1)

def _judge_problem(frame: Any, rows: Any) -> Optional[str]:
    """Why the judge of the recognizability task cannot decide a claim about ``rows`` (None: it can).

    A trained judge (``judge = "train"``) of the attacked models' own architecture is refused: the
    perturbations of a standard model transfer to a standard judge of the same architecture.
    """
    infos = [i for i in frame.attrs.get("columns", []) if i.get("kind") == "task" and i.get("id") == TASK]
    judges = {(i["params"].get("judge", "train"), i["params"].get("judge_model")) for i in infos}
    shared = sorted({model for mode, model in judges if mode == "train" and model in set(rows["model_id"])})
    if shared:
        return (f"the judge is trained with the attacked models' architecture ({', '.join(shared)}): adversarial "
                "examples transfer between them, which inflates the standard model's score; give the "
                "recognizability task a different judge_model")
    return None


def categories(rows: Any) -> dict[str, list[tuple[str, Any]]]:
    """The rows of one dataset by P3 category: ``minimax``, ``approximate``, ``undefended`` and
    ``collapsed`` (output_spread below :data:`CONSTANT_SPREAD`, taken out of its own category), each a
    list of (configuration label, rows over seeds). Defenses of no category are left out unless collapsed."""
    spread_col = metric_column(rows, *SPREAD)
    out: dict[str, list[tuple[str, Any]]] = {"minimax": [], "approximate": [], "undefended": [], "collapsed": []}
    found: list[tuple[str, str, Any]] = []
    for name, group in (("minimax", MINIMAX), ("undefended", UNDEFENDED)):
        for defense in group:
            for label, picked in configurations(rows, defense.defense_id):
                params = component_params(picked, picked["row_id"].iloc[0], "defense")
                if all(_same(params.get(k), v) for k, v in defense.params.items()):
                    found.append((name, label, picked))
    for ident in SMOOTHNESS_IDS:
        found += [("approximate", label, picked) for label, picked in configurations(rows, ident)]
    for ident in sorted(set(rows["defense_id"])):  # any other collapsed model (e.g. TRADES beta 10000)
        found += [("", label, picked) for label, picked in configurations(rows, ident)
                  if not any(picked["row_id"].tolist() == f[2]["row_id"].tolist() for f in found)]
    for name, label, picked in found:
        collapsed = value(picked, spread_col) < CONSTANT_SPREAD
        if collapsed or name:
            out["collapsed" if collapsed else name].append((label, picked))
    return out


def _group_seed_means(members: list[tuple[str, Any]], column: str) -> dict[int, float]:
    """Seed -> mean of ``column`` over the members (seeds every member has)."""
    per = [seed_values(picked, column) for _, picked in members]
    seeds = set.intersection(*(set(p) for p in per))
    return {s: math.fsum(p[s] for p in per) / len(per) for s in sorted(seeds)}


def _need(groups: dict[str, list], names: tuple[str, ...], ds: str) -> Optional[str]:
    empty = [n for n in names if not groups[n]]
    return f"{ds or 'the dataset'} has no {' or '.join(empty)} model left" if empty else None


def recognizability_follows_category(frame: Any) -> ClaimResult:
    """P3's thesis (Sec. 4.2, Fig. 4.2): perturbations of minimax defenses are more recognizable than
    those of approximate ones, which are more recognizable than those of undefended (standard,
    distilled) and collapsed models. Per dataset, the categories' mean ``judge_target_rate`` per seed
    are compared one-sided by the paired t-test over seeds (minimax > approximate, approximate >
    undefended and collapsed together); one seed: inconclusive."""
    names = list(datasets(frame))
    recognized = metric_column(frame, *RECOGNIZED)
    judge_acc = _maybe_column(frame, (TASK, "judge_clean_accuracy"))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    members: list[str] = []
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        problem = _judge_problem(frame, rows)
        groups = categories(rows)
        missing = _need(groups, ("minimax", "approximate"), ds)
        if problem or missing:
            comparisons[f"{t}categories"] = inconclusive(SEED_TEST_NAME, problem or missing, LEVEL)
            continue
        bottom = groups["undefended"] + groups["collapsed"]
        for name, group in (("minimax", groups["minimax"]), ("approximate", groups["approximate"]),
                            ("undefended+collapsed", bottom)):
            members.append(f"{t}{name}: {', '.join(label for label, _ in group) or '-'}")
            for label, picked in group:
                numbers[f"{t}{label}"] = value(picked, recognized)
            if group:
                means = _group_seed_means(group, recognized)
                numbers[f"{t}{name}"] = math.fsum(means.values()) / len(means)
        if judge_acc is not None:
            numbers[f"{t}judge_clean_accuracy"] = value(rows, judge_acc)
        mm, ap = _group_seed_means(groups["minimax"], recognized), _group_seed_means(groups["approximate"], recognized)
        comparisons[f"{t}minimax > approximate"] = compare_seed_values(mm, ap, "greater", LEVEL, "judge_target_rate")
        if bottom:
            comparisons[f"{t}approximate > undefended+collapsed"] = compare_seed_values(
                ap, _group_seed_means(bottom, recognized), "greater", LEVEL, "judge_target_rate")
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "category means of judge_target_rate; " + "; ".join(members))


SEED_TEST_NAME = "paired t-test over seeds, one-sided"


def _pairwise(groups: dict[str, list[tuple[str, Any]]], order: tuple[str, ...], tag: str,
              decide: Any) -> dict[str, Decision]:
    """"<a> > <b>" -> ``decide(a_rows, b_rows)`` for every model a of a category and b of the next one
    in ``order`` (highest first)."""
    return {f"{tag}{a_label} > {b_label}": decide(a, b)
            for upper, lower in zip(order, order[1:])
            for a_label, a in groups[upper] for b_label, b in groups[lower]}


def robustness_follows_category(frame: Any) -> ClaimResult:
    """P3 Fig. 4.1: minimax defenses are more robust than approximate ones, which are more robust than
    undefended models (standard, distillation); collapsed models are left out, as P3 leaves out its
    TRADES beta 10000 model. Robustness is the mean profile accuracy over eps > 0; every minimax
    model is compared with every approximate one and every approximate one with every undefended
    one (:func:`bench.api.claim.mean_accuracies`, one-sided), combined by
    :func:`bench.api.claim_stats.every` (Bonferroni against the claim)."""
    names = list(datasets(frame))
    profile = profile_columns(frame)
    columns = [c for _, c in profile]
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    notes: list[str] = []
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        groups = categories(rows)
        missing = _need(groups, ("minimax", "approximate", "undefended"), ds)
        if missing:
            comparisons[f"{t}categories"] = inconclusive("z-test on the mean of accuracies, one-sided", missing, LEVEL)
            continue
        for name in ("minimax", "approximate", "undefended", "collapsed"):
            for label, picked in groups[name]:
                numbers[f"{t}{label}"] = profile_mean(picked, profile)
                flags = ";".join(str(f) for f in picked.get("flags", []))
                if "ce-vs-margin-loss-gap" in flags:
                    notes.append(f"{t}{label} carries ce-vs-margin-loss-gap (its CE profile may be gradient masking)")
        notes.append(f"{t}left out (collapsed): {', '.join(label for label, _ in groups['collapsed']) or '-'}")
        comparisons.update(_pairwise(groups, ("minimax", "approximate", "undefended"), t,
                                     lambda a, b: mean_accuracies(a, b, columns, "greater", LEVEL,
                                                                  "mean profile accuracy")))
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "mean robust accuracy over the profile's eps > 0; " + "; ".join(notes))


def clean_accuracy_follows_category(frame: Any) -> ClaimResult:
    """P3 Fig. 4.1 (text): undefended models have the highest clean accuracy and approximate ones the
    lowest of the three categories. Every undefended model is compared with every minimax one and
    every minimax one with every approximate one on ``clean`` (:func:`bench.api.claim.compare_accuracies`,
    one-sided); collapsed models are left out."""
    names = list(datasets(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        groups = categories(rows)
        missing = _need(groups, ("minimax", "approximate", "undefended"), ds)
        if missing:
            comparisons[f"{t}categories"] = inconclusive("Fisher's exact test, one-sided", missing, LEVEL)
            continue
        for name in ("undefended", "minimax", "approximate"):
            for label, picked in groups[name]:
                numbers[f"{t}{label}"] = value(picked, "clean")
        comparisons.update(_pairwise(groups, ("undefended", "minimax", "approximate"), t,
                                     lambda a, b: compare_accuracies(a, b, "clean", "greater", LEVEL)))
    return ClaimResult.of(every(comparisons, LEVEL), numbers, "clean accuracy by category (collapsed models left out)")
