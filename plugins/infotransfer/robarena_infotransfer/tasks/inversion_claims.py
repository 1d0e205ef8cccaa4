"""P2's inversion claims as checks over a suite's leaderboard frame (``robarena claims p2-cpu``).

Rows are told apart by their defense label, ``standard`` (ordinary training) and ``PGD-AT`` (the
robust model), the p2 suites' labels; values are means over seeds (and over any other rows with
that label). The inversion task's columns are ``task[inversion.<metric>]``
(:mod:`robarena_infotransfer.tasks.inversion`).
"""
from __future__ import annotations

from bench.api.claim import ClaimResult, value

TASK = "inversion"
ROBUST = "PGD-AT"
STANDARD = "standard"


def column(metric: str, task: str = TASK) -> str:
    return f"task[{task}.{metric}]"


def _pair(frame, metric: str) -> tuple[float, float]:
    """(robust, standard) means of one inversion metric."""
    return value(frame, column(metric), defense=ROBUST), value(frame, column(metric), defense=STANDARD)


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
    numbers = {"robust_iters": robust, "standard_iters": standard,
               "robust_final_loss": value(frame, column("final_loss"), defense=ROBUST),
               "standard_final_loss": value(frame, column("final_loss"), defense=STANDARD)}
    return ClaimResult(robust < standard, numbers,
                       "iterations until the mean relative inversion loss reaches the task's threshold fraction "
                       "of its start (steps + 1 = never)")


def noise_once_speeds_inversion(frame) -> ClaimResult:
    """On the robust model, inverting with f_{w+n} reaches the threshold in fewer iterations than with f_w."""
    plain = value(frame, column("iters_to_threshold"), defense=ROBUST)
    noisy = value(frame, column("noise_iters_to_threshold"), defense=ROBUST)
    numbers = {"iters": plain, "noise_iters": noisy, "speedup": plain / noisy if noisy > 0 else float("inf"),
               "psnr": value(frame, column("psnr"), defense=ROBUST),
               "noise_psnr": value(frame, column("noise_psnr"), defense=ROBUST),
               "noise_feature_shift": value(frame, column("noise_feature_shift"), defense=ROBUST)}
    return ClaimResult(noisy < plain, numbers,
                       "robust model; each run counts iterations on its own objective (P2 Fig. 2 reports ~40x)")
