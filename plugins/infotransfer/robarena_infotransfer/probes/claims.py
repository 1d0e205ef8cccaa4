"""P2's claims about the representation and weight probes, as checks over a suite's leaderboard frame.

Each claim runs per source (dataset and model, ids and parameters; never pooled) and holds when it
holds for every source (:func:`robarena_infotransfer.claim_rows.per_source`). Within a source, rows by
defense id and training eps (:func:`robarena_infotransfer.claim_rows.sweep`), in increasing eps:
``standard`` (``classics/standard``, eps 0), and every ``classics/pgd-at`` training eps: ``PGD-AT``
(P2's robust source, eps 1 where trained, else the smallest) and ``PGD-AT eps=<eps>`` for the others
(P2 Figs. 4-6 sweep eps; p2-cpu trains two data-scaled eps). Probe columns by probe id and column:
``infotransfer/rep-fisher`` ``iso_trace_mean`` and ``iso_logdet_mean`` (the Fisher of the features
about the input under the isotropic observation model N(f(x), sigma^2 I), not P2's Eq. 9: see
:mod:`robarena_infotransfer.probes.rep_fisher`), ``infotransfer/weight-norm`` ``weight_norm``,
``infotransfer/entanglement`` ``snn_loss_median`` (with ``snn_loss`` reported alongside),
``infotransfer/weight-info`` ``mean_log_variance``.

Verdicts (level :data:`LEVEL` = 0.05). Comparisons with the standard row: probe metrics carry no
counts, so each is the one-sided paired t-test over seeds (one seed: no sampling distribution,
inconclusive), several combined by :func:`bench.api.claim_stats.every`. Trends over the eps sweep
(:func:`eps_trend`): Spearman's rank correlation between the training eps (standard = 0) and the
metric over every row (seed) of the source, one-sided, exact permutation test up to 8 rows
(:func:`bench.api.claim_stats.spearman_trend`); it needs no second seed, but with n rows its smallest
p is set by the ties in eps (three eps, one seed each: 1/6, never significant; p2-cpu's three eps
with two seeds each: 8/720; six eps, one seed: 1/720).
"""
from __future__ import annotations

import math

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, compare_metrics, every, metric_column,
                             spearman_trend, value)
from robarena_infotransfer.claim_rows import STANDARD, larger, per_source, sweep

#: the significance level of every P2 probe claim
LEVEL = DEFAULT_LEVEL

TRACE = ("infotransfer/rep-fisher", "iso_trace_mean")
LOGDET = ("infotransfer/rep-fisher", "iso_logdet_mean")
WEIGHT_NORM = ("infotransfer/weight-norm", "weight_norm")
SNN_MEDIAN = ("infotransfer/entanglement", "snn_loss_median")
SNN_OPTIMAL = ("infotransfer/entanglement", "snn_loss")
LOG_VARIANCE = ("infotransfer/weight-info", "mean_log_variance")


def by_eps(frame, metric: tuple[str, str]) -> dict[str, float]:
    """``metric`` (mean over seeds) for each role of one source's sweep, in increasing eps."""
    column = metric_column(frame, *metric)
    out = {}
    for role, _, rows in sweep(frame):
        try:
            out[role] = value(rows, column)
        except ClaimDataMissing:
            pass
    return out


def eps_trend(frame, metric: tuple[str, str], direction: str) -> ClaimResult:
    """Decide "``metric`` rises (``direction="greater"``) or falls with the training eps" on one source:
    Spearman over (eps, value) of every row with a value, one-sided (:func:`spearman_trend`)."""
    column = metric_column(frame, *metric)
    xs, ys = [], []
    for _, eps, rows in sweep(frame):
        for v in rows[column]:
            if v is not None and not math.isnan(float(v)):
                xs.append(eps)
                ys.append(float(v))
    if len(set(xs)) < 2:
        raise ClaimDataMissing(f"{column!r} has values at fewer than two training eps")
    numbers = by_eps(frame, metric)
    detail = (f"{len(ys)} rows at {len(set(xs))} training eps; means in increasing eps: "
              + ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()))
    return ClaimResult.of(spearman_trend(xs, ys, direction, LEVEL), numbers, detail)


