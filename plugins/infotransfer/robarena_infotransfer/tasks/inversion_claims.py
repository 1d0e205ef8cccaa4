"""P2's inversion claims as checks over a suite's leaderboard frame (``robarena claims p2-cpu``).

Rows by defense id and training eps (:mod:`robarena_infotransfer.claim_rows`): ``standard``
(``classics/standard``, ordinary training) and ``PGD-AT`` (``classics/pgd-at`` at the smallest
training eps, the robust model); values are means over seeds (and over any other rows of that
role). Columns by task id and metric: the ``infotransfer/inversion`` task's ``<metric>``
(:mod:`robarena_infotransfer.tasks.inversion`).
"""
from __future__ import annotations

from bench.api.claim import ClaimResult, metric_column, value
from robarena_infotransfer.claim_rows import ROBUST, STANDARD, rows_of

TASK = "infotransfer/inversion"


def column(frame, metric: str, task: str = TASK) -> str:
    """The frame column of the inversion task's ``metric``."""
    return metric_column(frame, task, metric)


def _pair(frame, metric: str) -> tuple[float, float]:
    """(robust, standard) means of one inversion metric."""
    col = column(frame, metric)
    return value(rows_of(frame, ROBUST), col), value(rows_of(frame, STANDARD), col)


def robust_inverts_closer(frame) -> ClaimResult:
    """The robust model's inversions have higher PSNR and SSIM and a lower final loss than the standard model's."""
    numbers, verdicts = {}, []
    for metric, robust_better in (("psnr", lambda r, s: r > s), ("ssim", lambda r, s: r > s),
                                  ("final_loss", lambda r, s: r < s)):
        robust, standard = _pair(frame, metric)
        numbers[f"robust_{metric}"], numbers[f"standard_{metric}"] = robust, standard
        verdicts.append(robust_better(robust, standard))
    failed = [m for m, ok in zip(("psnr", "ssim", "final_loss"), verdicts) if not ok]
    detail = "robust is closer on PSNR, SSIM and final loss" if not failed else f"not closer on {', '.join(failed)}"
    return ClaimResult(all(verdicts), numbers, detail)


def robust_inverts_faster(frame) -> ClaimResult:
    """The robust model needs fewer iterations to reach the loss threshold than the standard model."""
    robust, standard = _pair(frame, "iters_to_threshold")
    final_robust, final_standard = _pair(frame, "final_loss")
    numbers = {"robust_iters": robust, "standard_iters": standard,
               "robust_final_loss": final_robust, "standard_final_loss": final_standard}
    return ClaimResult(robust < standard, numbers,
                       "iterations until the mean relative inversion loss reaches the task's threshold fraction "
                       "of its start (steps + 1 = never)")


def noise_once_speeds_inversion(frame) -> ClaimResult:
    """On the robust model, inverting with f_{w+n} reaches the threshold in fewer iterations than with f_w."""
    robust = rows_of(frame, ROBUST)
    plain = value(robust, column(frame, "iters_to_threshold"))
    noisy = value(robust, column(frame, "noise_iters_to_threshold"))
    numbers = {"iters": plain, "noise_iters": noisy, "speedup": plain / noisy if noisy > 0 else float("inf"),
               "psnr": value(robust, column(frame, "psnr")),
               "noise_psnr": value(robust, column(frame, "noise_psnr")),
               "noise_feature_shift": value(robust, column(frame, "noise_feature_shift"))}
    return ClaimResult(noisy < plain, numbers,
                       "robust model; each run counts iterations on its own objective (P2 Fig. 2 reports ~40x)")
