"""P4's qualitative claims as checks over the leaderboard frame of ``p4-cpu`` (or ``p4-full``).

Rows are found by defense id, never by label: ``classics/standard`` is the baseline CNN,
``guessfirst/c-dv``, ``guessfirst/c-js``, ``guessfirst/c-dv-ie``, ``guessfirst/c-js-ie`` the
label-hypothesis classifiers (named C-DV, ... in the numbers). Attack columns by their description:
white-box PGD is ``classics/pgd`` without a substitute, black-box attacks are those crafted on a
substitute (transfer), at an Linf or L2 radius. Comparisons are made within each dataset
configuration (means over seeds).

Verdicts (level :data:`LEVEL` = 0.05): accuracies are compared one-sided by Fisher's exact test on
their counts (the paired t-test over seeds with two seeds or more), the label-information surrogate
by the paired t-test over seeds (one seed: inconclusive), "without loss of natural accuracy" as
non-inferiority within :data:`CLEAN_TOLERANCE` (Newcombe's interval); the comparisons of a claim
(every dataset, radius, model, attack) are combined by :func:`bench.api.claim_stats.every`: it
holds when every one holds and does not hold when one is significant against it after Bonferroni.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, Decision, accuracy_noninferior,
                             compare_accuracies, compare_metrics, component_params, every, metric_column,
                             robust_columns, value)

BASELINE = ("CNN", "classics/standard")
HYPOTHESIS_MODELS = (("C-DV", "guessfirst/c-dv"), ("C-JS", "guessfirst/c-js"), ("C-DV-IE", "guessfirst/c-dv-ie"),
                     ("C-JS-IE", "guessfirst/c-js-ie"))
C_DV, C_JS, C_DV_IE, C_JS_IE = HYPOTHESIS_MODELS
IE_PAIRS = ((C_DV_IE, C_DV), (C_JS_IE, C_JS))
LABEL_INFO = ("guessfirst/mmd-label-info", "label_mmd")
PGD = "classics/pgd"
NORMS = ("Linf", "L2")
#: clean-accuracy drop still counted as "without loss of natural accuracy": P4's own tables
#: differ by up to 1.3 points from the CNN (Fashion-MNIST, C-DV-IE), and with n = 500 test
#: examples one standard error of an accuracy near 95 % is about 1 point.
CLEAN_TOLERANCE = 0.02
#: the significance level of every P4 claim
LEVEL = DEFAULT_LEVEL


def datasets(frame: Any) -> Iterator[tuple[str, Any]]:
    """(dataset label, rows) for every dataset configuration (id and parameters) of the frame."""
    for name in ("row_id", "dataset_id", "defense_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("results have no rows")
    keys = [(d, json.dumps(component_params(frame, r, "dataset"), sort_keys=True, default=str))
            for r, d in zip(frame["row_id"], frame["dataset_id"])]
    found = {}
    for key, label in zip(keys, frame["dataset"]):
        found.setdefault(key, str(label))
    for key, label in sorted(found.items(), key=lambda kv: (kv[1], kv[0])):
        yield label, frame[[k == key for k in keys]]


def rows_of(rows: Any, defense: tuple[str, str]) -> Any:
    """The rows trained by ``defense`` (name, id): one defense configuration, all seeds."""
    picked = rows[rows["defense_id"] == defense[1]]
    if len(picked) == 0:
        raise ClaimDataMissing(f"no {defense[0]} row (defense {defense[1]!r})")
    configs = {json.dumps(component_params(picked, r, "defense"), sort_keys=True, default=str)
               for r in picked["row_id"]}
    if len(configs) > 1:
        raise ClaimDataMissing(f"{len(configs)} configurations of defense {defense[1]!r}; the claim compares one")
    return picked


def columns(frame: Any, attack: Any, transfer: bool, what: str) -> list[str]:
    """Untargeted or targeted robust-accuracy columns of ``attack`` (None: any), white-box or transfer, Linf or L2."""
    names = [c for norm in NORMS
             for c in robust_columns(frame, attack, norm=norm, targeted=None, transfer=transfer)]
    if not names:
        raise ClaimDataMissing(f"results have no {what} columns")
    return sorted(names, key=list(frame.columns).index)


def _tag(dataset: str, many: bool) -> str:
    return f"{dataset}:" if many else ""


def cjsie_more_robust_white_box(frame: Any) -> ClaimResult:
    """C-JS-IE's accuracy under white-box PGD exceeds the CNN's at every radius (P4 Table 1), each
    radius one-sided (Fisher's exact test on the counts), combined over radii and datasets."""
    from bench.rows.frame import find_columns

    names, cols = list(datasets(frame)), columns(frame, PGD, False, "white-box PGD")
    worst = find_columns(frame, "worst", targeted=None)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        ours_rows, base_rows = rows_of(rows, C_JS_IE), rows_of(rows, BASELINE)
        for col in cols:
            numbers.update({f"{t}C-JS-IE {col}": value(ours_rows, col), f"{t}CNN {col}": value(base_rows, col)})
            comparisons[f"{t}{col}"] = compare_accuracies(ours_rows, base_rows, col, "greater", LEVEL)
        for col in worst:  # context: worst case over all attacks
            for name, picked in (("C-JS-IE", ours_rows), (BASELINE[0], base_rows)):
                try:
                    numbers[f"{t}{name} worst case {col}"] = value(picked, col)
                except ClaimDataMissing:
                    pass
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "robust accuracy under white-box PGD, C-JS-IE vs CNN, every radius (worst case over all "
                          "attacks, black-box included, shown for context)")