def at_lowers_fisher_trace(frame) -> ClaimResult:
    """Every adversarially trained row has a smaller tr F_{z|x} (isotropic observation model) than the
    standard row (P2 Prop. 0.3), each eps one-sided over seeds, all must hold; per source."""
    return per_source(_at_lowers_fisher_trace, frame, LEVEL)


def _at_lowers_fisher_trace(frame) -> ClaimResult:
    values = by_eps(frame, TRACE)
    col = metric_column(frame, *TRACE)
    points = sweep(frame)
    standard = points[0][2]
    comparisons = {f"{role} < {STANDARD}": compare_metrics(rows, standard, col, "less", LEVEL)
                   for role, _, rows in points[1:]}
    return ClaimResult.of(every(comparisons, LEVEL), values,
                          "mean over evaluation inputs of ||d features / d x||_F^2 / sigma^2")


def eps_lowers_fisher_logdet(frame) -> ClaimResult:
    """log |F_{z|x}| (isotropic observation model; the effective information of P2 Eq. 8 up to a
    constant) decreases as the training eps increases: Spearman over the sweep, per source."""
    return per_source(lambda rows: eps_trend(rows, LOGDET, "less"), frame, LEVEL)


def large_eps_lowers_weight_norm(frame) -> ClaimResult:
    """With a large eps (P2: eps > 1), adversarial training ends with a smaller ||w||_2 than standard
    training (Fig. 5): every eps above the robust source's, each one-sided over seeds, all must hold;
    per source. P2 finds the reduction only for eps > 1; smaller eps are reported, not tested."""
    return per_source(_large_eps_lowers_weight_norm, frame, LEVEL)


def _large_eps_lowers_weight_norm(frame) -> ClaimResult:
    above = larger(frame)
    if not above:
        raise ClaimDataMissing("no PGD-AT row at an eps above the robust source's (P2 Fig. 5: eps > 1)")
    values = by_eps(frame, WEIGHT_NORM)
    col = metric_column(frame, *WEIGHT_NORM)
    standard = sweep(frame)[0][2]
    comparisons = {f"{role} < {STANDARD}": compare_metrics(rows, standard, col, "less", LEVEL)
                   for role, _, rows in above}
    return ClaimResult.of(every(comparisons, LEVEL), values,
                          f"tested: {', '.join(role for role, _, _ in above)} < standard; "
                          "P2 reports no reduction for eps <= 1")


def eps_entangles_features(frame) -> ClaimResult:
    """The soft nearest-neighbour loss of the final features increases with the training eps (P2 Fig. 6).

    Tested on the loss at the scale-free temperature (the median squared distance): the loss at the
    minimising temperature is ~0 for every model that separates its test classes perfectly, and then
    cannot order them; its values are reported as ``optimal_T[...]``. Spearman over the sweep, per source.
    """
    return per_source(_eps_entangles_features, frame, LEVEL)


def _eps_entangles_features(frame) -> ClaimResult:
    result = eps_trend(frame, SNN_MEDIAN, "greater")
    try:
        optimal = by_eps(frame, SNN_OPTIMAL)
    except ClaimDataMissing:
        optimal = {}
    result.numbers.update({f"optimal_T[{role}]": v for role, v in optimal.items()})
    result.detail += "\nsnn_loss at T = median squared distance"
    return result


def eps_raises_weight_log_variance(frame) -> ClaimResult:
    """The mean log-variance of the optimal weight posterior, log Sigma*_ii (less information in the
    weights), increases with the training eps (P2 Fig. 4): Spearman over the sweep, per source."""
    return per_source(lambda rows: eps_trend(rows, LOG_VARIANCE, "greater"), frame, LEVEL)
