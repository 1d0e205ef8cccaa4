"""Paired comparisons of two rows of one run: exact McNemar on per-example outcomes; across seeds,
a paired t-test on per-seed values.

Two rows evaluated on the same examples (same data fingerprint, same ``n``) are compared example
by example: for clean accuracy, each attack both rows ran (same attack id, label, parameters and
threat) and each worst case, the 2x2 table of (correct in A, correct in B) gives the exact McNemar
p-value and Newcombe's interval for the difference (:func:`bench.stats.mcnemar`). Two
configurations with several seeds are compared seed by seed on each metric
(:func:`bench.stats.paired_seed_test`). A difference whose test does not reject at the level is
reported as within noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from bench.errors import UsageError

LEVEL = 0.05


@dataclass(frozen=True)
class Comparison:
    """One metric of A against B: values, difference, test, p-value, verdict text."""

    metric: str
    value_a: float
    value_b: float
    difference: float
    test: str
    p_value: float
    detail: str = ""

    @property
    def significant(self) -> bool:
        return self.p_value == self.p_value and self.p_value <= LEVEL  # nan is never significant

    @property
    def verdict(self) -> str:
        return f"significant at {LEVEL}" if self.significant else "within noise"


def _outcomes(cache: Any, records: list[dict], row_id: str) -> dict[str, np.ndarray]:
    """Display column -> per-example correctness (bool array) of one row's ok clean and attack cells."""
    from bench.rows.labels import attack_column, threat_label
    from bench.runner.results import _attack_results, cell_arrays

    own = [r for r in records if r["meta"]["row_id"] == row_id and r["status"] == "ok"]
    out: dict[str, np.ndarray] = {}
    for r in own:
        if r["stage"] == "clean":
            out["clean"] = cell_arrays(cache, r)["clean_correct"].astype(bool)
    attacks = [r for r in own if r["stage"] == "attack"]
    by_threat: dict[Any, list[np.ndarray]] = {}
    for rec, res in zip(attacks, _attack_results(attacks)):
        mask = cell_arrays(cache, rec)["robust_correct"].astype(bool)
        out[f"robust[{attack_column(res)}]"] = mask
        by_threat.setdefault(res.threat, []).append(mask)
    for threat, masks in by_threat.items():
        out[f"ensemble[{threat_label(threat)}]"] = np.logical_and.reduce(masks)
    return out


def compare_rows(workdir: Any, suite: str, row_a: str, row_b: str) -> list[Comparison]:
    """Exact McNemar tests of row A against row B on every metric both have (the latest run of ``suite``)."""
    from bench.runner.results import load_run_records
    from bench.stats import mcnemar
    from bench.store.cache import ArtifactCache

    records, _ = load_run_records(workdir, suite)
    rows = {r["meta"]["row_id"] for r in records}
    for rid in (row_a, row_b):
        if rid not in rows:
            raise UsageError(f"suite {suite!r} has no row {rid!r} in {workdir}; rows: {', '.join(sorted(rows))}")
    fingerprints = {rid: {r["meta"].get("fingerprint") for r in records if r["meta"]["row_id"] == rid
                          and r["stage"] == "clean"} for rid in (row_a, row_b)}
    cache = ArtifactCache(Path(workdir) / "cache")
    a, b = _outcomes(cache, records, row_a), _outcomes(cache, records, row_b)
    if fingerprints[row_a] != fingerprints[row_b] or any(a[k].shape != b[k].shape for k in set(a) & set(b)):
        raise UsageError(f"{row_a!r} and {row_b!r} were not evaluated on the same examples (different datasets "
                         "or n): a paired test does not apply; compare their intervals instead")
    out = []
    for metric in [k for k in a if k in b]:
        test = mcnemar(a[metric], b[metric])
        out.append(Comparison(metric, float(a[metric].mean()), float(b[metric].mean()), test.difference,
                              "exact McNemar", test.p_value,
                              f"A only {test.b10}, B only {test.b01} of {a[metric].size}"))
    return out


def compare_seeds(workdir: Any, suite: str, group_a: str, group_b: str) -> list[Comparison]:
    """Paired t-tests, seed by seed, of configuration A against B ('<dataset>/<model>/<defense>' groups)."""
    from bench.rows.aggregate import aggregate_rows
    from bench.runner.results import load_rows
    from bench.stats import paired_seed_test

    rows = load_rows(workdir, suite)
    groups = {agg.group_id: agg for agg in aggregate_rows(rows)}
    for gid in (group_a, group_b):
        if gid not in groups:
            raise UsageError(f"suite {suite!r} has no configuration {gid!r}; configurations: {', '.join(sorted(groups))}")
    by_id = {r.row_id: r for r in rows}
    ga, gb = groups[group_a], groups[group_b]
    seeds = [s for s in ga.seeds if s in gb.seeds]
    if not seeds:
        raise UsageError(f"{group_a!r} and {group_b!r} share no seed; a paired test needs the same seeds")
    rows_a = {by_id[r].seed: by_id[r] for r in ga.row_ids}
    rows_b = {by_id[r].seed: by_id[r] for r in gb.row_ids}
    out = []
    for metric in [m for m in ga.metrics if m in gb.metrics]:
        pairs = [(rows_a[s].metric_columns().get(metric), rows_b[s].metric_columns().get(metric)) for s in seeds]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if not pairs:
            continue
        xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
        test = paired_seed_test(xs, ys)
        out.append(Comparison(metric, sum(xs) / len(xs), sum(ys) / len(ys), test.mean_difference,
                              "paired t over seeds", test.p_value, test.note or f"{len(pairs)} seed pair(s)"))
    return out


def format_comparisons(items: list[Comparison], a: str, b: str, fmt: Optional[str] = "simple") -> str:
    from tabulate import tabulate

    def pct(metric: str, v: float) -> str:
        return f"{100 * v:.2f}" if metric == "clean" or metric.startswith(("robust[", "ensemble[")) else f"{v:.4g}"

    table = [[c.metric, pct(c.metric, c.value_a), pct(c.metric, c.value_b), pct(c.metric, c.difference), c.test,
              f"{c.p_value:.3g}", c.verdict, c.detail] for c in items]
    head = f"A = {a}\nB = {b}\n"
    return head + tabulate(table, headers=["metric", "A", "B", "A - B", "test", "p", "verdict", "detail"],
                           tablefmt=fmt or "simple")
