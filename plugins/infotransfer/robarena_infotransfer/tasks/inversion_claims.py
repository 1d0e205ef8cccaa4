"""P2's inversion claims as checks over a suite's leaderboard frame (``robarena claims p2-cpu``).

Each claim runs per source (dataset and model, ids and parameters; never pooled) and holds when it
holds for every source (:func:`robarena_infotransfer.claim_rows.per_source`). Rows by defense id and
training eps (:mod:`robarena_infotransfer.claim_rows`): ``standard`` (``classics/standard``, ordinary
training) and ``PGD-AT`` (``classics/pgd-at`` at eps 1 where trained, else the smallest training eps:
the robust model); values are means over seeds. Columns by task id and metric: the ``infotransfer/inversion`` task's ``<metric>``
(:mod:`robarena_infotransfer.tasks.inversion`).

Verdicts (level :data:`LEVEL` = 0.05): the task's metrics carry no counts, so every comparison is the
one-sided paired t-test over seeds (one seed: no sampling distribution, inconclusive), combined by
:func:`bench.api.claim_stats.every` where a claim names several metrics.
"""
from __future__ import annotations

from bench.api.claim import (DEFAULT_LEVEL, ClaimResult, compare_metrics, compare_seed_values, every, metric_column,
                             seed_values, value)
from robarena_infotransfer.claim_rows import ROBUST, STANDARD, per_source, rows_of

TASK = "infotransfer/inversion"
#: the significance level of every P2 inversion claim
LEVEL = DEFAULT_LEVEL


def column(frame, metric: str, task: str = TASK) -> str:
    """The frame column of the inversion task's ``metric``."""
    return metric_column(frame, task, metric)


def _pair(frame, metric: str) -> tuple[float, float]:
    """(robust, standard) means of one inversion metric."""
    col = column(frame, metric)
    return value(rows_of(frame, ROBUST), col), value(rows_of(frame, STANDARD), col)


def robust_inverts_closer(frame) -> ClaimResult:
    """The robust model's inversions have higher PSNR and SSIM and a lower final loss than the standard
    model's: each metric one-sided over seeds, all three must hold."""
    return per_source(_robust_inverts_closer, frame, LEVEL)


def _robust_inverts_closer(frame) -> ClaimResult:
    numbers, comparisons = {}, {}
    robust_rows, standard_rows = rows_of(frame, ROBUST), rows_of(frame, STANDARD)
    for metric, direction in (("psnr", "greater"), ("ssim", "greater"), ("final_loss", "less")):
        robust, standard = _pair(frame, metric)
        numbers[f"robust_{metric}"], numbers[f"standard_{metric}"] = robust, standard
        comparisons[metric] = compare_metrics(robust_rows, standard_rows, column(frame, metric), direction, LEVEL)
    return ClaimResult.of(every(comparisons, LEVEL), numbers, "robust closer on PSNR, SSIM and final loss")


def robust_inverts_faster(frame) -> ClaimResult:
    """The robust model needs fewer iterations to reach the loss threshold than the standard model
    (one-sided over seeds)."""
    return per_source(_robust_inverts_faster, frame, LEVEL)


def _robust_inverts_faster(frame) -> ClaimResult:
    robust, standard = _pair(frame, "iters_to_threshold")
    final_robust, final_standard = _pair(frame, "final_loss")
    numbers = {"robust_iters": robust, "standard_iters": standard,
               "robust_final_loss": final_robust, "standard_final_loss": final_standard}
    decision = compare_metrics(rows_of(frame, ROBUST), rows_of(frame, STANDARD), column(frame, "iters_to_threshold"),
                               "less", LEVEL)
    return ClaimResult.of(decision, numbers,
                          "iterations until the mean relative inversion loss reaches the task's threshold fraction "
                          "of its start (steps + 1 = never)")


def noise_once_speeds_inversion(frame) -> ClaimResult:
    """On the robust model, inverting with f_{w+n} reaches the threshold in fewer iterations than with
    f_w (the two counts of the same rows, one-sided paired t-test over seeds)."""
    return per_source(_noise_once_speeds_inversion, frame, LEVEL)


def _noise_once_speeds_inversion(frame) -> ClaimResult:
    robust = rows_of(frame, ROBUST)
    plain = value(robust, column(frame, "iters_to_threshold"))
    noisy = value(robust, column(frame, "noise_iters_to_threshold"))
    numbers = {"iters": plain, "noise_iters": noisy, "speedup": plain / noisy if noisy > 0 else float("inf"),
               "psnr": value(robust, column(frame, "psnr")),
               "noise_psnr": value(robust, column(frame, "noise_psnr")),
               "noise_feature_shift": value(robust, column(frame, "noise_feature_shift"))}
    decision = compare_seed_values(seed_values(robust, column(frame, "noise_iters_to_threshold")),
                                   seed_values(robust, column(frame, "iters_to_threshold")), "less", LEVEL,
                                   "iterations with f_{w+n} vs with f_w")
    return ClaimResult.of(decision, numbers,
                          "robust model; each run counts iterations on its own objective (P2 Fig. 2 reports ~40x)")
