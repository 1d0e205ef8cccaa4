"""P2's claims about the representation probes, as checks over a suite's leaderboard frame.

Rows by defense id and training eps (:mod:`robarena_infotransfer.claim_rows`), in increasing eps:
``standard`` (``classics/standard``, eps 0), ``PGD-AT`` (``classics/pgd-at`` at the smallest eps:
P2's robust source, L2 eps 1 on CIFAR, the data-scaled equivalent in the CPU suite) and, where the
suite trains it, ``PGD-AT-large`` (``classics/pgd-at`` at a larger eps: P2 Fig. 5's eps > 1
regime). Probe columns by probe id and column: ``infotransfer/rep-fisher`` ``trace_mean`` and
``logdet_mean``, ``infotransfer/weight-norm`` ``weight_norm``, ``infotransfer/entanglement``
``snn_loss_median`` (with ``snn_loss`` reported alongside).

Verdicts (level :data:`LEVEL` = 0.05): probe metrics carry no counts, so every comparison is the
one-sided paired t-test over seeds (one seed: no sampling distribution, inconclusive); orderings in
eps test every consecutive step and hold when every step does (:func:`bench.api.claim.trend`).
"""
from __future__ import annotations

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, compare_metrics, every, metric_column,
                             trend, value)
from robarena_infotransfer.claim_rows import EPS_ORDER, ROBUST_LARGE, STANDARD, roles, rows_of

#: the significance level of every P2 probe claim
LEVEL = DEFAULT_LEVEL

TRACE = ("infotransfer/rep-fisher", "trace_mean")
LOGDET = ("infotransfer/rep-fisher", "logdet_mean")
WEIGHT_NORM = ("infotransfer/weight-norm", "weight_norm")
SNN_MEDIAN = ("infotransfer/entanglement", "snn_loss_median")
SNN_OPTIMAL = ("infotransfer/entanglement", "snn_loss")


def by_eps(frame, metric: tuple[str, str]) -> dict[str, float]:
    """``metric`` for each of standard, PGD-AT and (when trained) PGD-AT-large, in increasing eps."""
    column = metric_column(frame, *metric)
    found = roles(frame)
    return {role: value(found[role], column) for role in EPS_ORDER if role in found}


def _points(frame) -> list[tuple[str, object]]:
    found = roles(frame)
    return [(role, found[role]) for role in EPS_ORDER if role in found]


def at_lowers_fisher_trace(frame) -> ClaimResult:
    """Every adversarially trained row has a smaller tr F_{z|x} than the standard row (P2 Prop. 0.3),
    each one-sided over seeds."""
    values = by_eps(frame, TRACE)
    col = metric_column(frame, *TRACE)
    found = roles(frame)
    comparisons = {f"{role} < {STANDARD}": compare_metrics(found[role], found[STANDARD], col, "less", LEVEL)
                   for role in values if role != STANDARD}
    return ClaimResult.of(every(comparisons, LEVEL), values,
                          "mean over evaluation inputs of ||d features / d x||_F^2 / sigma^2")


def eps_lowers_fisher_logdet(frame) -> ClaimResult:
    """log |F_{z|x}| (the effective information, P2 Eq. 8) decreases as the training eps increases
    (every step one-sided over seeds)."""
    values = by_eps(frame, LOGDET)
    decision, _ = trend(_points(frame), metric_column(frame, *LOGDET), "down", LEVEL)
    return ClaimResult.of(decision, values, "in increasing eps: " + ", ".join(values))


def large_eps_lowers_weight_norm(frame) -> ClaimResult:
    """With a large eps (P2: eps > 1), adversarial training ends with a smaller ||w||_2 than standard training (Fig. 5).

    P2 finds the reduction only for eps > 1; the PGD-AT row (P2's eps 1) is reported but not tested.
    """
    large = rows_of(frame, ROBUST_LARGE)  # this claim needs the large-eps row
    values = by_eps(frame, WEIGHT_NORM)
    decision = compare_metrics(large, rows_of(frame, STANDARD), metric_column(frame, *WEIGHT_NORM), "less", LEVEL)
    return ClaimResult.of(decision, values, "tested: PGD-AT-large < standard; P2 reports no reduction for eps <= 1")


def eps_entangles_features(frame) -> ClaimResult:
    """The soft nearest-neighbour loss of the final features increases with the training eps (P2 Fig. 6).

    Tested on the loss at the scale-free temperature (the median squared distance): the loss at the
    minimising temperature is ~0 for every model that separates its test classes perfectly, and then
    cannot order them; its values are reported as ``optimal_T[...]``. Every step one-sided over seeds.
    """
    values = by_eps(frame, SNN_MEDIAN)
    numbers = dict(values)
    try:
        optimal_column = metric_column(frame, *SNN_OPTIMAL)
    except ClaimDataMissing:
        optimal_column = None
    found = roles(frame)
    for role in values:
        if optimal_column is None:
            break
        try:
            numbers[f"optimal_T[{role}]"] = value(found[role], optimal_column)
        except ClaimDataMissing:
            pass
    decision, _ = trend(_points(frame), metric_column(frame, *SNN_MEDIAN), "up", LEVEL)
    return ClaimResult.of(decision, numbers,
                          "snn_loss at T = median squared distance, in increasing eps: " + ", ".join(values))
