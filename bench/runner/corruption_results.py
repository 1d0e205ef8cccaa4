"""A row's corruption results from its corruption cells' records (:mod:`bench.runner.stages.corruption`).

Per cell a :class:`~bench.rows.schema.CorruptionResult` (accuracy over all evaluation examples),
and the row's :class:`~bench.rows.schema.CorruptionSummary`: the mean corruption accuracy over
its cells and the baseline row id the suite named; the (relative) mCE needs the baseline row and
is set once every row is assembled (:func:`bench.rows.corruption.with_mce`).
"""
from __future__ import annotations

from typing import Optional

from bench.rows.corruption import summary_mean
from bench.rows.schema import Accuracy, CorruptionResult, CorruptionSummary


def corruption_results(records: list[dict]) -> list[CorruptionResult]:
    """The row's corruption cells in run order (a failed cell: accuracy None)."""
    out = []
    for r in records:
        m = r["meta"]
        acc = Accuracy.from_fraction(r["payload"]["accuracy"], int(m["n"])) if r["status"] == "ok" else None
        out.append(CorruptionResult(corruption_id=m.get("corruption_id") or f"?/{m['corruption']}",
                                    label=m["corruption"], family=m.get("corruption_family") or "",
                                    severity=int(m["severity"]), accuracy=acc))
    return out


def corruption_summary(records: list[dict], results: list[CorruptionResult]) -> Optional[CorruptionSummary]:
    """The mean over the row's corruption cells and the named baseline row (None without corruption cells)."""
    if not results:
        return None
    baselines = {r["meta"].get("corruption_baseline") for r in records} - {None}
    return CorruptionSummary(mean=summary_mean(results), corruptions=list(dict.fromkeys(r.label for r in results)),
                             severities=sorted({r.severity for r in results}),
                             baseline=baselines.pop() if len(baselines) == 1 else None)
