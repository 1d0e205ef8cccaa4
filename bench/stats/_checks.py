"""Input checks shared by the statistics modules (one clear error per mistake)."""
from __future__ import annotations

import math
import operator
from typing import Any

from bench.errors import UsageError


class StatisticsError(UsageError, ValueError):
    """Bad input to a statistics helper: says which argument is wrong and how to fix it."""


def as_count(value: Any, name: str) -> int:
    """``value`` as a non-negative int; floats such as ``3.0`` are refused (counts are integers)."""
    if isinstance(value, bool):
        raise StatisticsError(f"{name} must be an integer count, got the bool {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise StatisticsError(f"{name} must be an integer count, got {value!r} "
                              f"({type(value).__name__}); pass e.g. int(round(x)) if it is a whole number") from None
    if out < 0:
        raise StatisticsError(f"{name} must be >= 0, got {out}")
    return out


def check_confidence(level: Any, name: str = "level") -> float:
    """A confidence level strictly between 0 and 1 (e.g. 0.95)."""
    try:
        out = float(level)
    except (TypeError, ValueError):
        raise StatisticsError(f"{name} must be a number in (0, 1), got {level!r}") from None
    if not 0.0 < out < 1.0:
        raise StatisticsError(f"{name} must be in (0, 1), e.g. 0.95 for a 95 % interval; got {level!r}")
    return out


def check_alpha(level: Any, name: str = "level") -> float:
    """A significance level of a one-sided test, in (0, 0.5) (e.g. 0.05)."""
    try:
        out = float(level)
    except (TypeError, ValueError):
        raise StatisticsError(f"{name} must be a number in (0, 0.5), got {level!r}") from None
    if not 0.0 < out < 0.5:
        raise StatisticsError(f"{name} is the significance level of a one-sided test and must be in (0, 0.5), "
                              f"e.g. 0.05; got {level!r}")
    return out


def check_direction(direction: Any) -> str:
    if direction not in ("greater", "less"):
        raise StatisticsError(f"direction must be 'greater' (first > second) or 'less' (first < second), "
                              f"got {direction!r}")
    return direction


def as_outcomes(values: Any, name: str):
    """A 1-D boolean numpy array of per-example outcomes (bools, or 0/1 numbers)."""
    import numpy as np

    try:
        arr = np.asarray(values)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot read is a user error here
        raise StatisticsError(f"{name} must be a 1-D sequence of booleans, got {type(values).__name__}: {exc}") from None
    if arr.ndim != 1:
        raise StatisticsError(f"{name} must be 1-D (one outcome per example), got shape {tuple(arr.shape)}")
    if arr.dtype == bool:
        return arr
    if arr.size and (arr.dtype.kind not in "iuf" or not np.all((arr == 0) | (arr == 1))):
        raise StatisticsError(f"{name} must hold booleans or 0/1 values (per-example correct/incorrect), "
                              f"got dtype {arr.dtype} with other values")
    return arr.astype(bool)


def as_finite_floats(values: Any, name: str) -> list[float]:
    """A list of finite floats (per-seed metric values)."""
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise StatisticsError(f"{name} must be a sequence of numbers, got {values!r}") from None
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise StatisticsError(f"{name} must hold finite numbers, got {bad[0]!r}; drop failed seeds before summarising")
    return out
