"""Claim base: a paper's qualitative statement as an executable check over a suite's results.

A claim implementation is a plain function ``check(frame) -> ClaimResult`` named by a
:class:`bench.specs.ClaimSpec` (``target = "pkg.claims:adv_training_lowers_fisher"``). ``frame``
is the suite's leaderboard frame (:func:`bench.leaderboard.frame.to_frame`): one row per trained
model, label columns (``dataset``, ``model``, ``defense``, ``seed``, ...) and float metric columns
named ``clean``, ``robust[<attack> <threat>]``, ``ensemble[<threat>]``, ``probe[<probe>.<col>]``,
``task[<task>.<metric>]``. The helpers below turn a missing row or column into
:class:`ClaimDataMissing`, which the claim runner reports as "not checked" (never as holding).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from bench.errors import RobarenaError


class ClaimDataMissing(RobarenaError):
    """The results lack a row or column the claim needs (the suite was cut down, or a cell failed)."""


@dataclass
class ClaimResult:
    """``holds``: True / False, or None when it could not be checked. ``numbers``: the evidence."""

    holds: Optional[bool]
    numbers: dict[str, float] = field(default_factory=dict)
    detail: str = ""


def select(frame: Any, **labels: Any) -> Any:
    """Rows of ``frame`` whose label columns equal ``labels`` (e.g. ``defense="PGD-AT"``); at least one."""
    rows = frame
    for name, wanted in labels.items():
        if name not in rows.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
        rows = rows[rows[name] == wanted]
    if len(rows) == 0:
        shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
        raise ClaimDataMissing(f"no row with {shown}")
    return rows


def value(frame: Any, column: str, **labels: Any) -> float:
    """The mean of ``column`` over the rows matching ``labels`` (means over seeds); finite or missing."""
    rows = select(frame, **labels)
    if column not in rows.columns:
        raise ClaimDataMissing(f"results have no column {column!r}")
    values = [float(v) for v in rows[column] if v is not None and not math.isnan(float(v))]
    if not values:
        shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
        raise ClaimDataMissing(f"column {column!r} is empty for {shown}")
    return sum(values) / len(values)


def optional_value(frame: Any, column: str, **labels: Any) -> Optional[float]:
    """:func:`value`, or None where the row or column is missing (for context numbers, not verdicts)."""
    try:
        return value(frame, column, **labels)
    except ClaimDataMissing:
        return None


def column_like(frame: Any, prefix: str, contains: str = "") -> str:
    """The one metric column starting with ``prefix`` and containing ``contains``."""
    names = [c for c in frame.columns if c.startswith(prefix) and contains in c]
    if len(names) != 1:
        raise ClaimDataMissing(f"{len(names)} columns match {prefix!r}...{contains!r}: {names}")
    return names[0]
