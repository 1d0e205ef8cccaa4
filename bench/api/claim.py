"""Claim base: a paper's qualitative statement as an executable check over a suite's results.

A claim implementation is a plain function ``check(frame) -> ClaimResult`` named by a
:class:`bench.specs.ClaimSpec` (``target = "pkg.claims:adv_training_lowers_fisher"``). ``frame``
is the suite's leaderboard frame (:func:`bench.rows.frame.to_frame`): one row per trained
model, label columns (``dataset``, ``model``, ``defense``, ``seed``, ...) and float metric columns
named ``clean``, ``robust[<attack> <threat>]``, ``ensemble[<threat>]``, ``probe[<probe>.<col>]``,
``task[<task>.<metric>]``. Those names are display labels: a claim never builds or parses one.
It finds its columns by parameters — :func:`robust_column` (attack id, norm, eps, targeted,
attack parameters), :func:`worst_case_column` (threat), :func:`metric_column` (probe or task id
and column) — and its rows by component ids and parameters (:func:`select_where`,
:func:`component_params`), from the descriptions the frame carries (``frame.attrs``, see
:mod:`bench.rows.frame`). The helpers turn a missing row or column into
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


def _one_column(frame: Any, kind: str, what: str, **wanted: Any) -> str:
    from bench.rows.frame import find_columns

    names = find_columns(frame, kind, **wanted)
    if len(names) != 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in wanted.items() if v is not None)
        raise ClaimDataMissing(f"{len(names)} {what} columns match {shown or '(anything)'}: {names}")
    return names[0]


def robust_columns(frame: Any, attack: Optional[str] = None, *, norm: Optional[str] = None,
                   eps: Optional[float] = None, targeted: Optional[bool] = False, transfer: Optional[bool] = None,
                   **params: Any) -> list[str]:
    """Every robust-accuracy column of attack id ``attack`` at the threat (None: any) with these parameters."""
    from bench.rows.frame import find_columns

    return find_columns(frame, "robust", id=attack, norm=norm, eps=eps, targeted=targeted, transfer=transfer,
                        params=params or None)


def robust_column(frame: Any, attack: Optional[str] = None, *, norm: Optional[str] = None,
                  eps: Optional[float] = None, targeted: Optional[bool] = False, transfer: Optional[bool] = None,
                  **params: Any) -> str:
    """The one robust-accuracy column of attack id ``attack`` (e.g. ``"classics/pgd"``) at threat
    (``norm``, ``eps`` within 1e-9, ``targeted``), white-box or ``transfer``, with attack parameters
    ``params`` (a subset, e.g. ``loss="cw"``); None matches anything."""
    return _one_column(frame, "robust", "robust-accuracy", id=attack, norm=norm, eps=eps, targeted=targeted,
                       transfer=transfer, params=params or None)


def worst_case_column(frame: Any, *, norm: Optional[str] = None, eps: Optional[float] = None,
                      targeted: Optional[bool] = False) -> str:
    """The one worst-case column (over the suite's attacks) at this threat."""
    return _one_column(frame, "worst", "worst-case", norm=norm, eps=eps, targeted=targeted)


def metric_column(frame: Any, source: str, column: str, **params: Any) -> str:
    """The one probe or task column ``column`` of component id ``source`` (e.g. ``"classics/margin"``)."""
    from bench.rows.frame import find_columns

    names = [c for kind in ("probe", "task")
             for c in find_columns(frame, kind, id=source, name=column, params=params or None)]
    if len(names) != 1:
        raise ClaimDataMissing(f"{len(names)} columns of {source!r} are named {column!r}: {names}")
    return names[0]


def component_params(frame: Any, row_id: str, role: str) -> dict[str, Any]:
    """The validated parameters of a row's ``role`` component ('dataset', 'model' or 'defense')."""
    params = frame.attrs.get("params", {})
    if row_id not in params:
        raise ClaimDataMissing(f"no parameters recorded for row {row_id!r}")
    return dict(params[row_id][role])


def select_where(frame: Any, *, dataset_id: Optional[str] = None, model_id: Optional[str] = None,
                 defense_id: Optional[str] = None, defense_params: Optional[dict[str, Any]] = None,
                 model_params: Optional[dict[str, Any]] = None) -> Any:
    """Rows by component ids and parameter values (a subset of the recorded parameters; floats within 1e-9)."""
    rows = frame
    for name, wanted in (("dataset_id", dataset_id), ("model_id", model_id), ("defense_id", defense_id)):
        if wanted is not None:
            rows = rows[rows[name] == wanted]
    for role, wanted in (("defense", defense_params), ("model", model_params)):
        if wanted:
            keep = [all(_same(component_params(frame, rid, role).get(k), v) for k, v in wanted.items())
                    for rid in rows["row_id"]]
            rows = rows[keep]
    if len(rows) == 0:
        raise ClaimDataMissing(f"no row with dataset_id={dataset_id!r}, model_id={model_id!r}, "
                               f"defense_id={defense_id!r}, defense_params={defense_params!r}")
    return rows


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return have == want
