"""Compare two sets of rows: what changed, and why (which versions moved).

Rows are matched by ``row_id``. A row *changed* when a metric differs by more than ``atol``
(exact by default), a metric appears or disappears, or its flags or errors differ. For each
changed row the diff lists the provenance fields that differ (core, plugin distribution and
spec versions, config hash, data fingerprint, torch, device, ...): the likely cause. Rows
whose provenance moved while every number stayed within tolerance are reported separately.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

from bench.errors import LeaderboardError
from bench.leaderboard.frame import is_accuracy
from bench.leaderboard.rows import RowLike, validate_rows
from bench.leaderboard.schema import Row

ID_FIELDS = ("dataset_id", "model_id", "defense_id")
PROVENANCE_FIELDS = ("core_version", "plugins", "specs", "config_hash", "data_fingerprint", "torch_version",
                     "device", "platform", "n", "suite_version")


@dataclass(frozen=True)
class MetricChange:
    """One metric of one row: ``kind`` is 'changed', 'added' (new column) or 'removed'."""

    column: str
    old: Optional[float]
    new: Optional[float]
    delta: Optional[float]
    kind: str = "changed"


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


def _metric_changes(old: Row, new: Row, atol: float) -> tuple[MetricChange, ...]:
    a, b = old.metric_columns(), new.metric_columns()
    out = []
    for column in list(a) + [c for c in b if c not in a]:
        if column not in b:
            out.append(MetricChange(column, a[column], None, None, "removed"))
        elif column not in a:
            out.append(MetricChange(column, None, b[column], None, "added"))
        elif _differs(a[column], b[column], atol):
            x, y = a[column], b[column]
            out.append(MetricChange(column, x, y, None if x is None or y is None else y - x))
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


METRIC_FIELDS = ("robust", "ensemble", "probes", "tasks")


def reference_columns_only(rows: Iterable[RowLike], reference: Iterable[RowLike]) -> list[Row]:
    """``rows`` with each metric mapping cut to the columns of the ``reference`` row with the same id.

    For reproducing a published snapshot: columns added since it was built (e.g. a probe every
    row now gets) are not differences. Clean accuracy, flags and errors are kept as they are;
    rows without a reference row are returned unchanged.
    """
    ref = {r.row_id: r for r in validate_rows(reference)}
    out = []
    for row in validate_rows(rows):
        old = ref.get(row.row_id)
        out.append(row if old is None else row.model_copy(update={
            name: {k: v for k, v in getattr(row, name).items() if k in getattr(old, name)} for name in METRIC_FIELDS}))
    return out


def rows_match(expected: Iterable[RowLike], actual: Iterable[RowLike], atol: float = 0.0) -> bool:
    """True when the same rows hold the same results (exact when ``atol`` is 0); provenance may differ.

    For the reason of a mismatch, print ``format_diff(diff_snapshots(expected, actual, atol))``.
    """
    return diff_snapshots(expected, actual, atol).identical


def _fmt(column: str, value: Optional[float]) -> str:
    if value is None:
        return "None"
    return f"{100 * value:.2f}%" if is_accuracy(column) else f"{value:.6g}"


def _fmt_delta(column: str, delta: Optional[float]) -> str:
    if delta is None:
        return ""
    if is_accuracy(column):
        pp = 100 * delta
        return f" ({pp:+.2f} pp)" if abs(pp) >= 0.005 else f" ({pp:+.3g} pp)"
    return f" ({delta:+.6g})"


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
            lines.append(f"      {m.column}: {_fmt(m.column, m.old)} -> {_fmt(m.column, m.new)}"
                         f"{_fmt_delta(m.column, m.delta)}{note}")
        for label, items in (("flags", (ch.flags_added, ch.flags_removed)), ("errors", (ch.errors_added, ch.errors_removed))):
            parts = [f"+{x}" for x in items[0]] + [f"-{x}" for x in items[1]]
            if parts:
                lines.append(f"      {label}: {', '.join(parts)}")
        lines.append(f"      why (versions moved): {_fmt_moves(ch.moved)}")
    if diff.moved_only:
        lines.append("Provenance moved, results unchanged:")
        lines += [f"  = {ch.row_id}: {_fmt_moves(ch.moved)}" for ch in diff.moved_only]
    if diff.identical:
        lines.append("The snapshots hold identical results.")
    return "\n".join(lines)
