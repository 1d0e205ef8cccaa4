"""Evaluate the registered claims of a suite over its results (``robarena claims SUITE``).

Each claim ends in one status: a verdict (``holds``, ``does not hold``, ``inconclusive``, ``error``:
the claim's check raised) stated with its test, level and evidence, or ``not checked`` when the
results lack a row or column the claim needs (:class:`bench.api.claim.ClaimDataMissing`). "Not
checked" is kept apart from the verdicts on purpose: a suite cut down on purpose (or a failed
cell) says nothing about the paper's claim, while a claim that raises is a bug in the claim, and
is reported as an ERROR with the exception.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from bench.api.claim import NOT_CHECKED, ClaimDataMissing, ClaimResult
from bench.errors import RobarenaError
from bench.stats import Verdict

#: every status, in the order summaries list them
STATUSES = (str(Verdict.HOLDS), str(Verdict.DOES_NOT_HOLD), str(Verdict.INCONCLUSIVE), str(Verdict.ERROR),
            NOT_CHECKED)


@dataclass
class ClaimOutcome:
    claim: str  # qualified id
    statement: str
    paper: str
    result: ClaimResult

    @property
    def status(self) -> str:
        return self.result.status


def suite_matches(claim_suite: str, suite_name: str) -> bool:
    """A claim names its suite as ``name`` or ``plugin/name``; runs are stored under ``name``."""
    return claim_suite == suite_name or claim_suite.split("/", 1)[-1] == suite_name.split("/", 1)[-1]


def claims_for(registry: Any, suite_name: str) -> list[Any]:
    return [e for e in registry.entries("claim") if suite_matches(e.spec.suite, suite_name)]


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _clean(result: ClaimResult) -> ClaimResult:
    """The claim's own result with plain floats (a claim may hand back numpy scalars)."""
    interval = None if result.interval is None else (float(result.interval[0]), float(result.interval[1]))
    return ClaimResult(result.verdict, {str(k): float(v) for k, v in result.numbers.items()}, str(result.detail),
                       str(result.test), _float(result.level), _float(result.statistic), _float(result.p_value),
                       _float(result.p_reverse), interval)


def evaluate_claims(entries: Iterable[Any], frame: Any) -> list[ClaimOutcome]:
    """Run each claim on ``frame``: missing data is "not checked", a claim that raises (or returns
    something other than a :class:`ClaimResult`) is an ERROR with the exception, never hidden."""
    outcomes = []
    for entry in entries:
        paper = (entry.spec.paper.key or entry.spec.paper.title) if entry.spec.paper is not None else ""
        try:
            result = entry.load()(frame)
            if not isinstance(result, ClaimResult):
                raise RobarenaError(f"returned {type(result).__name__}, expected ClaimResult")
            result = _clean(result)
        except ClaimDataMissing as exc:
            result = ClaimResult.not_checked(str(exc))
        except Exception as exc:  # a broken claim is a finding about the claim, not a crash
            result = ClaimResult.error(exc)
        outcomes.append(ClaimOutcome(entry.qualified_id, entry.spec.statement, paper, result))
    return outcomes


def counts(outcomes: Iterable[ClaimOutcome]) -> dict[str, int]:
    """Status -> number of claims, for every status in :data:`STATUSES`."""
    found = {status: 0 for status in STATUSES}
    for o in outcomes:
        found[o.status] += 1
    return found


def summary(outcomes: list[ClaimOutcome]) -> str:
    """``"3 of 8 claims hold, 1 does not hold, 3 inconclusive, 0 error, 1 not checked"``."""
    n = counts(outcomes)
    return (f"{n['holds']} of {len(outcomes)} claims hold, {n['does not hold']} "
            f"{'does' if n['does not hold'] == 1 else 'do'} not hold, {n['inconclusive']} inconclusive, "
            f"{n['error']} error, {n[NOT_CHECKED]} not checked")


def format_p(value: float) -> str:
    """A p-value for a table: ``0.0123``, ``<1e-12``, or ``-`` when the test has none."""
    if value is None or math.isnan(value):
        return "-"
    if value < 1e-12:
        return "<1e-12"
    return f"{value:.3g}"


def evidence(result: ClaimResult) -> str:
    """``"p = 0.012 (level 0.05)"``, or for a verdict without a p-value its level: one cell of evidence."""
    if result.verdict is None or result.verdict is Verdict.ERROR:
        return ""
    level = "" if math.isnan(result.level) else f"level {result.level:g}"
    if math.isnan(result.p_value) and math.isnan(result.p_reverse):
        return f"no p-value ({level})" if level else ""
    text = f"p = {format_p(result.p_value)}"
    if not math.isnan(result.p_reverse) and result.verdict is Verdict.DOES_NOT_HOLD:
        text = f"reverse p = {format_p(result.p_reverse)}"
    return f"{text} ({level})" if level else text


def format_numbers(numbers: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in numbers.items())


def outcomes_table(outcomes: list[ClaimOutcome], fmt: str = "github") -> str:
    from tabulate import tabulate

    rows = [[o.claim, o.status, o.result.test, format_p(o.result.p_value), o.statement,
             format_numbers(o.result.numbers), o.result.detail] for o in outcomes]
    return tabulate(rows, headers=["claim", "status", "test", "p", "statement", "numbers", "detail"], tablefmt=fmt)


def _json_float(value: float) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


def outcomes_json(outcomes: list[ClaimOutcome]) -> list[dict[str, Optional[Any]]]:
    """Plain records (non-finite numbers as None): claim, paper, statement, status, holds, verdict
    (None when not checked), test, level, statistic, p_value, p_reverse, interval, numbers, detail."""
    out = []
    for o in outcomes:
        r = o.result
        out.append({"claim": o.claim, "paper": o.paper, "statement": o.statement, "status": o.status,
                    "holds": r.holds, "verdict": None if r.verdict is None else str(r.verdict), "test": r.test,
                    "level": _json_float(r.level), "statistic": _json_float(r.statistic),
                    "p_value": _json_float(r.p_value), "p_reverse": _json_float(r.p_reverse),
                    "interval": None if r.interval is None else [_json_float(v) for v in r.interval],
                    "numbers": {k: _json_float(v) for k, v in r.numbers.items()}, "detail": r.detail})
    return out
