"""Validate rows strictly and (de)serialize them as canonical JSON lines.

The schema (:mod:`bench.rows.schema`) is validated in pydantic's strict mode here, so a
string or a bool where a number belongs is an error rather than a silent coercion. Version-1
rows are upgraded first (:mod:`bench.rows.legacy`). On top of the schema, a row must keep
the invariants of its numbers (:func:`row_invariant_problems`): every metric finite (``None``
marks a missing one), every accuracy equal to its count over its ``n`` with ``count <= n``
and its interval around it, robust accuracy <= clean accuracy, the worst case <= every attack
at its threat, a certified accuracy's ``violation`` true exactly when it exceeds its empirical
partner (over the same n) and then flagged, the corruption mean the pooled accuracy of the
row's corruption cells with its stated interval; row ids must be unique. Rows that break them are refused.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Union

from pydantic import ValidationError

from bench.errors import LeaderboardError
from bench.rows.legacy import upgrade_v1
from bench.rows.schema import SCHEMA_VERSION, Accuracy, Row

RowLike = Union[Row, Mapping[str, Any]]
READABLE_VERSIONS = ("1", SCHEMA_VERSION)


def _label(index: int, data: Any) -> str:
    row_id = data.get("row_id") if isinstance(data, Mapping) else getattr(data, "row_id", None)
    return f"row {index}" + (f" ({row_id!r})" if row_id else "")


def _format_errors(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (the row schema is fixed; see bench/rows/schema.py)"
        value = err.get("input")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 < value <= 100:
            msg += " (accuracies are fractions in [0, 1], not percentages)"
        lines.append(f"  {loc}: {msg} (got {value!r})")
    return f"invalid leaderboard {where}:\n" + "\n".join(lines)


def _accuracy_problems(name: str, acc: Accuracy) -> list[str]:
    problems = []
    if acc.correct > acc.n:
        problems.append(f"{name}: count {acc.correct} exceeds n = {acc.n}")
    elif acc.n and abs(acc.value - acc.correct / acc.n) > 1e-12:
        problems.append(f"{name}: value {acc.value!r} is not its count {acc.correct}/{acc.n}")
    if not acc.low - 1e-12 <= acc.value <= acc.high + 1e-12:
        problems.append(f"{name}: value {acc.value!r} lies outside its interval [{acc.low!r}, {acc.high!r}]")
    elif acc.correct <= acc.n:
        exact = Accuracy.of(acc.correct, acc.n)
        if abs(exact.low - acc.low) > 1e-9 or abs(exact.high - acc.high) > 1e-9:
            problems.append(f"{name}: interval [{acc.low!r}, {acc.high!r}] is not the 95 % Clopper-Pearson interval "
                            f"of {acc.correct}/{acc.n} ([{exact.low!r}, {exact.high!r}])")
    return problems


def _corruption_problems(row: Row) -> list[str]:
    """The corruption summary agrees with the row's corruption cells: its labels and severities, and a
    mean that is their pooled accuracy (counts, n, value) with the interval of value x n in n."""
    from bench.rows.corruption import fractional_clopper_pearson

    summary = row.corruption_summary
    if summary is None:
        return ["corruption results without a corruption_summary"] if row.corruptions else []
    problems = []
    labels = list(dict.fromkeys(r.label for r in row.corruptions))
    if summary.corruptions != labels or summary.severities != sorted({r.severity for r in row.corruptions}):
        problems.append(f"corruption summary lists {summary.corruptions} at {summary.severities}, the row's corruption "
                        f"cells are {labels} at {sorted({r.severity for r in row.corruptions})}")
    for name, value in (("mCE", summary.mce), ("relative mCE", summary.relative_mce)):
        if value is not None and summary.baseline is None:
            problems.append(f"corruption {name} is set without a baseline row")
        if name == "mCE" and value is not None and value < 0:
            problems.append(f"corruption mCE {value!r} is negative (a ratio of errors)")
    mean, accs = summary.mean, [r.accuracy for r in row.corruptions]
    if mean is None:
        if accs and all(a is not None for a in accs):
            problems.append("corruption summary has no mean although every corruption cell has an accuracy")
        return problems
    if any(a is None for a in accs) or not accs:
        return problems + ["corruption mean is set although a corruption cell failed (or there is none)"]
    correct, trials = sum(a.correct for a in accs), sum(a.n for a in accs)  # type: ignore[union-attr]
    n = max(a.n for a in accs)  # type: ignore[union-attr]
    if (mean.total_correct, mean.total_trials, mean.n) != (correct, trials, n):
        problems.append(f"corruption mean counts {mean.total_correct}/{mean.total_trials} on n = {mean.n} are not its "
                        f"cells' {correct}/{trials} on n = {n}")
    elif abs(mean.value - correct / trials) > 1e-12:
        problems.append(f"corruption mean {mean.value!r} is not {correct}/{trials}")
    else:
        low, high = fractional_clopper_pearson(mean.value * mean.n, mean.n)
        if abs(min(low, mean.value) - mean.low) > 1e-9 or abs(max(high, mean.value) - mean.high) > 1e-9:
            problems.append(f"corruption mean interval [{mean.low!r}, {mean.high!r}] is not the 95 % Clopper-Pearson "
                            f"interval of {mean.value * mean.n:g} in {mean.n} ([{low!r}, {high!r}])")
    return problems


def row_invariant_problems(row: Row) -> list[str]:
    """What is wrong with a row's numbers (empty when it is consistent); see the module docstring."""
    problems = []
    if row.schema_version != SCHEMA_VERSION:
        problems.append(f"schema_version is {row.schema_version!r}, this robarena reads {READABLE_VERSIONS}")
    for name, acc in row.accuracies().items():
        if acc is not None:
            problems += _accuracy_problems(name, acc)
    for name, value in row.metric_columns().items():
        if value is not None and not math.isfinite(value):
            problems.append(f"{name} is {value!r}; use None (null) for a metric that could not be computed")
    clean = row.clean
    for attack in row.attacks:
        acc = attack.accuracy
        if acc is not None and clean is not None and acc.n == clean.n and acc.correct > clean.correct:
            problems.append(f"robust accuracy of {attack.label!r} ({acc.correct}/{acc.n}) exceeds the clean "
                            f"accuracy ({clean.correct}/{clean.n}); robust examples must be clean-correct")
    for worst in row.worst_case:
        if worst.accuracy is None:
            continue
        for attack in row.attack_results(norm=worst.threat.norm, eps=worst.threat.eps, targeted=worst.threat.targeted):
            if attack.label in worst.attacks and attack.accuracy is not None and \
                    worst.accuracy.correct > attack.accuracy.correct:
                problems.append(f"worst case at {worst.threat.norm} {worst.threat.eps_display} "
                                f"({worst.accuracy.correct}) exceeds attack {attack.label!r} ({attack.accuracy.correct})")
    for cert in row.certified:
        where = f"certified accuracy of {cert.label!r} at {cert.threat.norm} {cert.threat.eps_display}"
        emp = cert.empirical
        if emp is not None and emp.n != cert.accuracy.n:
            problems.append(f"{where}: certified over n = {cert.accuracy.n} but empirical over n = {emp.n}")
        exceeds = emp is not None and cert.accuracy.value > emp.value
        if cert.violation != exceeds:
            problems.append(f"{where}: violation is {cert.violation} but certified {cert.accuracy.correct}/"
                            f"{cert.accuracy.n} {'exceeds' if exceeds else 'does not exceed'} empirical "
                            + (f"{emp.correct}/{emp.n}" if emp is not None else "(none)"))
        if cert.violation and not any(f.startswith("certified-exceeds-empirical:") for f in row.flags):
            problems.append(f"{where}: a violated sandwich must be flagged (certified-exceeds-empirical)")
    problems += _corruption_problems(row)
    return problems