def ie_lowers_label_information(frame: Any) -> ClaimResult:
    """Information elimination lowers the label-information surrogate (MMD across classes at FC 2):
    C-DV-IE < C-DV and C-JS-IE < C-JS (P4 Sec. 2.3); paired t-test over seeds per pair and dataset."""
    names = list(datasets(frame))
    col = metric_column(frame, *LABEL_INFO)
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        for with_ie, without in IE_PAIRS:
            a, b = rows_of(rows, with_ie), rows_of(rows, without)
            numbers.update({f"{t}{with_ie[0]}": value(a, col), f"{t}{without[0]}": value(b, col)})
            comparisons[f"{t}{with_ie[0]} < {without[0]}"] = compare_metrics(a, b, col, "less", LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers, f"{col} with vs without IE")


def hypothesis_models_keep_clean_accuracy(frame: Any) -> ClaimResult:
    """Every label-hypothesis classifier's clean accuracy is at least the CNN's minus
    :data:`CLEAN_TOLERANCE` ("without loss of natural accuracy", P4 Sec. 3.1): non-inferiority by
    Newcombe's hybrid score interval on the counts, every model and dataset."""
    names = list(datasets(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        base_rows = rows_of(rows, BASELINE)
        numbers[f"{t}{BASELINE[0]}"] = value(base_rows, "clean")
        for model in HYPOTHESIS_MODELS:
            picked = rows_of(rows, model)
            numbers[f"{t}{model[0]}"] = value(picked, "clean")
            comparisons[f"{t}{model[0]}"] = accuracy_noninferior(picked, base_rows, "clean", CLEAN_TOLERANCE, LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers, f"claim: clean accuracy >= CNN - {CLEAN_TOLERANCE}")


def black_box_robustness_gains(frame: Any) -> ClaimResult:
    """All four label-hypothesis classifiers are more robust than the CNN against every black-box
    (transfer) attack and radius (P4 Sec. 3.1: "all our four models show significant robustness
    improvement in this mode"): each (model, attack) one-sided by Fisher's exact test on the counts,
    combined over all of them. Numbers: each model's accuracy minus the CNN's, per column."""
    names, cols = list(datasets(frame)), columns(frame, None, True, "black-box (transfer)")
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for ds, rows in names:
        t = _tag(ds, len(names) > 1)
        base_rows = rows_of(rows, BASELINE)
        for col in cols:
            base = value(base_rows, col)
            numbers[f"{t}CNN {col}"] = base
            for model in HYPOTHESIS_MODELS:
                picked = rows_of(rows, model)
                numbers[f"{t}{model[0]}-CNN {col}"] = value(picked, col) - base
                comparisons[f"{t}{model[0]} {col}"] = compare_accuracies(picked, base_rows, col, "greater", LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "accuracy minus the CNN's under transfer attacks from the substitute")
