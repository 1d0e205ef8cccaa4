"""Compare two sets of rows: what changed, whether it is more than noise, and why (which versions moved).

Rows are matched by ``row_id`` and metrics by display column (``robust[pgd Linf 0.1]``), which
schema-1 rows (upgraded on reading) and schema-2 rows produce identically, so two snapshots of
different schema versions compare. A row *changed* when a metric differs by more than ``atol``
(exact by default), a metric appears or disappears, or its flags or errors differ. For each
changed row the diff lists the provenance fields that differ (core, plugin distribution and
spec versions, config hash, data fingerprint, torch, device, ...): the likely cause. Rows
whose provenance moved while every number stayed within tolerance are reported separately.

Each changed accuracy (clean, robust, worst case) states whether the change is *significant*
or *within noise*: a snapshot keeps counts, not per-example outcomes, so the paired McNemar
test cannot be used; the counts are compared with Fisher's exact test, two-sided (twice the
smaller one-sided p-value of :func:`bench.stats.compare_proportions`) at level
:data:`SIGNIFICANCE_LEVEL`. It treats the two evaluations as independent samples; when both
rows saw the same examples the paired test would be more powerful, so "within noise" here
means "not shown to differ by the counts alone".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

from bench.errors import LeaderboardError
from bench.rows.frame import is_accuracy
from bench.rows.io import RowLike, validate_rows
from bench.rows.labels import attack_column, metric_name, threat_label
from bench.rows.schema import Accuracy, Row

SIGNIFICANCE_LEVEL = 0.05
SIGNIFICANCE_TEST = ("two-sided Fisher's exact test on the counts (twice the smaller one-sided p-value), "
                     "unpaired: a snapshot keeps no per-example outcomes")

ID_FIELDS = ("dataset_id", "model_id", "defense_id")
PROVENANCE_FIELDS = ("core_version", "plugins", "specs", "config_hash", "data_fingerprint", "torch_version",
                     "device", "platform", "n", "suite_version")


@dataclass(frozen=True)
class Significance:
    """Whether an accuracy moved by more than sampling noise: ``p_value`` of :data:`SIGNIFICANCE_TEST`."""

    p_value: float
    level: float = SIGNIFICANCE_LEVEL
    test: str = SIGNIFICANCE_TEST

    @property
    def significant(self) -> bool:
        return self.p_value <= self.level

    @property
    def verdict(self) -> str:
        return "significant" if self.significant else "within noise"


def accuracy_significance(old: Accuracy, new: Accuracy, level: float = SIGNIFICANCE_LEVEL) -> Optional[Significance]:
    """Is ``new`` different from ``old`` beyond sampling noise? None when a side has no examples."""
    from bench.stats import compare_proportions

    if old.n == 0 or new.n == 0:
        return None
    decision = compare_proportions(new.correct, new.n, old.correct, old.n, direction="greater", level=level / 2)
    p_value = min(1.0, 2.0 * min(decision.p_value, decision.p_reverse))
    return Significance(p_value, level)


@dataclass(frozen=True)
class MetricChange:
    """One metric of one row: ``kind`` is 'changed', 'added' (new column) or 'removed'.

    For an accuracy, ``old_count``/``new_count`` hold the ``(correct, n)`` behind the values and
    ``significance`` says whether a change is beyond sampling noise (None for other metrics, and
    when a value is missing)."""

    column: str
    old: Optional[float]
    new: Optional[float]
    delta: Optional[float]
    kind: str = "changed"
    significance: Optional[Significance] = None
    old_count: Optional[tuple[int, int]] = None
    new_count: Optional[tuple[int, int]] = None


@dataclass(frozen=True)
class VersionMove:
    """A provenance field (or component id) that differs; ``plugins[x]``/``specs[x]`` per entry; None = absent."""

    field: str
    old: Optional[str]
    new: Optional[str]


@dataclass(frozen=True)
class RowChange:
    row_id: str
    metrics: tuple[MetricChange, ...] = ()
    flags_added: tuple[str, ...] = ()
    flags_removed: tuple[str, ...] = ()
    errors_added: tuple[str, ...] = ()
    errors_removed: tuple[str, ...] = ()
    moved: tuple[VersionMove, ...] = ()

    @property
    def results_changed(self) -> bool:
        return bool(self.metrics or self.flags_added or self.flags_removed or self.errors_added
                    or self.errors_removed)


@dataclass(frozen=True)
class SnapshotDiff:
    added: tuple[Row, ...]
    removed: tuple[Row, ...]
    changed: tuple[RowChange, ...]
    moved_only: tuple[RowChange, ...]
    unchanged: int
    atol: float = 0.0

    @property
    def identical(self) -> bool:
        """No row added, removed or changed (provenance-only moves do not count)."""
        return not (self.added or self.removed or self.changed)


def _differs(old: Optional[float], new: Optional[float], atol: float) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(new - old) > atol


def _count(acc: Optional[Accuracy]) -> Optional[tuple[int, int]]:
    return None if acc is None else (acc.correct, acc.n)


def _metric_changes(old: Row, new: Row, atol: float) -> tuple[MetricChange, ...]:
    """Changes by display column (the same for schema-1 and schema-2 rows)."""
    a, b = old.metric_columns(), new.metric_columns()
    acc_a, acc_b = old.accuracies(), new.accuracies()
    out = []
    for column in list(a) + [c for c in b if c not in a]:
        x_acc, y_acc = acc_a.get(column), acc_b.get(column)
        counts = {"old_count": _count(x_acc), "new_count": _count(y_acc)}
        if column not in b:
            out.append(MetricChange(column, a[column], None, None, "removed", **counts))
        elif column not in a:
            out.append(MetricChange(column, None, b[column], None, "added", **counts))
        elif _differs(a[column], b[column], atol):
            x, y = a[column], b[column]
            significance = accuracy_significance(x_acc, y_acc) if x_acc is not None and y_acc is not None else None
            out.append(MetricChange(column, x, y, None if x is None or y is None else y - x,
                                    significance=significance, **counts))
    return tuple(out)


def _moves(old: Row, new: Row) -> tuple[VersionMove, ...]:
    out = [VersionMove(f, getattr(old, f), getattr(new, f)) for f in ID_FIELDS if getattr(old, f) != getattr(new, f)]
    for name in PROVENANCE_FIELDS:
        x, y = getattr(old.provenance, name), getattr(new.provenance, name)
        if isinstance(x, dict):
            for key in sorted(set(x) | set(y)):
                if x.get(key) != y.get(key):
                    out.append(VersionMove(f"{name}[{key}]", x.get(key), y.get(key)))
        elif x != y:
            out.append(VersionMove(name, str(x), str(y)))
    return tuple(out)


def _only(first: list[str], second: list[str]) -> tuple[str, ...]:
    return tuple(x for x in first if x not in second)


def diff_snapshots(old_rows: Iterable[RowLike], new_rows: Iterable[RowLike], atol: float = 0.0) -> SnapshotDiff:
    """Added, removed and changed rows between two row sets; ``atol`` is the absolute tolerance per metric."""
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not math.isfinite(atol) or atol < 0:
        raise LeaderboardError(f"tolerance atol must be a finite number >= 0, got {atol!r}")
    old = {r.row_id: r for r in validate_rows(old_rows)}
    new = {r.row_id: r for r in validate_rows(new_rows)}
    changed, moved_only, unchanged = [], [], 0
    for row_id in sorted(set(old) & set(new)):
        a, b = old[row_id], new[row_id]
        change = RowChange(
            row_id, _metric_changes(a, b, float(atol)),
            _only(b.flags, a.flags), _only(a.flags, b.flags),
            _only(b.errors, a.errors), _only(a.errors, b.errors), _moves(a, b))
        if change.results_changed:
            changed.append(change)
        else:
            unchanged += 1
            if change.moved:
                moved_only.append(change)
    return SnapshotDiff(
        added=tuple(new[k] for k in sorted(set(new) - set(old))),
        removed=tuple(old[k] for k in sorted(set(old) - set(new))),
        changed=tuple(changed), moved_only=tuple(moved_only), unchanged=unchanged, atol=float(atol))


def reference_columns_only(rows: Iterable[RowLike], reference: Iterable[RowLike]) -> list[Row]:
    """``rows`` with their attack, worst-case, probe and task results cut to the display columns of
    the ``reference`` row with the same id.

    For reproducing a published snapshot: columns added since it was built (e.g. a probe every
    row now gets) are not differences. Clean accuracy, flags and errors are kept as they are;
    rows without a reference row are returned unchanged.
    """
    ref = {r.row_id: r for r in validate_rows(reference)}
    out = []
    for row in validate_rows(rows):
        old = ref.get(row.row_id)
        if old is None:
            out.append(row)
            continue
        robust, ensemble = set(old.robust), set(old.ensemble)
        probes, tasks = set(old.probes), set(old.tasks)
        out.append(row.model_copy(update={
            "attacks": [a for a in row.attacks if attack_column(a) in robust],
            "worst_case": [w for w in row.worst_case if threat_label(w.threat) in ensemble],
            "probe_results": [m for m in row.probe_results if metric_name(m) in probes],
            "task_results": [m for m in row.task_results if metric_name(m) in tasks],
        }))
    return out


def rows_match(expected: Iterable[RowLike], actual: Iterable[RowLike], atol: float = 0.0) -> bool:
    """True when the same rows hold the same results (exact when ``atol`` is 0); provenance may differ.

    For the reason of a mismatch, print ``format_diff(diff_snapshots(expected, actual, atol))``.
    """
    return diff_snapshots(expected, actual, atol).identical


def _fmt(column: str, value: Optional[float], count: Optional[tuple[int, int]] = None) -> str:
    if value is None:
        return "None"
    if not is_accuracy(column):
        return f"{value:.6g}"
    return f"{100 * value:.2f}%" + (f" ({count[0]}/{count[1]})" if count is not None else "")


def _fmt_delta(column: str, delta: Optional[float]) -> str:
    if delta is None:
        return ""
    if is_accuracy(column):
        pp = 100 * delta
        return f" ({pp:+.2f} pp)" if abs(pp) >= 0.005 else f" ({pp:+.3g} pp)"
    return f" ({delta:+.6g})"


def _fmt_significance(significance: Optional[Significance]) -> str:
    if significance is None:
        return ""
    return f", {significance.verdict} (p = {significance.p_value:.2g})"


def _fmt_moves(moves: tuple[VersionMove, ...]) -> str:
    if not moves:
        return "no provenance field moved (nondeterminism, or a change no version records)"
    return "; ".join(f"{m.field} {m.old if m.old is not None else '(absent)'} -> "
                     f"{m.new if m.new is not None else '(absent)'}" for m in moves)


def format_diff(diff: SnapshotDiff) -> str:
    """A human-readable report of a :class:`SnapshotDiff`."""
    tol = "exact" if diff.atol == 0 else f"atol={diff.atol:g}"
    lines = [f"{diff.unchanged} unchanged, {len(diff.added)} added, {len(diff.removed)} removed, "
             f"{len(diff.changed)} changed ({tol})"]
    if diff.added:
        lines += ["Added:"] + [f"  + {r.row_id}" for r in diff.added]
    if diff.removed:
        lines += ["Removed:"] + [f"  - {r.row_id}" for r in diff.removed]
    if diff.changed:
        lines.append("Changed:")
    for ch in diff.changed:
        lines.append(f"  ~ {ch.row_id}")
        for m in ch.metrics:
            note = {"added": " (new column)", "removed": " (column gone)"}.get(m.kind, "")
            lines.append(f"      {m.column}: {_fmt(m.column, m.old, m.old_count)} -> "
                         f"{_fmt(m.column, m.new, m.new_count)}{_fmt_delta(m.column, m.delta)}"
                         f"{_fmt_significance(m.significance)}{note}")
        for label, items in (("flags", (ch.flags_added, ch.flags_removed)), ("errors", (ch.errors_added, ch.errors_removed))):
            parts = [f"+{x}" for x in items[0]] + [f"-{x}" for x in items[1]]
            if parts:
                lines.append(f"      {label}: {', '.join(parts)}")
        lines.append(f"      why (versions moved): {_fmt_moves(ch.moved)}")
    tested = [m.significance for ch in diff.changed for m in ch.metrics if m.significance is not None]
    if tested:
        significant = sum(1 for t in tested if t.significant)
        lines.append(f"Accuracy changes: {significant} significant, {len(tested) - significant} within noise at "
                     f"level {SIGNIFICANCE_LEVEL:g}; test: {SIGNIFICANCE_TEST}")
    if diff.moved_only:
        lines.append("Provenance moved, results unchanged:")
        lines += [f"  = {ch.row_id}: {_fmt_moves(ch.moved)}" for ch in diff.moved_only]
    if diff.identical:
        lines.append("The snapshots hold identical results.")
    return "\n".join(lines)
