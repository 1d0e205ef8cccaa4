"""Validate rows strictly and (de)serialize them as canonical JSON lines.

The schema (:mod:`bench.leaderboard.schema`) is validated in pydantic's strict mode here,
so a string or a bool where a number belongs is an error rather than a silent coercion.
On top of the schema: every metric must be finite (``None`` marks a missing one), robust
and ensemble accuracies must lie in [0, 1], row ids must be unique, and the schema version
must be the one this code reads.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Union

from pydantic import ValidationError

from bench.errors import LeaderboardError
from bench.leaderboard.schema import SCHEMA_VERSION, Row

RowLike = Union[Row, Mapping[str, Any]]
ACCURACY_GROUPS = ("robust", "ensemble")


def _label(index: int, data: Any) -> str:
    row_id = data.get("row_id") if isinstance(data, Mapping) else getattr(data, "row_id", None)
    return f"row {index}" + (f" ({row_id!r})" if row_id else "")


def _format_errors(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (the row schema is fixed; see bench/leaderboard/schema.py)"
        value = err.get("input")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 < value <= 100:
            msg += " (accuracies are fractions in [0, 1], not percentages)"
        lines.append(f"  {loc}: {msg} (got {value!r})")
    return f"invalid leaderboard {where}:\n" + "\n".join(lines)


def _check_values(row: Row, where: str) -> None:
    problems = []
    if row.schema_version != SCHEMA_VERSION:
        problems.append(f"schema_version is {row.schema_version!r}, this robarena reads {SCHEMA_VERSION!r}")
    for name, value in row.metric_columns().items():
        if value is None:
            continue
        if not math.isfinite(value):
            problems.append(f"{name} is {value!r}; use None (null) for a metric that could not be computed")
        elif name.split("[", 1)[0] in ACCURACY_GROUPS and not 0.0 <= value <= 1.0:
            hint = " (accuracies are fractions in [0, 1], not percentages)" if 1 < value <= 100 else ""
            problems.append(f"{name} is {value!r}, outside [0, 1]{hint}")
    if problems:
        raise LeaderboardError(f"invalid leaderboard {where}:\n" + "\n".join(f"  {p}" for p in problems))


def validate_row(data: RowLike, where: str = "row") -> Row:
    """One row, strictly validated (a Row is re-validated from its dump)."""
    if isinstance(data, Row):
        data = data.model_dump()
    if not isinstance(data, Mapping):
        raise LeaderboardError(f"invalid leaderboard {where}: expected a Row or a dict, got {type(data).__name__}")
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
