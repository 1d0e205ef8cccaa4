"""Claims of the ``tasks`` suite that no single paper suite checks with these labels.

Rows are told apart by their defense label, ``standard`` and ``PGD-AT`` (see suites/tasks.toml).
"""
from __future__ import annotations

from bench.api.claim import ClaimResult, optional_value, value

ROBUST, STANDARD = "PGD-AT", "standard"
JUDGE = "task[recognizability.judge_target_rate]"
CONTEXT = ("task[recognizability.target_success]", "task[recognizability.start_correlation]")


def robust_perturbations_are_recognized(frame) -> ClaimResult:
    """P3 Fig. 4.2: an independent standard classifier reads a robust model's targeted unbounded
    perturbations as the target class more often than a standard model's."""
    robust, standard = value(frame, JUDGE, defense=ROBUST), value(frame, JUDGE, defense=STANDARD)
    numbers = {"PGD-AT judge_target_rate": robust, "standard judge_target_rate": standard}
    for col in CONTEXT:
        for label in (ROBUST, STANDARD):
            context = optional_value(frame, col, defense=label)
            if context is not None:
                numbers[f"{label} {col[len('task[recognizability.'):-1]}"] = context
    return ClaimResult(robust > standard, numbers, "judge_target_rate of PGD-AT vs standard (target_success: "
                                                   "the attacked model's own; start_correlation: context)")
