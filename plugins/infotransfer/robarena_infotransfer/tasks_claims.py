"""Claims of the ``tasks`` suite that no single paper suite checks with these rows.

Per source (:func:`robarena_infotransfer.claim_rows.per_source`, never pooled). Rows by defense id and
training eps (:mod:`robarena_infotransfer.claim_rows`): ``standard``
(``classics/standard``) and ``PGD-AT`` (``classics/pgd-at``; see suites/tasks.toml). Columns of the
``recognizability/recognizability`` task by metric name. Verdict (level 0.05): the one-sided paired
t-test over seeds (one seed: no sampling distribution, inconclusive).
"""
from __future__ import annotations

from bench.api.claim import DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, compare_metrics, metric_column, value
from robarena_infotransfer.claim_rows import ROBUST, STANDARD, per_source, rows_of

RECOGNIZABILITY = "recognizability/recognizability"
JUDGE = (RECOGNIZABILITY, "judge_target_rate")
CONTEXT = ((RECOGNIZABILITY, "target_success"), (RECOGNIZABILITY, "start_correlation"))


def robust_perturbations_are_recognized(frame) -> ClaimResult:
    """P3 Fig. 4.2: an independent standard classifier reads a robust model's targeted unbounded
    perturbations as the target class more often than a standard model's."""
    return per_source(_robust_perturbations_are_recognized, frame, DEFAULT_LEVEL)


def _robust_perturbations_are_recognized(frame) -> ClaimResult:
    judge = metric_column(frame, *JUDGE)
    rows = {role: rows_of(frame, role) for role in (ROBUST, STANDARD)}
    robust, standard = value(rows[ROBUST], judge), value(rows[STANDARD], judge)
    numbers = {"PGD-AT judge_target_rate": robust, "standard judge_target_rate": standard}
    for metric in CONTEXT:
        try:
            col = metric_column(frame, *metric)
        except ClaimDataMissing:
            continue
        for role in (ROBUST, STANDARD):
            try:
                numbers[f"{role} {metric[1]}"] = value(rows[role], col)
            except ClaimDataMissing:
                pass
    decision = compare_metrics(rows[ROBUST], rows[STANDARD], judge, "greater", DEFAULT_LEVEL)
    return ClaimResult.of(decision, numbers, "judge_target_rate of PGD-AT vs standard (target_success: the attacked "
                                             "model's own; start_correlation: context)")
