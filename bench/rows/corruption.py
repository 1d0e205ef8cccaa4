"""The corruption track's numbers on rows: mean corruption accuracy and (relative) mCE.

Hendrycks & Dietterich (2019), "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", Sec. 3. With the error ``E = 1 - accuracy`` of a row under corruption ``c`` at
severity ``s`` and ``base`` the suite's ``corruption_baseline`` row (same dataset and seed):

- ``CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}`` and ``mCE = mean_c CE_c``;
- ``relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)`` and
  ``relative mCE = mean_c relative CE_c``.

The means run over the row's corruptions (grouped by label) at the severities both rows have;
a zero denominator (a baseline without errors, or one whose corrupted error equals its clean
error), a failed cell or a corruption the baseline lacks make the value undefined (``None``).

The mean corruption accuracy (:class:`~bench.rows.schema.MeanAccuracy`) is
``total correct / total trials`` over every corruption and severity; its 95 % interval is the
Clopper–Pearson interval of ``value * n`` successes in the ``n`` examples, in the closed form
of beta quantiles with a fractional count (:func:`fractional_clopper_pearson`).
"""
from __future__ import annotations

from typing import Iterable, Optional

from bench.rows.schema import INTERVAL_LEVEL, CorruptionResult, MeanAccuracy, Row


def fractional_clopper_pearson(k: float, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The Clopper–Pearson interval ``[B(a/2; k, n-k+1), B(1-a/2; k+1, n-k)]`` (B: beta quantile) for a
    possibly fractional count ``0 <= k <= n``; ``[0, 1]`` for ``n = 0``. Equals the exact interval at integer k."""
    from bench.stats.intervals import clopper_pearson_ends

    if n <= 0:
        return 0.0, 1.0
    return clopper_pearson_ends(min(max(float(k), 0.0), float(n)), n, level)


def mean_accuracy(total_correct: int, total_trials: int, n: int) -> MeanAccuracy:
    """``total_correct / total_trials`` with the interval of ``value * n`` successes in ``n`` examples."""
    value = total_correct / total_trials if total_trials else 0.0
    low, high = fractional_clopper_pearson(value * n, n)
    return MeanAccuracy(value=value, total_correct=int(total_correct), total_trials=int(total_trials), n=int(n),
                        low=min(low, value), high=max(high, value))


def summary_mean(results: Iterable[CorruptionResult]) -> Optional[MeanAccuracy]:
    """The mean accuracy over ``results`` (None when any failed, or there are none)."""
    results = list(results)
    if not results or any(r.accuracy is None for r in results):
        return None
    accs = [r.accuracy for r in results]  # type: ignore[misc]
    return mean_accuracy(sum(a.correct for a in accs), sum(a.n for a in accs), max(a.n for a in accs))


def _errors(row: Row) -> dict[str, dict[int, float]]:
    """label -> severity -> error of the row's corruption cells (a failed cell: NaN)."""
    out: dict[str, dict[int, float]] = {}
    for r in row.corruptions:
        out.setdefault(r.label, {})[r.severity] = 1.0 - r.accuracy.value if r.accuracy is not None else float("nan")
    return out


def _mean(values: list[Optional[float]]) -> Optional[float]:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def mce(row: Row, base: Row) -> tuple[Optional[float], Optional[float]]:
    """(mCE, relative mCE) of ``row`` against ``base`` (see the module docstring); None where undefined."""
    import math

    mine, theirs = _errors(row), _errors(base)
    if not mine:
        return None, None
    ces: list[Optional[float]] = []
    rel: list[Optional[float]] = []
    clean = 1.0 - row.clean.value if row.clean is not None else None
    base_clean = 1.0 - base.clean.value if base.clean is not None else None
    for label, errors in mine.items():
        other = theirs.get(label, {})
        severities = sorted(errors)
        if any(s not in other for s in severities):
            ces.append(None)
            rel.append(None)
            continue
        e = [errors[s] for s in severities]
        b = [other[s] for s in severities]
        if any(math.isnan(v) for v in e + b):
            ces.append(None)
            rel.append(None)
            continue
        ces.append(sum(e) / sum(b) if sum(b) > 0 else None)
        if clean is None or base_clean is None:
            rel.append(None)
            continue
        denominator = sum(v - base_clean for v in b)
        rel.append(sum(v - clean for v in e) / denominator if denominator != 0 else None)
    return _mean(ces), _mean(rel)


def with_mce(rows: list[Row]) -> list[Row]:
    """The rows with the (relative) mCE of each corruption summary against its baseline row (by row id)."""
    by_id = {r.row_id: r for r in rows}
    out = []
    for row in rows:
        summary = row.corruption_summary
        base = by_id.get(summary.baseline) if summary is not None and summary.baseline else None
        if base is not None:
            value, relative = mce(row, base)
            row = row.model_copy(update={"corruption_summary": summary.model_copy(  # type: ignore[union-attr]
                update={"mce": value, "relative_mce": relative})})
        out.append(row)
    return out
