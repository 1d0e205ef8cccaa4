"""Statistics for numbers you can trust: intervals, paired tests, seeds, verdicts, eps reachability.

Pure functions on counts and per-example / per-seed outcomes; no torch. scipy is imported inside
the functions that need it, so importing this package stays cheap. Every proportion is a
fraction in [0, 1]. ``docs/statistics.md`` explains each interval and test and how to read
"inconclusive".

* :func:`proportion_interval` — Clopper–Pearson or Wilson interval for k correct of n;
* :func:`mcnemar`, :func:`mcnemar_counts` — exact McNemar test of two rows on the same examples,
  with Newcombe's interval for the difference in accuracy;
* :func:`seed_summary`, :func:`paired_seed_test` — mean/std/t interval over seeds, paired t-test;
* :class:`Verdict`, :class:`Decision`, :func:`compare_proportions`, :func:`compare_seeds`,
  :func:`compare_to_reference` — one-sided decisions for claims;
* :func:`default_step_size`, :func:`check_reach`, :func:`steps_reach_boundary`,
  :func:`reach_problem` — attack step sizes that can reach the eps boundary.
"""
from __future__ import annotations

from bench.stats._checks import StatisticsError
from bench.stats.intervals import Interval, proportion_interval
from bench.stats.paired import PairedTest, mcnemar, mcnemar_counts, newcombe_paired_interval
from bench.stats.reach import Reach, check_reach, default_step_size, reach_problem, steps_reach_boundary
from bench.stats.seeds import SeedSummary, SeedTest, paired_seed_test, seed_summary
from bench.stats.verdicts import Decision, Verdict, compare_proportions, compare_seeds, compare_to_reference

__all__ = [
    "StatisticsError",
    "Interval", "proportion_interval",
    "PairedTest", "mcnemar", "mcnemar_counts", "newcombe_paired_interval",
    "SeedSummary", "SeedTest", "seed_summary", "paired_seed_test",
    "Verdict", "Decision", "compare_proportions", "compare_seeds", "compare_to_reference",
    "Reach", "check_reach", "steps_reach_boundary", "reach_problem", "default_step_size",
]