def _check_values(row: Row, where: str) -> None:
    problems = row_invariant_problems(row)
    if problems:
        raise LeaderboardError(f"invalid leaderboard {where}:\n" + "\n".join(f"  {p}" for p in problems))


def validate_row(data: RowLike, where: str = "row") -> Row:
    """One row, strictly validated (a Row is re-validated from its dump)."""
    if isinstance(data, Row):
        data = data.model_dump()
    if not isinstance(data, Mapping):
        raise LeaderboardError(f"invalid leaderboard {where}: expected a Row or a dict, got {type(data).__name__}")
    if data.get("schema_version") == "1":
        try:
            data = upgrade_v1(dict(data))
        except (ValidationError, TypeError, ValueError, AttributeError) as exc:
            raise LeaderboardError(f"invalid leaderboard {where}: cannot read this schema-version-1 row ({exc})") from None
    try:
        row = Row.model_validate(dict(data), strict=True)
    except ValidationError as exc:
        raise LeaderboardError(_format_errors(exc, where)) from None
    _check_values(row, where)
    return row


def validate_rows(rows: Iterable[RowLike]) -> list[Row]:
    """Every row validated, row ids unique, sorted by row id."""
    out = [validate_row(data, _label(i, data)) for i, data in enumerate(rows)]
    seen: dict[str, int] = {}
    for i, row in enumerate(out):
        if row.row_id in seen:
            raise LeaderboardError(
                f"duplicate row_id {row.row_id!r} (rows {seen[row.row_id]} and {i}); each trained model "
                "must appear once: give defenses or models distinct labels in the suite")
        seen[row.row_id] = i
    return sorted(out, key=lambda r: r.row_id)


def row_to_json(row: Row) -> str:
    """Canonical one-line JSON: schema field order, floats via repr (exact round trip), UTF-8."""
    return json.dumps(row.model_dump(mode="json"), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps_jsonl(rows: Iterable[RowLike]) -> str:
    """Validated, sorted rows as JSON lines (one per row, trailing newline)."""
    return "".join(row_to_json(row) + "\n" for row in validate_rows(rows))


def loads_jsonl(text: str, where: str = "rows.jsonl") -> list[Row]:
    """Parse and strictly validate JSON lines; errors name the line."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LeaderboardError(f"{where} line {lineno} is not valid JSON ({exc})") from None
        rows.append(validate_row(data, f"{where} line {lineno}"))
    return validate_rows(rows)
